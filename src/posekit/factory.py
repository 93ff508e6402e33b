"""Build pipeline stages from names, paths or ready objects.

* Detectors: ``"yolox_nano"``, ``"rtmdet_nano"`` (ONNX files from the models
  directory), ``"yolov3_spp"`` (needs ``checkpoint``: a darknet ``.weights``,
  a ``.pth`` or an exported ``.onnx``), or any callable
  ``image -> (boxes, scores)``.
* Pose models: ``"movenet_thunder"``, ``"movenet_lightning"`` (ONNX files),
  a network name from :func:`posekit.models.list_models` with a checkpoint
  (run through ONNX Runtime after an in-memory export, or torch with
  ``runtime="torch"``), a path to an ``.onnx`` file, or any object with
  ``spec`` and ``run(inputs)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from posekit import hub
from posekit.detect.onnx_detectors import DetectorConfig, RtmdetDetector, YoloxDetector
from posekit.pose.onnx_model import OnnxPoseModel

__all__ = ["build_detector", "build_pose_model", "Detector"]

log = logging.getLogger(__name__)

Detector = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]

_ONNX_DETECTORS = {"yolox_nano": YoloxDetector, "rtmdet_nano": RtmdetDetector}


def build_detector(
    detector: str | os.PathLike | Detector,
    *,
    models_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    config: DetectorConfig = DetectorConfig(),
    runtime: str = "onnx",
    num_threads: int | None = None,
) -> Detector:
    """A person detector from a registry name, an ONNX path (YOLOX head) or a callable."""
    if callable(detector):
        return detector
    name = str(detector)
    if name in _ONNX_DETECTORS:
        entry = hub.MODEL_FILES[name]
        path = hub.model_file_path(name, models_dir)
        return _ONNX_DETECTORS[name](path, entry.input_size, config, num_threads)
    if name == "yolov3_spp":
        if checkpoint is None:
            raise ValueError(
                "detector 'yolov3_spp' needs its weights: pass --detector-checkpoint yolov3-spp.weights "
                "(darknet file from the YOLOv3 / AlphaPose release)"
            )
        from posekit.detect.yolov3 import Yolov3Detector

        return Yolov3Detector(
            checkpoint, runtime=runtime, conf_thresh=config.conf_thresh, nms_thresh=config.nms_thresh,
            max_boxes=config.max_boxes, num_threads=num_threads,
        )
    path = Path(name)
    if path.suffix.lower() == ".onnx" and path.is_file():
        return YoloxDetector(path, config=config, num_threads=num_threads)
    choices = sorted(_ONNX_DETECTORS) + ["yolov3_spp", "<path/to/yolox.onnx>"]
    raise ValueError(f"unknown detector {name!r}; choices: {choices}")


def build_pose_model(
    pose_model: str | os.PathLike | Any,
    *,
    models_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    runtime: str = "onnx",
    num_threads: int | None = None,
    output: str | None = None,
) -> Any:
    """A pose model object with ``spec`` and ``run(inputs)``.

    Args:
        output: for models with both, ``"heatmaps"`` or ``"keypoints"`` (MoveNet).
    """
    if hasattr(pose_model, "spec") and hasattr(pose_model, "run"):
        return pose_model
    if runtime not in ("onnx", "torch"):
        raise ValueError(f"runtime must be 'onnx' or 'torch', got {runtime!r}")
    name = str(pose_model)
    if name in hub.MODEL_FILES and hub.MODEL_FILES[name].task == "pose":
        spec = hub.MODEL_FILES[name].spec
        if output:
            spec = spec.with_(output=output)
        return OnnxPoseModel(hub.model_file_path(name, models_dir), spec, num_threads=num_threads)
    path = Path(name)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(f"pose model file {name!r} not found")
        return OnnxPoseModel(path, num_threads=num_threads)
    return _build_registered(name, checkpoint, runtime, num_threads)


def _build_registered(name: str, checkpoint, runtime: str, num_threads: int | None) -> Any:
    try:
        from posekit.models.registry import get_pretrained_config, list_models
    except ImportError as exc:  # torch missing
        raise ImportError(
            f"pose model {name!r} is a PyTorch network; install posekit[torch] (torch is an optional extra)"
        ) from exc
    if name not in list_models():
        onnx_names = [m.name for m in hub.list_model_files("pose")]
        raise ValueError(f"unknown pose model {name!r}; choices: {onnx_names + list_models()} or a path to .onnx")
    if checkpoint is None:
        raise ValueError(
            f"pose model {name!r} needs its weights: pass --checkpoint FILE.pth "
            f"({_checkpoint_hint(get_pretrained_config(name))})"
        )
    from posekit.models.registry import create_model

    spec = get_pretrained_config(name).spec
    model = create_model(name, checkpoint=checkpoint).eval()
    if runtime == "torch":
        from posekit.pose.torch_model import TorchPoseModel

        return TorchPoseModel(model, spec)
    import tempfile

    from posekit.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.onnx"
        export_onnx(model, out, spec.input_size, spec)
        data = out.read_bytes()
    return OnnxPoseModel(data, spec, num_threads=num_threads)


def _checkpoint_hint(cfg: Any) -> str:
    where = cfg.url or cfg.source
    return f"official file {cfg.checkpoint_file or '?'} from {where}; licence: {cfg.license}"
