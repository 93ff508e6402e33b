"""Helpers for the video tests: synthetic poses, frames that carry their index, a fake estimator."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from posekit.schema import COCO17
from posekit.structures import Poses

# A standing person in a unit-height box centred on (0, 0) (COCO-17 order).
TEMPLATE = np.array([
    [0.00, -0.42], [0.03, -0.45], [-0.03, -0.45], [0.06, -0.43], [-0.06, -0.43],
    [0.12, -0.30], [-0.12, -0.30], [0.16, -0.12], [-0.16, -0.12], [0.18, 0.02], [-0.18, 0.02],
    [0.08, 0.02], [-0.08, 0.02], [0.09, 0.25], [-0.09, 0.25], [0.10, 0.47], [-0.10, 0.47],
])


def person(cx: float, cy: float, height: float = 100.0, phase: float = 0.0) -> np.ndarray:
    """Keypoints ``(17, 2)`` of a standing person; ``phase`` swings arms and legs a little."""
    kp = TEMPLATE.copy()
    swing = 0.05 * np.sin(phase)
    kp[[9, 15], 0] += swing
    kp[[10, 16], 0] -= swing
    return kp * height + np.array([cx, cy])


def make_poses(people: list[np.ndarray], score: float = 0.9, kp_scores: list[np.ndarray] | None = None) -> Poses:
    """Poses of keypoint arrays ``(17, 2)`` with uniform scores."""
    if not people:
        return Poses.empty()
    kps = np.stack(people)
    ks = np.stack(kp_scores) if kp_scores is not None else np.full(kps.shape[:2], score)
    lo, hi = kps.min(axis=1), kps.max(axis=1)
    pad = 0.1 * (hi - lo)
    boxes = np.concatenate([lo - pad, hi + pad], axis=1)
    return Poses(boxes, np.full(len(kps), score), kps, ks, ks.mean(axis=1))


# ----------------------------------------------------------------------------- frames with an index

_BITS = 12
_BLOCK = 12


def encode_index(image: np.ndarray, index: int) -> np.ndarray:
    """Paint ``index`` as 12 black/white blocks along the top edge (survives JPEG)."""
    for b in range(_BITS):
        value = 255 if (index >> b) & 1 else 0
        image[0:_BLOCK, b * _BLOCK:(b + 1) * _BLOCK] = value
    return image


def decode_index(image: np.ndarray) -> int:
    index = 0
    for b in range(_BITS):
        if image[2:_BLOCK - 2, b * _BLOCK + 2:(b + 1) * _BLOCK - 2].mean() > 127:
            index |= 1 << b
    return index


def blank_frame(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    w, h = size
    image = np.full((h, w, 3), 90, np.uint8)
    return encode_index(image, index)


def write_png_sequence(
    folder: Path, n: int, size: tuple[int, int] = (320, 240), names: list[str] | None = None
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / (names[i] if names else f"frame{i}.png")
        cv2.imwrite(str(path), blank_frame(i, size))
        paths.append(path)
    return paths


def write_mjpg_video(path: Path, n: int, fps: float = 25.0, size: tuple[int, int] = (320, 240)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(blank_frame(i, size))
    writer.release()
    return path


def jpeg_offsets(data: bytes) -> list[int]:
    """Offsets of the JPEG start-of-image markers (one per MJPG frame)."""
    return [m.start() for m in re.finditer(b"\xff\xd8\xff", data)]


# ----------------------------------------------------------------------------- fake estimator


@dataclass
class FakeEstimator:
    """A scripted world instead of networks.

    ``world[frame_index]`` maps person id -> keypoints ``(17, 2)``. ``detect``
    returns those people's boxes (missing people in ``hidden_from_detector``);
    ``estimate`` returns, for each box, the person whose box overlaps it most
    (IoU >= 0.3), or a pose with keypoint scores 0.05 when nobody is there;
    like :class:`posekit.pipeline.PoseEstimator`, each pose keeps its input box.
    The frame index is read from the image (:func:`encode_index`).
    """

    world: dict[int, dict[int, np.ndarray]]
    schema = COCO17
    detect_calls: list[int] = field(default_factory=list)
    estimate_calls: list[tuple[int, int]] = field(default_factory=list)
    hidden_from_detector: set[tuple[int, int]] = field(default_factory=set)
    raise_at: dict[int, BaseException] = field(default_factory=dict)

    def _people(self, image: np.ndarray) -> tuple[int, dict[int, np.ndarray]]:
        index = decode_index(image)
        if index in self.raise_at:
            raise self.raise_at[index]
        return index, self.world.get(index, {})

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index, people = self._people(image)
        self.detect_calls.append(index)
        kps = [kp for pid, kp in people.items() if (index, pid) not in self.hidden_from_detector]
        if not kps:
            return np.zeros((0, 4)), np.zeros(0)
        poses = make_poses(kps)
        return poses.boxes.astype(np.float64), np.full(len(kps), 0.9)

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        index, people = self._people(image)
        self.estimate_calls.append((index, len(boxes)))
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = list(people)
        truth = make_poses([people[i] for i in ids]) if ids else None
        out_kps, out_scores, out_boxes, used = [], [], [], set()
        for box in boxes:
            best, best_iou = None, 0.3
            if truth is not None:
                for j, tbox in enumerate(truth.boxes):
                    iou = _iou(box, tbox)
                    if iou >= best_iou:
                        best, best_iou = j, iou
            if best is not None and best not in used:  # "pose NMS": one pose per person
                used.add(best)
                out_kps.append(truth.keypoints[best])
                out_scores.append(np.full(17, 0.9))
                out_boxes.append(box)
            elif best is None:
                c = (box[:2] + box[2:]) / 2
                out_kps.append(person(c[0], c[1], box[3] - box[1]))
                out_scores.append(np.full(17, 0.05))
                out_boxes.append(box)
        if not out_kps:
            return Poses.empty()
        return make_poses(out_kps, kp_scores=out_scores).replace(boxes=np.array(out_boxes, np.float32))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def world(n: int) -> dict[int, dict[int, np.ndarray]]:
    """``n`` frames of two people walking towards each other: ``{frame: {person: keypoints (17, 2)}}``."""
    return {t: {0: person(60 + 2 * t, 120, 90), 1: person(240 - 2 * t, 125, 85)} for t in range(n)}


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (which must end with a newline unless empty)."""
    text = path.read_text()
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]
