"""Tests for posekit.geometry: boxes, HRNet affine crops, legacy AlphaPose crops, letterboxing."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from posekit import geometry as g
from posekit.geometry import box_iou

# ----------------------------------------------------------------------------- box formats


def test_xywh_xyxy_roundtrip_by_hand():
    xywh = np.array([[10.0, 20.0, 30.0, 40.0], [-5.5, 0.0, 1.0, 2.5]])
    xyxy = g.xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[10, 20, 40, 60], [-5.5, 0, -4.5, 2.5]])
    np.testing.assert_allclose(g.xyxy_to_xywh(xyxy), xywh)


def test_box_conversions_keep_leading_dims():
    b = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    assert g.xywh_to_xyxy(b).shape == (2, 3, 4)
    assert g.xyxy_to_xywh(b).shape == (2, 3, 4)
    assert g.cxcywh_to_xyxy(b).shape == (2, 3, 4)


def test_cxcywh_to_xyxy_by_hand():
    np.testing.assert_allclose(g.cxcywh_to_xyxy([[50.0, 40.0, 20.0, 10.0]]), [[40, 35, 60, 45]])


# ----------------------------------------------------------------------------- centre / scale


def test_box_to_center_scale_wide_box_grows_height():
    # w=300, h=100, aspect 0.75: w > 0.75 h so h = w / 0.75 = 400
    c, s = g.box_to_center_scale([[0.0, 0.0, 300.0, 100.0]], aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(c, [[150.0, 50.0]])
    np.testing.assert_allclose(s, [[300.0, 400.0]])


def test_box_to_center_scale_tall_box_grows_width_and_pads():
    # w=40, h=200: w < 0.75 h so w = 150; then * 1.25
    c, s = g.box_to_center_scale([[10.0, 20.0, 50.0, 220.0]], aspect_ratio=0.75, padding=1.25)
    np.testing.assert_allclose(c, [[30.0, 120.0]])
    np.testing.assert_allclose(s, [[187.5, 250.0]])


def test_box_to_center_scale_exact_ratio_unchanged_and_batched():
    boxes = np.array([[0.0, 0.0, 75.0, 100.0], [0.0, 0.0, 300.0, 100.0], [10.0, 20.0, 50.0, 220.0]])
    c, s = g.box_to_center_scale(boxes, aspect_ratio=0.75, padding=1.1)
    np.testing.assert_allclose(s, np.array([[75, 100], [300, 400], [150, 200]]) * 1.1)
    np.testing.assert_allclose(c, [[37.5, 50], [150, 50], [30, 120]])
    # the scale always has the requested aspect ratio
    np.testing.assert_allclose(s[:, 0] / s[:, 1], 0.75)


def test_center_scale_to_box_by_hand():
    np.testing.assert_allclose(g.center_scale_to_box([[150.0, 50.0]], [[300.0, 400.0]]), [[0, -150, 300, 250]])


# ----------------------------------------------------------------------------- HRNet affine


def _hrnet_affine_reference(center, scale_px, rot, output_size):
    """HRNet's get_affine_transform rebuilt from its three point pairs (cv2, float32)."""
    w_out, h_out = output_size
    rad = math.pi * rot / 180.0
    sn, cs = math.sin(rad), math.cos(rad)
    src_pt = (0.0, -0.5 * scale_px[0])
    src_dir = np.array([src_pt[0] * cs - src_pt[1] * sn, src_pt[0] * sn + src_pt[1] * cs])
    dst_dir = np.array([0.0, -0.5 * w_out])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = np.asarray(center) + src_dir
    dst[0] = [0.5 * w_out, 0.5 * h_out]
    dst[1] = dst[0] + dst_dir
    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 30.0, -45.0, 90.0, 170.0])
def test_affine_matrix_matches_hrnet_three_point_construction(rot):
    center = np.array([123.4, 77.7])
    scale = np.array([150.0, 200.0])
    size = (192, 256)
    m = g.affine_matrix(center, scale, size, rot=rot)
    ref = _hrnet_affine_reference(center, scale, rot, size)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m, ref, atol=1e-4)  # cv2 solves in float32
    # centre goes to the output centre
    np.testing.assert_allclose(g.apply_affine(center, m), [96.0, 128.0], atol=1e-9)


def test_affine_matrix_rot0_maps_region_edges_to_output_edges():
    center, scale, size = np.array([50.0, 60.0]), np.array([30.0, 40.0]), (48, 64)
    m = g.affine_matrix(center, scale, size)
    pts = np.array([[35.0, 40.0], [65.0, 80.0]])  # corners of the scale region
    np.testing.assert_allclose(g.apply_affine(pts, m), [[0, 0], [48, 64]], atol=1e-9)


