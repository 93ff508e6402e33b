"""Keypoint layouts as data.

A :class:`KeypointSchema` holds everything that depends on *which* keypoints a
model predicts: names, left/right flip pairs, the skeleton drawn between them,
the per-keypoint OKS sigmas used by COCO evaluation, and drawing colours.
Code that needs any of these takes a schema; nothing is guessed from ``K``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["KeypointSchema", "COCO17", "get_schema"]


@dataclass(frozen=True)
class KeypointSchema:
    """An ordered keypoint layout.

    Attributes:
        name: short identifier, e.g. ``"coco17"``.
        keypoints: keypoint names in model-output order, length ``K``.
        flip_pairs: ``(left, right)`` index pairs swapped by a horizontal flip.
        skeleton: ``(a, b)`` index pairs (0-based) joined when drawing.
        sigmas: per-keypoint OKS sigmas, length ``K``.
        colors: per-limb BGR colours, same length as ``skeleton``.
        upper_body: indices counted as upper body (half-body augmentation).
        head: indices of the keypoints on the head (one person has one head:
            the video stream's duplicate suppression, see
            :func:`posekit.posenms.head_nms`); empty to disable that rule.
    """

    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    colors: tuple[tuple[int, int, int], ...] = field(default=())
    upper_body: tuple[int, ...] = field(default=())
    head: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(self.sigmas) != k:
            raise ValueError(f"schema {self.name!r}: {len(self.sigmas)} sigmas for {k} keypoints")
        for a, b in (*self.flip_pairs, *self.skeleton):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"schema {self.name!r}: index pair ({a}, {b}) out of range 0..{k - 1}")
        for name, indices in (("upper_body", self.upper_body), ("head", self.head)):
            if any(not 0 <= i < k for i in indices):
                raise ValueError(f"schema {self.name!r}: {name} index out of range 0..{k - 1}")
        if self.colors and len(self.colors) != len(self.skeleton):
            raise ValueError(f"schema {self.name!r}: {len(self.colors)} colours for {len(self.skeleton)} limbs")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def flip_index(self) -> np.ndarray:
        """Permutation ``(K,)`` that maps each keypoint to its mirror keypoint."""
        perm = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def sigmas_array(self) -> np.ndarray:
        """OKS sigmas as a float64 array ``(K,)``."""
        return np.asarray(self.sigmas, dtype=np.float64)

    def index(self, name: str) -> int:
        """Index of the keypoint called ``name``."""
        try:
            return self.keypoints.index(name)
        except ValueError:
            raise KeyError(f"schema {self.name!r} has no keypoint {name!r}; it has {list(self.keypoints)}") from None


COCO17 = KeypointSchema(
    name="coco17",
    keypoints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's own skeleton (1-based in the annotation file), converted to 0-based.
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    # COCO keypoint evaluation sigmas (cocoeval.py).
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
        0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    ),
    # BGR: left side orange/yellow, right side blue, centre green.
    colors=(
        (0, 128, 255), (0, 165, 255), (255, 128, 0), (255, 165, 0), (0, 200, 0), (0, 200, 255),
        (255, 200, 0), (0, 200, 0), (0, 128, 255), (255, 128, 0), (0, 165, 255), (255, 165, 0),
        (0, 220, 0), (0, 220, 0), (0, 220, 0), (0, 220, 0), (0, 220, 0), (0, 200, 255), (255, 200, 0),
    ),
    upper_body=tuple(range(11)),
    head=(0, 1, 2, 3, 4),
)

_SCHEMAS = {COCO17.name: COCO17}


def get_schema(name: str) -> KeypointSchema:
    """Look a schema up by name (``"coco17"``)."""
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint schema {name!r}; choices: {sorted(_SCHEMAS)}") from None
