"""Person detectors in ONNX Runtime, driven by their :class:`~posekit.spec.DetectorSpec`.

One class, :class:`OnnxDetector`, runs every ONNX detector of the catalogue
(YOLOX-nano, RTMDet-nano, ...): the spec says how the image becomes the input
tensor (:func:`detector_input`) and which decoder in :data:`DECODERS` reads the
outputs. A detector is any callable
``image_bgr (H, W, 3) -> (boxes (N, 4) xyxy, scores (N,))`` with boxes in image
pixels, clamped to the image, sorted by score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import cv2
import numpy as np

from posekit import geometry
from posekit.detect.postprocess import nms, yolo_postprocess
from posekit.runtime import Device, make_session, session_device
from posekit.spec import DetectorSpec, ImageInputSpec

__all__ = ["DetectorConfig", "OnnxDetector", "DECODERS", "detector_input", "yolox_grid_decode"]


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds shared by the person detectors.

    Attributes:
        conf_thresh: keep boxes with confidence above this.
        nms_thresh: greedy NMS IoU threshold (detectors without NMS in the graph).
        max_boxes: NMS retry trigger (see :func:`posekit.detect.postprocess.yolo_postprocess`).
        min_size: drop boxes narrower or lower than this many image pixels.
    """

    conf_thresh: float = 0.05
    nms_thresh: float = 0.6
    max_boxes: int = 100
    min_size: float = 2.0


_CV2_INTERPOLATION = MappingProxyType(
    {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}
)
_PLACEMENT = MappingProxyType({"letterbox_topleft": "topleft", "letterbox_center": "center", "stretch": "stretch",
                               "letterbox_yolo": "yolo", "warp_center": "warp"})


