"""Tests for posekit.pipeline.PoseEstimator on real images: the packaged models (PicoDet-S, PP-TinyPose), a
synthetic HRNet-contract network, and (marked ``shared_data``) the team's other real models on the dev set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import catalog
from posekit.evaluation import compute_oks, evaluate_keypoints
from posekit.factory import build_pose_model
from posekit.catalog import ModelFileError
from posekit.io import read_image
from posekit.pipeline import PoseEstimator
from posekit.presets import get_preset
from posekit.schema import COCO17
from posekit.structures import Poses

import testdata

TEST_ONLY = "test-only/ultralight-simplepose-256x192.onnx"
STAGES = {"read", "detect", "crop", "network", "decode", "map_back", "pose_nms"}


def _no_detections(image):
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)


@pytest.fixture(scope="module")
def hrnet_model(contract_models):
    """A synthetic network with the HRNet contract, loaded from its file as a user's own ONNX model."""
    return build_pose_model(str(contract_models / testdata.HEATMAP_NET), num_threads=1)


@pytest.fixture(scope="module")
def hrnet_est(hrnet_model) -> PoseEstimator:
    return PoseEstimator("picodet_s_320", hrnet_model, num_threads=1)


def _gt_people(gt: dict, min_keypoints: int = 10) -> dict[int, list[dict]]:
    by_image: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        if not a["iscrowd"] and a["num_keypoints"] >= min_keypoints:
            by_image.setdefault(a["image_id"], []).append(a)
    return by_image


def _file_name(gt: dict, image_id: int) -> str:
    return next(im["file_name"] for im in gt["images"] if im["id"] == image_id)


# ----------------------------------------------------------------------------- defaults


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["balanced", "fast", pytest.param("movenet", marks=pytest.mark.shared_data)])
def test_presets_find_people_with_keypoints_in_their_boxes(preset, request):
    if preset == "movenet":  # yolox_nano + movenet_thunder: the team's real files
        est = PoseEstimator.from_preset(preset, models_dir=request.getfixturevalue("models_dir"), num_threads=1)
        assert est.spec.input_size == (256, 256) and est.spec.layout == "NHWC"
    else:  # the packaged files
        est = PoseEstimator.from_preset(preset, num_threads=1)
        assert est.spec.layout == "NCHW" and est.spec.output == "heatmaps"
    for path, min_people in ((testdata.PERSON_IMAGE, 1), (testdata.BASKETBALL, 2)):
        name = path.name
        image = read_image(path)
        h, w = image.shape[:2]
        poses = est(image)
        assert isinstance(poses, Poses)
        good = poses[poses.scores > 0.3]  # default score: box score x mean keypoint score, in [0, 1]
        assert len(good) >= min_people, (name, poses.scores)
        for i in range(len(good)):
            x1, y1, x2, y2 = good.boxes[i]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            sure = good.keypoint_scores[i] > 0.3
            assert sure.sum() >= 8, (name, good.keypoint_scores[i])
            kp = good.keypoints[i][sure]
            mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
            inside = (kp[:, 0] >= x1 - mx) & (kp[:, 0] <= x2 + mx) & (kp[:, 1] >= y1 - my) & (kp[:, 1] <= y2 + my)
            assert inside.all(), (name, i, kp, good.boxes[i])
            # upright people: head above shoulders above hips (above ankles when those are seen)
            k, ks = good.keypoints[i], good.keypoint_scores[i]

            def mean_y(*names):
                return k[[COCO17.index(n) for n in names], 1].mean()

            head = mean_y("nose", "left_eye", "right_eye")
            shoulders = mean_y("left_shoulder", "right_shoulder")
            hips = mean_y("left_hip", "right_hip")
            assert head < shoulders < hips, (name, i, head, shoulders, hips)
            if ks[COCO17.index("left_ankle")] > 0.3 and ks[COCO17.index("right_ankle")] > 0.3:
                assert hips < mean_y("left_ankle", "right_ankle"), (name, i)
    assert STAGES - {"read"} <= set(est.timer.totals)


# ----------------------------------------------------------------------------- heatmap path, real images


