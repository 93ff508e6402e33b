"""Tests for posekit.pose.crop and posekit.pose.decode: crop -> heatmap -> image round trips."""

from __future__ import annotations

import numpy as np
import pytest

from posekit import geometry
from posekit.pose.crop import crop_matrices, crop_people
from posekit.pose.decode import decode_outputs, merge_flipped
from posekit.spec import CropConfig, PoseModelSpec
from posekit.schema import COCO17

SPEC = PoseModelSpec(input_size=(192, 256))
BOXES = np.array([[100.0, 40.0, 180.0, 260.0], [20.0, 150.0, 260.0, 230.0]])  # tall, wide


def test_crop_matrices_follow_hrnet_box_to_center_scale():
    mats = crop_matrices(BOXES, SPEC, (300, 400))
    assert mats.shape == (2, 2, 3)
    # tall box: w 80, h 220 -> w = 165; * 1.25 -> scale width 206.25, centre (140, 150)
    # wide box: w 240, h 80 -> h = 320; * 1.25 -> scale width 300, centre (140, 190)
    for m, (cx, cy), sw in zip(mats, [(140.0, 150.0), (140.0, 190.0)], [206.25, 300.0]):
        k = 192 / sw
        np.testing.assert_allclose(m, [[k, 0, 96 - k * cx], [0, k, 128 - k * cy]], atol=1e-9)


def test_crop_people_shapes_and_content():
    img = np.zeros((300, 400, 3), np.uint8)
    img[150, 140] = 255  # centre of both boxes' crops
    crops, mats = crop_people(img, BOXES, SPEC)
    assert crops.shape == (2, 256, 192, 3) and crops.dtype == np.uint8
    np.testing.assert_allclose(mats, crop_matrices(BOXES, SPEC, img.shape[:2]))
    # the painted pixel is the centre of crop 0: (140, 150) -> (96, 128)
    assert crops[0, 128, 96, 0] > 0
    # outside the image the crop gets the border value (0)
    wide = geometry.apply_affine(np.array([0.0, 0.0]), mats[1])  # image corner inside crop 1
    assert wide[1] > 0 and crops[1, : int(wide[1]) - 1].max() == 0


@pytest.mark.parametrize("box_index", [0, 1])
def test_heatmap_peak_maps_back_to_image_point(box_index):
    _, mats = crop_people(np.zeros((300, 400, 3), np.uint8), BOXES, SPEC)
    u, v = 20, 30  # heatmap cell of the peak -> crop pixel (80, 120)
    hm = np.zeros((2, 17, 64, 48), np.float32)
    hm[box_index, 5, v, u] = 1.0
    decoded = decode_outputs(hm, SPEC, "argmax")
    np.testing.assert_allclose(decoded.keypoints[box_index, 5], [80.0, 120.0])
    image_kp = geometry.apply_affine(decoded.keypoints, geometry.invert_affine(mats))
    # by hand: image = centre + (crop - (96, 128)) * scale_width / 192
    (cx, cy), sw = [((140.0, 150.0), 206.25), ((140.0, 190.0), 300.0)][box_index]
    expected = [cx + (80 - 96) * sw / 192, cy + (120 - 128) * sw / 192]
    np.testing.assert_allclose(image_kp[box_index, 5], expected, atol=1e-9)


def test_subpixel_peak_through_dark_maps_back():
    img_pt = np.array([151.7, 98.3])
    mats = crop_matrices(BOXES[:1], SPEC, (300, 400))
    crop_pt = geometry.apply_affine(img_pt, mats[0])
    yy, xx = np.mgrid[0:64, 0:48]
    c = crop_pt / 4.0
    hm = np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / 8.0).astype(np.float32)
    hm = np.repeat(hm[None, None], 17, axis=1)
    decoded = decode_outputs(hm, SPEC, "dark")
    back = geometry.apply_affine(decoded.keypoints, geometry.invert_affine(mats))[0, 0]
    assert np.abs(back - img_pt).max() < 0.1 * 4 * 206.25 / 192


def test_decode_outputs_drops_extra_channels_and_applies_offset():
    hm = np.zeros((1, 33, 64, 48), np.float32)
    hm[0, 20, 10, 10] = 5.0  # channel beyond 17 must be ignored
    hm[0, 3, 7, 9] = 1.0
    dec = decode_outputs(hm, SPEC.with_(heatmap_offset=1.5), "argmax")
    assert dec.keypoints.shape == (1, 17, 2)
    np.testing.assert_allclose(dec.keypoints[0, 3], [4 * 9 + 1.5, 4 * 7 + 1.5])
    assert dec.scores.max() == pytest.approx(1.0)


def test_decode_outputs_alphapose_offset_is_carried():
    hm = np.zeros((1, 17, 64, 48), np.float32)
    hm[0, :, 7, 9] = 1.0
    dec = decode_outputs(hm, SPEC, "alphapose")
    assert dec.image_offset == pytest.approx(-0.3)
    np.testing.assert_allclose(dec.keypoints[0, 0], [4 * 9.2, 4 * 7.2])


def test_decode_outputs_keypoints_movenet_convention():
    spec = PoseModelSpec(input_size=(192, 192), output="keypoints", mean=None, std=None)
    out = np.zeros((1, 17, 3), np.float32)
    out[0, 4] = (0.5, 0.25, 0.9)  # (y, x, score), normalised to the crop's edges
    out[0, 5] = (0.0, 1.0, 0.1)
    dec = decode_outputs(out, spec)
    np.testing.assert_allclose(dec.keypoints[0, 4], [0.25 * 192 - 0.5, 0.5 * 192 - 0.5])
    np.testing.assert_allclose(dec.keypoints[0, 5], [191.5, -0.5])  # edges of the crop
    np.testing.assert_allclose(dec.scores[0, 4], 0.9, rtol=1e-6)