@pytest.mark.parametrize("rot", [0.0, 25.0, -90.0])
def test_affine_inverse_flag_equals_invert_affine(rot):
    center, scale, size = np.array([200.0, 150.5]), np.array([120.0, 160.0]), (192, 256)
    fwd = g.affine_matrix(center, scale, size, rot=rot)
    inv = g.affine_matrix(center, scale, size, rot=rot, inverse=True)
    np.testing.assert_allclose(inv, g.invert_affine(fwd), atol=1e-10)
    pts = np.array([[0.0, 0.0], [191.0, 255.0], [17.3, 99.9]])
    np.testing.assert_allclose(g.apply_affine(g.apply_affine(pts, inv), fwd), pts, atol=1e-9)


def test_affine_matrix_batched_with_per_item_rotation():
    centers = np.array([[10.0, 20.0], [300.0, 100.0]])
    scales = np.array([[30.0, 40.0], [90.0, 120.0]])
    rots = np.array([0.0, 45.0])
    mats = g.affine_matrix(centers, scales, (48, 64), rot=rots)
    assert mats.shape == (2, 2, 3)
    for i in range(2):
        np.testing.assert_allclose(mats[i], g.affine_matrix(centers[i], scales[i], (48, 64), rot=rots[i]))


def test_apply_affine_batched_roundtrip():
    rng = np.random.default_rng(0)
    mats = g.affine_matrix(rng.uniform(50, 200, (3, 2)), rng.uniform(50, 150, (3, 2)), (192, 256),
                           rot=rng.uniform(-40, 40, 3))
    pts = rng.uniform(0, 256, (3, 17, 2))
    out = g.apply_affine(pts, mats)
    assert out.shape == (3, 17, 2)
    for i in range(3):
        np.testing.assert_allclose(out[i], g.apply_affine(pts[i], mats[i]))
    np.testing.assert_allclose(g.apply_affine(out, g.invert_affine(mats)), pts, atol=1e-9)


def test_warp_crops_puts_painted_pixel_where_apply_affine_says():
    # unit zoom and a 90 degree rotation: the map is an exact pixel permutation
    img = np.zeros((100, 120, 3), np.uint8)
    img[52, 37] = (10, 20, 250)
    m = g.affine_matrix(np.array([60.0, 50.0]), np.array([64.0, 48.0]), (64, 48), rot=90.0)
    crops = g.warp_crops(img, m[None], (64, 48))
    assert crops.shape == (1, 48, 64, 3) and crops.dtype == np.uint8
    x, y = g.apply_affine(np.array([37.0, 52.0]), m)
    assert (x, y) == pytest.approx((34.0, 47.0))  # (-23, 2) rotated by -90 deg + (32, 24)
    ys, xs = np.nonzero(crops[0, :, :, 2])
    assert list(zip(xs, ys)) == [(34, 47)]
    np.testing.assert_array_equal(crops[0, 47, 34], (10, 20, 250))


def test_warp_crops_blob_centroid_follows_affine_with_zoom_and_rotation():
    yy, xx = np.mgrid[0:200, 0:240]
    p = np.array([101.3, 87.6])
    img = (200 * np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 3.0**2))).astype(np.float32)
    m = g.affine_matrix(np.array([110.0, 95.0]), np.array([60.0, 80.0]), (96, 128), rot=30.0)
    crop = g.warp_crops(img, m[None], (96, 128))[0]
    cy, cx = np.mgrid[0:128, 0:96]
    centroid = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
    np.testing.assert_allclose(centroid, g.apply_affine(p, m), atol=0.1)


def test_warp_crops_border_value():
    img = np.full((10, 10, 3), 7, np.uint8)
    m = g.affine_matrix(np.array([0.0, 0.0]), np.array([20.0, 20.0]), (20, 20))  # image corner at crop centre
    crop = g.warp_crops(img, m[None], (20, 20), border_value=99)[0]
    assert crop[2, 2, 0] == 99 and crop[15, 15, 0] == 7


# ----------------------------------------------------------------------------- letterbox


def test_letterbox_center_pad_128():
    img = np.full((104, 208, 3), 7, np.uint8)  # scale to 416 is exactly 2
    canvas, lb = g.letterbox(img, (416, 416), placement="center", pad_value=128)
    assert canvas.shape == (416, 416, 3)
    assert lb.scale == pytest.approx(2.0) and lb.pad == (0.0, 104.0) and lb.input_size == (416, 416)
    assert (canvas[:104] == 128).all() and (canvas[312:] == 128).all()
    assert (canvas[104:312] == 7).all()


