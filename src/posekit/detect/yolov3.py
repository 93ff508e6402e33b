"""YOLOv3-SPP person detector as AlphaPose runs it, on ONNX Runtime or PyTorch.

Pipeline (AlphaPose ``detector/yolo_api.py``):

1. letterbox the BGR image into ``S x S`` (centred, pad 128, cubic resize);
2. BGR -> RGB, ``/255``, NCHW float32;
3. the network (:func:`posekit.models.yolov3.build_yolov3_spp`) gives raw rows
   ``[cx, cy, w, h, obj, 80 class probs]`` in input pixels;
4. :func:`posekit.detect.postprocess.yolo_postprocess`: person rows with
   ``obj > conf_thresh``, greedy NMS with darknet's inclusive-pixel IoU, and
   the retry at ``nms_thresh - 0.05`` when more than 100 boxes survive;
5. boxes mapped back to the image and clamped to ``[0, W] x [0, H]``.

torch is imported only when a torch model has to be built (``.weights`` /
``.pth`` input, or ``runtime="torch"``); a ready ``.onnx`` file needs only
ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from posekit import catalog, geometry
from posekit.detect.onnx_detectors import detector_input
from posekit.detect.postprocess import yolo_postprocess
from posekit.io import atomic_write_bytes, sha256_file
from posekit.runtime import Device, half_precision, make_session, session_device, torch_device

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["Yolov3Detector", "yolov3_preprocess"]

logger = logging.getLogger(__name__)

_RUNTIMES = ("onnx", "torch")
_PERSON = 0


def yolov3_preprocess(image_bgr: np.ndarray, input_size: int) -> tuple[np.ndarray, geometry.Letterbox]:
    """AlphaPose/darknet input of one image (the catalogue's ``yolov3_spp`` spec at ``input_size``).

    Args:
        image_bgr: ``(H, W, 3)`` BGR image (uint8, or float in 0..255).
        input_size: the square network input ``S``.

    Returns:
        ``x`` ``(1, 3, S, S)`` float32 RGB in ``[0, 1]`` and the
        :class:`posekit.geometry.Letterbox` that maps boxes back.
    """
    spec = catalog.get("yolov3_spp").spec.with_(input_size=(input_size, input_size))
    return detector_input(image_bgr, spec)


def _build_torch_model(weights: Path, input_size: int, num_classes: int) -> "nn.Module":
    """YOLOv3-SPP with ``weights`` (darknet ``.weights`` or a ``.pth`` state_dict) loaded."""
    from posekit.models.yolov3 import build_yolov3_spp

    model = build_yolov3_spp(input_size=input_size, num_classes=num_classes)
    if weights.suffix.lower() == ".weights":
        from posekit.models.darknet import load_darknet_weights

        load_darknet_weights(model, weights)
    else:
        from posekit.models.checkpoint import load_checkpoint

        load_checkpoint(model, weights)
    return model.eval()


class Yolov3Detector:
    """AlphaPose's YOLOv3-SPP person detector.

    ``detector(image_bgr (H, W, 3)) -> (boxes_xyxy (N, 4) float32, scores (N,) float32)``
    with boxes in image pixels (clamped to the image) and objectness scores,
    sorted by score descending.

    Args:
        weights: darknet ``.weights``, a ``.pth`` state_dict (official
            ``Darknet`` names), or an ``.onnx`` export (see
            :func:`posekit.models.yolov3.export_yolov3_onnx`).
        input_size: square network input, a multiple of 32 (AlphaPose: 608).
        runtime: ``"onnx"`` (ONNX Runtime; ``.weights``/``.pth`` are exported
            in memory first) or ``"torch"``.
        conf_thresh: keep rows with objectness ``> conf_thresh``.
        nms_thresh: NMS IoU threshold (``IoU >= nms_thresh`` suppresses).
        num_classes: classes of the network (person must be class 0).
        max_boxes: NMS retry trigger (AlphaPose: 100).
        num_threads: intra-op threads of the ONNX Runtime session (``None``:
            ORT's default).  The torch runtime uses torch's global setting.
        cache_dir: with ``runtime="onnx"`` and a ``.weights``/``.pth`` file,
            keep the exported ONNX model there, keyed by the weights' sha256
            and the input size, and reuse it next time.
        device: where it runs (``None``: the CPU; :func:`posekit.runtime.make_session`, and for the torch
            runtime :func:`posekit.runtime.torch_device`).
        half: float16 where ``device`` supports it (:func:`posekit.runtime.plan_session`; the torch runtime runs
            under float16 autocast on CUDA). On the CPU an error, ignored where ``"auto"`` chose the CPU
            (:func:`posekit.runtime.half_precision`).
    """

    def __init__(
        self,
        weights: str | os.PathLike[str],
        input_size: int = 608,
        runtime: str = "onnx",
        conf_thresh: float = 0.05,
        nms_thresh: float = 0.6,
        *,
        num_classes: int = 80,
        max_boxes: int = 100,
        num_threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        device: "str | Device | None" = None,
        half: bool = False,
    ) -> None:
        if runtime not in _RUNTIMES:
            raise ValueError(f"runtime must be one of {_RUNTIMES}, got {runtime!r}")
        if isinstance(input_size, bool) or int(input_size) != input_size or input_size <= 0 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size!r}")
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise FileNotFoundError(f"YOLOv3 weights not found: {self.weights}")
        suffix = self.weights.suffix.lower()
        if suffix not in (".weights", ".pth", ".pt", ".onnx"):
            raise ValueError(f"{self.weights}: expected a .weights, .pth or .onnx file")
        if suffix == ".onnx" and runtime == "torch":
            raise ValueError(f"{self.weights}: an .onnx file needs runtime='onnx'")
        self.input_size = int(input_size)
        self.runtime = runtime
        self.conf_thresh = float(conf_thresh)
        self.nms_thresh = float(nms_thresh)
        self.num_classes = int(num_classes)
        self.max_boxes = int(max_boxes)
        self._model: Any = None
        self._session: Any = None
        self._input_name = ""
        self._device, self._half = device, half

        if runtime == "torch":
            self._torch_device = torch_device(device)
            #: The device the network runs on.
            self.device = Device.parse(self._torch_device)
            self._half = half_precision(half, self.device, device, needs="runs PyTorch networks on CUDA only")
            self._model = _build_torch_model(self.weights, self.input_size, self.num_classes).to(self._torch_device)
        elif suffix == ".onnx":
            self._open_session(str(self.weights), num_threads)
        else:
            self._open_session(self._onnx_bytes(cache_dir), num_threads)
        logger.info("YOLOv3-SPP detector: %s, %s runtime, input %d", self.weights.name, runtime, self.input_size)

    # ------------------------------------------------------------------ setup
    def _onnx_bytes(self, cache_dir: str | os.PathLike[str] | None) -> bytes:
        """Export the torch model to ONNX (or reuse a cached export)."""
        cached: Path | None = None
        if cache_dir is not None:
            digest = sha256_file(self.weights)[:16]
            cached = Path(cache_dir) / f"{self.weights.stem}-{digest}-{self.input_size}-c{self.num_classes}.onnx"
            if cached.is_file():
                logger.info("using cached ONNX export %s", cached)
                return cached.read_bytes()
        from posekit.models.yolov3 import export_yolov3_onnx

        model = _build_torch_model(self.weights, self.input_size, self.num_classes)
        data = export_yolov3_onnx(model)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cached, data)
        return data

    def _open_session(self, source: str | bytes, num_threads: int | None) -> None:
        self._session = make_session(source if isinstance(source, bytes) else Path(source), num_threads,
                                     device=self._device, half=self._half)
        self.device = session_device(self._session)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ValueError(f"{self.weights}: ONNX input must be [N, 3, S, S], got {shape}")
        for dim in shape[2:]:
            if isinstance(dim, int) and dim != self.input_size:
                raise ValueError(
                    f"{self.weights}: the ONNX model takes {shape[2]}x{shape[3]} inputs, not input_size={self.input_size}"
                )

    # --------------------------------------------------------------- running
    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """Network output for a preprocessed batch.

        Args:
            x: ``(N, 3, S, S)`` float32 (see :func:`yolov3_preprocess`).

        Returns:
            ``(N, boxes, 5 + C)`` float32 raw rows.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._session is not None:
            return np.asarray(self._session.run(None, {self._input_name: x})[0], dtype=np.float32)
        import torch

        autocast = torch.autocast("cuda", dtype=torch.float16) if self._half else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            return self._model(torch.from_numpy(x).to(self._torch_device)).float().cpu().numpy()

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect people.

        Args:
            image_bgr: ``(H, W, 3)`` BGR image.

        Returns:
            ``boxes_xyxy`` ``(N, 4)`` float32 in image pixels, clamped to
            ``[0, W] x [0, H]``, and ``scores`` ``(N,)`` float32 (objectness),
            sorted by score descending.
        """
        x, lb = yolov3_preprocess(image_bgr, self.input_size)
        prediction = self.predict_raw(x)[0]
        boxes, scores = yolo_postprocess(
            prediction,
            conf_thresh=self.conf_thresh,
            nms_thresh=self.nms_thresh,
            class_id=_PERSON,
            max_boxes=self.max_boxes,
            score_mode="obj",
            plus_one=True,
        )
        boxes = geometry.unletterbox_boxes(boxes, lb, image_bgr.shape[:2])
        return boxes.astype(np.float32).reshape(-1, 4), scores.astype(np.float32).reshape(-1)

    def __repr__(self) -> str:
        return (
            f"Yolov3Detector(weights={str(self.weights)!r}, input_size={self.input_size}, runtime={self.runtime!r}, "
            f"conf_thresh={self.conf_thresh}, nms_thresh={self.nms_thresh})"
        )
