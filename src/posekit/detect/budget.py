"""The crop budget: which detector boxes get a pose crop.

Every box that reaches the pose network costs one crop (two with the flip
test), and on the dev set most low-scored boxes of a crowded image match no
labelled person. :class:`CropBudget` keeps the boxes worth a crop, best first:

* score at least ``min_score``, and at least ``min_relative_score`` times the
  image's best box score;
* short side at least ``min_size`` pixels;
* not a near duplicate of a better kept box (IoU above ``max_overlap``: the
  pose NMS would remove one of the two poses anyway);
* the best boxes holding ``score_mass`` of the image's total box score;
* at most ``max_crops`` of them.

The presets' values come from the AP / crops curve of ``benchmarks/tune_presets.py``
on the dev set (README, "How the defaults were chosen").

Pure numpy; boxes are ``xyxy`` in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.geometry import box_iou

__all__ = ["CropBudget", "select_boxes"]


@dataclass(frozen=True)
class CropBudget:
    """Which person boxes are cropped for the pose network.

    Attributes:
        min_score: drop boxes scoring below this (on top of the detector's own threshold).
        min_size: drop boxes whose shorter side is below this many image pixels.
        max_crops: keep at most this many boxes per image, best scored first (``None``: all).
        max_overlap: drop a box whose IoU with a better kept box exceeds this (``None``: keep).
        min_relative_score: drop boxes scoring below this fraction of the image's best box score.
        score_mass: keep the best boxes until their scores add up to this fraction of the
            scores of all boxes left by the rules above (``None``: no such cap).
    """

    min_score: float = 0.0
    min_size: float = 0.0
    max_crops: int | None = None
    max_overlap: float | None = None
    min_relative_score: float = 0.0
    score_mass: float | None = None

    def __post_init__(self) -> None:
        if self.max_overlap is not None and not 0.0 < self.max_overlap <= 1.0:
            raise ValueError(f"max_overlap must be in (0, 1] or None, got {self.max_overlap}")
        if not 0.0 <= self.min_relative_score <= 1.0:
            raise ValueError(f"min_relative_score must be in [0, 1], got {self.min_relative_score}")
        if self.score_mass is not None and not 0.0 < self.score_mass <= 1.0:
            raise ValueError(f"score_mass must be in (0, 1] or None, got {self.score_mass}")
        if self.max_crops is not None and self.max_crops < 0:
            raise ValueError(f"max_crops must be >= 0 or None, got {self.max_crops}")
        if self.min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {self.min_size}")


def select_boxes(boxes: np.ndarray, scores: np.ndarray, budget: CropBudget) -> tuple[np.ndarray, np.ndarray]:
    """The boxes within ``budget``, best scored first.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        budget: the selection rule.

    Returns:
        ``(boxes (M, 4), scores (M,))`` with ``M <= N``, ordered by score (stable).
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    short = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = np.flatnonzero((scores >= budget.min_score) & (short >= budget.min_size))
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    if len(keep) and budget.min_relative_score > 0:
        keep = keep[scores[keep] >= budget.min_relative_score * scores[keep[0]]]
    if budget.max_overlap is not None and len(keep) > 1:
        keep = keep[_non_duplicates(boxes[keep], budget.max_overlap)]
    if budget.score_mass is not None and len(keep) > 1:
        mass = np.cumsum(scores[keep], dtype=np.float64)
        # the smallest prefix whose mass reaches the share (at least one box)
        keep = keep[: int(np.searchsorted(mass, budget.score_mass * mass[-1] * (1 - 1e-12))) + 1]
    if budget.max_crops is not None:
        keep = keep[: budget.max_crops]
    return boxes[keep], scores[keep]


def _non_duplicates(boxes: np.ndarray, max_overlap: float) -> np.ndarray:
    """Indices of ``boxes`` ``(N, 4)`` (best first) kept when each box whose IoU with an earlier kept one
    exceeds ``max_overlap`` is dropped."""
    iou = box_iou(boxes, boxes)
    kept: list[int] = []
    for i in range(len(boxes)):
        if not kept or iou[i, kept].max() <= max_overlap:
            kept.append(i)
    return np.asarray(kept, dtype=np.int64)
