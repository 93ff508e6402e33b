"""Keypoint layouts as data.

A :class:`KeypointSchema` holds everything that depends on *which* keypoints a
model predicts: names, left/right flip pairs, the skeleton drawn between them,
the per-keypoint OKS sigmas used by COCO evaluation, and drawing colours.
Code that needs any of these takes a schema; nothing is guessed from ``K``
(the one place that must, reading a file that only says ``K``, asks
:func:`schema_for_keypoints`).

A schema may also say how its keypoints divide into named *parts* written to
separate COCO fields (COCO-WholeBody: ``keypoints``, ``foot_kpts``,
``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``) and which keypoints are
drawn small (face landmarks, finger joints). Writers, evaluation and drawing
read that data; none of them compares schema names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "KeypointSchema",
    "SchemaPart",
    "COCO17",
    "COCO_WHOLEBODY",
    "WHOLEBODY_PARTS",
    "get_schema",
    "schema_for_keypoints",
]


class SchemaPart(NamedTuple):
    """A contiguous run of keypoints ``start:stop`` written to its own COCO field.

    Attributes:
        name: part name (``"body"``, ``"foot"``, ...).
        start, stop: keypoint index range (``stop`` exclusive).
        coco_field: the COCO annotation / result field holding the part's flat ``[x, y, v] * n`` list.
    """

    name: str
    start: int
    stop: int
    coco_field: str


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
        parts: how COCO files split the keypoints over several fields, in
            keypoint order, covering ``0..K`` without gaps (COCO-WholeBody's
            five parts); empty: one ``keypoints`` field holds all ``K``.
        fine: indices of the keypoints drawn small (:func:`posekit.draw.draw_poses`:
            face landmarks and hands); empty: all are drawn at body size.
    """

    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    colors: tuple[tuple[int, int, int], ...] = field(default=())
    upper_body: tuple[int, ...] = field(default=())
    head: tuple[int, ...] = field(default=())
    parts: tuple[SchemaPart, ...] = field(default=())
    fine: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(self.sigmas) != k:
            raise ValueError(f"schema {self.name!r}: {len(self.sigmas)} sigmas for {k} keypoints")
        for a, b in (*self.flip_pairs, *self.skeleton):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"schema {self.name!r}: index pair ({a}, {b}) out of range 0..{k - 1}")
        for name, indices in (("upper_body", self.upper_body), ("head", self.head), ("fine", self.fine)):
            if any(not 0 <= i < k for i in indices):
                raise ValueError(f"schema {self.name!r}: {name} index out of range 0..{k - 1}")
        if self.colors and len(self.colors) != len(self.skeleton):
            raise ValueError(f"schema {self.name!r}: {len(self.colors)} colours for {len(self.skeleton)} limbs")
        if self.parts:
            bounds = [0] + [p.stop for p in self.parts]
            if [p.start for p in self.parts] != bounds[:-1] or bounds[-1] != k or any(
                p.stop <= p.start for p in self.parts
            ):
                raise ValueError(f"schema {self.name!r}: parts must cover keypoints 0..{k} in order without gaps")
            for what, values in (("names", [p.name for p in self.parts]),
                                 ("fields", [p.coco_field for p in self.parts])):
                if len(set(values)) != len(values):
                    raise ValueError(f"schema {self.name!r}: part {what} repeat: {values}")

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

    @property
    def coco_fields(self) -> tuple[str, ...]:
        """The COCO fields of the keypoints, in keypoint order: the parts' fields, or ``("keypoints",)``."""
        return tuple(p.coco_field for p in self.parts) or ("keypoints",)

    def part(self, name: str) -> SchemaPart:
        """The part called ``name``."""
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"schema {self.name!r} has no part {name!r}; it has {[p.name for p in self.parts]}")

    def fine_mask(self) -> np.ndarray:
        """``(K,)`` bool: the keypoints drawn small (:attr:`fine`)."""
        mask = np.zeros(self.num_keypoints, dtype=bool)
        mask[list(self.fine)] = True
        return mask

    def split_coco(self, flat: Sequence[Any]) -> dict[str, list]:
        """A flat ``[x, y, v] * K`` list -> ``{coco_field: flat part list}`` in keypoint order.

        The one place that slices keypoints into COCO part fields (:meth:`posekit.structures.Poses.to_coco`,
        :func:`posekit.evaluation.split_wholebody_result`). Without parts: ``{"keypoints": list(flat)}``.

        Raises:
            ValueError: ``flat`` does not hold ``3 K`` numbers.
        """
        if len(flat) != 3 * self.num_keypoints:
            raise ValueError(f"schema {self.name!r}: {len(flat)} numbers for {self.num_keypoints} (x, y, v) triples")
        if not self.parts:
            return {"keypoints": list(flat)}
        return {p.coco_field: list(flat[3 * p.start : 3 * p.stop]) for p in self.parts}

    def join_coco(self, item: Mapping[str, Any]) -> list:
        """The inverse of :meth:`split_coco`: the flat ``[x, y, v] * K`` list of an annotation / result.

        An item whose ``keypoints`` already hold all ``3 K`` numbers is read as it is; otherwise its part fields
        are concatenated in order.

        Raises:
            ValueError: a part field is missing.
        """
        flat = item.get("keypoints")
        if flat is not None and len(flat) == 3 * self.num_keypoints:
            return list(flat)
        missing = [name for name in self.coco_fields if name not in item]
        if missing:
            raise ValueError(f"schema {self.name!r}: annotation lacks {missing}")
        return [v for name in self.coco_fields for v in item[name]]

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



