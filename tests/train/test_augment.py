"""Image and labels move together under every augmentation.

For each transform (scale, rotation, flip, half-body, all combined) a black
image gets one bright pixel at one labelled joint; after augmentation the
brightest crop pixel must sit on that joint's label (the mirror joint's label
after a flip) within one pixel.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import geometry
from posekit.spec import PoseModelSpec
from posekit.schema import COCO17
from posekit.train.augment import augment_person, augmentation_matrix, sample_augmentation
from posekit.train.config import AugmentConfig
from posekit.train.dataset import KeypointDataset, load_coco_persons

OUT = (96, 128)  # crop (W, H)
IMAGE_SHAPE = (220, 260)  # (H, W)

# A standing person, 17 COCO joints, inside a ~60 x 80 box (so crops zoom in, >= ~0.95x).
PERSON = np.array(
    [
        [130, 62], [126, 58], [134, 58], [121, 60], [139, 60],   # nose, eyes, ears
        [116, 76], [144, 77], [109, 94], [151, 95], [104, 110],  # shoulders, elbows, left wrist
        [157, 111], [121, 112], [139, 113], [119, 127], [141, 128],  # right wrist, hips, knees
        [118, 140], [143, 141],  # ankles
    ],
    dtype=np.float64,
)

NONE = AugmentConfig(scale_factor=0.0, rotation_prob=0.0, flip_prob=0.0, half_body_prob=0.0)
TRANSFORMS = {
    "scale": replace(NONE, scale_factor=0.35),
    "rotation": replace(NONE, rotation_prob=1.0),
    "flip": replace(NONE, flip_prob=1.0),
    "half_body": replace(NONE, half_body_prob=1.0),
    "all_default": AugmentConfig(),
    "all_always": AugmentConfig(rotation_prob=1.0, flip_prob=1.0, half_body_prob=1.0),
}


def _box_center_scale() -> tuple[np.ndarray, np.ndarray]:
    box = geometry.keypoints_to_boxes(PERSON[None])[0]
    c, s = geometry.box_to_center_scale(box[None], OUT[0] / OUT[1], 1.25)
    return c[0], s[0]


def _check_one(cfg: AugmentConfig, seed: int, joint: int) -> tuple[bool, dict]:
    """Paint ``joint``, augment, compare the brightest pixel with the label. Returns (checked, info)."""
    image = np.zeros(IMAGE_SHAPE + (3,), np.uint8)
    x, y = PERSON[joint].astype(int)
    image[y, x] = 255
    center, scale = _box_center_scale()
    rng = np.random.default_rng(seed)
    aug = augment_person(image, PERSON, np.ones(17), center, scale, rng, cfg, COCO17, OUT)
    label_index = COCO17.flip_index()[joint] if aug.params.flip else joint
    label = aug.keypoints[label_index]
    info = {"params": aug.params, "label": label}
    inside = (0.5 <= label[0] <= OUT[0] - 1.5) and (0.5 <= label[1] <= OUT[1] - 1.5)
    if not inside:
        return False, info
    gray = aug.crop[..., 0].astype(np.float64)
    assert gray.max() > 0, f"painted pixel vanished (seed {seed}, joint {joint}, {aug.params})"
    by, bx = np.unravel_index(np.argmax(gray), gray.shape)
    err = np.hypot(bx - label[0], by - label[1])
    assert err <= 1.0, (
        f"brightest pixel ({bx}, {by}) vs label {label} (err {err:.2f}) seed {seed} joint {joint} {aug.params}"
    )
    return True, info


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_painted_pixel_follows_label(name: str) -> None:
    cfg = TRANSFORMS[name]
    checked = 0
    seen = {"flip": 0, "rot": 0, "half": 0, "scaled": 0}
    _, base_scale = _box_center_scale()
    for seed in range(12):
        for joint in range(17):
            ok, info = _check_one(cfg, seed, joint)
            checked += ok
            p = info["params"]
            if joint == 0:
                seen["flip"] += p.flip
                seen["rot"] += p.rotation != 0
                seen["half"] += p.half_body
                seen["scaled"] += not np.allclose(p.scale, base_scale)
    assert checked >= 100, f"only {checked} joints landed inside the crop"
    # The transform under test really happened.
    key = {"scale": "scaled", "rotation": "rot", "flip": "flip", "half_body": "half"}.get(name)
    if key:
        assert seen[key] >= 10, seen
        # (a half-body crop has its own centre and scale)
        others = {k: v for k, v in seen.items() if k != key and not (key == "half" and k == "scaled")}
        assert not any(others.values()), f"{name}: other transforms fired: {seen}"
    else:
        assert all(v > 0 for v in seen.values()), seen


def test_flip_swaps_left_and_right() -> None:
    """After a flip the crop's left wrist label is the image's right wrist, mirrored."""
    center, scale = _box_center_scale()
    image = np.zeros(IMAGE_SHAPE + (3,), np.uint8)
    rng = np.random.default_rng(0)
    aug = augment_person(image, PERSON, np.ones(17), center, scale, rng, TRANSFORMS["flip"], COCO17, OUT)
    assert aug.params.flip
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    # The image's right wrist (x=157) is to the right of its left wrist (x=104); mirrored, the
    # crop's "left wrist" (= image right wrist) lies left of the crop's "right wrist".
    assert aug.keypoints[lw, 0] < aug.keypoints[rw, 0]
    m = aug.matrix
    np.testing.assert_allclose(aug.keypoints[lw], geometry.apply_affine(PERSON[rw], m))


def test_flip_matches_flipping_the_image_first() -> None:
    """The composed-mirror crop equals HRNet's flip-the-array-then-crop.

    The two warps sample the same points through different matrices, which OpenCV 4's fixed-point
    ``warpAffine`` rounds to 1/32 pixel apart: on pixel noise that alone moves values by up to 8 grey levels,
    so the image is smooth (noise blurred), where a 1/32-pixel shift is below one level.
    """
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 255, IMAGE_SHAPE + (3,), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 3)
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
    center, scale = _box_center_scale()
    rng = np.random.default_rng(1)
    params = sample_augmentation(rng, TRANSFORMS["all_always"], PERSON, np.ones(17), center, scale, 0.75, COCO17)
    assert params.flip
    m = augmentation_matrix(params, IMAGE_SHAPE[1], OUT)
    ours = geometry.warp_crops(image, m[None], OUT)[0]
    flipped_center = np.array([IMAGE_SHAPE[1] - 1 - params.center[0], params.center[1]])
    a = geometry.affine_matrix(flipped_center, params.scale, OUT, rot=params.rotation)
    hrnet = cv2.warpAffine(np.ascontiguousarray(image[:, ::-1]), a, OUT, flags=cv2.INTER_LINEAR)
    assert np.abs(ours.astype(int) - hrnet.astype(int)).max() <= 1


def test_dataset_image_and_target_agree(tmp_path: Path) -> None:
    """Through the dataset (read, augment, normalise, encode): the joint's target peak is at the bright pixel."""
    joint = COCO17.index("left_elbow")
    image = np.zeros(IMAGE_SHAPE + (3,), np.uint8)
    x, y = PERSON[joint].astype(int)
    cv2.circle(image, (int(x), int(y)), 1, (255, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    kp = np.concatenate([PERSON, np.full((17, 1), 2.0)], axis=1)
    box = geometry.keypoints_to_boxes(PERSON[None])[0]
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "width": IMAGE_SHAPE[1], "height": IMAGE_SHAPE[0]}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17, "area": 3000.0,
             "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "keypoints": kp.reshape(-1).tolist()}
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    records = load_coco_persons(tmp_path / "gt.json", tmp_path)
    spec = PoseModelSpec(input_size=OUT)
    ds = KeypointDataset(records, spec, COCO17, TRANSFORMS["all_always"], seed=0)
    hits = 0
    for epoch in range(10):
        item = ds[(epoch, 0)]
        s = ds.sample(0, epoch)
        label_index = COCO17.flip_index()[joint] if s.augmented.params.flip else joint
        lx, ly = s.augmented.keypoints[label_index]
        if not (2 <= lx <= OUT[0] - 3 and 2 <= ly <= OUT[1] - 3):
            continue  # e.g. a lower-body crop without the elbow
        assert item["target_weight"][label_index] == 1
        heat = item["target"][label_index]
        hy, hx = np.unravel_index(np.argmax(heat), heat.shape)
        bright = item["image"].max(axis=0)  # normalised, channel-first
        by, bx = np.unravel_index(np.argmax(bright), bright.shape)
        # heatmap peak = int(kp / 4 + 0.5): within half a heatmap pixel (2 px) plus the blob radius.
        assert abs(hx * 4 - bx) <= 3 and abs(hy * 4 - by) <= 3, (epoch, (hx, hy), (bx, by), s.augmented.params)
        hits += 1
    assert hits >= 5
