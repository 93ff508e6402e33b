"""Framework-free YOLO post-processing: greedy box NMS, person filtering.

This reproduces the detection post-processing of AlphaPose's YOLOv3 person
detector (darknet-style ``write_results`` wrapped by ``dynamic_write_results``)
in pure numpy, and also serves YOLOX-style heads through ``score_mode``.

Conventions
-----------
* Boxes are ``xyxy`` in the *network input* frame (undoing a letterbox is the
  caller's job, see :func:`posekit.geometry.unletterbox_boxes`).
* ``plus_one=True`` measures boxes as inclusive integer pixel ranges, the
  darknet / AlphaPose / legacy Faster R-CNN convention: a box's area is
  ``(x2 - x1 + 1) * (y2 - y1 + 1)`` and an intersection's width is
  ``max(min(x2) - max(x1) + 1, 0)``. ``plus_one=False`` is the modern
  continuous convention (torchvision, YOLOX).
* Box IoU is :func:`posekit.geometry.box_iou`; the greedy loop is
  :func:`posekit.posenms.greedy_suppress`, shared with OKS-NMS.
* Greedy NMS keeps a lower-scored box only if its IoU with every kept box is
  **strictly below** the threshold: ``IoU >= iou_thresh`` suppresses. This is
  AlphaPose's loop (``image_pred_class[1:][ious < nms_conf]``) and also the
  ``ovr >= thresh`` test of the Faster R-CNN / mmdet CPU kernels AlphaPose
  compiles; torchvision's ``nms`` differs only at exact equality (it
  suppresses ``IoU > thresh``).
* Ordering is by score descending with a *stable* sort, so equal scores keep
  their input order (``torch.sort`` gives no such guarantee).

All functions are pure: they never modify their inputs and keep no state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from posekit.geometry import as_boxes, box_iou
from posekit.posenms import greedy_suppress

__all__ = [
    "nms",
    "ScoreMode",
    "YoloPostprocessConfig",
    "yolo_postprocess",
]

logger = logging.getLogger(__name__)

ScoreMode = Literal["obj", "obj_cls"]


def nms(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    iou_thresh: float,
    plus_one: bool = False,
) -> np.ndarray:
    """Greedy non-maximum suppression.

    Boxes are visited by score descending (stable sort: ties keep input
    order). The highest remaining box is kept and every remaining box with
    ``IoU >= iou_thresh`` against it is removed, i.e. a box survives only if
    ``IoU < iou_thresh`` (AlphaPose's comparison; see the module docstring).

    Args:
        boxes_xyxy: ``(N, 4)`` boxes.
        scores: ``(N,)`` scores.
        iou_thresh: IoU threshold.
        plus_one: inclusive-pixel IoU (see :func:`posekit.geometry.box_iou`).

    Returns:
        ``(M,)`` int64 indices into the input of the kept boxes, in descending
        score order.
    """
    boxes = as_boxes(boxes_xyxy, "boxes_xyxy")
    s = np.asarray(scores).reshape(-1)
    if s.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores has {s.shape[0]} entries for {boxes.shape[0]} boxes")

    def iou(i: int, rest: np.ndarray) -> np.ndarray:
        return box_iou(boxes[i : i + 1], boxes[rest], plus_one=plus_one)[0]

    return greedy_suppress(s, iou, iou_thresh, suppress_equal=True)


@dataclass(frozen=True)
class YoloPostprocessConfig:
    """Parameters of :func:`yolo_postprocess`.

    Attributes:
        conf_thresh: rows with ``conf <= conf_thresh`` are dropped (strict
            ``>`` keeps, as darknet/AlphaPose ``write_results``). Note that
            upstream YOLOX keeps ``conf >= conf_thre``; posekit uses ``>`` for
            both modes.
        nms_thresh: IoU threshold of greedy NMS (``IoU >= nms_thresh``
            suppresses).
        class_id: the class kept (0 = COCO person).
        max_boxes: when more than this many boxes survive NMS, NMS is redone
            once from the start at ``nms_thresh - retry_step``
            (AlphaPose's ``dynamic_write_results``). The retry result is not
            truncated.
        retry_step: threshold decrement of that retry.
        score_mode: ``"obj"`` (darknet / AlphaPose YOLOv3: objectness alone
            filters, sorts and is returned) or ``"obj_cls"`` (YOLOX:
            objectness x best class score).
        plus_one: inclusive-pixel IoU (darknet/AlphaPose ``bbox_iou``).
    """

    conf_thresh: float = 0.05
    nms_thresh: float = 0.6
    class_id: int = 0
    max_boxes: int = 100
    retry_step: float = 0.05
    score_mode: ScoreMode = "obj"
    plus_one: bool = False

    def __post_init__(self) -> None:
        if self.score_mode not in ("obj", "obj_cls"):
            raise ValueError(f"score_mode must be 'obj' or 'obj_cls', got {self.score_mode!r}")
        if self.class_id < 0:
            raise ValueError(f"class_id must be >= 0, got {self.class_id}")


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.float32)


def yolo_postprocess(
    prediction: np.ndarray,
    conf_thresh: float = 0.05,
    nms_thresh: float = 0.6,
    class_id: int = 0,
    max_boxes: int = 100,
    retry_step: float = 0.05,
    score_mode: ScoreMode = "obj",
    plus_one: bool = False,
    *,
    config: YoloPostprocessConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one image's raw YOLO rows into person boxes.

    Steps (AlphaPose ``dynamic_write_results`` / ``write_results``):

    1. ``[cx, cy, w, h]`` -> ``[cx - w/2, cy - h/2, cx + w/2, cy + h/2]``.
    2. Best class = first argmax of the class scores; ``conf`` = ``obj``
       (``score_mode="obj"``) or ``obj * best_class_score`` (``"obj_cls"``).
    3. Keep rows with ``conf > conf_thresh`` (threshold compared in the
       prediction's float dtype, as torch compares a float32 tensor with a
       Python scalar), whose best class is ``class_id`` and whose best class
       score is non-zero (AlphaPose's ``nonzero`` test on that column).
    4. Sort by ``conf`` descending (stable) and run greedy :func:`nms` at
       ``nms_thresh``.
    5. If more than ``max_boxes`` boxes survive, redo step 4 from the
       unsuppressed candidates at ``nms_thresh - retry_step`` (once).

    Args:
        prediction: ``(M, 5 + C)`` raw rows ``[cx, cy, w, h, obj, cls_0..cls_C-1]``
            (already sigmoid-ed / grid-decoded, in input pixels).
        conf_thresh, nms_thresh, class_id, max_boxes, retry_step, score_mode,
            plus_one: see :class:`YoloPostprocessConfig`.
        config: if given, overrides all the keyword parameters above.

    Returns:
        ``(boxes_xyxy (N, 4) float32, scores (N,) float32)``, sorted by score
        descending, in the network input frame.
    """
    cfg = config or YoloPostprocessConfig(
        conf_thresh=conf_thresh,
        nms_thresh=nms_thresh,
        class_id=class_id,
        max_boxes=max_boxes,
        retry_step=retry_step,
        score_mode=score_mode,
        plus_one=plus_one,
    )
    pred = np.asarray(prediction)
    if pred.size == 0:
        return _empty()
    if pred.ndim != 2 or pred.shape[1] < 6:
        raise ValueError(f"prediction must have shape (M, 5 + C) with C >= 1, got {pred.shape}")
    if not np.issubdtype(pred.dtype, np.floating):
        pred = pred.astype(np.float64)
    dt = pred.dtype.type

    cls_scores = pred[:, 5:]
    if cfg.class_id >= cls_scores.shape[1]:
        raise ValueError(f"class_id {cfg.class_id} out of range for {cls_scores.shape[1]} classes")
    best_cls = np.argmax(cls_scores, axis=1)
    best_score = cls_scores[np.arange(pred.shape[0]), best_cls]
    obj = pred[:, 4]
    conf = obj if cfg.score_mode == "obj" else (obj * best_score).astype(pred.dtype, copy=False)

    valid = (conf > dt(cfg.conf_thresh)) & (best_cls == cfg.class_id) & (best_score != 0)
    if not np.any(valid):
        return _empty()

    p = pred[valid]
    conf = conf[valid]
    half_w = p[:, 2] / dt(2)
    half_h = p[:, 3] / dt(2)
    boxes = np.stack([p[:, 0] - half_w, p[:, 1] - half_h, p[:, 0] + half_w, p[:, 1] + half_h], axis=1)

    keep = nms(boxes, conf, cfg.nms_thresh, plus_one=cfg.plus_one)
    if keep.size > cfg.max_boxes:
        retry_thresh = cfg.nms_thresh - cfg.retry_step
        logger.debug(
            "yolo_postprocess: %d boxes > max_boxes=%d after NMS at %.3f; retrying at %.3f",
            keep.size,
            cfg.max_boxes,
            cfg.nms_thresh,
            retry_thresh,
        )
        keep = nms(boxes, conf, retry_thresh, plus_one=cfg.plus_one)
    return boxes[keep].astype(np.float32), conf[keep].astype(np.float32)
