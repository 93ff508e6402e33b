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