def test_legacy_crop_masks_outside_box_and_uses_legacy_matrices():
    spec = PoseModelSpec(input_size=(256, 320), crop=CropConfig(mode="alphapose_legacy"))
    img = np.full((300, 400, 3), 200, np.uint8)
    box = np.array([[150.0, 50.0, 200.0, 250.0]])  # enlarged: x 142.5..207.5, y 20..280
    crops, mats = crop_people(img, box, spec)
    enlarged = geometry.enlarge_box_alphapose_legacy(box, img.shape[:2])
    np.testing.assert_allclose(enlarged, [[142.5, 20.0, 207.5, 280.0]])
    np.testing.assert_allclose(mats, geometry.legacy_crop_matrices(enlarged, (256, 320)))
    # a point just left of the enlarged box is zeroed, one inside keeps the image value
    left = geometry.apply_affine(np.array([135.0, 150.0]), mats[0]).round().astype(int)
    inside = geometry.apply_affine(np.array([175.0, 150.0]), mats[0]).round().astype(int)
    assert crops[0, left[1], left[0], 0] == 0
    assert crops[0, inside[1], inside[0], 0] == 200


# ----------------------------------------------------------------------------- flip merge


def test_merge_flipped_heatmaps():
    flip = COCO17.flip_index()
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    out = np.zeros((1, 17, 8, 12), np.float32)
    out[0, rw, 3, 9] = 1.0
    flipped = np.zeros((1, 20, 8, 12), np.float32)  # extra channels are dropped
    flipped[0, lw, 3, 3] = 1.0  # the mirrored right wrist: column 12 - 1 - 3 + 1 (HRNet shift) = 9
    merged = merge_flipped(out, flipped, SPEC, flip)
    assert merged.shape == (1, 17, 8, 12)
    assert merged[0, rw, 3, 9] == pytest.approx(1.0)
    assert merged[0, lw].max() == 0
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 1, 17, 8, 12)).astype(np.float32)
    from posekit.codec import flip_heatmaps_back

    np.testing.assert_allclose(merge_flipped(a, b, SPEC, flip), (a + flip_heatmaps_back(b, flip)) / 2)


@pytest.mark.parametrize("offset, u", [(0.0, 10), (1.5, 10), (0.0, 30), (1.5, 33)])
def test_merge_flipped_heatmaps_of_a_mirrored_crop_agree(offset, u):
    """A point seen in the crop and in its mirror lands on one cell after the merge.

    HRNet cells (offset 0) sit at crop x = 4u, MoveNet's centred cells at 4u + 1.5:
    the mirror needs HRNet's one-cell shift for the first and no shift for the second.
    """
    spec = PoseModelSpec(input_size=(192, 192), heatmap_offset=offset)
    w = 48
    x = 4 * u + offset
    x_mirror = 191 - x  # crop pixel j -> 191 - j
    u_mirror = int(round((x_mirror - offset) / 4))
    out = np.zeros((1, 17, 4, w), np.float32)
    out[0, 0, 2, u] = 1.0
    flipped = np.zeros_like(out)
    flipped[0, 0, 2, u_mirror] = 1.0
    merged = merge_flipped(out, flipped, spec, COCO17.flip_index())
    assert merged[0, 0, 2, u] == pytest.approx(1.0), merged[0, 0, 2].nonzero()
    dec = decode_outputs(merged, spec, "argmax")
    assert dec.keypoints[0, 0, 0] == pytest.approx(x)


def test_merge_flipped_keypoints():
    spec = PoseModelSpec(input_size=(192, 192), output="keypoints", mean=None, std=None)
    flip = COCO17.flip_index()
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    out = np.zeros((1, 17, 3), np.float32)
    out[0, rw] = (0.4, 0.7, 0.8)
    flipped = np.zeros((1, 17, 3), np.float32)
    flipped[0, lw] = (0.5, 0.2, 0.6)  # mirrored x: 1 - 0.2 = 0.8
    merged = merge_flipped(out, flipped, spec, flip)
    # coordinates weighted by score (0.8 and 0.6), scores averaged
    y = (0.4 * 0.8 + 0.5 * 0.6) / 1.4
    x = (0.7 * 0.8 + 0.8 * 0.6) / 1.4
    np.testing.assert_allclose(merged[0, rw], [y, x, 0.7], rtol=1e-6)
    # nose: both scores 0 -> plain mean of x 0 and mirrored 1
    np.testing.assert_allclose(merged[0, 0], [0.0, 0.5, 0.0])


def test_mask_margin_zeroes_pixels_outside_the_enlarged_box():
    # 40x100 box -> square crop of side 100 onto 64 px (0.64 px per image px);
    # margin 1.2 keeps a 48 px wide band = 30.72 crop px centred on the crop.
    image = np.full((200, 300, 3), 255, np.uint8)
    spec = PoseModelSpec((64, 64), crop=CropConfig(padding=1.0, mask_margin=1.2))
    crops, _ = crop_people(image, np.array([[100.0, 50.0, 140.0, 150.0]]), spec)
    kept_columns = np.nonzero(crops[0, 32, :, 0])[0]
    assert kept_columns.min() == 17 and kept_columns.max() == 47  # 32 -+ 15.36
    assert crops[0, :, 32, 0].all()  # 120 px tall band covers the whole crop height
    unmasked, _ = crop_people(image, np.array([[100.0, 50.0, 140.0, 150.0]]), spec.with_(crop=CropConfig(padding=1.0)))
    assert unmasked[0, 32, :, 0].all()


def test_mask_margin_must_be_positive():
    with pytest.raises(ValueError, match="mask_margin"):
        CropConfig(mask_margin=0.0)
