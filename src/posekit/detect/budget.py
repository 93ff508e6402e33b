"""The crop budget: which detector boxes get a pose crop.

Every box that reaches the pose network costs one crop (two with the flip
test), and on the dev set most low-scored boxes of a crowded image match no
labelled person. :class:`CropBudget` keeps the boxes worth a crop: score at
least ``min_score``, short side at least ``min_size`` pixels, and at most
``max_crops`` of them, best first. The presets' values come from the AP / time
curve of ``benchmarks/bench_presets.py --budget-curve`` on the dev set.

Pure numpy; boxes are ``xyxy`` in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CropBudget", "select_boxes"]


@dataclass(frozen=True)
class CropBudget:
    """Which person boxes are cropped for the pose network.

    Attributes:
        min_score: drop boxes scoring below this (on top of the detector's own threshold).
        min_size: drop boxes whose shorter side is below this many image pixels.
        max_crops: keep at most this many boxes per image, best scored first (``None``: all).
    """

    min_score: float = 0.0
    min_size: float = 0.0
    max_crops: int | None = None

    def __post_init__(self) -> None:
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
    if budget.max_crops is not None:
        keep = keep[: budget.max_crops]
    return boxes[keep], scores[keep]