def test_letterbox_topleft_pad_114_tall_image():
    img = np.full((208, 104, 3), 7, np.uint8)
    canvas, lb = g.letterbox(img, (416, 416), placement="topleft", pad_value=114)
    assert lb.scale == pytest.approx(2.0) and lb.pad == (0.0, 0.0)
    assert (canvas[:, :208] == 7).all() and (canvas[:, 208:] == 114).all()


def test_letterbox_rejects_unknown_placement():
    with pytest.raises(ValueError, match="placement"):
        g.letterbox(np.zeros((4, 4, 3), np.uint8), (8, 8), placement="bottom")


@pytest.mark.parametrize("placement", ["center", "topleft"])
def test_unletterbox_roundtrip(placement):
    img = np.zeros((300, 500, 3), np.uint8)
    _, lb = g.letterbox(img, (416, 416), placement=placement)
    boxes = np.array([[10.0, 20.0, 110.0, 220.0], [400.0, 0.0, 500.0, 300.0]])
    inp = boxes.copy()
    inp[:, [0, 2]] = inp[:, [0, 2]] * lb.scale + lb.pad[0]
    inp[:, [1, 3]] = inp[:, [1, 3]] * lb.scale + lb.pad[1]
    np.testing.assert_allclose(g.unletterbox_boxes(inp, lb), boxes, atol=1e-9)
    np.testing.assert_allclose(g.unletterbox_boxes(inp, lb, (300, 500)), boxes, atol=1e-9)


def test_unletterbox_clamps_to_image():
    lb = g.Letterbox(scale=2.0, pad=(0.0, 50.0), input_size=(416, 416))
    out = g.unletterbox_boxes([[-20.0, 10.0, 500.0, 400.0]], lb, image_shape=(150, 200))
    # unclamped: (-10, -20, 250, 175)
    np.testing.assert_allclose(out, [[0.0, 0.0, 200.0, 150.0]])


