"""``Poses``: the one result type of posekit.

A :class:`Poses` holds every person found in one image (or video frame):
boxes, box scores, keypoints, keypoint scores, the pose score used for
ranking, and track ids. It slices like an array, concatenates, and writes
every output format: COCO results JSON (COCO-WholeBody's five keypoint fields
for 133-keypoint poses), AlphaPose-style JSON, OpenPose-style JSON (COCO-18
order with a neck; face and hands for whole-body poses), table rows (Parquet),
and a lossless record (:meth:`Poses.to_record` / :meth:`Poses.from_record`) for
durable job logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from posekit.schema import COCO17, KeypointSchema, get_schema

__all__ = ["Poses", "OPENPOSE_COCO18_FROM_COCO17", "OPENPOSE_FACE_POINTS"]

#: OpenPose's COCO-18 body order (Nose, Neck, RShoulder, RElbow, RWrist, LShoulder,
#: LElbow, LWrist, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, REye, LEye, REar, LEar)
#: as indices into COCO-17, with 17 standing for the neck (the shoulders' midpoint,
#: as AlphaPose's ``--format cmu`` adds it).
OPENPOSE_COCO18_FROM_COCO17: tuple[int, ...] = (0, 17, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

#: Points of OpenPose's face layout: the 68 landmarks (COCO-WholeBody's face order) then the right and left pupils.
OPENPOSE_FACE_POINTS = 70


@dataclass(frozen=True, eq=False)
class Poses:
    """People in one image.

    Attributes:
        boxes: ``(N, 4)`` float32 xyxy person boxes (the detector's, or the box
            the crop came from when tracking).
        box_scores: ``(N,)`` float32 detector confidences.
        keypoints: ``(N, K, 2)`` float32 image coordinates (see :mod:`posekit.geometry`).
        keypoint_scores: ``(N, K)`` float32.
        scores: ``(N,)`` float32 pose confidence (AlphaPose's proposal score or
            HRNet's rescored box score), written as COCO ``score``.
        track_ids: ``(N,)`` int64, ``-1`` where untracked.
        schema: the keypoint layout.
    """

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    schema: KeypointSchema = COCO17

    _ARRAYS = ("boxes", "box_scores", "keypoints", "keypoint_scores", "scores", "track_ids")

    def __post_init__(self) -> None:
        n = len(np.asarray(self.boxes).reshape(-1, 4))
        k = self.schema.num_keypoints
        set_ = object.__setattr__
        set_(self, "boxes", np.asarray(self.boxes, np.float32).reshape(n, 4))
        set_(self, "box_scores", np.asarray(self.box_scores, np.float32).reshape(n))
        set_(self, "keypoints", np.asarray(self.keypoints, np.float32).reshape(n, k, 2))
        set_(self, "keypoint_scores", np.asarray(self.keypoint_scores, np.float32).reshape(n, k))
        set_(self, "scores", np.asarray(self.scores, np.float32).reshape(n))
        tid = np.full(n, -1, np.int64) if self.track_ids is None else np.asarray(self.track_ids, np.int64)
        set_(self, "track_ids", tid.reshape(n))

    # ------------------------------------------------------------------ construction

    @classmethod
    def empty(cls, schema: KeypointSchema = COCO17) -> "Poses":
        k = schema.num_keypoints
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros(0), schema=schema)

    @classmethod
    def concat(cls, items: Sequence["Poses"]) -> "Poses":
        """Concatenate results that share a schema."""
        if not items:
            return cls.empty()
        schema = items[0].schema
        if any(p.schema != schema for p in items):
            raise ValueError("cannot concatenate Poses with different keypoint schemas")
        arrays = {name: np.concatenate([getattr(p, name) for p in items]) for name in cls._ARRAYS}
        return cls(**arrays, schema=schema)

    def replace(self, **changes: Any) -> "Poses":
        """A copy with some arrays replaced."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Poses(**values)

    # ------------------------------------------------------------------ container

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> "Poses":
        """Select people by int, slice, boolean mask or index array."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Poses(**{name: getattr(self, name)[index] for name in self._ARRAYS}, schema=self.schema)

    def __repr__(self) -> str:
        return f"Poses(n={len(self)}, schema={self.schema.name!r})"

    # ------------------------------------------------------------------ output

    def to_coco(self, image_id: int, category_id: int = 1, decimals: int = 2, *, flat: bool = False) -> list[dict]:
        """COCO keypoint results: ``[{"image_id", "category_id", "keypoints": [x, y, s]*K, "score"}]``.

        The one COCO results writer of posekit (``posekit predict``, training
        validation / ``posekit val``, the benchmarks, the service). The third
        value of each keypoint is its score (as HRNet writes it). Keypoint
        coordinates and scores are rounded to ``decimals`` (2: 0.01 px is far
        below any OKS scale), the pose score to 5 decimals. No ``bbox`` is
        written: COCO's loader would then take the result's area from the
        detector box instead of the keypoint extent (HRNet and AlphaPose write
        none either).

        A schema with :attr:`~posekit.schema.KeypointSchema.parts` (COCO-WholeBody)
        writes each part to its own field, as MMPose writes them and
        :func:`posekit.evaluation.evaluate_wholebody` reads them: ``keypoints``
        holds the 17 body keypoints, ``foot_kpts`` (6), ``face_kpts`` (68),
        ``lefthand_kpts`` and ``righthand_kpts`` (21 each) the rest, all flat
        ``[x, y, score]`` lists (:meth:`~posekit.schema.KeypointSchema.split_coco`).

        Args:
            image_id, category_id: the COCO ids written.
            decimals: rounding of coordinates and keypoint scores.
            flat: write all ``K`` keypoints to ``keypoints`` whatever the schema's parts
                (the same numbers, e.g. for ``evaluate_keypoints`` with ``K`` sigmas).
        """
        out = []
        for i in range(len(self)):
            kp = np.concatenate([self.keypoints[i], self.keypoint_scores[i, :, None]], axis=1)
            values = _flat(kp, decimals)
            item: dict[str, Any] = {"image_id": int(image_id), "category_id": int(category_id)}
            item.update({"keypoints": values} if flat else self.schema.split_coco(values))
            item["score"] = round(float(self.scores[i]), 5)
            if self.track_ids[i] >= 0:
                item["track_id"] = int(self.track_ids[i])
            out.append(item)
        return out

    def to_alphapose(self, image_name: str, decimals: int = 2) -> list[dict]:
        """AlphaPose's JSON result entries (``image_id`` is the file name, ``idx`` the track id).

        ``keypoints`` is the flat ``[x, y, score] * K`` list of every keypoint, whatever the schema
        (133 triples for whole-body poses)."""
        out = []
        for i in range(len(self)):
            kp = np.concatenate([self.keypoints[i], self.keypoint_scores[i, :, None]], axis=1)
            item = {
                "image_id": image_name,
                "category_id": 1,
                "keypoints": _flat(kp, decimals),
                "score": round(float(self.scores[i]), 5),
                "box": [round(float(v), decimals) for v in _xywh(self.boxes[i])],
            }
            if self.track_ids[i] >= 0:
                item["idx"] = int(self.track_ids[i])
            out.append(item)
        return out

    def to_openpose(self, decimals: int = 2) -> dict:
        """One image in OpenPose's JSON layout: ``{"version", "people": [{"pose_keypoints_2d": [x, y, c]*18}]}``.

        The keypoints are in OpenPose's COCO-18 order (:data:`OPENPOSE_COCO18_FROM_COCO17`);
        the neck is the midpoint of the shoulders with their mean score, as AlphaPose's
        ``--format cmu`` writes it. Needs a schema whose first 17 keypoints are COCO-17's
        (COCO-17, COCO-WholeBody).

        A schema with ``face``, ``lefthand`` and ``righthand`` parts (COCO-WholeBody)
        keeps that 18-point body (COCO-18 has no foot points, so the six foot
        keypoints are not written) and also fills ``face_keypoints_2d`` with
        OpenPose's 70 face points: the 68 landmarks (the same order in both
        layouts) then the two pupils, which COCO-WholeBody does not have and are
        written as ``0, 0, 0``; and ``hand_left_keypoints_2d`` /
        ``hand_right_keypoints_2d`` with 21 points each (wrist, then four joints
        per finger from thumb to pinky: the same order in both layouts). Without
        those parts (COCO-17) these three lists are empty.
        """
        if self.schema.keypoints[: COCO17.num_keypoints] != COCO17.keypoints:
            raise ValueError(
                f"the OpenPose format needs the COCO-17 body keypoints first (COCO-17 or COCO-WholeBody), "
                f"not {self.schema.name!r}"
            )
        part_names = {p.name for p in self.schema.parts}
        face_and_hands = {"face", "lefthand", "righthand"} <= part_names
        people = []
        ls, rs = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
        order = list(OPENPOSE_COCO18_FROM_COCO17)
        for i in range(len(self)):
            xy, sc = self.keypoints[i].astype(np.float64), self.keypoint_scores[i].astype(np.float64)
            body_xy = np.concatenate([xy[: COCO17.num_keypoints], (xy[[ls]] + xy[[rs]]) / 2])
            body_sc = np.concatenate([sc[: COCO17.num_keypoints], [(sc[ls] + sc[rs]) / 2]])
            kp = np.concatenate([body_xy[order], body_sc[order, None]], axis=1)
            person: dict[str, Any] = {
                "person_id": [int(self.track_ids[i])],
                "pose_keypoints_2d": _flat(kp, decimals),
                "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
            }
            if face_and_hands:
                xys = np.concatenate([xy, sc[:, None]], axis=1)  # (K, 3)
                face_part = self.schema.part("face")
                lo, hi = face_part.start, face_part.stop
                face = np.zeros((OPENPOSE_FACE_POINTS, 3))
                face[: hi - lo] = xys[lo:hi]
                person["face_keypoints_2d"] = _flat(face, decimals)
                for key, part in (("hand_left_keypoints_2d", "lefthand"), ("hand_right_keypoints_2d", "righthand")):
                    hand = self.schema.part(part)
                    lo, hi = hand.start, hand.stop
                    person[key] = _flat(xys[lo:hi], decimals)
            people.append(person)
        return {"version": 1.3, "people": people}

    def to_rows(self) -> dict[str, list]:
        """Columns of a one-row-per-person table (Parquet): ``person``, ``box`` ``[x1, y1, x2, y2]``,
        ``box_score``, ``score``, ``keypoints`` ``(K, 3)`` as nested lists ``[x, y, score]``, ``track_id``."""
        kp = np.concatenate([self.keypoints, self.keypoint_scores[..., None]], axis=2)
        return {
            "person": list(range(len(self))),
            "box": self.boxes.astype(np.float64).tolist(),
            "box_score": self.box_scores.astype(np.float64).tolist(),
            "score": self.scores.astype(np.float64).tolist(),
            "keypoints": kp.astype(np.float64).tolist(),
            "track_id": self.track_ids.tolist(),
        }

    def to_record(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_record` turns back into equal arrays (float32 exactly)."""
        return {
            "schema": self.schema.name,
            **{name: getattr(self, name).tolist() for name in self._ARRAYS},
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Poses":
        """The inverse of :meth:`to_record`."""
        schema = get_schema(record["schema"])
        return cls(**{name: np.asarray(record[name]) for name in cls._ARRAYS}, schema=schema)


def _flat(kp: np.ndarray, decimals: int) -> list[float]:
    """``(n, 3)`` keypoints as a flat ``[x, y, s] * n`` list of rounded Python floats."""
    return [round(float(v), decimals) for v in kp.reshape(-1)]


def _xywh(box: np.ndarray) -> np.ndarray:
    return np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])