@pytest.mark.slow
@pytest.mark.shared_data
def test_heatmap_model_end_to_end_coco_ap(models_dir, coco_dev):
    """The real test-only HRNet-contract network behind YOLOX-nano on 30 dev images."""
    est = PoseEstimator("yolox_nano", build_pose_model(str(models_dir / TEST_ONLY), num_threads=1),
                        models_dir=models_dir, num_threads=1)
    gt = json.loads((coco_dev / "person_keypoints.json").read_text())
    with_people = sorted({a["image_id"] for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]})
    ids = with_people[:30]
    results = []
    for image_id in ids:
        poses = est(coco_dev / "images" / _file_name(gt, image_id))
        results.extend(poses.to_coco(image_id))
    stats = evaluate_keypoints(gt, results, image_ids=ids)
    # measured 0.451 (AP50 0.716); a half-heatmap-pixel error on both axes gives <= 0.38, an x/y swap 0.0
    assert stats["AP"] > 0.40, stats
    assert stats["AP50"] > 0.62, stats


def _gt_box_oks(est: PoseEstimator, images: Path, gt: dict, n_images: int = 8) -> np.ndarray:
    people = _gt_people(gt)
    oks = []
    for image_id in sorted(people)[:n_images]:
        image = read_image(images / _file_name(gt, image_id))
        anns = people[image_id]
        xywh = np.array([a["bbox"] for a in anns], np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        poses = est.estimate(image, boxes, np.linspace(0.9, 0.8, len(boxes)))
        assert len(poses) == len(anns)
        for j in range(len(poses)):
            a = anns[int(np.abs(boxes - poses.boxes[j]).sum(axis=1).argmin())]
            g = np.array(a["keypoints"], np.float64).reshape(1, 17, 3)
            o = compute_oks(poses.keypoints[j : j + 1].astype(np.float64), g, np.array([a["area"]]),
                            np.array([a["bbox"]]), COCO17.sigmas_array())
            oks.append(float(np.asarray(o).reshape(-1)[0]))
    return np.array(oks)


_DEV = pytest.mark.shared_data


@pytest.mark.parametrize(
    "which, data, min_oks",
    [
        # the packaged networks on the repository's COCO images (the 12 people with >= 10 keypoints of 8 images)
        ("pp_tinypose_256x192", "repo", 0.79),  # measured mean OKS 0.844 without, 0.852 with flip test
        ("pp_tinypose_128x96", "repo", 0.74),  # measured 0.793 without, 0.801 with
        # the first 8 images of the dev set with such people (14 people)
        pytest.param("test-only", "dev", 0.65, marks=_DEV),  # measured mean OKS 0.73 without, 0.78 with flip test
        # measured 0.690 without, 0.700 with (0.677 with HRNet's shift wrongly applied)
        pytest.param("movenet_lightning", "dev", 0.62, marks=_DEV),
        pytest.param("pp_tinypose_256x192", "dev", 0.78, marks=_DEV),  # measured 0.823 without, 0.835 with
        pytest.param("pp_tinypose_128x96", "dev", 0.74, marks=_DEV),  # measured 0.785 without, 0.798 with
    ],
)
def test_estimate_with_given_boxes_and_flip_test(which, data, min_oks, request):
    if data == "dev":
        models_dir, coco_dev = request.getfixturevalue("models_dir"), request.getfixturevalue("coco_dev")
        images, gt = coco_dev / "images", json.loads((coco_dev / "person_keypoints.json").read_text())
    else:
        models_dir, images, gt = None, testdata.COCO_IMAGES, testdata.coco_gt()
    name = str(models_dir / TEST_ONLY) if which == "test-only" else which
    model = build_pose_model(name, models_dir=models_dir, num_threads=1)
    plain = PoseEstimator(_no_detections, model, pose_nms="none", flip_test=False)
    flip = PoseEstimator(_no_detections, model, pose_nms="none", flip_test=True)
    oks_plain = _gt_box_oks(plain, images, gt)
    oks_flip = _gt_box_oks(flip, images, gt)
    assert oks_plain.mean() > min_oks, oks_plain
    # averaging with the mirrored crop must not make things worse (a misaligned mirror does)
    assert oks_flip.mean() > oks_plain.mean() - 0.005, (oks_flip.mean(), oks_plain.mean())
    assert not np.allclose(oks_flip, oks_plain)  # the flip branch really ran


def test_estimate_with_no_boxes_is_empty(hrnet_model):
    est = PoseEstimator(_no_detections, hrnet_model)
    poses = est.estimate(np.zeros((50, 60, 3), np.uint8), np.zeros((0, 4)), np.zeros(0))
    assert len(poses) == 0 and poses.keypoints.shape == (0, 17, 2)


@pytest.mark.parametrize("detector", ["none", pytest.param("yolox_nano", marks=pytest.mark.shared_data)])
def test_image_without_people_gives_empty_poses(hrnet_model, detector, request):
    """A whole call whose detector finds nobody: a detector that returns no box, and the real YOLOX-nano on a
    colour ramp (PicoDet-S, trained on pedestrians only, sees people in flat images at score 0.5-0.7)."""
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    image = np.dstack([ramp, ramp[::-1], np.full_like(ramp, 90)])
    if detector == "none":
        est = PoseEstimator(_no_detections, hrnet_model)
    else:
        est = PoseEstimator(detector, hrnet_model, models_dir=request.getfixturevalue("models_dir"), num_threads=1)
    poses = est(image)
    assert isinstance(poses, Poses) and len(poses) == 0


@pytest.mark.parametrize("method, expected", [("parametric", 1), ("oks", 1), ("none", 2)])
def test_pose_nms_variants_on_duplicate_boxes(method, expected):
    image = read_image(testdata.PERSON_IMAGE)
    boxes = np.concatenate([testdata.PERSON_BOX, testdata.PERSON_BOX + 1.0])  # the same person twice
    tinypose = build_pose_model("pp_tinypose_128x96", num_threads=1)  # a real network (packaged)
    est = PoseEstimator(_no_detections, tinypose, pose_nms=method)
    poses = est.estimate(image, boxes, np.array([0.7, 0.9]))
    assert len(poses) == expected
    if method == "none":
        assert poses.box_scores[0] == pytest.approx(0.9)  # sorted by rescored confidence
        assert poses.scores[0] >= poses.scores[1]
    if method == "oks":
        assert poses.box_scores[0] == pytest.approx(0.9)


def test_pose_nms_rejects_unknown(hrnet_model):
    with pytest.raises(ValueError, match="pose_nms"):
        PoseEstimator(_no_detections, hrnet_model, pose_nms="greedy")


def test_timer_has_every_stage(hrnet_est):
    hrnet_est.timer.reset()
    poses = hrnet_est(testdata.PERSON_IMAGE)  # a path: the read is timed too
    assert len(poses) >= 1
    assert set(hrnet_est.timer.totals) == STAGES
    assert all(hrnet_est.timer.counts[s] == 1 for s in STAGES)
    assert all(v >= 0 for v in hrnet_est.timer.mean_ms().values())
    assert "network" in hrnet_est.timer.summary()


def test_estimate_ends_in_the_one_top_down_tail():
    """``estimate`` is crop -> network -> :meth:`PoseEstimator.tail`, which is ``topdown.poses_from_outputs`` (the
    tail validation and the accelerator plan share) with the estimator's config, its stages timed once each."""
    from posekit.pose import topdown
    from posekit.pose.crop import crop_people

    image = read_image(testdata.PERSON_IMAGE)
    boxes = np.concatenate([testdata.PERSON_BOX, testdata.PERSON_BOX + 3.0]).astype(np.float64)
    scores = np.array([0.9, 0.6])
    tinypose = build_pose_model("pp_tinypose_128x96", num_threads=1)
    est = PoseEstimator(_no_detections, tinypose, pose_nms="oks", flip_test=True)
    poses = est.estimate(image, boxes, scores)
    assert {s: est.timer.counts[s] for s in ("decode", "map_back", "pose_nms")} == {
        "decode": 1, "map_back": 1, "pose_nms": 1}
    crops, matrices = crop_people(image, boxes, est.spec)
    outputs, flipped = est._run_network(crops)
    assert flipped is not None
    expected = topdown.poses_from_outputs(outputs, matrices, boxes, scores, est.spec, est.schema, flipped=flipped,
                                          config=est.tail_config)
    for got in (poses, est.tail(outputs, matrices, boxes, scores, flipped=flipped)):
        assert np.array_equal(got.keypoints, expected.keypoints) and np.array_equal(got.scores, expected.scores)
        assert np.array_equal(got.keypoint_scores, expected.keypoint_scores)
    assert est.timer.counts["pose_nms"] == 2


# ----------------------------------------------------------------------------- model files


@pytest.mark.parametrize("preset", ["movenet", "balanced"])
def test_missing_model_file_names_file_sha_and_source(tmp_path, preset, monkeypatch):
    package = catalog.package_weights_dir()
    # balanced's files ship in the package: take them away (a broken install) to see the error
    monkeypatch.setattr(catalog, "package_weights_dir", lambda: tmp_path / "no-package-weights")
    with pytest.raises(ModelFileError) as info:
        PoseEstimator(preset=preset, models_dir=tmp_path)
    msg = str(info.value)
    entry = catalog.get(get_preset(preset).pose_model)  # the pose model is built first: it says if a detector is needed
    assert entry.file.name in msg and entry.sha256 in msg and entry.source in msg
    assert str(tmp_path) in msg
    if entry.file.packaged:  # with the pose model's file there, the missing detector is named the same way
        (tmp_path / entry.file.name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / entry.file.package_name, tmp_path / entry.file.name)
        with pytest.raises(ModelFileError) as info:
            PoseEstimator(preset=preset, models_dir=tmp_path)
        detector = catalog.get(get_preset(preset).detector)
        assert detector.file.name in str(info.value) and detector.sha256 in str(info.value)


def test_missing_pose_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="movenet-lightning_with_heatmaps.onnx"):
        PoseEstimator(_no_detections, "movenet_lightning", models_dir=tmp_path)