@pytest.mark.parametrize("interpolation", [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST])
def test_warp_placement_is_bottomup_resize_by_hand(interpolation):
    """``"warp"``: scale r = min(W_in / w, H_in / h), image centre at the input centre, constant border, pixel
    for pixel what one cv2.warpAffine with that matrix gives (MMPose's BottomupResize)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 61, 3), dtype=np.uint8)
    canvas, lb = g.letterbox(img, (64, 48), placement="warp", pad_value=114, interpolation=interpolation)
    r = min(64 / 61, 48 / 37)
    px, py = 32 - r * 61 / 2, 24 - r * 37 / 2
    expected = cv2.warpAffine(img, np.array([[r, 0, px], [0, r, py]]), (64, 48), flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114, 114))
    np.testing.assert_array_equal(canvas, expected)
    assert canvas.dtype == np.uint8 and lb.scale == r and lb.pad == (px, py)


def test_unletterbox_points_and_boxes_agree_exactly():
    lb = g.Letterbox(scale=0.37, pad=(3.25, 11.5), input_size=(416, 416), scale_y=0.41)
    rng = np.random.default_rng(1)
    boxes = rng.uniform(-50, 450, (7, 4))
    out = g.unletterbox_boxes(boxes, lb)
    by_hand = np.stack([(boxes[:, 0] - 3.25) / 0.37, (boxes[:, 1] - 11.5) / 0.41,
                        (boxes[:, 2] - 3.25) / 0.37, (boxes[:, 3] - 11.5) / 0.41], axis=1)
    np.testing.assert_array_equal(out, by_hand)
    np.testing.assert_array_equal(g.unletterbox_points(boxes.reshape(-1, 2, 2), lb).reshape(-1, 4), out)
    assert g.unletterbox_boxes(np.zeros((0, 4)), lb).shape == (0, 4)


def test_clip_boxes():
    np.testing.assert_allclose(g.clip_boxes([[-1, -2, 30, 40]], (20, 25)), [[0, 0, 25, 20]])


# ----------------------------------------------------------------------------- AlphaPose legacy crop


def test_enlarge_box_alphapose_legacy_by_hand():
    boxes = np.array([
        [100.0, 50.0, 200.0, 250.0],  # w 100, h 200: grows 15 / 30 per side
        [5.0, 5.0, 215.0, 298.0],  # clipped to [0, W-1] x [0, H-1]
        [10.0, 10.0, 11.0, 11.0],  # tiny: kept 5 px wide and high
    ])
    out = g.enlarge_box_alphapose_legacy(boxes, (300, 220))
    np.testing.assert_allclose(out, [
        [85.0, 20.0, 215.0, 280.0],
        [0.0, 0.0, 219.0, 299.0],
        [9.85, 9.85, 14.85, 14.85],
    ])


@pytest.mark.parametrize(
    "box, src0, src1",
    [
        # tall: ul (10, 20), br = int(69.9, 199.6) = (69, 199); box 59 x 179;
        # lenH = max(179, 59 * 320 / 256 = 73.75) = 179, lenW = 143.2; pad_w = (143.2 - 59) // 2 = 42, pad_h = 0
        ((10.7, 20.2, 70.9, 200.6), (-32.0, 20.0), (111.0, 199.0)),
        # wide: ul (5, 5), br (304, 84); box 299 x 79; lenH = max(79, 373.75) = 373.75, lenW = 299;
        # pad_h = (373.75 - 79) // 2 = 147, pad_w = 0
        ((5.0, 5.0, 305.0, 85.0), (5.0, -142.0), (304.0, 231.0)),
    ],
)
def test_legacy_crop_matrices_map_padded_corners(box, src0, src1):
    w_in, h_in = 256, 320
    m = g.legacy_crop_matrices(np.array([box]), (w_in, h_in))
    assert m.shape == (1, 2, 3)
    out = g.apply_affine(np.array([[src0, src1]]), m)[0]
    np.testing.assert_allclose(out, [[0.0, 0.0], [w_in - 1.0, h_in - 1.0]], atol=1e-9)
    # axis aligned (no rotation or shear)
    assert m[0, 0, 1] == 0.0 and m[0, 1, 0] == 0.0


def test_mask_outside_box_by_hand():
    img = np.full((10, 12, 3), 9, np.uint8)
    out = g.mask_outside_box(img, np.array([2.5, 3.7, 6.2, 8.9]))  # keeps x 2..5, y 3..7
    assert out[3:8, 2:6].min() == 9
    out[3:8, 2:6] = 0
    assert out.max() == 0
    assert img.min() == 9  # input untouched


# ----------------------------------------------------------------------------- keypoint boxes


def test_keypoints_to_boxes_ignores_invalid_points():
    kp = np.array([
        [[10.0, 20.0], [30.0, 5.0], [1000.0, -1000.0]],
        [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]],
    ])
    valid = np.array([[True, True, False], [True, True, True], [False, False, False]])
    np.testing.assert_allclose(g.keypoints_to_boxes(kp, valid), [[10, 5, 30, 20], [1, 2, 5, 6], [0, 0, 0, 0]])
    np.testing.assert_allclose(g.keypoints_to_boxes(kp[:1]), [[10, -1000, 1000, 20]])


# ----------------------------------------------------------------------------- box_iou


def test_box_iou_continuous_by_hand():
    a = np.array([[0.0, 0.0, 9.0, 9.0]])
    b = np.array([[5.0, 5.0, 14.0, 14.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 9.0, 9.0]])
    iou = box_iou(a, b)
    assert iou.shape == (1, 3)
    # areas 81, intersection 4 x 4 = 16
    np.testing.assert_allclose(iou[0], [16.0 / (81 + 81 - 16), 0.0, 1.0])


def test_box_iou_plus_one_by_hand():
    a = np.array([[0.0, 0.0, 9.0, 9.0]])
    b = np.array([[5.0, 5.0, 14.0, 14.0], [10.0, 0.0, 19.0, 9.0], [9.0, 9.0, 20.0, 20.0]])
    iou = box_iou(a, b, plus_one=True)
    # inclusive pixels: areas 10*10 = 100; intersection 5*5 = 25
    # second box touches at x = 9/10: inclusive width 9 - 10 + 1 = 0 -> 0
    # third box shares the single pixel (9, 9): 1 / (100 + 144 - 1)
    np.testing.assert_allclose(iou[0], [25.0 / 175.0, 0.0, 1.0 / 243.0])
    # the same shared-corner pair has zero IoU in the continuous convention
    assert box_iou(a, b[2:])[0, 0] == 0.0


def test_box_iou_degenerate_and_empty():
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    # zero-area boxes: union 0 -> IoU 0, no warning
    z = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert box_iou(z, z)[0, 0] == 0.0


def test_as_boxes_shapes():
    assert g.as_boxes([]).shape == (0, 4)
    assert g.as_boxes(np.zeros((2, 4), np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match="a must have shape"):
        box_iou(np.zeros((2, 5)), np.zeros((1, 4)))
