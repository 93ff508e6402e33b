"""Render poses onto images.

OpenCV and numpy are imported on first draw, so the command line can read the
default thresholds below (its ``--help``) without loading them.

Sizes: body limbs and keypoint dots scale with the image (``t``, 1 px per 400 px
of its longer side, or ``thickness``). The schema's fine keypoints
(:attr:`posekit.schema.KeypointSchema.fine`; for :data:`posekit.schema.COCO_WHOLEBODY`
the face landmarks, dots only, no face lines, and the hand keypoints, dots and
finger links) are drawn smaller: their size
follows the person's box (1 px of dot radius per 350 px of the box's longer
side, 1 px of line width per 400 px) and stays below the body marks, so a
68-point face and two 21-point hands stay readable at any person size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from posekit.schema import KeypointSchema
    from posekit.structures import Poses

__all__ = ["draw_poses", "track_color", "DEFAULT_POSE_THRESH", "DEFAULT_KEYPOINT_THRESH"]

# Defaults of draw_poses and of ``posekit predict --draw-pose-thr / --draw-kpt-thr``.
# Measured on the 300 coco-val-dev images: a pose is "real" when it matches an unused
# labelled GT person with OKS >= 0.5 (greedy by score), "false" when it matches no GT
# person at all (not even an unlabelled / crowd one). Pose score = Poses.scores.
# At 0.2, real kept (large GT, area >= 96^2) / false kept / false + duplicate drawn per image:
#   YOLOX-nano + MoveNet Thunder + flip:         80% (90%) / 8 of 529   / 0.03
#   YOLOX-nano + PP-TinyPose 256x192 + flip:     89% (95%) / 25 of 457  / 0.10
#   PicoDet-S 320 + PP-TinyPose ("balanced"):    87% (93%) / 44 of 8425 / 0.24
# and drawn poses per image fall from 5.5 / 5.5 / 41 to 1.4 / 1.8 / 2.2. At 0.1 the balanced
# pipeline draws 1.2 false or duplicate poses per image (4.3 drawn); at 0.3 MoveNet keeps only
# 65% of the real people (75% of the large ones). messi5.jpg, YOLOX + MoveNet: 1 of 18 poses
# drawn (Messi, 0.63); YOLOX + PP-TinyPose: Messi (0.77) and 4 of 17 crowd spectators (0.22-0.40).
DEFAULT_POSE_THRESH = 0.2  # measured (above): keeps 80-89% of real people (90-95% of large), 0.5-5.5% of false ones
# Keypoints of the real poses (right = its own OKS term >= 0.5 against a labelled GT keypoint):
# at 0.3 MoveNet keeps 92.5% of the right ones and drops 71% of the wrong or unlabelled ones,
# PP-TinyPose keeps 96.6-96.8% and drops 55-56%; 0.5 would lose 11-27% of the right ones.
DEFAULT_KEYPOINT_THRESH = 0.3  # measured (above): keeps 92-97% of right keypoints, drops 55-71% of wrong ones


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour for a track id (golden-ratio hue walk)."""
    import cv2
    import numpy as np

    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_poses(
    image: np.ndarray,
    poses: Poses,
    *,
    pose_thresh: float = DEFAULT_POSE_THRESH,
    keypoint_thresh: float = DEFAULT_KEYPOINT_THRESH,
    draw_boxes: bool = True,
    draw_ids: bool = True,
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of ``image`` (``(H, W, 3)`` BGR) with skeletons, boxes and track ids drawn.

    Only poses whose score (``poses.scores``) is at least ``pose_thresh`` are
    drawn, and of those only the keypoints (and the limbs between two such
    keypoints) scored at least ``keypoint_thresh``. A pose with no keypoint at
    or above ``keypoint_thresh`` is not drawn at all (no box, no id). The
    defaults (:data:`DEFAULT_POSE_THRESH`, :data:`DEFAULT_KEYPOINT_THRESH`)
    were measured on the dev set; ``0`` draws everything.
    """
    import cv2
    import numpy as np

    out = image.copy()
    schema = poses.schema
    t = thickness or max(1, round(max(image.shape[:2]) / 400))
    colors = schema.colors or ((0, 255, 0),) * len(schema.skeleton)
    fine = _fine_keypoints(schema).tolist()
    any_fine = any(fine)
    fine_limbs = [fine[a] and fine[b] for a, b in schema.skeleton]
    for i in range(len(poses)):
        ks = poses.keypoint_scores[i]
        shown_mask = ks >= keypoint_thresh
        if not (poses.scores[i] >= pose_thresh and shown_mask.any()):
            continue
        # Once per person: pixel positions (round half to even, as Python's round) and visibility as lists.
        points = [tuple(p) for p in np.rint(poses.keypoints[i]).astype(np.int64).tolist()]
        shown = shown_mask.tolist()
        tid = int(poses.track_ids[i])
        box_color = track_color(tid) if tid >= 0 else (0, 255, 0)
        if draw_boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes[i])
            cv2.rectangle(out, (x1, y1), (x2, y2), box_color, t, cv2.LINE_AA)
        fine_radius, fine_width = _fine_sizes(poses.boxes[i], t) if any_fine else (t + 2, t + 1)
        for (a, b), color, small in zip(schema.skeleton, colors, fine_limbs):
            if shown[a] and shown[b]:
                cv2.line(out, points[a], points[b], color, fine_width if small else t + 1, cv2.LINE_AA)
        for j in np.flatnonzero(shown_mask).tolist():
            radius = fine_radius if fine[j] else t + 2
            cv2.circle(out, points[j], radius, (255, 255, 255), -1, cv2.LINE_AA)
        if draw_ids and tid >= 0:
            x1, y1 = int(poses.boxes[i, 0]), int(poses.boxes[i, 1])
            cv2.putText(out, f"id {tid}", (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t + 0.2,
                        box_color, t, cv2.LINE_AA)
    return out


def _fine_keypoints(schema: KeypointSchema) -> np.ndarray:
    """``(K,)`` bool: the keypoints drawn small (the schema's :attr:`~posekit.schema.KeypointSchema.fine`
    keypoints: face and hands of COCO-WholeBody; none for COCO-17)."""
    return schema.fine_mask()


def _fine_sizes(box: np.ndarray, t: int) -> tuple[int, int]:
    """Dot radius and line width of face / hand marks for a person box ``(4,)`` xyxy.

    Scaled with the box's longer side (radius 1 px per 350 px, width 1 px per
    400 px, at least 1) and kept below the body marks (radius ``t + 2``, width
    ``t + 1``): at most ``t + 1`` and ``t``.
    """
    size = max(float(box[2] - box[0]), float(box[3] - box[1]), 0.0)
    radius = min(max(1, round(size / 350)), t + 1)
    width = min(max(1, round(size / 400)), t)
    return radius, width