def test_corrupt_model_file(tmp_path):
    entry = catalog.get("picodet_s_320")
    bad = tmp_path / entry.file.name
    bad.parent.mkdir(parents=True)
    shutil.copyfile(catalog.package_weights_dir() / entry.file.package_name, bad)
    data = bytearray(bad.read_bytes())
    data[1000:1010] = bytes(b ^ 0xFF for b in data[1000:1010])
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt") as info:
        PoseEstimator(preset="balanced", models_dir=tmp_path)  # the preset whose detector is picodet_s_320
    assert entry.sha256 in str(info.value) and entry.file.name in str(info.value)


def test_pose_model_path_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        PoseEstimator(_no_detections, str(tmp_path / "nope.onnx"))


def test_read_of_a_drawn_result_is_an_image(hrnet_est, tmp_path):
    from posekit.draw import draw_poses

    image = read_image(testdata.PERSON_IMAGE)
    poses = hrnet_est(image)
    drawn = draw_poses(image, poses)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert cv2.imwrite(str(tmp_path / "x.jpg"), drawn)


def test_predict_files_reads_ahead_and_keeps_going_after_a_bad_file(hrnet_model, tmp_path):
    """Results come in input order; an unreadable file is reported with its reason, the rest are processed."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths = [testdata.PERSON_IMAGE, bad, testdata.BASKETBALL]
    one_box = lambda image: (np.array([[10.0, 10.0, 60.0, 120.0]]), np.array([0.9]))  # noqa: E731
    est = PoseEstimator(one_box, hrnet_model, flip_test=False)
    for prefetch in (0, 2):
        results = list(est.predict_files(paths, prefetch=prefetch))
        assert [r.path for r in results] == paths
        assert results[1].poses is None and results[1].image is None and results[1].error  # the reason
        assert results[0].error is None and len(results[0].poses) == 1
        assert results[2].error is None and results[2].image.shape[2] == 3
    # stopping early stops the reader thread (no exception, no hang)
    first = next(iter(est.predict_files(paths * 5, prefetch=2)))
    assert first.path == paths[0]