def _pairs_from_flip_index(flip_index: list[int]) -> tuple[tuple[int, int], ...]:
    """``(left, right)`` pairs of a flip permutation (each swapped pair once, fixed points dropped)."""
    return tuple((i, j) for i, j in enumerate(flip_index) if i < j)


#: COCO-WholeBody flip permutation (MMPose ``coco_wholebody.py``; ``models/RTMPOSE.md`` section 5).
_WHOLEBODY_FLIP = [
    0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 20, 21, 22, 17, 18, 19, 39, 38, 37, 36, 35, 34,
    33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 50, 51, 52, 53, 58, 57,
    56, 55, 54, 68, 67, 66, 65, 70, 69, 62, 61, 60, 59, 64, 63, 77, 76, 75, 74, 73, 72, 71, 82, 81, 80, 79, 78,
    87, 86, 85, 84, 83, 90, 89, 88, *range(112, 133), *range(91, 112),
]
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def _hand(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root", *(f"{side}_{finger}{i}" for finger in _FINGERS for i in range(1, 5)))


def _hand_links(root: int) -> tuple[tuple[int, int], ...]:
    """Root -> finger joint 1 -> 2 -> 3 -> 4, for the five fingers of the hand whose root is ``root``."""
    links = []
    for f in range(5):
        chain = (root, *range(root + 1 + 4 * f, root + 5 + 4 * f))
        links.extend(zip(chain[:-1], chain[1:]))
    return tuple(links)


#: Per-finger BGR colours (thumb .. pinky), four links each, for both hands.
_HAND_COLORS = tuple(c for c in ((0, 128, 255), (255, 153, 51), (102, 255, 102), (255, 51, 51), (255, 0, 255))
                     for _ in range(4))

COCO_WHOLEBODY = KeypointSchema(
    name="coco_wholebody",
    # 0-16 body (COCO-17), 17-22 feet, 23-90 face (68 landmarks), 91-111 left hand, 112-132 right hand.
    keypoints=(
        *COCO17.keypoints,
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
        *(f"face-{i}" for i in range(68)),
        *_hand("left"), *_hand("right"),
    ),
    flip_pairs=_pairs_from_flip_index(_WHOLEBODY_FLIP),
    # MMPose's visualisation skeleton: the COCO links, six foot links, four links per finger; no face links.
    skeleton=(
        *COCO17.skeleton,
        (15, 17), (15, 18), (15, 19), (16, 20), (16, 21), (16, 22),
        *_hand_links(91), *_hand_links(112),
    ),
    # COCO-WholeBody OKS sigmas (MMPose ``coco_wholebody.py``; xtcocotools' whole-body evaluation).
    sigmas=(
        *COCO17.sigmas,
        0.068, 0.066, 0.066, 0.092, 0.094, 0.094,
        0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043,
        0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013, 0.015, 0.009, 0.007, 0.007,
        0.007, 0.012, 0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011,
        0.012, 0.010, 0.034, 0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009, 0.009, 0.009, 0.007,
        0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.010, 0.008,
        *(0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021,
          0.021, 0.032, 0.020, 0.019, 0.022, 0.031) * 2,
    ),
    colors=(
        *COCO17.colors,
        (0, 128, 255), (0, 128, 255), (0, 128, 255), (255, 128, 0), (255, 128, 0), (255, 128, 0),
        *_HAND_COLORS, *_HAND_COLORS,
    ),
    upper_body=(*COCO17.upper_body, *range(23, 133)),
    head=(*COCO17.head, *range(23, 91)),
    # The COCO-WholeBody annotation / result fields (xtcocotools, MMPose's CocoWholeBodyMetric).
    parts=(
        SchemaPart("body", 0, 17, "keypoints"),
        SchemaPart("foot", 17, 23, "foot_kpts"),
        SchemaPart("face", 23, 91, "face_kpts"),
        SchemaPart("lefthand", 91, 112, "lefthand_kpts"),
        SchemaPart("righthand", 112, 133, "righthand_kpts"),
    ),
    # Face landmarks and both hands draw small.
    fine=tuple(range(23, 133)),
)

#: Where each part of a COCO-WholeBody keypoint vector lies: ``part -> (start, stop)``, in the order of the
#: annotation fields ``keypoints``, ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``
#: (:attr:`COCO_WHOLEBODY.parts <KeypointSchema.parts>` as a dict).
WHOLEBODY_PARTS = {p.name: (p.start, p.stop) for p in COCO_WHOLEBODY.parts}

_SCHEMAS = {COCO17.name: COCO17, COCO_WHOLEBODY.name: COCO_WHOLEBODY}


def get_schema(name: str) -> KeypointSchema:
    """Look a schema up by name (``"coco17"``, ``"coco_wholebody"``)."""
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint schema {name!r}; choices: {sorted(_SCHEMAS)}") from None


def schema_for_keypoints(num_keypoints: int) -> KeypointSchema:
    """The known schema with ``num_keypoints`` keypoints, for a file that says only ``K`` (17: COCO-17,
    133: COCO-WholeBody).

    Raises:
        KeyError: no known schema has ``num_keypoints`` keypoints.
    """
    matches = [s for s in _SCHEMAS.values() if s.num_keypoints == int(num_keypoints)]
    if len(matches) != 1:
        known = sorted({s.num_keypoints for s in _SCHEMAS.values()})
        raise KeyError(f"no keypoint schema with {num_keypoints} keypoints; posekit knows the layouts of {known}")
    return matches[0]
