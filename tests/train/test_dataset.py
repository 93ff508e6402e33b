"""COCO person records, detections, image errors, crops and the show-targets command."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import geometry
from posekit.spec import PoseModelSpec
from posekit.schema import COCO17
from posekit.train.config import AugmentConfig
from posekit.train.dataset import (
    ImageReadError,
    KeypointDataset,
    PersonCropDataset,
    load_coco_persons,
    load_detection_persons,
    read_image,
)


def test_coco_persons_of_the_ground_truth(coco_gt: dict, coco_subset: Path) -> None:
    records = load_coco_persons(coco_gt, coco_subset / "images")
    expected = [a for a in coco_gt["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert len(records) == len(expected) == 65  # tests/data/README.md: 65 non-crowd persons with keypoints
    r, a = records[0], expected[0]
    kp = np.asarray(a["keypoints"], dtype=float).reshape(17, 3)
    np.testing.assert_array_equal(r.visible, (kp[:, 2] > 0).astype(np.float32))
    np.testing.assert_allclose(r.keypoints[r.visible > 0], kp[kp[:, 2] > 0, :2])
    x, y, w, h = a["bbox"]
    np.testing.assert_allclose(r.box, [x, y, x + w, y + h])


def test_detections_with_threshold(coco_gt: dict, coco_subset: Path) -> None:
    img = coco_gt["images"][0]
    dets = [
        {"image_id": img["id"], "category_id": 1, "bbox": [10, 20, 50, 100], "score": 0.9},
        {"image_id": img["id"], "category_id": 1, "bbox": [10, 20, 50, 100], "score": 0.1},
        {"image_id": img["id"], "category_id": 2, "bbox": [10, 20, 50, 100], "score": 0.9},
    ]
    records = load_detection_persons(dets, coco_gt, coco_subset / "images", score_threshold=0.5)
    assert len(records) == 1 and records[0].score == 0.9
    np.testing.assert_allclose(records[0].box, [10, 20, 60, 120])
    with pytest.raises(ValueError, match="image id 987654321"):
        load_detection_persons([{"image_id": 987654321, "bbox": [0, 0, 1, 1], "score": 1}], coco_gt, coco_subset / "images")


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")


def test_missing_image_fails_at_construction(coco_gt: dict, tmp_path: Path) -> None:
    records = load_coco_persons(coco_gt, tmp_path)  # wrong image folder
    with pytest.raises(ImageReadError, match="missing image files: .*jpg"):
        KeypointDataset(records, PoseModelSpec(input_size=(96, 128)), COCO17, AugmentConfig())


def test_validation_crop_matches_box(coco_gt: dict, coco_subset: Path) -> None:
    records = load_coco_persons(coco_gt, coco_subset / "images")[:2]
    spec = PoseModelSpec(input_size=(96, 128))
    item = PersonCropDataset(records, spec)[1]
    assert item["image"].shape == (3, 128, 96) and item["image"].dtype == np.float32
    c, s = geometry.box_to_center_scale(records[1].box[None], 0.75, 1.25)
    np.testing.assert_allclose(item["matrix"], geometry.affine_matrix(c[0], s[0], (96, 128)))


def test_training_item_is_deterministic(coco_gt: dict, coco_subset: Path) -> None:
    records = load_coco_persons(coco_gt, coco_subset / "images")[:3]
    ds = KeypointDataset(records, PoseModelSpec(input_size=(96, 128)), COCO17, AugmentConfig(), seed=7)
    a, b, c = ds[(4, 2)], ds[(4, 2)], ds[(5, 2)]
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["target"], b["target"])
    assert not np.array_equal(a["image"], c["image"])  # another epoch, another draw
    assert a["target"].shape == (17, 32, 24) and a["target_weight"].shape == (17,)


def test_show_targets_writes_pngs(coco_subset: Path, tmp_path: Path) -> None:
    from posekit.cli.show_targets import main

    out = tmp_path / "targets"
    code = main([str(coco_subset / "person_keypoints.json"), "--images", str(coco_subset / "images"), "--out", str(out),
                 "-n", "3", "--set", "model.input_size=96,128"])
    assert code == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    image = cv2.imread(str(pngs[0]))
    assert image.shape == (2 * (128 + 16), 2 * (2 * 96 + 4), 3)
    assert image[40:, 2 * 100 :].mean() > 5  # the heatmap panel is not empty


def test_show_targets_reports_bad_key(coco_subset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from posekit.cli.show_targets import main

    code = main([str(coco_subset / "person_keypoints.json"), "--images", str(coco_subset / "images"), "--out", str(tmp_path),
                 "--set", "augment.flip=1"])
    assert code == 1
    assert "unknown config key 'augment.flip'" in caplog.text


def test_simcc_targets_are_drawn(coco_subset: Path) -> None:
    """A SimCC sample's (K, W r + H r) target is drawn as the maps its x and y vectors span (it was drawn as
    nothing: the overlay equalled the plain dimmed crop), peaking at the labelled keypoints."""
    import dataclasses

    from posekit import catalog
    from posekit.train.visualize import heatmap_overlay, render_sample, target_maps

    spec = catalog.get("rtmpose_t_256x192").spec
    records = load_coco_persons(coco_subset / "person_keypoints.json", coco_subset / "images")[:1]
    sample = KeypointDataset(records, spec, COCO17, AugmentConfig(enabled=False)).sample(0, 0)
    assert sample.target.shape == (17, 384 + 512)
    maps, stride = target_maps(sample.target, spec)
    assert maps.shape == (1, 512, 384) and stride == 0.5
    for k in np.flatnonzero(sample.target_weight > 0):  # every labelled keypoint is a peak of 1 at its bins
        x, y = np.around(2 * sample.augmented.keypoints[k]).astype(int)
        assert maps[0, y, x] == pytest.approx(1.0)
    drawn = heatmap_overlay(sample.crop, maps, stride)
    plain = heatmap_overlay(sample.crop, np.zeros((1, 64, 48), np.float32), 4)
    assert (drawn != plain).any(axis=-1).mean() > 0.05  # the overlay is not empty
    # render_sample takes the spec; its right panel is that overlay (plus the label dots)
    empty = dataclasses.replace(sample, target=np.zeros_like(sample.target))
    h, w = sample.crop.shape[:2]
    a, b = render_sample(sample, COCO17, spec, zoom=1), render_sample(empty, COCO17, spec, zoom=1)
    assert (a[16:, w + 4 :] != b[16:, w + 4 :]).any(axis=-1).mean() > 0.05
    np.testing.assert_array_equal(a[16:, :w], b[16:, :w])
    # heatmap models and a bare stride draw as before
    heat = KeypointDataset(records, PoseModelSpec(input_size=(96, 128)), COCO17, AugmentConfig(enabled=False))
    hs = heat.sample(0, 0)
    np.testing.assert_array_equal(render_sample(hs, COCO17, PoseModelSpec(input_size=(96, 128)), zoom=1),
                                  render_sample(hs, COCO17, 4, zoom=1))


def test_show_targets_with_the_rtmpose_config(coco_subset: Path, tmp_path: Path) -> None:
    """``posekit show-targets --config configs/rtmpose_m_coco_finetune.yaml`` draws the SimCC targets: each PNG is
    its sample rendered with its targets, not the same sample with none."""
    import dataclasses

    from posekit.cli.show_targets import main
    from posekit.train.config import load_config
    from posekit.train.modeling import resolve_spec
    from posekit.train.visualize import render_sample

    config = Path(__file__).resolve().parents[2] / "configs" / "rtmpose_m_coco_finetune.yaml"
    gt, images = coco_subset / "person_keypoints.json", coco_subset / "images"
    out = tmp_path / "targets"
    code = main([str(gt), "--images", str(images), "--out", str(out), "-n", "1", "--config", str(config),
                 "--no-augment", "--zoom", "1"])
    assert code == 0
    (png,) = sorted(out.glob("*.png"))
    image = cv2.imread(str(png))
    assert image.shape == (256 + 16, 2 * 192 + 4, 3)
    cfg = load_config(str(config), ["augment.enabled=false"])
    spec, schema = resolve_spec(cfg.model, cfg.data)
    assert spec.output == "simcc"
    dataset = KeypointDataset(load_coco_persons(gt, images, 17, schema=schema), spec, schema, cfg.augment,
                              cfg.data.sigma, cfg.data.joint_weights, cfg.train.seed, check_files=False)
    sample = dataset.sample(0, 0)
    np.testing.assert_array_equal(image, render_sample(sample, schema, spec, 1))
    untargeted = render_sample(dataclasses.replace(sample, target=np.zeros_like(sample.target)), schema, spec, 1)
    assert (image != untargeted).any(axis=-1).mean() > 0.01
