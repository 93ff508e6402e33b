"""Object Keypoint Similarity (OKS).

COCO scores a predicted pose against a ground-truth pose with the OKS: for each
keypoint ``i`` with squared distance ``d_i²`` to the ground truth,

    e_i = d_i² / (2σ_i)² / (area + ε) / 2,        OKS = mean_i exp(-e_i),

where ``σ_i`` is the keypoint's sigma (from a :class:`~posekit.schema.KeypointSchema`,
e.g. ``COCO17.sigmas_array()``), ``area`` the ground-truth segment area and
``ε = np.spacing(1)``. The mean runs over the ground-truth keypoints that are
labelled (visibility ``v > 0``).

A ground truth with *no* labelled keypoint (an "ignore region" in COCO terms)
is handled the way the COCO toolkit does: each predicted keypoint's distance is
measured to the ground-truth box enlarged by its own size on every side
(``[x - w, x + 2w] × [y - h, y + 2h]``; zero inside), and the mean runs over
all ``K`` keypoints.

Both functions are pure: they never modify their inputs and keep no state.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compute_oks", "oks_one_to_many"]

_EPS = float(np.spacing(1))


def _as_sigmas(sigmas: np.ndarray, num_keypoints: int) -> np.ndarray:
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] != num_keypoints:
        raise ValueError(f"sigmas must have shape ({num_keypoints},) to match the keypoints, got {s.shape}")
    return s


def _as_poses(poses: np.ndarray, name: str, need_vis: bool) -> np.ndarray:
    arr = np.asarray(poses, dtype=np.float64)
    ok_last = (3,) if need_vis else (2, 3)
    if arr.ndim != 3 or arr.shape[2] not in ok_last:
        want = "(N, K, 3)" if need_vis else "(N, K, 2) or (N, K, 3)"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def compute_oks(
    dt_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    gt_areas: np.ndarray,
    gt_boxes_xywh: np.ndarray,
    sigmas: np.ndarray,
) -> np.ndarray:
    """OKS between every detection and every ground truth, as COCO computes it.

    Args:
        dt_keypoints: detected poses ``(D, K, 3)`` (x, y, score) or ``(D, K, 2)``;
            only x and y are used, every detected keypoint counts.
        gt_keypoints: ground-truth poses ``(G, K, 3)`` (x, y, visibility); a
            keypoint is labelled when its visibility is ``> 0``.
        gt_areas: ground-truth areas ``(G,)`` (the COCO ``area`` field).
        gt_boxes_xywh: ground-truth boxes ``(G, 4)`` as ``(x, y, w, h)``; only
            used for ground truths with no labelled keypoint.
        sigmas: per-keypoint OKS sigmas ``(K,)``.

    Returns:
        OKS matrix ``(D, G)`` (float64). Empty inputs give an empty matrix of
        the right shape.
    """
    dt = _as_poses(dt_keypoints, "dt_keypoints", need_vis=False)
    gt = _as_poses(gt_keypoints, "gt_keypoints", need_vis=True)
    num_dt, num_gt = dt.shape[0], gt.shape[0]
    k = gt.shape[1]
    if dt.shape[1] != k and num_dt > 0 and num_gt > 0:
        raise ValueError(f"detections have {dt.shape[1]} keypoints but ground truths have {k}")
    sig = _as_sigmas(sigmas, k)
    areas = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    boxes = np.asarray(gt_boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if areas.shape[0] != num_gt or boxes.shape[0] != num_gt:
        raise ValueError(f"gt_areas {areas.shape} and gt_boxes_xywh {boxes.shape} must have {num_gt} rows")
    out = np.zeros((num_dt, num_gt), dtype=np.float64)
    if num_dt == 0 or num_gt == 0:
        return out

    variances = (sig * 2) ** 2  # (K,)
    xd, yd = dt[:, None, :, 0], dt[:, None, :, 1]  # (D, 1, K)
    visible = gt[:, :, 2] > 0  # (G, K)
    labelled = visible.any(axis=1)  # (G,)  k1 > 0

    # Distances to labelled ground-truth keypoints.
    dx = xd - gt[None, :, :, 0]  # (D, G, K)
    dy = yd - gt[None, :, :, 1]
    if not labelled.all():
        # Ignore regions: distance to the box enlarged by its size on each side.
        bx, by, bw, bh = (boxes[:, i][None, :, None] for i in range(4))  # (1, G, 1)
        x0, x1 = bx - bw, bx + bw * 2
        y0, y1 = by - bh, by + bh * 2
        dx_box = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
        dy_box = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
        use_box = ~labelled[None, :, None]
        dx = np.where(use_box, dx_box, dx)
        dy = np.where(use_box, dy_box, dy)

    e = (dx**2 + dy**2) / variances / (areas[None, :, None] + _EPS) / 2  # (D, G, K)
    for j in range(num_gt):
        # Select the used keypoints first so the sum runs over exactly those
        # values (same rounding as averaging the selected vector).
        used = e[:, j, visible[j]] if labelled[j] else e[:, j, :]
        out[:, j] = np.exp(-used).sum(axis=1) / used.shape[1]
    return out


def oks_one_to_many(
    pose: np.ndarray,
    area: float,
    others: np.ndarray,
    others_areas: np.ndarray,
    sigmas: np.ndarray,
    *,
    score_threshold: float | None = None,
) -> np.ndarray:
    """Symmetric OKS of one pose against many, for pose NMS and tracking.

    This is the similarity HRNet / mmpose use for OKS-NMS, not the COCO
    evaluation one: the scale is the mean of the two poses' areas, and with
    ``score_threshold`` only keypoints scored above it in *both* poses count.

    ``e_i = d_i² / (2σ_i)² / ((area + others_area) / 2 + ε) / 2`` and the
    result is the mean of ``exp(-e_i)`` over the counted keypoints (0 when none
    is counted).

    Args:
        pose: the reference pose ``(K, 3)`` (x, y, score) or ``(K, 2)``.
        area: the reference pose's area (e.g. its box area), a scalar.
        others: the poses to compare ``(N, K, 3)`` or ``(N, K, 2)``.
        others_areas: their areas ``(N,)``.
        sigmas: per-keypoint OKS sigmas ``(K,)``.
        score_threshold: if given, poses must carry scores (last dim 3) and a
            keypoint counts only when both scores exceed it.

    Returns:
        OKS values ``(N,)`` (float64).
    """
    ref = np.asarray(pose, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[1] not in (2, 3):
        raise ValueError(f"pose must have shape (K, 2) or (K, 3), got {ref.shape}")
    oth = _as_poses(others, "others", need_vis=False)
    k = ref.shape[0]
    sig = _as_sigmas(sigmas, k)
    n = oth.shape[0]
    if n == 0:
        return np.zeros((0,), dtype=np.float64)
    if oth.shape[1] != k:
        raise ValueError(f"others have {oth.shape[1]} keypoints but pose has {k}")
    oth_areas = np.asarray(others_areas, dtype=np.float64).reshape(-1)
    if oth_areas.shape[0] != n:
        raise ValueError(f"others_areas must have shape ({n},), got {oth_areas.shape}")

    variances = (sig * 2) ** 2
    dx = oth[:, :, 0] - ref[None, :, 0]  # (N, K)
    dy = oth[:, :, 1] - ref[None, :, 1]
    scale = (float(area) + oth_areas) / 2 + _EPS  # (N,)
    e = (dx**2 + dy**2) / variances / scale[:, None] / 2
    if score_threshold is None:
        return np.exp(-e).mean(axis=1)
    if ref.shape[1] != 3 or oth.shape[2] != 3:
        raise ValueError("score_threshold needs keypoint scores: pose (K, 3) and others (N, K, 3)")
    used = (ref[None, :, 2] > score_threshold) & (oth[:, :, 2] > score_threshold)  # (N, K)
    count = used.sum(axis=1)
    total = np.where(used, np.exp(-e), 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)
