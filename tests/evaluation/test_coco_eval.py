"""COCO keypoint AP/AR: parity with pycocotools on real COCO ground truth.

The ground truth is the repository's 21 COCO images (``tests/data/coco``) and, where ``../shared`` is there,
the 300-image dev set too (the ``dev`` parameter, marked ``shared_data``).

Result files are synthesised from the ground truth with seeded noise, dropped
people, false positives, missing keypoints, detections on crowd and
unlabelled ("ignore region") annotations, score ties and an image with more
than 20 detections, then scored by both pycocotools and posekit.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posekit.evaluation import (
    STAT_NAMES,
    evaluate_keypoints,
    evaluate_keypoints_detailed,
    format_stats,
    load_results,
)
from posekit.schema import COCO17

import testdata

K = COCO17.num_keypoints
TOL = 1e-6


@pytest.fixture(scope="module", params=["repo", pytest.param("dev", marks=pytest.mark.shared_data)])
def gt_path(request: pytest.FixtureRequest) -> Path:
    """The ground-truth file: the repository's COCO subset, or the 300-image dev set of ``../shared``."""
    if request.param == "repo":
        return testdata.COCO_GT
    return request.getfixturevalue("coco_dev") / "person_keypoints.json"


@pytest.fixture(scope="module")
def gt(gt_path: Path) -> dict[str, Any]:
    return json.loads(gt_path.read_text())


