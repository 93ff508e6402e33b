"""OKS: hand-computed values and parity with pycocotools' ``COCOeval.computeOks``."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posekit.evaluation import compute_oks, oks_one_to_many
from posekit.schema import COCO17

import testdata

SIGMAS = COCO17.sigmas_array()
K = COCO17.num_keypoints
EPS = float(np.spacing(1))


def _gt_pose(rng: np.random.Generator, vis: np.ndarray | None = None) -> np.ndarray:
    """A (K, 3) labelled ground-truth pose."""
    pose = np.zeros((K, 3))
    pose[:, 0] = rng.uniform(100, 200, K)
    pose[:, 1] = rng.uniform(50, 300, K)
    pose[:, 2] = 2 if vis is None else vis
    pose[pose[:, 2] == 0, :2] = 0
    return pose


# ----------------------------------------------------------------------------- by hand


def test_perfect_match_is_one() -> None:
    rng = np.random.default_rng(0)
    gt = _gt_pose(rng)
    out = compute_oks(gt[None], gt[None], np.array([5000.0]), np.array([[100, 50, 100, 250.0]]), SIGMAS)
    assert out.shape == (1, 1)
    assert out[0, 0] == pytest.approx(1.0, abs=1e-15)


def test_single_keypoint_displacement() -> None:
    rng = np.random.default_rng(1)
    gt = _gt_pose(rng)
    area, d, j = 4000.0, 7.0, 9  # left wrist
    dt = gt.copy()
    dt[j, 0] += d * 0.6
    dt[j, 1] -= d * 0.8
    out = compute_oks(dt[None], gt[None], np.array([area]), np.zeros((1, 4)), SIGMAS)
    sigma = COCO17.sigmas[j]
    expected = ((K - 1) + math.exp(-(d**2) / (2 * area * (2 * sigma) ** 2))) / K
    assert out[0, 0] == pytest.approx(expected, rel=1e-12)
    assert out[0, 0] < 1.0


def test_only_labelled_keypoints_count() -> None:
    rng = np.random.default_rng(2)
    vis = np.zeros(K)
    vis[[0, 5, 6]] = [1, 2, 2]
    gt = _gt_pose(rng, vis)
    area = 2500.0
    dt = gt.copy()
    dt[vis == 0, :2] = 1e4  # far away, but unlabelled in the GT: must not count
    dt[5, 0] += 3.0
    out = compute_oks(dt[None], gt[None], np.array([area]), np.zeros((1, 4)), SIGMAS)
    e5 = 9.0 / (2 * SIGMAS[5]) ** 2 / (area + EPS) / 2
    assert out[0, 0] == pytest.approx((2 + math.exp(-e5)) / 3, rel=1e-12)


def test_two_dimensional_detections_accepted() -> None:
    rng = np.random.default_rng(3)
    gt = _gt_pose(rng)
    dt = gt.copy()
    dt[:, :2] += rng.normal(0, 2, (K, 2))
    a = compute_oks(dt[None], gt[None], np.array([3000.0]), np.zeros((1, 4)), SIGMAS)
    b = compute_oks(dt[None, :, :2], gt[None], np.array([3000.0]), np.zeros((1, 4)), SIGMAS)
    assert a[0, 0] == b[0, 0]


def test_unlabelled_gt_uses_enlarged_box() -> None:
    """k1 == 0: distance to the GT box enlarged by its size on each side, mean over all K."""
    gt = np.zeros((1, K, 3))  # no labelled keypoint
    box = np.array([[100.0, 200.0, 50.0, 80.0]])  # x in [50, 200], y in [120, 360] after enlarging
    area = 1200.0

    inside = np.zeros((1, K, 3))
    inside[0, :, 0] = np.linspace(50, 200, K)  # the boundary counts as inside
    inside[0, :, 1] = np.linspace(120, 360, K)
    assert compute_oks(inside, gt, np.array([area]), box, SIGMAS)[0, 0] == pytest.approx(1.0, abs=1e-15)

    out = inside.copy()
    out[0, 0, 0] = 40.0  # 10 left of x0 = 50
    out[0, 3, 1] = 366.0  # 6 below y1 = 360
    out[0, 7, :2] = [210.0, 100.0]  # 10 right of x1 = 200 and 20 above y0 = 120
    got = compute_oks(out, gt, np.array([area]), box, SIGMAS)[0, 0]
    sq = np.zeros(K)
    sq[0], sq[3], sq[7] = 10.0**2, 6.0**2, 10.0**2 + 20.0**2
    e = sq / (2 * SIGMAS) ** 2 / (area + EPS) / 2
    assert got == pytest.approx(np.exp(-e).sum() / K, rel=1e-12)
    assert got < 1.0


def test_matrix_shape_and_columns() -> None:
    rng = np.random.default_rng(4)
    gts = np.stack([_gt_pose(rng) for _ in range(3)])
    gts[2, :, :] = 0  # an ignore region
    areas = np.array([3000.0, 5000.0, 800.0])
    boxes = np.array([[100, 50, 100, 250], [100, 50, 100, 250], [0, 0, 30, 30.0]])
    dts = gts[[1, 0]].copy()
    dts[:, :, :2] += rng.normal(0, 3, (2, K, 2))
    out = compute_oks(dts, gts, areas, boxes, SIGMAS)
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            one = compute_oks(dts[i : i + 1], gts[j : j + 1], areas[j : j + 1], boxes[j : j + 1], SIGMAS)
            assert out[i, j] == one[0, 0]
    assert out[0, 1] > 0.5 and out[1, 0] > 0.5
    assert compute_oks(np.zeros((0, K, 3)), gts, areas, boxes, SIGMAS).shape == (0, 3)
    assert compute_oks(dts, np.zeros((0, K, 3)), np.zeros(0), np.zeros((0, 4)), SIGMAS).shape == (2, 0)


def test_sigmas_must_match_keypoints() -> None:
    gt = np.zeros((1, K, 3))
    with pytest.raises(ValueError, match="sigmas"):
        compute_oks(gt, gt, np.ones(1), np.zeros((1, 4)), SIGMAS[:-1])


def test_oks_one_to_many_by_hand() -> None:
    rng = np.random.default_rng(5)
    ref = _gt_pose(rng)
    ref[:, 2] = rng.uniform(0.5, 1.0, K)
    others = np.repeat(ref[None], 3, axis=0)
    others[1, 2, 0] += 4.0
    others[2, :, 2] = 0.1  # low scores everywhere
    areas = np.array([1000.0, 3000.0, 2000.0])
    got = oks_one_to_many(ref, 2000.0, others, areas, SIGMAS)
    assert got.shape == (3,)
    assert got[0] == pytest.approx(1.0) and got[2] == pytest.approx(1.0)
    e = 16.0 / (2 * SIGMAS[2]) ** 2 / ((2000.0 + 3000.0) / 2 + EPS) / 2
    assert got[1] == pytest.approx((K - 1 + math.exp(-e)) / K, rel=1e-12)
    thr = oks_one_to_many(ref, 2000.0, others, areas, SIGMAS, score_threshold=0.3)
    assert thr[0] == pytest.approx(1.0) and thr[1] == pytest.approx(got[1])
    assert thr[2] == 0.0  # no keypoint scored above the threshold in both poses


# ----------------------------------------------------------------------------- vs pycocotools


def test_matches_pycocotools_compute_oks() -> None:
    gt = testdata.coco_gt()
    rng = np.random.default_rng(11)
    by_img: dict[int, list[dict]] = {}
    for ann in gt["annotations"]:
        by_img.setdefault(ann["image_id"], []).append(ann)
    # a few images with several people, with and without ignore regions / crowds
    chosen = sorted(by_img, key=lambda i: (-len(by_img[i]), i))[:6]
    chosen += [i for i in sorted(by_img) if any(a["num_keypoints"] == 0 for a in by_img[i])][:4]
    results = []
    for img in chosen:
        for ann in by_img[img]:
            kp = np.asarray(ann["keypoints"], float).reshape(K, 3)
            x, y, w, h = ann["bbox"]
            if ann["num_keypoints"] == 0:  # ignore region: guess around (and beyond) the box
                kp[:, 0] = rng.uniform(x - 1.5 * w, x + 2.5 * w, K)
                kp[:, 1] = rng.uniform(y - 1.5 * h, y + 2.5 * h, K)
            kp[:, :2] += rng.normal(0, 0.05 * math.sqrt(max(ann["area"], 1.0)), (K, 2))
            kp[:, 2] = rng.uniform(0, 1, K)
            results.append({"image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(),
                            "score": float(rng.uniform())})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.imgIds = chosen
        ev.evaluate()
    checked = 0
    saw_ignore_region = False
    for img in chosen:
        ref = np.asarray(ev.ious[(img, 1)])
        dts = sorted((r for r in results if r["image_id"] == img), key=lambda r: -r["score"])[:20]
        gts = by_img[img]
        ours = compute_oks(
            np.array([d["keypoints"] for d in dts]).reshape(-1, K, 3),
            np.array([g["keypoints"] for g in gts], float).reshape(-1, K, 3),
            np.array([g["area"] for g in gts]),
            np.array([g["bbox"] for g in gts]),
            SIGMAS,
        )
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
        checked += ref.size
        cols = [j for j, g in enumerate(gts) if g["num_keypoints"] == 0]
        if cols and (ref[:, cols] > 0).any():
            saw_ignore_region = True
    assert checked > 100
    assert saw_ignore_region, "the k1 == 0 branch was not exercised"
