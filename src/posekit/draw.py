"""Render poses onto images."""

from __future__ import annotations

import cv2
import numpy as np

from posekit.structures import Poses

__all__ = ["draw_poses", "track_color"]


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour for a track id (golden-ratio hue walk)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_poses(
    image: np.ndarray,
    poses: Poses,
    keypoint_thresh: float = 0.3,
    draw_boxes: bool = True,
    draw_ids: bool = True,
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of ``image`` (``(H, W, 3)`` BGR) with skeletons, boxes and track ids drawn.

    Limbs and keypoints whose scores are below ``keypoint_thresh`` are not drawn.
    """
    out = image.copy()
    schema = poses.schema
    t = thickness or max(1, round(max(image.shape[:2]) / 400))
    colors = schema.colors or ((0, 255, 0),) * len(schema.skeleton)
    for i in range(len(poses)):
        kp, ks = poses.keypoints[i], poses.keypoint_scores[i]
        tid = int(poses.track_ids[i])
        box_color = track_color(tid) if tid >= 0 else (0, 255, 0)
        if draw_boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes[i])
            cv2.rectangle(out, (x1, y1), (x2, y2), box_color, t, cv2.LINE_AA)
        for (a, b), color in zip(schema.skeleton, colors):
            if ks[a] >= keypoint_thresh and ks[b] >= keypoint_thresh:
                pa = tuple(int(round(v)) for v in kp[a])
                pb = tuple(int(round(v)) for v in kp[b])
                cv2.line(out, pa, pb, color, t + 1, cv2.LINE_AA)
        for j in range(len(kp)):
            if ks[j] >= keypoint_thresh:
                cv2.circle(out, tuple(int(round(v)) for v in kp[j]), t + 2, (255, 255, 255), -1, cv2.LINE_AA)
        if draw_ids and tid >= 0:
            x1, y1 = int(poses.boxes[i, 0]), int(poses.boxes[i, 1])
            cv2.putText(out, f"id {tid}", (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t + 0.2,
                        box_color, t, cv2.LINE_AA)
    return out