def pycocotools_stats(
    gt: dict[str, Any], results: list[dict[str, Any]], image_ids: list[int] | None = None
) -> np.ndarray:
    """The 10 stats from pycocotools (inputs deep-copied: it mutates them)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        if image_ids is not None:
            ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def make_results(
    gt: dict[str, Any],
    seed: int,
    noise: float,
    *,
    drop: float = 0.15,
    fp_per_image: float = 0.7,
    missing: float = 0.05,
    score_decimals: int | None = None,
    crowded_image_dets: int = 30,
    with_bbox: bool = False,
) -> list[dict[str, Any]]:
    """Deterministic fake keypoint results derived from the ground truth.

    ``noise`` is the keypoint jitter as a fraction of ``sqrt(area)``.
    """
    rng = np.random.default_rng(seed)
    sizes = {img["id"]: (img["width"], img["height"]) for img in gt["images"]}
    anns = gt["annotations"]
    labelled = [a for a in anns if a["num_keypoints"] > 0 and not a["iscrowd"]]
    out: list[dict[str, Any]] = []

    def score() -> float:
        s = float(rng.uniform(0.05, 1.0))
        return round(s, score_decimals) if score_decimals is not None else s

    def emit(img: int, kp: np.ndarray) -> None:
        res: dict[str, Any] = {"image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": score()}
        if with_bbox:
            x0, y0 = kp[:, 0].min(), kp[:, 1].min()
            w, h = kp[:, 0].max() - x0, kp[:, 1].max() - y0
            pad = rng.uniform(0, 0.2)
            res["bbox"] = [float(x0 - pad * w), float(y0 - pad * h), float(w * (1 + 2 * pad)), float(h * (1 + 2 * pad))]
        out.append(res)

    def jittered(ann: dict[str, Any], scale: float) -> np.ndarray:
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(K, 3)
        x, y, w, h = ann["bbox"]
        unl = kp[:, 2] == 0  # the model still predicts something for unlabelled keypoints
        kp[unl, 0] = rng.uniform(x, x + w, int(unl.sum()))
        kp[unl, 1] = rng.uniform(y, y + h, int(unl.sum()))
        kp[:, :2] += rng.normal(0.0, scale * math.sqrt(max(ann["area"], 1.0)) + 0.5, (K, 2))
        kp[:, 2] = rng.uniform(0.0, 1.0, K)
        gone = rng.uniform(size=K) < missing  # missing keypoints: zeros, as some exporters write
        kp[gone] = 0.0
        return kp

    for ann in anns:
        img = ann["image_id"]
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            # detections on crowd regions and unlabelled people (ignore regions)
            if rng.uniform() < 0.6:
                x, y, w, h = ann["bbox"]
                kp = np.zeros((K, 3))
                spread = rng.choice([1.0, 2.5])  # inside the box, or partly beyond the enlarged box
                kp[:, 0] = x + w / 2 + rng.uniform(-spread, spread, K) * w / 2
                kp[:, 1] = y + h / 2 + rng.uniform(-spread, spread, K) * h / 2
                kp[:, 2] = rng.uniform(0, 1, K)
                emit(img, kp)
            continue
        if rng.uniform() < drop:
            continue
        emit(img, jittered(ann, noise * rng.choice([0.5, 1.0, 2.0])))
        if rng.uniform() < 0.1:  # duplicate detection of the same person
            emit(img, jittered(ann, noise))

    # false positives: a random real pose moved somewhere else in a random image
    n_fp = int(fp_per_image * len(gt["images"]))
    for _ in range(n_fp):
        img = gt["images"][int(rng.integers(len(gt["images"])))]["id"]
        src = labelled[int(rng.integers(len(labelled)))]
        kp = jittered(src, noise)
        wdt, hgt = sizes[img]
        kp[:, 0] += rng.uniform(-0.5, 0.5) * wdt
        kp[:, 1] += rng.uniform(-0.5, 0.5) * hgt
        emit(img, kp)

    # more than 20 detections on the most crowded image: the maxDets cut matters
    counts: dict[int, int] = {}
    for ann in labelled:
        counts[ann["image_id"]] = counts.get(ann["image_id"], 0) + 1
    busiest = max(counts, key=lambda i: (counts[i], i))
    people = [a for a in labelled if a["image_id"] == busiest]
    for i in range(crowded_image_dets):
        emit(busiest, jittered(people[i % len(people)], noise))
    return out


def assert_same(ours: dict[str, float], ref: np.ndarray) -> float:
    assert list(ours) == list(STAT_NAMES)
    got = np.array([ours[n] for n in STAT_NAMES])
    diff = np.abs(got - ref)
    report = "\n".join(f"{n}: posekit {a:.9f} pycocotools {b:.9f}" for n, a, b in zip(STAT_NAMES, got, ref))
    assert diff.max() <= TOL, report
    return float(diff.max())


# ----------------------------------------------------------------------------- the data itself


def test_dev_gt_has_ignore_regions_and_crowds(gt: dict[str, Any]) -> None:
    anns = gt["annotations"]
    assert sum(a["num_keypoints"] == 0 and not a["iscrowd"] for a in anns) > 20  # repo subset 44, dev set 277
    assert sum(bool(a["iscrowd"]) for a in anns) > 0


# ----------------------------------------------------------------------------- parity


CASES = [
    pytest.param(dict(seed=1, noise=0.02), id="small-noise"),
    pytest.param(dict(seed=2, noise=0.06, drop=0.3, fp_per_image=1.5, missing=0.15), id="medium-noise"),
    pytest.param(dict(seed=3, noise=0.1, drop=0.05, fp_per_image=0.3), id="large-noise"),
    pytest.param(dict(seed=4, noise=0.05, score_decimals=1), id="score-ties"),
    pytest.param(dict(seed=5, noise=0.04, with_bbox=True), id="bbox-area"),
]


@pytest.mark.parametrize("kwargs", CASES)
def test_stats_match_pycocotools(gt: dict[str, Any], kwargs: dict[str, Any]) -> None:
    results = make_results(gt, **kwargs)
    original = copy.deepcopy(results)
    ref = pycocotools_stats(gt, results)
    ev = evaluate_keypoints_detailed(gt, results, sigmas=COCO17.sigmas_array())
    assert_same(ev.stats, ref)
    assert results == original, "evaluation must not modify the results"
    # the numbers are not degenerate
    assert 0.05 < ev.stats["AP"] < 0.99 and ev.stats["APm"] > 0 and ev.stats["APl"] > 0

    # the ignore-region branch (GT with num_keypoints == 0) really produced OKS > 0.5
    unlabelled = {a["id"] for a in gt["annotations"] if a["num_keypoints"] == 0 and not a["iscrowd"]}
    hits = 0
    for item in ev.per_image.values():
        cols = [j for j, g in enumerate(item.gt_ids) if g in unlabelled]
        if item.oks.size and cols:
            hits += int((item.oks[:, cols] >= 0.5).sum())
    assert hits > 20

    # more than 20 detections on one image were cut to 20
    assert max(len(item.dt_ids) for item in ev.per_image.values()) == 20


def test_maxdets_cut_changes_the_result(gt: dict[str, Any]) -> None:
    """Many low-quality detections beyond the first 20 of an image must not count."""
    results = make_results(gt, seed=6, noise=0.03, crowded_image_dets=45)
    ref = pycocotools_stats(gt, results)
    assert_same(evaluate_keypoints(gt, results), ref)
    full = evaluate_keypoints(gt, results, max_dets=100)
    assert full != evaluate_keypoints(gt, results)


def test_image_subset_and_paths(gt: dict[str, Any], gt_path: Path, tmp_path: Path) -> None:
    results = make_results(gt, seed=7, noise=0.05)
    crowd_imgs = sorted({a["image_id"] for a in gt["annotations"] if a["iscrowd"]})
    others = sorted({img["id"] for img in gt["images"]} - set(crowd_imgs))[:40]
    subset = crowd_imgs + others
    ref = pycocotools_stats(gt, results, image_ids=subset)
    res_path = tmp_path / "results.json"
    res_path.write_text(json.dumps(results))
    ours = evaluate_keypoints(gt_path, str(res_path), image_ids=subset)
    assert_same(ours, ref)


def test_crowd_only_images(gt: dict[str, Any]) -> None:
    """Images with crowd annotations only: crowds are matched repeatedly and ignored."""
    crowd_imgs = sorted({a["image_id"] for a in gt["annotations"] if a["iscrowd"]})
    results = [r for r in make_results(gt, seed=8, noise=0.05, fp_per_image=3.0) if r["image_id"] in crowd_imgs]
    # several detections straight onto each crowd box
    rng = np.random.default_rng(8)
    for ann in gt["annotations"]:
        if ann["iscrowd"]:
            x, y, w, h = ann["bbox"]
            for _ in range(3):
                kp = np.zeros((K, 3))
                kp[:, 0] = rng.uniform(x, x + w, K)
                kp[:, 1] = rng.uniform(y, y + h, K)
                kp[:, 2] = 1.0
                results.append({"image_id": ann["image_id"], "category_id": 1,
                                "keypoints": kp.ravel().tolist(), "score": float(rng.uniform())})
    ref = pycocotools_stats(gt, results, image_ids=crowd_imgs)
    assert_same(evaluate_keypoints(gt, results, image_ids=crowd_imgs), ref)


def test_perfect_results_score_one(gt: dict[str, Any]) -> None:
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]
    ]
    ours = evaluate_keypoints(gt, results)
    assert_same(ours, pycocotools_stats(gt, results))
    assert ours["AP"] == pytest.approx(1.0, abs=1e-6) and ours["AR"] == pytest.approx(1.0)


def test_matching_matches_pycocotools_evaluate_img() -> None:
    """Greedy matching on crafted OKS matrices full of ties and values exactly at a threshold."""
    from collections import defaultdict

    from posekit.evaluation.coco import AREA_RANGES, _Detections, _evaluate_image, _GroundTruths

    thresholds = np.linspace(0.5, 0.95, 10)
    levels = np.concatenate([thresholds, [0.0, 0.3, 0.62, 1.0]])
    rng = np.random.default_rng(13)
    compared = 0
    for trial in range(150):
        n_gt, n_dt = int(rng.integers(0, 7)), int(rng.integers(0, 9))
        crowd = rng.uniform(size=n_gt) < 0.2
        no_kp = rng.uniform(size=n_gt) < 0.25
        gt_area = rng.choice([500.0, 1024.0, 3000.0, 9216.0, 20000.0], n_gt)
        dt_area = rng.choice([500.0, 1024.0, 3000.0, 9216.0, 20000.0], n_dt)
        scores = rng.choice([0.2, 0.5, 0.9], n_dt)  # ties in score too
        oks = rng.choice(levels, (n_dt, n_gt))  # rows in score order, columns in GT order
        order = np.argsort(-scores, kind="mergesort")
        gts = _GroundTruths(
            ids=np.arange(1, n_gt + 1) * 10, keypoints=np.zeros((n_gt, K, 3)), areas=gt_area,
            boxes=np.zeros((n_gt, 4)), crowd=crowd, ignore=crowd | no_kp,
        ) if n_gt else None
        dts = _Detections(
            ids=order + 1, keypoints=np.zeros((n_dt, K, 3)), areas=dt_area[order], scores=scores[order],
        ) if n_dt else None
        ev = COCOeval(iouType="keypoints")
        ev._gts, ev._dts = defaultdict(list), defaultdict(list)
        ev._gts[1, 1] = [
            {"id": int(10 * (j + 1)), "area": float(gt_area[j]), "iscrowd": int(crowd[j]),
             "ignore": bool(crowd[j] or no_kp[j])} for j in range(n_gt)
        ]
        ev._dts[1, 1] = [{"id": i + 1, "area": float(dt_area[i]), "score": float(scores[i])} for i in range(n_dt)]
        ev.ious = {(1, 1): oks if n_gt and n_dt else []}
        for _, rng_area in AREA_RANGES:
            ref = ev.evaluateImg(1, 1, list(rng_area), 20)
            ours = _evaluate_image(gts, dts, oks.reshape(n_dt, n_gt), rng_area, thresholds)
            if ref is None:
                assert n_gt == 0 and n_dt == 0
                continue
            np.testing.assert_array_equal(ours.dt_matches, ref["dtMatches"])
            np.testing.assert_array_equal(ours.dt_ignore, ref["dtIgnore"].astype(bool))
            np.testing.assert_array_equal(ours.gt_ignore, np.asarray(ref["gtIgnore"], dtype=bool).reshape(-1))
            np.testing.assert_array_equal(ours.dt_scores, ref["dtScores"])
            compared += 1
    assert compared > 300


# ----------------------------------------------------------------------------- API details


def test_unknown_image_id_raises(gt: dict[str, Any]) -> None:
    results = make_results(gt, seed=9, noise=0.05)[:5]
    results.append(dict(results[0], image_id=-12345))
    with pytest.raises(ValueError, match="-12345"):
        evaluate_keypoints(gt, results)
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(AssertionError):
        pycocotools_stats(gt, results)  # pycocotools refuses too


def test_load_results_like_loadres(gt: dict[str, Any]) -> None:
    results = make_results(gt, seed=10, noise=0.05)[:50]
    ours = load_results(results, [img["id"] for img in gt["images"]])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ref = coco_gt.loadRes(copy.deepcopy(results))
    for a in ours:
        b = ref.anns[a["id"]]
        assert a["area"] == pytest.approx(float(b["area"]), rel=1e-12)
        np.testing.assert_allclose(a["bbox"], np.asarray(b["bbox"], float), rtol=1e-12)
    assert [a["id"] for a in ours] == list(range(1, 51))


def test_empty_results_give_zero(gt: dict[str, Any]) -> None:
    stats = evaluate_keypoints(gt, [])
    assert list(stats) == list(STAT_NAMES)
    assert all(v == 0.0 for v in stats.values())


def test_format_stats() -> None:
    stats = dict(zip(STAT_NAMES, [0.60123, 0.8, 0.5, 0.55557, 0.7, 0.65, 0.85, 0.6, 0.61, 0.7]))
    text = format_stats(stats)
    lines = text.splitlines()
    assert lines[0] == "AP 0.6012"
    assert lines[3] == "APm 0.5556"
    assert [ln.split()[0] for ln in lines] == list(STAT_NAMES)


def test_wrong_keypoint_count_needs_sigmas(gt: dict[str, Any]) -> None:
    results = make_results(gt, seed=12, noise=0.05)[:3]
    with pytest.raises(ValueError, match="keypoint"):
        evaluate_keypoints(gt, results, sigmas=COCO17.sigmas_array()[:14])
