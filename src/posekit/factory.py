"""Build pipeline stages from catalogue names, files or ready objects.

* Detectors: a catalogue detector name (``"yolox_nano"``, ``"rtmdet_nano"``:
  ONNX files; ``"yolov3_spp"``: a PyTorch network that needs ``checkpoint`` —
  a darknet ``.weights``, a ``.pth`` or an exported ``.onnx``), a path to an
  ``.onnx`` file with a raw YOLOX head, or any callable ``image -> (boxes, scores)``.
* Pose models: a catalogue pose name (``"movenet_thunder"``: an ONNX file;
  ``"hrnet_w32_256x192"``: a PyTorch network with ``checkpoint``, run through
  ONNX Runtime after an in-memory export, or torch with ``runtime="torch"``;
  ``"rtmo_s_body7"``: a one-stage network),
  a path to an ``.onnx`` file (a top-down network, or a one-stage one whose contract —
  Ultralytics YOLO-pose, RTMO — is recognised from its inputs and outputs), a ``posekit
  train`` checkpoint (``run/best.pth``, which carries its network and spec), or any object
  with ``spec`` and ``run(inputs)`` (or a :class:`~posekit.pose.onestage.OneStageModel`).

Everything a name means comes from :mod:`posekit.catalog`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from posekit import catalog
from posekit.detect.onnx_detectors import DetectorConfig, OnnxDetector
from posekit.pose.onestage import OneStageModel, recognise_contract
from posekit.pose.onnx_model import OnnxPoseModel
from posekit.runtime import Device, make_session
from posekit.spec import PoseModelSpec

__all__ = ["build_detector", "build_pose_model", "session_backend", "Detector", "RUNTIMES", "MODEL_KINDS"]

log = logging.getLogger(__name__)

Detector = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]

#: Where networks run: ``auto`` (default: ONNX Runtime, or OpenVINO where installed and measured
#: faster, :func:`posekit.runtime.choose_backend`), ONNX Runtime, PyTorch (torch networks only) or
#: OpenVINO (``pip install 'posekit[openvino]'``; ONNX files and exported torch networks).
RUNTIMES = ("auto", "onnx", "torch", "openvino")


def session_backend(runtime: str) -> str:
    """The :func:`posekit.runtime.make_session` backend that runs ONNX graphs for ``runtime`` (one of
    :data:`RUNTIMES`; ``"torch"``: ONNX Runtime, for the ONNX networks beside the PyTorch ones).

    >>> [session_backend(r) for r in RUNTIMES]
    ['auto', 'onnxruntime', 'onnxruntime', 'openvino']
    """
    return {"openvino": "openvino", "auto": "auto"}.get(runtime, "onnxruntime")


@contextlib.contextmanager
def _needs_torch(name: str):
    """Turn a missing torch into an error that names the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ImportError(f"{name} is a PyTorch network, which needs torch: pip install 'posekit[torch]'") from exc


def _choices(task: str) -> list[str]:
    return [e.name for e in catalog.list_entries(task)]


#: What ``kind`` of pose model :func:`build_pose_model` is asked for: ``"auto"`` (from the catalogue entry or the
#: file's inputs and outputs), ``"top-down"``, or a one-stage contract (``"yolo-pose"``, ``"rtmo"``).
MODEL_KINDS = ("auto", "top-down", "yolo-pose", "rtmo")


def _lookup(model: Any, tasks: tuple[str, ...], runtime: str) -> tuple[str, catalog.ModelEntry | None]:
    """Check ``runtime``; ``model`` as a string and its catalogue entry if it names a model of one of ``tasks``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    name = str(model)
    entry = catalog.CATALOG.get(name)
    return name, entry if entry is not None and entry.task in tasks else None


def build_detector(
    detector: str | os.PathLike | Detector,
    *,
    models_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    config: DetectorConfig = DetectorConfig(),
    runtime: str = "auto",
    num_threads: int | None = None,
    spinning: bool = False,
    device: "str | Device | None" = None,
    half: bool = False,
) -> Detector:
    """A person detector from a catalogue name, an ONNX path (YOLOX head) or a callable.

    ``spinning``: ONNX Runtime's busy-waiting intra-op threads (:func:`posekit.runtime.make_session`).
    ``device``, ``half``: where it runs, in float16 where supported (:func:`posekit.runtime.plan_session`;
    ``None``: the CPU). A callable is used as it is.
    """
    if callable(detector):
        return detector
    name, entry = _lookup(detector, ("detection",), runtime)
    if entry is not None and entry.runtime == "onnx":
        return OnnxDetector(catalog.model_file_path(name, models_dir), entry.spec, config, num_threads,
                            session_backend(runtime), spinning, device=device, half=half)
    if entry is not None:
        return _build_torch_detector(entry, checkpoint, models_dir, config, runtime, num_threads, device, half)
    path = Path(name)
    if path.suffix.lower() == ".onnx" and path.is_file():
        spec = catalog.get("yolox_nano").spec
        return OnnxDetector(path, spec, config, num_threads, session_backend(runtime), spinning, device=device,
                            half=half)
    raise ValueError(f"unknown detector {name!r}; choices: {_choices('detection') + ['<path/to/yolox.onnx>']}")


def _build_torch_detector(
    entry: catalog.ModelEntry, checkpoint, models_dir, config: DetectorConfig, runtime: str, num_threads: int | None,
    device: "str | Device | None" = None, half: bool = False,
) -> Detector:
    """YOLOv3-SPP (the only PyTorch detector): AlphaPose's pre- and post-processing."""
    weights = _weights(entry, checkpoint, models_dir, "--detector-checkpoint")
    with _needs_torch(entry.name):
        from posekit.detect.yolov3 import Yolov3Detector

        return Yolov3Detector(
            weights, input_size=entry.input_size[0], runtime="onnx" if runtime == "auto" else runtime, conf_thresh=config.conf_thresh,
            nms_thresh=config.nms_thresh, max_boxes=config.max_boxes, num_threads=num_threads, device=device,
            half=half,
        )