def detector_input(image: np.ndarray, spec: ImageInputSpec) -> tuple[np.ndarray, geometry.Letterbox]:
    """The network input of one BGR image.

    Args:
        image: ``(H, W, 3)`` BGR (uint8, or float in 0..255).
        spec: the input contract of a detector (:class:`~posekit.spec.DetectorSpec`) or a one-stage
            pose network (:class:`~posekit.spec.OneStageSpec`).

    Returns:
        ``x`` ``(1, 3, H_in, W_in)`` float32 and the :class:`~posekit.geometry.Letterbox`
        that maps boxes back to the image.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR image of shape (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    resized, lb = geometry.letterbox(
        image, spec.input_size, placement=_PLACEMENT[spec.resize], pad_value=spec.pad_value,
        interpolation=_CV2_INTERPOLATION[spec.interpolation],
    )
    return spec.normalise(resized), lb


def yolox_grid_decode(raw: np.ndarray, input_size: tuple[int, int], strides=(8, 16, 32)) -> np.ndarray:
    """YOLOX head output ``(M, 5 + C)`` in grid units -> ``[cx, cy, w, h, obj, cls…]`` in input pixels.

    Rows are the cells of each stride in turn, row-major (``y * W_s + x``).
    """
    w_in, h_in = input_size
    grids, mults = [], []
    for s in strides:
        ws, hs = w_in // s, h_in // s
        yv, xv = np.meshgrid(np.arange(hs), np.arange(ws), indexing="ij")
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        mults.append(np.full((ws * hs, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(mults).astype(np.float32)
    if len(grid) != len(raw):
        raise ValueError(f"YOLOX output has {len(raw)} rows, expected {len(grid)} for input {input_size}")
    out = raw.astype(np.float32).copy()
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    return out


# Decoders: (outputs of one image, spec, config) -> (boxes (N, 4) in the input frame, scores (N,)).
Decoder = Callable[[Sequence[np.ndarray], DetectorSpec, DetectorConfig], "tuple[np.ndarray, np.ndarray]"]


def _decode_yolo_rows(outputs: Sequence[np.ndarray], spec: DetectorSpec, cfg: DetectorConfig, *, grid: bool = False):
    rows = outputs[0][0]
    if grid:
        rows = yolox_grid_decode(rows, spec.input_size)
    return yolo_postprocess(
        rows, conf_thresh=cfg.conf_thresh, nms_thresh=cfg.nms_thresh, class_id=spec.person_class,
        max_boxes=cfg.max_boxes, score_mode="obj_cls",
    )


def _decode_yolox_grid(outputs: Sequence[np.ndarray], spec: DetectorSpec, cfg: DetectorConfig):
    """Raw YOLOX head: grid decode, score = obj x class, greedy NMS."""
    return _decode_yolo_rows(outputs, spec, cfg, grid=True)


def _decode_boxes_scores(outputs: Sequence[np.ndarray], spec: DetectorSpec, cfg: DetectorConfig):
    """Decoded ``boxes (1, M, 4)`` + ``scores (1, C, M)`` without NMS: person scores, threshold, greedy NMS."""
    boxes, scores = np.asarray(outputs[0][0], np.float32), np.asarray(outputs[1][0], np.float32)
    person = scores[spec.person_class]
    keep = person > cfg.conf_thresh
    boxes, person = boxes[keep], person[keep]
    order = nms(boxes, person, cfg.nms_thresh)[: cfg.max_boxes]
    return boxes[order], person[order]


def _decode_end2end(outputs: Sequence[np.ndarray], spec: DetectorSpec, cfg: DetectorConfig):
    """mmdeploy end2end: ``dets (1, N, 5)`` after NMS and ``labels (1, N)``."""
    dets, labels = outputs[0][0], outputs[1][0]
    keep = (labels == spec.person_class) & (dets[:, 4] > cfg.conf_thresh)
    return dets[keep, :4], dets[keep, 4]


#: Output decoders by :attr:`DetectorSpec.decoder` name (``"yolo_rows"`` is
#: YOLOv3's, whose AlphaPose post-processing lives in :mod:`posekit.detect.yolov3`).
DECODERS: Mapping[str, Decoder] = MappingProxyType(
    {"yolox_grid": _decode_yolox_grid, "boxes_scores": _decode_boxes_scores, "end2end": _decode_end2end}
)


class OnnxDetector:
    """An ONNX person detector.

    Args:
        path: ``.onnx`` file.
        spec: its contract (resize, normalisation, decoder).
        config: thresholds.
        num_threads: intra-op threads (``None``: all cores).
        backend: ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (see :func:`posekit.runtime.make_session`).
        spinning: let idle intra-op threads busy-wait (see :func:`posekit.runtime.make_session`).
        device: where it runs (``None``: the CPU; see :func:`posekit.runtime.make_session`).
        half: float16 where ``device`` supports it (:func:`posekit.runtime.plan_session`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        spec: DetectorSpec,
        config: DetectorConfig = DetectorConfig(),
        num_threads: int | None = None,
        backend: str = "onnxruntime",
        spinning: bool = False,
        device: "str | Device | None" = None,
        half: bool = False,
    ) -> None:
        if spec.decoder not in DECODERS:
            raise ValueError(f"no ONNX decoder {spec.decoder!r}; choices: {sorted(DECODERS)}")
        self.session = make_session(path, num_threads, backend=backend, spinning=spinning, device=device, half=half)
        #: The device the session runs on (ONNX Runtime may have fallen back to the CPU for ``device="auto"``).
        self.device = session_device(self.session)
        self.input_name = self.session.get_inputs()[0].name
        #: :meth:`detect_batch` makes one call for several images: the graph has a dynamic batch axis and dense
        #: per-image outputs (not mmdeploy's end2end, whose post-NMS outputs a batch would pad).
        self.batchable = (not isinstance(self.session.get_inputs()[0].shape[0], int)
                          and spec.decoder in ("yolox_grid", "boxes_scores"))
        self.spec = spec
        self.config = config
        self._decode = DECODERS[spec.decoder]

    @property
    def input_size(self) -> tuple[int, int]:
        return self.spec.input_size

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``image (H, W, 3)`` BGR -> ``(boxes (N, 4) float32 xyxy, scores (N,) float32)``, best first."""
        x, lb = detector_input(image, self.spec)
        outputs = self.session.run(None, {self.input_name: x})
        return self._boxes(outputs, lb, image.shape[:2])

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`__call__` of each image, in one network call when the graph takes a batch
        (:attr:`batchable`), else one call per image. The same boxes as :meth:`__call__` image by image
        (each image's outputs do not depend on the others in its batch)."""
        if not self.batchable or len(images) < 2:
            return [self(image) for image in images]
        inputs = [detector_input(image, self.spec) for image in images]
        outputs = self.session.run(None, {self.input_name: np.concatenate([x for x, _ in inputs])})
        return [self._boxes([out[i : i + 1] for out in outputs], lb, image.shape[:2])
                for i, ((_, lb), image) in enumerate(zip(inputs, images))]

    def _boxes(self, outputs: Sequence[np.ndarray], lb: geometry.Letterbox,
               image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """One image's network outputs (batch axis of 1) -> its boxes and scores in image pixels, best first."""
        boxes, scores = self._decode(outputs, self.spec, self.config)
        boxes = geometry.unletterbox_boxes(boxes, lb, image_shape)
        cfg = self.config
        keep = ((boxes[:, 2] - boxes[:, 0]) >= cfg.min_size) & ((boxes[:, 3] - boxes[:, 1]) >= cfg.min_size)
        boxes, scores = boxes[keep], np.asarray(scores)[keep]
        order = np.argsort(-scores, kind="stable")
        return boxes[order].astype(np.float32), scores[order].astype(np.float32)

    def __repr__(self) -> str:
        return f"OnnxDetector(input_size={self.spec.input_size}, decoder={self.spec.decoder!r}, config={self.config})"
