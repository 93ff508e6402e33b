"""Tests for posekit.pose.topdown: the one top-down tail of inference and training validation."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import codec, geometry
from posekit.pose import topdown
from posekit.pose.decode import decode_outputs, merge_flipped
from posekit.posenms import oks_nms, rescore_hrnet
from posekit.schema import COCO17
from posekit.spec import PoseModelSpec
from posekit.structures import Poses

SPEC = PoseModelSpec(input_size=(192, 256))


def _no_detections(image):
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)


def _random_heatmaps(n: int, seed: int = 0, shape=(17, 64, 48)) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


# ----------------------------------------------------------------------------- stages


def test_nms_area_is_hrnets_padded_crop_region():
    boxes = np.array([[100.0, 40.0, 180.0, 260.0], [20.0, 150.0, 260.0, 230.0]])  # tall, wide
    # tall: w 80, h 220 -> w = 165 (aspect 0.75) -> * 1.25: 206.25 x 275
    # wide: w 240, h 80 -> h = 320 -> * 1.25: 300 x 400
    np.testing.assert_allclose(topdown.nms_areas(boxes, SPEC), [206.25 * 275.0, 300.0 * 400.0])


def test_decode_crops_merges_the_flipped_outputs_with_the_codec():
    out, flipped = _random_heatmaps(2, 0), _random_heatmaps(2, 1)
    dec = topdown.decode_crops(out, codec.make_codec(SPEC), flipped=flipped, flip_index=COCO17.flip_index())
    ref = decode_outputs(merge_flipped(out, flipped, SPEC, COCO17.flip_index()), SPEC)
    np.testing.assert_array_equal(dec.keypoints, ref.keypoints)
    np.testing.assert_array_equal(dec.scores, ref.scores)
    with pytest.raises(ValueError, match="flip_index"):
        topdown.decode_crops(out, codec.make_codec(SPEC), flipped=flipped)


def test_map_back_applies_the_decoders_image_offset_once():
    boxes = np.array([[100.0, 40.0, 180.0, 260.0]])
    mats = geometry.affine_matrix(*geometry.box_to_center_scale(boxes, SPEC.aspect_ratio), SPEC.input_size)
    mats = mats.reshape(-1, 2, 3)
    hm = np.zeros((1, 17, 64, 48), np.float32)
    hm[0, :, 7, 9] = 1.0
    dec = codec.make_codec(SPEC, "alphapose").decode(hm)
    plain = geometry.apply_affine(dec.keypoints, geometry.invert_affine(mats))
    np.testing.assert_allclose(dec.to_image(mats), plain - 0.3)
    hrnet = codec.make_codec(SPEC).decode(hm)
    expected = geometry.apply_affine(hrnet.keypoints, geometry.invert_affine(mats))
    np.testing.assert_allclose(hrnet.to_image(mats), expected)


def test_suppress_oks_uses_rescoring_and_crop_areas():
    rng = np.random.default_rng(3)
    body = rng.random((17, 2)) * [60, 200] + [110, 50]
    keypoints = np.stack([body, body + 2.0, body + [150.0, 0.0]])
    kp_scores = np.stack([np.full(17, 0.5), np.full(17, 0.9), np.full(17, 0.7)])
    boxes = np.array([[100.0, 40.0, 180.0, 260.0], [101.0, 41.0, 181.0, 261.0], [250.0, 40.0, 330.0, 260.0]])
    box_scores = np.array([0.9, 0.8, 0.6])
    poses = topdown.suppress(boxes, box_scores, keypoints, kp_scores, SPEC, COCO17)
    assert isinstance(poses, Poses) and len(poses) == 2
    scores = rescore_hrnet(box_scores, kp_scores, SPEC.rescore_thresh)
    keep = oks_nms(keypoints, kp_scores, topdown.nms_areas(boxes, SPEC), scores, COCO17.sigmas_array(), 0.9)
    np.testing.assert_array_equal(keep, [1, 2])
    np.testing.assert_allclose(poses.scores, scores[keep], rtol=1e-6)
    np.testing.assert_allclose(poses.keypoints, keypoints[keep], rtol=1e-6)
    # no NMS: all poses, best first
    none = topdown.suppress(boxes, box_scores, keypoints, kp_scores, SPEC, COCO17,
                            topdown.TopDownConfig(pose_nms="none"))
    np.testing.assert_allclose(none.box_scores, [0.8, 0.9, 0.6], rtol=1e-6)
    parametric = topdown.suppress(boxes, box_scores, keypoints, kp_scores, SPEC, COCO17,
                                  topdown.TopDownConfig(pose_nms="parametric"))
    assert len(parametric) == 2
    assert len(topdown.suppress(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 2)), np.zeros((0, 17)),
                                SPEC, COCO17)) == 0


def test_poses_from_outputs_chains_the_stages():
    boxes = np.array([[100.0, 40.0, 180.0, 260.0], [20.0, 150.0, 260.0, 230.0]])
    mats = geometry.affine_matrix(*geometry.box_to_center_scale(boxes, SPEC.aspect_ratio), SPEC.input_size)
    mats = mats.reshape(-1, 2, 3)
    out, flipped = _random_heatmaps(2, 4), _random_heatmaps(2, 5)
    cfg = topdown.TopDownConfig(decoder="dark", pose_nms="none")
    poses = topdown.poses_from_outputs(out, mats, boxes, np.array([0.9, 0.5]), SPEC, COCO17, flipped=flipped,
                                       config=cfg)
    dec = topdown.decode_crops(out, cfg.codec(SPEC), flipped=flipped, flip_index=COCO17.flip_index())
    ref = topdown.suppress(boxes, np.array([0.9, 0.5]), dec.to_image(mats), dec.scores, SPEC, COCO17, cfg)
    assert poses.to_coco(1) == ref.to_coco(1)


def test_config_rejects_unknown_methods():
    with pytest.raises(ValueError, match="pose_nms"):
        topdown.TopDownConfig(pose_nms="greedy")
    with pytest.raises(ValueError, match="decoder"):
        topdown.TopDownConfig(decoder="soft")


# ----------------------------------------------------------------------------- parity: estimate == validation


def _multi_person_images(gt: dict, n: int) -> list[int]:
    per_image: dict[int, int] = defaultdict(int)
    for a in gt["annotations"]:
        if not a["iscrowd"] and a["num_keypoints"] > 0:
            per_image[a["image_id"]] += 1
    return sorted(i for i, c in per_image.items() if c >= 2)[:n]


@pytest.mark.parametrize("flip", [True, False])
def test_estimate_on_gt_boxes_writes_exactly_the_validation_results(coco_subset: Path, flip: bool):
    """``PoseEstimator.estimate`` on ground-truth boxes == training validation, result for result.

    A tiny HRNet with random weights, its batch-norm statistics set from one
    batch of noise so that its heatmaps are not flat. Both sides run it on one
    crop per forward pass, so that the network outputs are bit-identical and
    the test is about the tail. Each image also gets a copy of its first box
    with a lower score (a duplicate detection), which the OKS-NMS must remove.
    """
    torch = pytest.importorskip("torch")
    from posekit.models import create_model
    from posekit.pipeline import PoseEstimator
    from posekit.pose.torch_model import TorchPoseModel
    from posekit.train.dataset import load_coco_persons, subset_coco
    from posekit.train.distributed import DistContext
    from posekit.train.validation import validate

    gt_all = json.loads((coco_subset / "person_keypoints.json").read_text())
    ids = _multi_person_images(gt_all, 4)
    gt = subset_coco(gt_all, ids)
    spec = PoseModelSpec(input_size=(64, 96))
    torch.manual_seed(0)
    model = create_model("hrnet_w32_256x192", width=8, num_modules=[1, 1, 1], num_blocks=1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0  # running statistics := those of the next batch
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 96, 64))
    model.eval()
    gt_records = load_coco_persons(gt, coco_subset / "images", spec.num_keypoints)
    assert len({r.image_id for r in gt_records}) == len(ids) and len(gt_records) > 2 * len(ids)
    records = []
    for image_id in ids:
        mine = [r for r in gt_records if r.image_id == image_id]
        copy = dataclasses.replace(mine[0], score=0.7, annotation_id=-1)
        records.extend([*mine, copy])

    _, val_results = validate(model, records, gt, spec, COCO17, DistContext(), flip=flip, batch_size=1)

    est = PoseEstimator(_no_detections, TorchPoseModel(model, spec), flip_test=flip, batch_size=1)
    est_results: list[dict] = []
    for image_id in dict.fromkeys(r.image_id for r in records):
        mine = [r for r in records if r.image_id == image_id]
        image = cv2.imread(mine[0].image_path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        boxes = np.stack([r.box for r in mine])
        poses = est.estimate(image, boxes, np.array([r.score for r in mine]))
        est_results.extend(poses.to_coco(image_id))

    assert len(val_results) >= len(gt_records)
    assert est_results == val_results
    # the OKS-NMS really ran: the duplicates are gone
    assert len(val_results) == len(gt_records) < len(records)
    assert len({r["score"] for r in val_results}) == len(val_results)