def build_pose_model(
    pose_model: str | os.PathLike | Any,
    *,
    models_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    runtime: str = "auto",
    num_threads: int | None = None,
    output: str | None = None,
    spinning: bool = False,
    kind: str = "auto",
    device: "str | Device | None" = None,
    half: bool = False,
) -> Any:
    """A pose model object: top-down (``spec`` and ``run(crops)``) or one-stage
    (:class:`~posekit.pose.onestage.OneStageModel`, ``one_stage = True``).

    Args:
        output: for models with both, ``"heatmaps"`` or ``"keypoints"`` (MoveNet).
        kind: one of :data:`MODEL_KINDS`; ``"auto"`` recognises a one-stage ONNX file by its contract.
        num_threads: intra-op threads of either runtime (``None``: all cores).
        spinning: ONNX Runtime's busy-waiting intra-op threads (:func:`posekit.runtime.make_session`).
        device, half: where it runs, in float16 where supported (:func:`posekit.runtime.plan_session`,
            :func:`posekit.runtime.torch_device`; ``None``: the CPU). A ready object is used as it is.
    """
    if hasattr(pose_model, "spec") and hasattr(pose_model, "run"):
        return pose_model
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    name, entry = _lookup(pose_model, ("pose", "one_stage"), runtime)
    if entry is not None and entry.task == "one_stage":
        return OneStageModel(catalog.model_file_path(name, models_dir), entry.spec, num_threads=num_threads,
                             backend=session_backend(runtime), spinning=spinning, device=device, half=half)
    if entry is not None and entry.runtime == "onnx":
        spec = entry.spec if not output else entry.spec.with_(output=output)
        return OnnxPoseModel(catalog.model_file_path(name, models_dir), spec, num_threads=num_threads,
                             backend=session_backend(runtime), spinning=spinning, device=device, half=half)
    if entry is not None:
        weights = _weights(entry, checkpoint, models_dir, "--checkpoint")
        with _needs_torch(name):
            from posekit.models.registry import create_model

            network = create_model(name, checkpoint=weights)
            return _run_torch_network(network, entry.spec, name, runtime, num_threads, spinning, device, half)
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(f"pose model file {name!r} not found")
        return _onnx_file_model(path, kind, num_threads, session_backend(runtime), spinning, device, half)
    if suffix in (".pth", ".pt") and path.is_file():
        try:
            from posekit.models.trained import load_trained_model
        except ImportError as exc:  # pragma: no cover - torch missing
            raise ImportError(f"{name} is a PyTorch checkpoint, which needs torch: pip install 'posekit[torch]'") from exc
        model, spec = load_trained_model(path)
        return _run_torch_network(model, spec, path.name, runtime, num_threads, spinning, device, half)
    raise ValueError(
        f"unknown pose model {name!r}; choices: {_choices('pose')}, a path to .onnx, or a posekit train checkpoint (.pth)"
    )


def _onnx_file_model(path: Path, kind: str, num_threads: int | None, backend: str, spinning: bool,
                     device: "str | Device | None" = None, half: bool = False) -> Any:
    """A user's ONNX pose file: one-stage when its inputs / outputs have a one-stage contract (or ``kind`` says
    so), else top-down. One session serves the recognition and the model."""
    session = make_session(path, num_threads, backend=backend, spinning=spinning, device=device, half=half)
    contract = {"yolo-pose": "yolo_pose", "rtmo": "rtmo", "top-down": None}.get(kind, "auto")
    if contract == "auto":
        contract = recognise_contract(session)
        if contract is not None:
            log.info("%s has the %s contract: a one-stage model (no person detector)", path.name, contract)
    if contract is not None:
        return OneStageModel(path, kind=contract, session=session)
    return OnnxPoseModel(path, session=session)


def _weights(entry: catalog.ModelEntry, checkpoint: Any, models_dir, option: str) -> Any:
    """The checkpoint of a torch network: ``checkpoint`` as given (path or state dict), else the file from the
    models directory, else an error saying how to give it."""
    if checkpoint is not None:
        return checkpoint
    try:
        return catalog.model_file_path(entry.name, models_dir)
    except catalog.ModelFileError as exc:
        raise ValueError(
            f"{entry.task} model {entry.name!r} needs its weights: pass {option} FILE "
            f"(official file {entry.checkpoint_file} from {entry.url or entry.source}; licence: {entry.license}). "
            f"Looked in the models directory: {exc}"
        ) from None


def _run_torch_network(model: Any, spec: PoseModelSpec, name: str, runtime: str, num_threads: int | None,
                       spinning: bool = False, device: "str | Device | None" = None, half: bool = False) -> Any:
    """A torch pose network behind the pose-model interface: in torch, or exported to ONNX in memory."""
    if runtime == "torch":
        from posekit.pose.torch_model import TorchPoseModel

        return TorchPoseModel(model.eval(), spec, num_threads=num_threads, device=device, half=half)
    from posekit.models.onnx_export import onnx_bytes

    pose = OnnxPoseModel(onnx_bytes(model.eval(), spec.input_size, spec), spec, num_threads=num_threads,
                         backend=session_backend(runtime), spinning=spinning, device=device, half=half)
    pose.name = name
    return pose
