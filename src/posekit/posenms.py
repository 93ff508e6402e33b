"""Pose-level NMS: AlphaPose's parametric pose NMS and HRNet's OKS-NMS.

Parametric pose NMS (AlphaPose, ``pose_nms`` for body keypoint sets)
--------------------------------------------------------------------
Inputs are ``N`` candidate poses (one per detected box) with ``K`` keypoints.
Let ``s_n,k`` be keypoint scores, with exact zeros replaced by ``1e-5`` first
(AlphaPose does this in place before anything else; every later formula uses
the replaced scores). Each pose has a reference distance
``ref_n = alpha * max(x2 - x1, y2 - y1)`` of its *box* (no ``+1``).

1. **Clustering.** While poses remain: pick the remaining pose ``p`` with the
   highest mean keypoint score ``mean_k s_p,k`` (first one on ties, in input
   order). For every remaining pose ``n`` (``p`` included), with
   ``d_n,k = ||x_n,k - x_p,k||``:

   * parametric distance
     ``D_n = sum_k [d_n,k <= 1] tanh(s_p,k/delta1) tanh(s_n,k/delta1)
     + mu * sum_k exp(-d_n,k / delta2)`` — note the score term only counts
     keypoints within **1 pixel** (AlphaPose's ``dist <= 1``), not within
     ``ref``;
   * matched keypoints ``M_n = #{k : d_n,k <= min(ref_p, 7)}`` (``PCK_match``).

   Poses with ``D_n > gamma`` or ``M_n >= match_thresh`` form ``p``'s cluster
   and are removed from the pool.
2. **Filtering and merging**, for each pick in pick order:

   * drop it if ``max_k s_p,k < score_thresh``;
   * merge the cluster ``C`` (``p`` included) keypoint-wise
     (``p_merge_fast``): with ``r = min(ref_p, 15)`` and
     ``m_n,k = s_n,k * [||x_n,k - x_p,k|| <= r]``,
     ``x̂_k = sum_n m_n,k x_n,k / sum_n m_n,k`` and
     ``ŝ_k = sum_n m_n,k² / sum_n m_n,k`` (scores weighted by the normalised
     scores, i.e. a self-weighted mean — not a max, not a sum);
   * drop it if ``max_k ŝ_k < score_thresh``;
   * drop it if ``1.5² (max x̂ - min x̂)(max ŷ - min ŷ) < area_thresh``
     (``area_thresh`` is an area in px², AlphaPose's ``areaThres`` /
     ``--min_box_area``);
   * ``proposal_score = mean_k ŝ_k + box_score_p + 1.25 max_k ŝ_k``
     (computed by AlphaPose's writer from the NMS output).

   The kept entry reports the *picked* pose's box and box score.

OKS-NMS (HRNet ``oks_nms``)
---------------------------
Greedy by score; a candidate is suppressed when its OKS with the kept pose is
``> thresh``; OKS here is HRNet's ``oks_iou``:
``e_k = d_k² / (2 sigma_k)² / ((a_kept + a_cand)/2 + eps) / 2``,
``OKS = mean_k exp(-e_k)``.

Greedy suppression
------------------
:func:`greedy_suppress` is the one greedy NMS loop of posekit: OKS-NMS here
and the detectors' box NMS (:func:`posekit.detect.postprocess.nms`) differ
only in their overlap measure and whether an overlap equal to the threshold
suppresses.

All functions are pure numpy, never modify their inputs and keep no state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PoseNMSParams",
    "PoseNMSResult",
    "parametric_pose_distance",
    "pck_match_count",
    "merge_pose_cluster",
    "pose_nms",
    "greedy_suppress",
    "oks_overlaps",
    "oks_nms",
    "rescore_hrnet",
    "head_nms",
]

logger = logging.getLogger(__name__)

_EPS = float(np.spacing(1))


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class PoseNMSParams:
    """Constants of AlphaPose's parametric pose NMS (body keypoint sets).

    Attributes:
        delta1: score-term temperature (``tanh(s / delta1)``).
        mu: weight of the spatial term.
        delta2: spatial-term length scale (``exp(-d / delta2)``), pixels.
        gamma: a pose whose parametric distance to the pick is ``> gamma``
            joins the pick's cluster.
        score_thresh: clusters whose pick (or merged pose) has max keypoint
            score ``< score_thresh`` are dropped (``scoreThreds``).
        match_thresh: a pose with ``>= match_thresh`` keypoints within the
            matching distance joins the cluster (``matchThreds``).
        area_thresh: merged poses with ``1.5² * w * h < area_thresh`` (px²)
            are dropped (``areaThres``; 0 disables).
        alpha: reference distance ``alpha * max(box w, box h)``.
        match_dist_cap: cap on the reference distance in keypoint matching
            (``PCK_match``: ``min(ref, 7)``).
        merge_dist_cap: cap on the reference distance in merging
            (``p_merge_fast``: ``min(ref, 15)``).
        score_radius: keypoints count in the score term only within this
            distance (AlphaPose: ``dist <= 1``).
        zero_score_fill: exact-zero keypoint scores are replaced by this.
    """

    delta1: float = 1.0
    mu: float = 1.7
    delta2: float = 2.65
    gamma: float = 22.48
    score_thresh: float = 0.3
    match_thresh: float = 5.0
    area_thresh: float = 0.0
    alpha: float = 0.1
    match_dist_cap: float = 7.0
    merge_dist_cap: float = 15.0
    score_radius: float = 1.0
    zero_score_fill: float = 1e-5


@dataclass(frozen=True)
class PoseNMSResult:
    """Output of :func:`pose_nms` (``M`` kept poses, in pick order).

    Attributes:
        indices: ``(M,)`` int64 input index of each kept (picked) pose.
        keypoints: ``(M, K, 2)`` merged keypoints.
        keypoint_scores: ``(M, K)`` merged keypoint scores.
        proposal_scores: ``(M,)`` ``mean(ŝ) + box_score + 1.25 * max(ŝ)``.
        boxes: ``(M, 4)`` boxes of the picked poses (not re-fitted).
        box_scores: ``(M,)`` box scores of the picked poses.
        clusters: ``M`` int64 arrays, the input indices merged into each
            kept pose (the pick included; AlphaPose's ``merge_ids``).
    """

    indices: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    proposal_scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    clusters: tuple[np.ndarray, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return int(self.indices.shape[0])


# ----------------------------------------------------------------------------- helpers


def _as_pose_inputs(
    boxes: np.ndarray,
    box_scores: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2), got {kp.shape}")
    n, k = kp.shape[:2]
    ks = np.asarray(keypoint_scores, dtype=np.float64)
    if ks.ndim == 3 and ks.shape[2] == 1:
        ks = ks[..., 0]
    if ks.shape != (n, k):
        raise ValueError(f"keypoint_scores must have shape ({n}, {k}) (or ({n}, {k}, 1)), got {ks.shape}")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if n == 0 else np.asarray(boxes, dtype=np.float64)
    if b.shape != (n, 4):
        raise ValueError(f"boxes must have shape ({n}, 4), got {b.shape}")
    bs = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    if bs.shape != (n,):
        raise ValueError(f"box_scores must have {n} entries, got shape {np.shape(box_scores)}")
    return b, bs, kp, ks


def _empty_result(k: int) -> PoseNMSResult:
    return PoseNMSResult(
        indices=np.zeros((0,), dtype=np.int64),
        keypoints=np.zeros((0, k, 2), dtype=np.float64),
        keypoint_scores=np.zeros((0, k), dtype=np.float64),
        proposal_scores=np.zeros((0,), dtype=np.float64),
        boxes=np.zeros((0, 4), dtype=np.float64),
        box_scores=np.zeros((0,), dtype=np.float64),
        clusters=(),
    )


def parametric_pose_distance(
    ref_keypoints: np.ndarray,
    ref_scores: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    params: PoseNMSParams = PoseNMSParams(),
) -> np.ndarray:
    """AlphaPose's parametric pose distance (``get_parametric_distance``).

    ``D_n = sum_k [d_n,k <= score_radius] tanh(s_ref,k/delta1) tanh(s_n,k/delta1)
    + mu * sum_k exp(-d_n,k / delta2)``.

    Args:
        ref_keypoints: ``(K, 2)`` the picked pose.
        ref_scores: ``(K,)`` its keypoint scores.
        keypoints: ``(R, K, 2)`` candidate poses.
        keypoint_scores: ``(R, K)`` their keypoint scores.
        params: NMS constants.

    Returns:
        ``(R,)`` distances (larger = more similar).
    """
    ref = np.asarray(ref_keypoints, dtype=np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    d = np.linalg.norm(kp - ref[None], axis=2)  # (R, K)
    s_ref = np.tanh(np.asarray(ref_scores, dtype=np.float64) / params.delta1)
    s = np.tanh(np.asarray(keypoint_scores, dtype=np.float64) / params.delta1)
    score_term = np.where(d <= params.score_radius, s_ref[None] * s, 0.0).sum(axis=1)
    point_term = np.exp(-d / params.delta2).sum(axis=1)
    return score_term + params.mu * point_term


def pck_match_count(
    ref_keypoints: np.ndarray,
    keypoints: np.ndarray,
    ref_dist: float,
    cap: float = 7.0,
) -> np.ndarray:
    """Keypoints of each candidate within ``min(ref_dist, cap)`` of the reference.

    AlphaPose's ``PCK_match`` tests ``d / r <= 1``; posekit tests ``d <= r``
    (identical for ``r > 0``; for a degenerate ``r = 0`` posekit counts exact
    coincidences where AlphaPose's ``0/0`` counts nothing).

    Args:
        ref_keypoints: ``(K, 2)``.
        keypoints: ``(R, K, 2)``.
        ref_dist: reference distance (pixels).
        cap: upper bound applied to ``ref_dist``.

    Returns:
        ``(R,)`` int64 counts.
    """
    ref = np.asarray(ref_keypoints, dtype=np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    d = np.linalg.norm(kp - ref[None], axis=2)
    r = min(float(ref_dist), float(cap))
    return (d <= r).sum(axis=1).astype(np.int64)


def merge_pose_cluster(
    ref_keypoints: np.ndarray,
    cluster_keypoints: np.ndarray,
    cluster_scores: np.ndarray,
    ref_dist: float,
    cap: float = 15.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Score-weighted merge of a pose cluster (AlphaPose ``p_merge_fast``).

    With ``r = min(ref_dist, cap)`` and ``m_n,k = s_n,k`` where
    ``||x_n,k - ref_k|| <= r`` (else 0):
    ``x̂_k = sum_n m_n,k x_n,k / sum_n m_n,k`` and
    ``ŝ_k = sum_n m_n,k² / sum_n m_n,k``.

    Where ``sum_n m_n,k == 0`` (impossible when the reference pose is in the
    cluster with positive scores; AlphaPose would produce NaN), the reference
    keypoint is returned with score 0.

    Args:
        ref_keypoints: ``(K, 2)`` the picked pose.
        cluster_keypoints: ``(C, K, 2)`` poses of its cluster (pick included).
        cluster_scores: ``(C, K)`` their keypoint scores.
        ref_dist: the pick's reference distance.
        cap: upper bound applied to ``ref_dist``.

    Returns:
        ``(merged_keypoints (K, 2), merged_scores (K,))``.
    """
    ref = np.asarray(ref_keypoints, dtype=np.float64)
    kp = np.asarray(cluster_keypoints, dtype=np.float64)
    s = np.asarray(cluster_scores, dtype=np.float64)
    d = np.linalg.norm(kp - ref[None], axis=2)  # (C, K)
    r = min(float(ref_dist), float(cap))
    masked = np.where(d <= r, s, 0.0)
    denom = masked.sum(axis=0)  # (K,)
    ok = denom != 0
    normed = np.zeros_like(masked)
    np.divide(masked, denom[None], out=normed, where=ok[None])
    merged_kp = (kp * normed[..., None]).sum(axis=0)
    merged_s = (masked * normed).sum(axis=0)
    if not np.all(ok):
        merged_kp[~ok] = ref[~ok]
        merged_s[~ok] = 0.0
    return merged_kp, merged_s


# ----------------------------------------------------------------------------- parametric pose NMS


def pose_nms(
    boxes: np.ndarray,
    box_scores: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    params: PoseNMSParams = PoseNMSParams(),
) -> PoseNMSResult:
    """AlphaPose parametric pose NMS (see the module docstring for formulas).

    Args:
        boxes: ``(N, 4)`` xyxy person boxes, one per pose.
        box_scores: ``(N,)`` (or ``(N, 1)``) detector scores.
        keypoints: ``(N, K, 2)`` pose keypoints, same frame as ``boxes``.
        keypoint_scores: ``(N, K)`` (or ``(N, K, 1)``) keypoint scores.
        params: NMS constants.

    Returns:
        :class:`PoseNMSResult` with ``M <= N`` poses in pick order
        (descending mean keypoint score).

    Note:
        If a pick's cluster test does not select the pick itself (only
        possible for ``K`` too small for ``mu * K > gamma`` and
        ``K >= match_thresh``), posekit still removes it with its cluster;
        AlphaPose would pick it again.
    """
    b, bs, kp, ks = _as_pose_inputs(boxes, box_scores, keypoints, keypoint_scores)
    n, k = kp.shape[:2]
    if n == 0 or k == 0:
        return _empty_result(k)

    ks = np.where(ks == 0, params.zero_score_fill, ks)
    ref_dists = params.alpha * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    human_scores = ks.mean(axis=1)

    alive = np.ones(n, dtype=bool)
    picks: list[int] = []
    clusters: list[np.ndarray] = []
    while alive.any():
        idx = np.flatnonzero(alive)
        p = int(idx[np.argmax(human_scores[idx])])
        simi = parametric_pose_distance(kp[p], ks[p], kp[idx], ks[idx], params)
        n_match = pck_match_count(kp[p], kp[idx], ref_dists[p], params.match_dist_cap)
        members = (simi > params.gamma) | (n_match >= params.match_thresh)
        members |= idx == p
        cluster = idx[members]
        alive[cluster] = False
        picks.append(p)
        clusters.append(cluster.astype(np.int64))

    out_idx: list[int] = []
    out_kp: list[np.ndarray] = []
    out_ks: list[np.ndarray] = []
    out_prop: list[float] = []
    out_clusters: list[np.ndarray] = []
    for p, cluster in zip(picks, clusters):
        if ks[p].max() < params.score_thresh:
            continue
        merged_kp, merged_s = merge_pose_cluster(kp[p], kp[cluster], ks[cluster], ref_dists[p], params.merge_dist_cap)
        if merged_s.max() < params.score_thresh:
            continue
        span = merged_kp.max(axis=0) - merged_kp.min(axis=0)
        if 1.5**2 * span[0] * span[1] < params.area_thresh:
            continue
        out_idx.append(p)
        out_kp.append(merged_kp)
        out_ks.append(merged_s)
        out_prop.append(float(merged_s.mean() + bs[p] + 1.25 * merged_s.max()))
        out_clusters.append(cluster)

    logger.debug("pose_nms: %d poses -> %d clusters -> %d kept", n, len(picks), len(out_idx))
    if not out_idx:
        return _empty_result(k)
    sel = np.asarray(out_idx, dtype=np.int64)
    return PoseNMSResult(
        indices=sel,
        keypoints=np.stack(out_kp),
        keypoint_scores=np.stack(out_ks),
        proposal_scores=np.asarray(out_prop, dtype=np.float64),
        boxes=b[sel].copy(),
        box_scores=bs[sel].copy(),
        clusters=tuple(out_clusters),
    )


# ----------------------------------------------------------------------------- HRNet OKS-NMS


def greedy_suppress(
    scores: np.ndarray,
    overlap: Callable[[int, np.ndarray], np.ndarray],
    thresh: float,
    *,
    suppress_equal: bool,
) -> np.ndarray:
    """Greedy non-maximum suppression with any overlap measure.

    Candidates are visited by ``scores`` descending (stable sort: ties keep
    input order). The best remaining candidate ``i`` is kept and every
    remaining candidate whose overlap with it exceeds ``thresh`` is removed;
    ``suppress_equal`` decides an overlap exactly at ``thresh``:

    * ``True``: ``overlap >= thresh`` suppresses (AlphaPose / darknet box NMS);
    * ``False``: ``overlap > thresh`` suppresses (HRNet OKS-NMS, torchvision).

    A NaN overlap suppresses either way.

    Args:
        scores: ``(N,)`` candidate scores.
        overlap: ``overlap(i, rest)`` -> ``(R,)`` overlaps of candidate ``i``
            with the candidates ``rest`` (``(R,)`` int64 indices into the
            input, ``R >= 1``, ``i`` not among them). Called once per kept
            candidate that still has others remaining.
        thresh: overlap threshold.
        suppress_equal: whether ``overlap == thresh`` suppresses.

    Returns:
        ``(M,)`` int64 indices of the kept candidates, in visiting order
        (descending score).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-s, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        ovr = np.asarray(overlap(i, rest)).reshape(-1)
        order = rest[ovr < thresh] if suppress_equal else rest[ovr <= thresh]
    return np.asarray(keep, dtype=np.int64)


def oks_overlaps(
    ref_keypoints: np.ndarray,
    keypoints: np.ndarray,
    ref_area: float,
    areas: np.ndarray,
    sigmas: np.ndarray,
    keypoint_scores: np.ndarray | None = None,
    in_vis_thresh: float | None = None,
) -> np.ndarray:
    """HRNet's ``oks_iou`` between one pose and ``M`` others.

    ``e_k = d_k² / (2 sigma_k)² / ((ref_area + area_m)/2 + eps) / 2``;
    ``OKS_m = mean_k exp(-e_k)`` over the counted keypoints (0 if none).

    When ``in_vis_thresh`` is given, only keypoints whose *candidate* score
    ``keypoint_scores[m, k] > in_vis_thresh`` are counted. This is what
    HRNet's expression ``list(vg > t) and list(vd > t)`` evaluates to (Python
    ``and`` of two non-empty lists returns the second), so the reference
    pose's visibility is not used.

    Args:
        ref_keypoints: ``(K, 2)`` the kept pose.
        keypoints: ``(M, K, 2)`` candidates.
        ref_area: area of the kept pose (HRNet: its box ``w * h``).
        areas: ``(M,)`` candidate areas.
        sigmas: ``(K,)`` per-keypoint OKS sigmas (e.g.
            ``posekit.schema.COCO17.sigmas_array()``).
        keypoint_scores: ``(M, K)`` candidate keypoint scores; required when
            ``in_vis_thresh`` is given.
        in_vis_thresh: visibility threshold, or ``None`` to count all.

    Returns:
        ``(M,)`` float64 OKS values.
    """
    ref = np.asarray(ref_keypoints, dtype=np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sig.shape[0] != ref.shape[0]:
        raise ValueError(f"sigmas has {sig.shape[0]} entries for {ref.shape[0]} keypoints")
    a = np.asarray(areas, dtype=np.float64).reshape(-1)
    variances = (sig * 2.0) ** 2
    d2 = ((kp - ref[None]) ** 2).sum(axis=2)  # (M, K)
    e = d2 / variances[None] / ((float(ref_area) + a)[:, None] / 2.0 + _EPS) / 2.0
    if in_vis_thresh is None:
        return np.exp(-e).mean(axis=1) if e.shape[1] else np.zeros(e.shape[0])
    if keypoint_scores is None:
        raise ValueError("keypoint_scores are required when in_vis_thresh is given")
    vis = np.asarray(keypoint_scores, dtype=np.float64) > in_vis_thresh
    count = vis.sum(axis=1)
    total = np.where(vis, np.exp(-e), 0.0).sum(axis=1)
    out = np.zeros(e.shape[0])
    np.divide(total, count, out=out, where=count > 0)
    return out


def oks_nms(
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray | None,
    areas: np.ndarray,
    scores: np.ndarray,
    sigmas: np.ndarray,
    thresh: float = 0.9,
    in_vis_thresh: float | None = None,
) -> np.ndarray:
    """HRNet greedy OKS-NMS.

    Poses are visited by ``scores`` descending (stable: ties keep input order;
    HRNet's ``argsort()[::-1]`` would visit tied poses last-first). The best
    remaining pose is kept and candidates with ``OKS > thresh`` against it are
    suppressed (``OKS <= thresh`` survive, as HRNet's ``oks_ovr <= thresh``).

    Args:
        keypoints: ``(N, K, 2)``.
        keypoint_scores: ``(N, K)`` (or ``(N, K, 1)``); only used with
            ``in_vis_thresh``, may be ``None`` otherwise.
        areas: ``(N,)`` pose areas (HRNet: box ``w * h`` in pixels).
        scores: ``(N,)`` pose scores (HRNet: :func:`rescore_hrnet`).
        sigmas: ``(K,)`` OKS sigmas — never inferred from ``K``.
        thresh: OKS threshold (HRNet ``TEST.OKS_THRE`` = 0.9).
        in_vis_thresh: see :func:`oks_overlaps`; HRNet's evaluation calls
            ``oks_nms`` without it (``None``), using ``IN_VIS_THRE`` = 0.2 only
            for rescoring.

    Returns:
        ``(M,)`` int64 kept indices, in visiting order.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2), got {kp.shape}")
    n = kp.shape[0]
    if n == 0:
        return np.zeros((0,), dtype=np.int64)
    ks = None
    if keypoint_scores is not None:
        ks = np.asarray(keypoint_scores, dtype=np.float64).reshape(n, -1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    a = np.asarray(areas, dtype=np.float64).reshape(-1)
    if s.shape[0] != n or a.shape[0] != n:
        raise ValueError(f"scores ({s.shape[0]}) and areas ({a.shape[0]}) must have {n} entries")

    def overlap(i: int, rest: np.ndarray) -> np.ndarray:
        return oks_overlaps(kp[i], kp[rest], a[i], a[rest], sigmas, None if ks is None else ks[rest], in_vis_thresh)

    return greedy_suppress(s, overlap, thresh, suppress_equal=False)


def rescore_hrnet(box_scores: np.ndarray, keypoint_scores: np.ndarray, thresh: float = 0.2) -> np.ndarray:
    """HRNet's pose rescoring before OKS-NMS.

    ``score_n = box_score_n * mean{s_n,k : s_n,k > thresh}``, and 0 when no
    keypoint score exceeds ``thresh`` (HRNet leaves ``kpt_score = 0``).

    Args:
        box_scores: ``(N,)``.
        keypoint_scores: ``(N, K)`` (or ``(N, K, 1)``).
        thresh: HRNet ``TEST.IN_VIS_THRE`` (0.2).

    Returns:
        ``(N,)`` float64 rescored pose scores.
    """
    bs = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    ks = np.asarray(keypoint_scores, dtype=np.float64).reshape(bs.shape[0], -1)
    valid = ks > thresh
    count = valid.sum(axis=1)
    total = np.where(valid, ks, 0.0).sum(axis=1)
    mean = np.zeros_like(total)
    np.divide(total, count, out=mean, where=count > 0)
    return bs * mean


def head_nms(
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    scores: np.ndarray,
    head: tuple[int, ...] | np.ndarray,
    *,
    fraction: float = 0.1,
    keypoint_threshold: float = 0.3,
    min_common: int = 2,
) -> np.ndarray:
    """Greedy "one head, one person" suppression.

    Two poses whose heads lie on the same spot describe one person, however
    much their bodies differ (a top-down network fed a crop of a crowd often
    puts one person's head on a neighbour's body). Poses are visited by
    ``scores`` descending (stable); a pose is suppressed when at least
    ``min_common`` head keypoints are confident (score above
    ``keypoint_threshold``) in both it and an already kept pose and their
    median distance is at most ``fraction`` times the diagonal of the
    smaller of the two poses' confident-keypoint boxes.

    Args:
        keypoints: ``(N, K, 2)``.
        keypoint_scores: ``(N, K)``.
        scores: ``(N,)`` visiting order, best first.
        head: indices of the head keypoints (``schema.head``); empty keeps all.
        fraction: distance threshold as a fraction of the pose box diagonal.
        keypoint_threshold: confident keypoints score above this.
        min_common: head keypoints confident in both poses needed to compare them.

    Returns:
        ``(M,)`` int64 kept indices, in visiting order.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2), got {kp.shape}")
    n, k = kp.shape[:2]
    ks = np.asarray(keypoint_scores, dtype=np.float64).reshape(n, k)
    order = np.argsort(-np.asarray(scores, dtype=np.float64).reshape(-1), kind="stable")
    head = np.asarray(head, dtype=np.int64)
    if n < 2 or head.size == 0:
        return order.astype(np.int64)
    confident = ks > keypoint_threshold
    lo = np.where(confident[..., None], kp, np.inf).min(axis=1)
    hi = np.where(confident[..., None], kp, -np.inf).max(axis=1)
    diag = np.where(confident.sum(axis=1) >= 2, np.hypot(*(hi - lo).T), 0.0)
    head_conf = confident[:, head]
    head_xy = kp[:, head]
    keep: list[int] = []
    for i in order:
        duplicate = False
        for j in keep:
            common = head_conf[i] & head_conf[j]
            if common.sum() < min_common:
                continue
            distance = np.median(np.linalg.norm(head_xy[i][common] - head_xy[j][common], axis=1))
            if distance <= fraction * min(diag[i], diag[j]):
                duplicate = True
                break
        if not duplicate:
            keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)
