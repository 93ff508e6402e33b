"""Tests for posekit.posenms (AlphaPose parametric pose NMS, HRNet OKS-NMS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.posenms import (
    PoseNMSParams,
    greedy_suppress,
    head_nms,
    merge_pose_cluster,
    oks_nms,
    oks_overlaps,
    parametric_pose_distance,
    pck_match_count,
    pose_nms,
    rescore_hrnet,
)
from posekit.schema import COCO17

K = 17


def base_pose(x0: float = 20.0, y0: float = 20.0) -> np.ndarray:
    """A (17, 2) pose with keypoints far apart from each other."""
    k = np.arange(K, dtype=np.float64)
    return np.stack([x0 + 4.0 * k, y0 + 10.0 * k], axis=1)


def full(score: float) -> np.ndarray:
    return np.full(K, score)


# ----------------------------------------------------------------------------- building blocks


def test_parametric_distance_by_hand():
    ref = np.array([[0.0, 0.0], [10.0, 0.0]])
    cand = np.array([[[0.6, 0.8], [10.0, 2.0]]])  # distances 1 (inclusive) and 2
    d = parametric_pose_distance(ref, np.array([0.5, 0.8]), cand, np.array([[0.4, 0.9]]))
    expected = math.tanh(0.5) * math.tanh(0.4) + 1.7 * (math.exp(-1 / 2.65) + math.exp(-2 / 2.65))
    np.testing.assert_allclose(d, [expected], rtol=1e-12)


def test_pck_match_cap_by_hand():
    ref = np.zeros((3, 2))
    cand = np.array([[[0, 7.0], [0, 7.5], [0, 12.0]]])
    assert pck_match_count(ref, cand, ref_dist=40.0)[0] == 1  # capped at 7, 7 counts (<=)
    assert pck_match_count(ref, cand, ref_dist=40.0, cap=100.0)[0] == 3
    assert pck_match_count(ref, cand, ref_dist=7.4)[0] == 1


def test_merge_cluster_by_hand():
    ref = np.array([[0.0, 0.0], [0.0, 0.0]])
    cluster = np.array([[[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [12.0, 16.0]]])  # d = 5 and 20
    scores = np.array([[0.9, 0.9], [0.6, 0.6]])
    kp, s = merge_pose_cluster(ref, cluster, scores, ref_dist=40.0)  # cap 15 excludes d = 20
    np.testing.assert_allclose(kp, [[1.2, 1.6], [0.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(s, [(0.81 + 0.36) / 1.5, 0.9], rtol=1e-12)


# ----------------------------------------------------------------------------- pose_nms


def test_merge_two_near_duplicates_exact():
    a = base_pose()
    b = a + np.array([3.0, 4.0])  # every keypoint 5 px away: 17 matches within min(20, 7)
    boxes = np.array([[0, 0, 100, 200], [0, 0, 100, 200]], dtype=float)  # ref_dist 20
    # the lower-score pose first: the pick is by mean keypoint score, not input order
    res = pose_nms(boxes, np.array([0.7, 0.8]), np.stack([b, a]), np.stack([full(0.6), full(0.9)]))
    assert len(res) == 1
    np.testing.assert_array_equal(res.indices, [1])
    np.testing.assert_array_equal(res.clusters[0], [0, 1])
    # (0.9 * a + 0.6 * b) / 1.5 = a + 0.4 * (3, 4)
    np.testing.assert_allclose(res.keypoints[0], a + np.array([1.2, 1.6]), rtol=1e-12)
    np.testing.assert_allclose(res.keypoint_scores[0], full(0.78), rtol=1e-12)  # (0.81 + 0.36) / 1.5
    np.testing.assert_allclose(res.proposal_scores, [0.78 + 0.8 + 1.25 * 0.78], rtol=1e-12)
    np.testing.assert_array_equal(res.boxes, boxes[1:])
    np.testing.assert_allclose(res.box_scores, [0.8])


def test_two_far_apart_poses_both_kept():
    a = base_pose()
    b = a + np.array([100.0, 0.0])
    boxes = np.array([[0, 0, 100, 200], [100, 0, 200, 200]], dtype=float)
    res = pose_nms(boxes, np.array([0.9, 0.95]), np.stack([a, b]), np.stack([full(0.7), full(0.8)]))
    np.testing.assert_array_equal(res.indices, [1, 0])  # pick order: mean keypoint score
    np.testing.assert_allclose(res.keypoints, np.stack([b, a]))
    np.testing.assert_allclose(res.keypoint_scores, np.stack([full(0.8), full(0.7)]))
    np.testing.assert_allclose(res.proposal_scores, [0.8 + 0.95 + 1.0, 0.7 + 0.9 + 0.875])


def test_low_score_pose_dropped_by_max_score_filter():
    a = base_pose()
    low = a + np.array([200.0, 0.0])
    edge = a + np.array([400.0, 0.0])
    boxes = np.array([[0, 0, 100, 200], [200, 0, 300, 200], [400, 0, 500, 200]], dtype=float)
    ks = np.stack([full(0.9), full(0.29), full(0.2)])
    ks[2, 5] = 0.3  # max exactly at the threshold is kept (strict <)
    res = pose_nms(boxes, np.ones(3), np.stack([a, low, edge]), ks)
    np.testing.assert_array_equal(res.indices, [0, 2])


def test_post_merge_max_score_filter():
    a = base_pose()
    boxes = np.array([[0, 0, 100, 200]] * 2, dtype=float)
    s_pick = full(0.2)
    s_pick[0] = 0.31
    s_dup = full(0.19)
    s_dup[0] = 0.1
    kps = np.stack([a, a + np.array([3.0, 4.0])])
    # alone, the pick passes (max 0.31 >= 0.3)
    assert len(pose_nms(boxes[:1], np.ones(1), kps[:1], s_pick[None])) == 1
    # merged: keypoint 0 -> (0.31² + 0.1²) / 0.41 = 0.2588 < 0.3 -> dropped after merging
    res = pose_nms(boxes, np.ones(2), kps, np.stack([s_pick, s_dup]))
    assert len(res) == 0
    assert res.keypoints.shape == (0, K, 2)


def test_match_cap_7_exercised():
    a = base_pose()
    boxes = np.array([[0, 0, 300, 400]] * 2, dtype=float)  # alpha * 400 = 40 > 7
    ks = np.stack([full(0.9), full(0.6)])
    # 8 px away: within 40 but not within min(40, 7) -> not matched; D = 1.7*17*exp(-8/2.65) << gamma
    res = pose_nms(boxes, np.ones(2), np.stack([a, a + np.array([0.0, 8.0])]), ks)
    assert len(res) == 2
    # exactly 7 px away: matched (<=) -> merged: a + (0, 7 * 0.6 / 1.5)
    res = pose_nms(boxes, np.ones(2), np.stack([a, a + np.array([0.0, 7.0])]), ks)
    assert len(res) == 1
    np.testing.assert_allclose(res.keypoints[0], a + np.array([0.0, 2.8]), rtol=1e-12)


def test_merge_cap_15_exercised():
    a = base_pose()
    c = a.copy()
    c[:10] += np.array([3.0, 4.0])  # 10 keypoints at 5 px -> 10 >= 5 matches -> same cluster
    c[10:] += np.array([12.0, 16.0])  # 7 keypoints at 20 px: within ref 40 but beyond cap 15
    boxes = np.array([[0, 0, 300, 400]] * 2, dtype=float)
    res = pose_nms(boxes, np.array([0.5, 0.5]), np.stack([a, c]), np.stack([full(0.9), full(0.6)]))
    assert len(res) == 1
    expected = a.copy()
    expected[:10] += np.array([1.2, 1.6])
    np.testing.assert_allclose(res.keypoints[0], expected, rtol=1e-12)
    exp_s = full(0.9)
    exp_s[:10] = 0.78
    np.testing.assert_allclose(res.keypoint_scores[0], exp_s, rtol=1e-12)
    np.testing.assert_allclose(res.proposal_scores, [exp_s.mean() + 0.5 + 1.25 * 0.9], rtol=1e-12)
    # with the cap lifted, the 20 px keypoints are merged too
    res = pose_nms(
        boxes, np.array([0.5, 0.5]), np.stack([a, c]), np.stack([full(0.9), full(0.6)]),
        PoseNMSParams(merge_dist_cap=100.0),
    )
    np.testing.assert_allclose(res.keypoints[0, 10:], a[10:] + np.array([4.8, 6.4]), rtol=1e-12)


def test_parametric_distance_alone_clusters():
    # disable PCK matching: only D > gamma can cluster
    params = PoseNMSParams(match_thresh=100)
    a = base_pose()
    boxes = np.array([[0, 0, 100, 200]] * 2, dtype=float)
    ks = np.stack([full(0.9), full(0.8)])
    near = a + np.array([0.3, 0.4])  # 0.5 px: D = 17 tanh(.9) tanh(.8) + 1.7*17*exp(-0.5/2.65) > 22.48
    assert len(pose_nms(boxes, np.ones(2), np.stack([a, near]), ks, params)) == 1
    far = a + np.array([1.8, 2.4])  # 3 px: D = 28.9 exp(-3/2.65) ~ 9.3 < gamma
    assert len(pose_nms(boxes, np.ones(2), np.stack([a, far]), ks, params)) == 2


def test_area_filter():
    a = base_pose()  # keypoint span 64 x 160
    area = 1.5**2 * 64.0 * 160.0
    boxes = np.array([[0, 0, 100, 200]], dtype=float)
    args = (boxes, np.ones(1), a[None], full(0.9)[None])
    assert len(pose_nms(*args, PoseNMSParams(area_thresh=area))) == 1  # not < : kept
    assert len(pose_nms(*args, PoseNMSParams(area_thresh=area + 1e-6))) == 0


def test_zero_scores_replaced_and_inputs_untouched():
    a = base_pose()
    ks = full(0.9)
    ks[3] = 0.0
    boxes = np.array([[0, 0, 100, 200]], dtype=float)
    ks_in = ks[None].copy()
    res = pose_nms(boxes, np.array([[0.5]]), a[None], ks_in[..., None])  # (N, K, 1) scores accepted
    assert res.keypoint_scores[0, 3] == pytest.approx(1e-5)
    np.testing.assert_array_equal(ks_in[0], ks)


def test_pose_nms_empty():
    res = pose_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, K, 2)), np.zeros((0, K)))
    assert len(res) == 0
    assert res.keypoints.shape == (0, K, 2)
    assert res.keypoint_scores.shape == (0, K)
    assert res.boxes.shape == (0, 4)
    assert res.proposal_scores.shape == (0,)


def test_params_frozen():
    p = PoseNMSParams()
    assert (p.delta1, p.mu, p.delta2, p.gamma) == (1.0, 1.7, 2.65, 22.48)
    assert (p.score_thresh, p.match_thresh, p.area_thresh, p.alpha) == (0.3, 5.0, 0.0, 0.1)
    with pytest.raises(AttributeError):
        p.gamma = 1.0  # type: ignore[misc]


# ----------------------------------------------------------------------------- OKS-NMS


def test_oks_overlaps_by_hand():
    ref = np.array([[0.0, 0.0], [10.0, 0.0]])
    cand = np.stack([ref + np.array([1.0, 0.0]), ref])
    sig = np.array([0.1, 0.1])  # vars = 0.04; mean area 100
    ovr = oks_overlaps(ref, cand, 100.0, np.array([100.0, 100.0]), sig)
    np.testing.assert_allclose(ovr, [math.exp(-1 / 0.04 / 100 / 2), 1.0], rtol=1e-12)
    # different areas use their mean: (100 + 300) / 2 = 200
    ovr = oks_overlaps(ref, cand[:1], 100.0, np.array([300.0]), sig)
    np.testing.assert_allclose(ovr, [math.exp(-1 / 0.04 / 200 / 2)], rtol=1e-12)


def test_oks_nms_by_hand():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    kps = np.stack([a + np.array([1.0, 0.0]), a, a, a + np.array([50.0, 0.0])])
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    areas = np.full(4, 100.0)
    sig = np.array([0.1, 0.1])
    # OKS(1, 0) = exp(-0.125) = 0.8825 <= 0.9 kept; OKS(1, 2) = 1 suppressed; 3 far
    np.testing.assert_array_equal(oks_nms(kps, None, areas, scores, sig, thresh=0.9), [1, 0, 3])
    np.testing.assert_array_equal(oks_nms(kps, None, areas, scores, sig, thresh=0.88), [1, 3])
    assert oks_nms(np.zeros((0, 2, 2)), None, np.zeros(0), np.zeros(0), sig).shape == (0,)


def test_oks_nms_visibility_uses_candidate_scores_only():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    cand = a + np.array([[0.0, 0.0], [30.0, 0.0]])  # only keypoint 1 is off
    kps = np.stack([a, cand])
    sig = np.array([0.1, 0.1])
    ks = np.array([[0.05, 0.05], [0.9, 0.1]])  # kept pose invisible; candidate's kp 1 invisible
    # all keypoints: OKS = (1 + exp(-900/0.04/100/2)) / 2 = 0.5 -> kept
    np.testing.assert_array_equal(oks_nms(kps, ks, np.full(2, 100.0), np.array([1.0, 0.5]), sig), [0, 1])
    # in_vis_thresh 0.2: only the candidate's keypoint 0 counts -> OKS 1 -> suppressed
    keep = oks_nms(kps, ks, np.full(2, 100.0), np.array([1.0, 0.5]), sig, in_vis_thresh=0.2)
    np.testing.assert_array_equal(keep, [0])


def test_oks_nms_coco17_sigmas():
    sig = COCO17.sigmas_array()
    a = base_pose()
    kps = np.stack([a, a + 0.5, a + 40.0])
    keep = oks_nms(kps, None, np.full(3, 100.0 * 200.0), np.array([0.9, 0.8, 0.7]), sig)
    np.testing.assert_array_equal(keep, [0, 2])
    with pytest.raises(ValueError):
        oks_nms(kps, None, np.ones(3), np.ones(3), sig[:5])


def test_greedy_suppress_order_ties_and_threshold_equality():
    # candidates on a line; overlap = 1 - distance / 10
    x = np.array([0.0, 5.0, 20.0, 25.0, 0.0])
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.9])
    calls: list[tuple[int, list[int]]] = []

    def overlap(i: int, rest: np.ndarray) -> np.ndarray:
        calls.append((i, rest.tolist()))
        return 1.0 - np.abs(x[rest] - x[i]) / 10.0

    # ties keep input order (0 before 4, 2 before 3); overlap(0, 1) = 0.5 exactly
    keep = greedy_suppress(scores, overlap, 0.5, suppress_equal=True)
    np.testing.assert_array_equal(keep, [0, 2])
    assert keep.dtype == np.int64
    assert calls == [(0, [4, 1, 2, 3]), (2, [3])]
    np.testing.assert_array_equal(greedy_suppress(scores, overlap, 0.5, suppress_equal=False), [0, 1, 2, 3])
    # NaN overlaps suppress either way
    nan = greedy_suppress(np.array([1.0, 0.5]), lambda i, r: np.full(r.shape, np.nan), 0.5, suppress_equal=False)
    np.testing.assert_array_equal(nan, [0])
    assert greedy_suppress(np.zeros(0), overlap, 0.5, suppress_equal=True).shape == (0,)


def test_rescore_hrnet():
    ks = np.array([[0.1, 0.5, 0.7], [0.1, 0.2, 0.05]])
    np.testing.assert_allclose(rescore_hrnet(np.array([0.9, 0.8]), ks, 0.2), [0.9 * 0.6, 0.0])


def _head_poses() -> tuple[np.ndarray, np.ndarray]:
    """Three poses (K=4: two head points, two body points) in a 100 px tall layout."""
    kp = np.array([
        [[50, 10], [54, 10], [50, 60], [50, 110]],  # 0: the person
        [[51, 11], [55, 10], [90, 60], [95, 110]],  # 1: same head (1.0-1.4 px away), another body
        [[70, 10], [74, 10], [70, 60], [70, 110]],  # 2: a neighbour, head 20 px away
    ], dtype=np.float64)
    return kp, np.ones((3, 4))


def test_head_nms_by_hand():
    kp, ks = _head_poses()
    # Box diagonals: pose 0 ~100, pose 1 ~108.2, pose 2 ~100; 0.1 * 100 = 10 px > 1.2 px median distance.
    assert head_nms(kp, ks, np.array([0.9, 0.8, 0.7]), (0, 1), fraction=0.1).tolist() == [0, 2]
    # The more confident pose is kept, whichever it is.
    assert head_nms(kp, ks, np.array([0.5, 0.8, 0.7]), (0, 1), fraction=0.1).tolist() == [1, 2]
    # 20 px apart is a different person at fraction 0.1, the same one at 0.25.
    assert head_nms(kp, ks, np.array([0.9, 0.1, 0.7]), (0, 1), fraction=0.25).tolist() == [0]


def test_head_nms_needs_confident_common_head_keypoints():
    kp, ks = _head_poses()
    ks[1, 1] = 0.1  # only one head keypoint of pose 1 is confident: not comparable
    assert head_nms(kp, ks, np.array([0.9, 0.8, 0.7]), (0, 1), min_common=2).tolist() == [0, 1, 2]
    assert head_nms(kp, ks, np.array([0.9, 0.8, 0.7]), (0, 1), min_common=1).tolist() == [0, 2]
    # No head keypoints in the schema: nothing to compare.
    assert head_nms(kp, ks, np.array([0.9, 0.8, 0.7]), ()).tolist() == [0, 1, 2]
    assert head_nms(np.zeros((0, 4, 2)), np.zeros((0, 4)), np.zeros(0), (0, 1)).tolist() == []
