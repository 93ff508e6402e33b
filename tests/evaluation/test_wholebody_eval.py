"""COCO-WholeBody AP/AR: parity with xtcocotools (MMPose's evaluator) per part.

The reference is ``tests/data/fixtures/coco_wholebody_eval``: the ten stats xtcocotools 1.14.3 reports for
``results.json`` against MMPose's COCO-WholeBody test annotations (xtcocotools itself needs numpy 1.x and cannot
be installed next to posekit). Beyond that file, each part is checked on seeded random results against
pycocotools fed the part's keypoints with xtcocotools' rules applied by hand (labelled = a visible keypoint of the
part, results without a scored keypoint of the part dropped, result area from the body keypoints, ranking by
``<part>_score``), so the rules are exercised on cases the fixture lacks.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posekit.cli import main
from posekit.evaluation import (
    STAT_NAMES,
    WHOLEBODY_EVAL_PARTS,
    WHOLEBODY_FIELDS,
    evaluate_keypoints,
    evaluate_keypoints_detailed,
    evaluate_wholebody,
    evaluate_wholebody_detailed,
    format_stats,
    is_wholebody,
    split_wholebody_result,
)
from posekit.schema import COCO_WHOLEBODY, WHOLEBODY_PARTS

import testdata

GT_PATH = testdata.DATA / "keypoint-sets" / "coco" / "test_coco_wholebody.json"
FIXTURE = testdata.FIXTURES / "coco_wholebody_eval"
TOL = 1e-6
#: stats.json's names (MMPose's) in posekit's STAT_NAMES order.
XT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")


@pytest.fixture(scope="module")
def gt() -> dict[str, Any]:
    return json.loads(GT_PATH.read_text())


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads((FIXTURE / "stats.json").read_text())


def as_array(stats: dict[str, float]) -> np.ndarray:
    return np.array([stats[name] for name in STAT_NAMES])


def perfect_results(gt: dict[str, Any]) -> list[dict[str, Any]]:
    """One result per person: its labelled keypoints exactly, score 1 on them and 0 on the unlabelled ones."""
    out = []
    for a in gt["annotations"]:
        res: dict[str, Any] = {"image_id": a["image_id"], "category_id": 1, "score": 1.0}
        for field in WHOLEBODY_FIELDS.values():
            kp = np.asarray(a[field], dtype=np.float64).reshape(-1, 3)
            kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
            res[field] = kp.ravel().tolist()
        out.append(res)
    return out


# ----------------------------------------------------------------------------- xtcocotools parity


def test_fixture_matches_its_ground_truth(reference: dict[str, Any]) -> None:
    assert hashlib.sha256(GT_PATH.read_bytes()).hexdigest() == reference["gt_sha256"]
    assert reference["sigmas"] == pytest.approx(list(COCO_WHOLEBODY.sigmas), abs=0)
    assert reference["cuts"] == [0, *(hi for _, hi in WHOLEBODY_PARTS.values())]


def test_matches_xtcocotools_for_every_part(gt: dict[str, Any], reference: dict[str, Any]) -> None:
    ours = evaluate_wholebody(gt, FIXTURE / "results.json")
    assert list(ours) == list(WHOLEBODY_EVAL_PARTS) == list(reference["stats"])
    for part, stats in ours.items():
        assert list(stats) == list(STAT_NAMES)
        ref = np.array([reference["stats"][part][name] for name in XT_NAMES])
        np.testing.assert_allclose(as_array(stats), ref, rtol=0, atol=TOL, err_msg=part)


def test_one_part_at_a_time_matches_too(gt: dict[str, Any], reference: dict[str, Any]) -> None:
    for part in ("face", "wholebody"):
        stats = evaluate_keypoints(GT_PATH, str(FIXTURE / "results.json"), part=part)
        ref = np.array([reference["stats"][part][name] for name in XT_NAMES])
        np.testing.assert_allclose(as_array(stats), ref, rtol=0, atol=TOL)


def test_labelled_means_a_visible_keypoint_of_the_part(gt: dict[str, Any], reference: dict[str, Any]) -> None:
    """Counting ``num_keypoints`` (the body's) as pycocotools does would give other face / hand numbers."""
    results = json.loads((FIXTURE / "results.json").read_text())
    faked = copy.deepcopy(gt)
    for a in faked["annotations"]:  # make every person a face-less ignore region
        a["face_kpts"] = [0.0] * len(a["face_kpts"])
    stats = evaluate_wholebody(faked, results)
    assert stats["face"]["AP"] == -1.0  # no labelled face left: nothing to score
    np.testing.assert_allclose(
        as_array(stats["body"]), [reference["stats"]["body"][n] for n in XT_NAMES], rtol=0, atol=TOL
    )


def test_flat_133_keypoints_are_the_same_results(gt: dict[str, Any], reference: dict[str, Any]) -> None:
    results = json.loads((FIXTURE / "results.json").read_text())
    flat = [
        {"image_id": r["image_id"], "category_id": 1, "score": r["score"],
         "keypoints": [v for field in WHOLEBODY_FIELDS.values() for v in r[field]]}
        for r in results
    ]
    assert all(len(r["keypoints"]) == 3 * 133 for r in flat)
    before = copy.deepcopy(flat)
    ours = evaluate_wholebody(gt, flat)
    assert flat == before  # inputs untouched
    for part in WHOLEBODY_EVAL_PARTS:
        ref = [reference["stats"][part][name] for name in XT_NAMES]
        np.testing.assert_allclose(as_array(ours[part]), ref, rtol=0, atol=TOL, err_msg=part)


def test_perfect_results_score_one(gt: dict[str, Any]) -> None:
    stats = evaluate_wholebody(gt, perfect_results(gt))
    for part, values in stats.items():
        assert values["AP"] == pytest.approx(1.0) and values["AR"] == pytest.approx(1.0), part
        assert all(v == pytest.approx(1.0) or v == -1.0 for v in values.values()), (part, values)
    assert stats["face"]["APm"] == -1.0  # the labelled faces all belong to large people


def test_result_without_a_scored_part_is_dropped_not_a_false_positive(gt: dict[str, Any]) -> None:
    results = perfect_results(gt)
    face_owner = next(i for i, a in enumerate(gt["annotations"]) if any(v > 0 for v in a["face_kpts"][2::3]))
    zeroed = copy.deepcopy(results)
    zeroed[face_owner]["face_kpts"][2::3] = [0.0] * 68  # no face predicted: the result leaves the face ranking
    faces = sum(any(v > 0 for v in a["face_kpts"][2::3]) for a in gt["annotations"])
    assert faces == 4
    stats = evaluate_wholebody(gt, zeroed)["face"]
    # one face of four missed, no false one: precision 1 up to recall 0.75 (76 of the 101 recall points)
    assert stats["AR"] == pytest.approx(0.75) and stats["AP"] == pytest.approx(76 / 101)
    moved = copy.deepcopy(results)
    moved[face_owner]["face_kpts"][0::3] = [v + 500.0 for v in moved[face_owner]["face_kpts"][0::3]]
    moved[face_owner]["score"] = 2.0  # ranked first
    stats = evaluate_wholebody(gt, moved)["face"]
    assert stats["AR"] == pytest.approx(0.75) and stats["AP"] < 0.7  # a scored, wrong face: a false positive


def test_part_scores_rank_their_part(gt: dict[str, Any]) -> None:
    """``<part>_score`` ranks that part (xtcocotools); without it, ``score``."""
    results = json.loads((FIXTURE / "results.json").read_text())
    rng = np.random.default_rng(5)
    part_scores = rng.uniform(0, 1, len(results))
    with_key = [dict(r, face_score=float(s)) for r, s in zip(results, part_scores)]
    as_score = [dict(r, score=float(s)) for r, s in zip(results, part_scores)]
    a, b = evaluate_wholebody(gt, with_key), evaluate_wholebody(gt, as_score)
    assert a["face"] == b["face"]
    assert a["body"] == evaluate_wholebody(gt, results)["body"]  # the body always ranks by score


# ----------------------------------------------------------------------------- vs pycocotools, rules by hand


def pycocotools_part(gt: dict[str, Any], results: list[dict[str, Any]], part: str) -> np.ndarray:
    """xtcocotools' ``keypoints_<part>`` stats computed by pycocotools on hand-transformed inputs."""
    fields = list(WHOLEBODY_FIELDS.values()) if part == "wholebody" else [WHOLEBODY_FIELDS[part]]
    lo, hi = (0, 133) if part == "wholebody" else WHOLEBODY_PARTS[part]
    score_key = "score" if part == "body" else f"{part}_score"
    g = copy.deepcopy(gt)
    for a in g["annotations"]:
        kp = [v for f in fields for v in a[f]]
        a["keypoints"] = kp
        a["num_keypoints"] = int(np.count_nonzero(np.asarray(kp[2::3]) > 0))  # labelled: visible in the part
    dts = []
    for r in results:
        kp = [v for f in fields for v in r[f]]
        if not np.any(np.asarray(kp[2::3]) > 0):
            continue  # dropped: no scored keypoint in the part
        body = np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3)
        x0, y0 = body[:, :2].min(axis=0)
        x1, y1 = body[:, :2].max(axis=0)
        dts.append({  # a bbox makes pycocotools take the result's area from it: the body keypoints' extent
            "image_id": r["image_id"], "category_id": r["category_id"], "keypoints": kp,
            "score": r.get(score_key, r["score"]), "bbox": [x0, y0, x1 - x0, y1 - y0],
        })
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = g
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dts)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = COCO_WHOLEBODY.sigmas_array()[lo:hi]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def random_results(gt: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Seeded noisy results: jitter, dropped people, unscored parts, part scores, false positives, duplicates."""
    rng = np.random.default_rng(seed)
    sizes = {img["id"]: (img["width"], img["height"]) for img in gt["images"]}
    out = []
    for a in gt["annotations"]:
        if rng.uniform() < 0.1:
            continue
        x, y, w, h = a["bbox"]
        res: dict[str, Any] = {"image_id": a["image_id"], "category_id": 1, "score": float(rng.uniform(0.05, 1))}
        for part, field in WHOLEBODY_FIELDS.items():
            kp = np.asarray(a[field], dtype=np.float64).reshape(-1, 3)
            unl = kp[:, 2] == 0
            kp[unl, 0] = rng.uniform(x, x + w, int(unl.sum()))
            kp[unl, 1] = rng.uniform(y, y + h, int(unl.sum()))
            scale = (0.02 if part in ("body", "foot") else 0.004) * np.sqrt(max(a["area"], 1.0))
            kp[:, :2] += rng.normal(0, scale * rng.uniform(0.3, 3), kp[:, :2].shape)
            kp[:, 2] = rng.uniform(0.01, 1, len(kp))
            if part != "body" and rng.uniform() < 0.2:
                kp[:, 2] = 0.0  # part not predicted
            res[field] = kp.ravel().tolist()
            if part != "body" and rng.uniform() < 0.5:
                res[f"{part}_score"] = float(rng.uniform(0.05, 1))
        out.append(res)
        if rng.uniform() < 0.2:  # a duplicate, shifted
            dup = copy.deepcopy(res)
            dup["score"] *= 0.5
            for field in WHOLEBODY_FIELDS.values():
                dup[field][0::3] = [v + rng.uniform(-10, 10) for v in dup[field][0::3]]
            out.append(dup)
    for img, (w, h) in sizes.items():  # a false positive per image, sometimes tiny (outside the area ranges)
        s = rng.choice([0.05, 0.5])
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        res = {"image_id": img, "category_id": 1, "score": float(rng.uniform(0.05, 1))}
        for part, field in WHOLEBODY_FIELDS.items():
            n = (WHOLEBODY_PARTS[part][1] - WHOLEBODY_PARTS[part][0])
            kp = np.stack([cx + rng.normal(0, 60 * s, n), cy + rng.normal(0, 80 * s, n), rng.uniform(0, 1, n)], 1)
            res[field] = kp.ravel().tolist()
        out.append(res)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_pycocotools_with_xtcocotools_rules(gt: dict[str, Any], seed: int) -> None:
    results = random_results(gt, seed)
    ours = evaluate_wholebody(gt, copy.deepcopy(results))
    for part in WHOLEBODY_EVAL_PARTS:
        ref = pycocotools_part(gt, results, part)
        np.testing.assert_allclose(as_array(ours[part]), ref, rtol=0, atol=TOL, err_msg=f"{part} seed {seed}")


@pytest.mark.parametrize("kwargs", [{}, {"max_dets": 2}, {"image_ids": "first_and_third"}])
def test_all_parts_at_once_equal_one_part_at_a_time(gt: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """evaluate_wholebody_detailed reads, splits and groups once for its six parts: every array is the same as
    evaluate_keypoints_detailed's for that part alone (which reads everything itself)."""
    if kwargs.get("image_ids") == "first_and_third":
        kwargs = {"image_ids": [gt["images"][0]["id"], gt["images"][2]["id"]]}
    flat = [  # all 133 in ``keypoints``: both paths split them
        {**{key: v for key, v in r.items() if key not in WHOLEBODY_FIELDS.values()},
         "keypoints": [v for f in WHOLEBODY_FIELDS.values() for v in r[f]]}
        for r in random_results(gt, 5)
    ]
    together = evaluate_wholebody_detailed(gt, copy.deepcopy(flat), **kwargs)
    for part in WHOLEBODY_EVAL_PARTS:
        alone = evaluate_keypoints_detailed(gt, copy.deepcopy(flat), part=part, **kwargs)
        assert together[part].stats == alone.stats, part
        np.testing.assert_array_equal(together[part].precision, alone.precision)
        np.testing.assert_array_equal(together[part].recall, alone.recall)
        assert together[part].per_image.keys() == alone.per_image.keys()
        for key, image in alone.per_image.items():
            np.testing.assert_array_equal(together[part].per_image[key].oks, image.oks)
            np.testing.assert_array_equal(together[part].per_image[key].dt_ids, image.dt_ids)


# ----------------------------------------------------------------------------- helpers and the command line


def test_split_and_detect(gt: dict[str, Any]) -> None:
    flat = {"image_id": 1, "category_id": 1, "score": 0.5, "keypoints": list(range(399))}
    split = split_wholebody_result(flat)
    assert [len(split[f]) for f in WHOLEBODY_FIELDS.values()] == [51, 18, 204, 63, 63]
    assert split["foot_kpts"][:3] == [51, 52, 53] and split["righthand_kpts"][-1] == 398
    assert flat["keypoints"] == list(range(399))  # the input is not modified
    five = split_wholebody_result(split)
    assert five == split and five is not split
    assert is_wholebody(gt) and is_wholebody([flat]) and is_wholebody([split])
    assert not is_wholebody(testdata.coco_gt()) and not is_wholebody([{"keypoints": [0.0] * 51}])


def test_missing_part_field_is_an_error(gt: dict[str, Any]) -> None:
    broken = copy.deepcopy(gt)
    del broken["annotations"][0]["foot_kpts"]
    with pytest.raises(ValueError, match="foot_kpts"):
        evaluate_wholebody(broken, perfect_results(gt))


def test_format_stats_table(gt: dict[str, Any]) -> None:
    table = format_stats(evaluate_wholebody(gt, perfect_results(gt))).splitlines()
    assert table[0].split() == ["part", *STAT_NAMES]
    assert [line.split()[0] for line in table[1:]] == list(WHOLEBODY_EVAL_PARTS)
    assert table[1].split()[1] == "1.0000"


def test_cli_json_and_table(capsys: pytest.CaptureFixture[str], reference: dict[str, Any]) -> None:
    results = str(FIXTURE / "results.json")
    assert main(["eval", results, "--gt", str(GT_PATH), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(WHOLEBODY_EVAL_PARTS)
    for part, values in stats.items():
        assert list(values) == list(STAT_NAMES)
        ref = [reference["stats"][part][name] for name in XT_NAMES]
        np.testing.assert_allclose(as_array(values), ref, rtol=0, atol=TOL)
    assert main(["eval", results, "--gt", str(GT_PATH)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 7 and lines[0].split()[0] == "part"
    assert lines[1].split()[:2] == ["body", f"{reference['stats']['body']['AP']:.4f}"]


def test_cli_plain_coco_results_on_a_wholebody_ground_truth_stay_coco17(
    gt: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body_only = [{"image_id": r["image_id"], "category_id": 1, "score": 1.0, "keypoints": r["keypoints"]}
                 for r, a in zip(perfect_results(gt), gt["annotations"]) if a["num_keypoints"] > 0]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(body_only))
    assert main(["eval", str(path), "--gt", str(GT_PATH), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(STAT_NAMES) and stats["AP"] == pytest.approx(1.0)


def test_cli_wholebody_results_on_a_coco17_ground_truth_exit_2(gt: dict[str, Any], tmp_path: Path) -> None:
    body_gt = copy.deepcopy(gt)
    for a in body_gt["annotations"]:
        for field in ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts"):
            del a[field]
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(body_gt))
    res_path.write_text(json.dumps(perfect_results(gt)))
    assert main(["eval", str(res_path), "--gt", str(gt_path)]) == 2
