"""Tests for posekit.codec: HRNet Gaussian targets and the argmax / HRNet / AlphaPose / DARK decoders."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit import codec
from posekit.schema import COCO17

W, H = 48, 64  # heatmap size of a 192x256 input at stride 4


def encode_one(x: float, y: float, vis: float = 2.0, size=(W, H)):
    hm, weight = codec.encode_heatmaps(np.array([[x, y]]), np.array([vis]), size, stride=4.0, sigma=2.0)
    return hm[0], weight[0]


# ----------------------------------------------------------------------------- encode


def test_encode_peak_and_gaussian_values_by_hand():
    # mu = int(41 / 4 + 0.5) = 10, int(47 / 4 + 0.5) = 12
    hm, w = encode_one(41.0, 47.0)
    assert hm.shape == (H, W) and hm.dtype == np.float32
    assert w == 1.0
    assert hm[12, 10] == pytest.approx(1.0)
    assert np.unravel_index(hm.argmax(), hm.shape) == (12, 10)
    e1 = math.exp(-1 / 8)  # distance 1, sigma 2: exp(-1 / (2 * 2^2))
    for r, c in ((12, 11), (12, 9), (11, 10), (13, 10)):
        assert hm[r, c] == pytest.approx(e1, rel=1e-6)
    assert hm[13, 11] == pytest.approx(math.exp(-2 / 8), rel=1e-6)
    # window radius 3 sigma = 6: value at distance 6, zero at distance 7
    assert hm[12, 16] == pytest.approx(math.exp(-36 / 8), rel=1e-5)
    assert hm[12, 4] == pytest.approx(math.exp(-36 / 8), rel=1e-5)
    assert hm[18, 16] == pytest.approx(math.exp(-72 / 8), rel=1e-5)
    assert hm[12, 17] == 0 and hm[12, 3] == 0 and hm[19, 10] == 0 and hm[5, 10] == 0
    assert np.count_nonzero(hm) == 13 * 13


@pytest.mark.parametrize("x, mu", [(41.9, 10), (42.0, 11), (1.9, 0), (2.0, 1)])
def test_encode_centre_rounds_half_up(x, mu):
    hm, _ = encode_one(x, 100.0)
    assert hm[25].argmax() == mu  # int(100 / 4 + 0.5) = 25


def test_encode_unlabelled_point_has_zero_weight_and_empty_map():
    hm, w = encode_one(100.0, 100.0, vis=0)
    assert w == 0.0 and not hm.any()


def test_encode_point_whose_gaussian_misses_the_map():
    hm, w = encode_one(-100.0, 100.0)
    assert w == 0.0 and not hm.any()
    hm, w = encode_one(100.0, 4.0 * 80)  # far below
    assert w == 0.0 and not hm.any()
    # mu_x = int(-30 / 4 + 0.5) = -7: window [-13, 0) ends exactly at the map edge
    hm, w = encode_one(-30.0, 100.0)
    assert w == 0.0 and not hm.any()
    # mu_x = 54: window starts at column 48 == W
    hm, w = encode_one(4.0 * 54, 100.0)
    assert w == 0.0 and not hm.any()


def test_encode_point_just_outside_with_partial_gaussian():
    # mu_x = int(-10 / 4 + 0.5) = -2: columns 0..4 are at distances 2..6 from the centre
    hm, w = encode_one(-10.0, 100.0)
    assert w == 1.0
    assert hm[25, 0] == pytest.approx(math.exp(-4 / 8), rel=1e-6)
    assert hm[25, 4] == pytest.approx(math.exp(-36 / 8), rel=1e-5)
    assert not hm[:, 5:].any()
    # mu_x = 53: only column 47 (distance 6) is inside
    hm, w = encode_one(4.0 * 53, 100.0)
    assert w == 1.0
    assert hm[25, 47] == pytest.approx(math.exp(-36 / 8), rel=1e-5)
    assert not hm[:, :47].any()


def test_encode_many_keypoints_independent():
    kp = np.array([[41.0, 47.0], [100.0, 100.0], [-100.0, 0.0]])
    hm, w = codec.encode_heatmaps(kp, np.array([1, 0, 2]), (W, H))
    np.testing.assert_array_equal(w, [1, 0, 0])
    assert hm.shape == (3, H, W)
    np.testing.assert_array_equal(hm[0], encode_one(41.0, 47.0)[0])
    assert not hm[1].any() and not hm[2].any()


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("method", ["argmax", "hrnet", "dark"])
def test_decode_encode_roundtrip(method):
    rng = np.random.default_rng(1)
    kp = np.stack([rng.uniform(12, 4 * W - 12, 17), rng.uniform(12, 4 * H - 12, 17)], axis=1)
    hm, w = codec.encode_heatmaps(kp, np.ones(17), (W, H))
    assert (w == 1).all()
    dec = codec.decode_heatmaps(hm[None], stride=4.0, method=method)
    assert dec.keypoints.shape == (1, 17, 2) and dec.scores.shape == (1, 17)
    assert dec.image_offset == 0.0
    err = np.abs(dec.keypoints[0] - kp)
    assert err.max() <= 2.0 + 1e-6  # half a heatmap pixel at stride 4
    np.testing.assert_allclose(dec.scores, 1.0, atol=1e-6)


def test_decode_rejects_unknown_method():
    with pytest.raises(ValueError, match="decoder"):
        codec.decode_heatmaps(np.zeros((1, 1, 4, 4)), method="soft")


# ----------------------------------------------------------------------------- quarter shifts


def _peak_map(px: int, py: int, w: int = 10, h: int = 8) -> np.ndarray:
    """A (1, 1, h, w) map with its max at (px, py), right neighbour > left, upper > lower."""
    hm = np.zeros((1, 1, h, w), np.float32)
    hm[0, 0, py, px] = 1.0
    if px + 1 < w:
        hm[0, 0, py, px + 1] = 0.5
    if px - 1 >= 0:
        hm[0, 0, py, px - 1] = 0.2
    if py - 1 >= 0:
        hm[0, 0, py - 1, px] = 0.4
    if py + 1 < h:
        hm[0, 0, py + 1, px] = 0.1
    return hm


def test_hrnet_shift_inside_moves_quarter_toward_higher_neighbour():
    dec = codec.decode_heatmaps(_peak_map(4, 3), stride=1.0, method="hrnet")
    np.testing.assert_allclose(dec.keypoints[0, 0], [4.25, 2.75])
    assert dec.image_offset == 0.0


@pytest.mark.parametrize("px, py", [(1, 3), (4, 1), (0, 3), (9, 3), (4, 7)])
def test_hrnet_shift_needs_1_lt_p_lt_size_minus_1(px, py):
    # px == 1 (or py == 1) is NOT shifted by HRNet's rule 1 < px < W - 1
    dec = codec.decode_heatmaps(_peak_map(px, py), stride=1.0, method="hrnet")
    np.testing.assert_allclose(dec.keypoints[0, 0], [px, py])


def test_hrnet_shift_at_last_allowed_index():
    dec = codec.decode_heatmaps(_peak_map(8, 6), stride=1.0, method="hrnet")  # W - 2, H - 2
    np.testing.assert_allclose(dec.keypoints[0, 0], [8.25, 5.75])


def test_alphapose_shift_at_px_1_plus_0_2():
    # AlphaPose's rule is 0 < px < W - 1: px == 1 IS shifted; then +0.2 on both axes
    dec = codec.decode_heatmaps(_peak_map(1, 3), stride=1.0, method="alphapose")
    np.testing.assert_allclose(dec.keypoints[0, 0], [1.25 + 0.2, 2.75 + 0.2])
    assert dec.image_offset == pytest.approx(-0.3)
    dec = codec.decode_heatmaps(_peak_map(4, 1), stride=1.0, method="alphapose")
    np.testing.assert_allclose(dec.keypoints[0, 0], [4.45, 0.95])


@pytest.mark.parametrize("px, py", [(0, 3), (9, 3), (4, 0), (4, 7)])
def test_alphapose_no_shift_on_border(px, py):
    dec = codec.decode_heatmaps(_peak_map(px, py), stride=1.0, method="alphapose")
    np.testing.assert_allclose(dec.keypoints[0, 0], [px + 0.2, py + 0.2])


def test_shift_scaled_by_stride():
    dec = codec.decode_heatmaps(_peak_map(4, 3), stride=4.0, method="alphapose")
    np.testing.assert_allclose(dec.keypoints[0, 0], [4 * 4.45, 4 * 2.95])


def test_equal_neighbours_do_not_shift():
    hm = np.zeros((1, 1, 8, 10), np.float32)
    hm[0, 0, 3, 4] = 1.0
    hm[0, 0, 3, 3] = hm[0, 0, 3, 5] = 0.5
    dec = codec.decode_heatmaps(hm, stride=1.0, method="hrnet")
    np.testing.assert_allclose(dec.keypoints[0, 0], [4.0, 3.0])


@pytest.mark.parametrize("method", ["argmax", "hrnet", "dark"])
def test_nonpositive_max_gives_origin(method):
    hm = np.full((2, 3, 16, 12), -1.0, np.float32)
    hm[:, :, 7, 5] = -0.1
    hm[:, 1] = 0.0
    dec = codec.decode_heatmaps(hm, stride=4.0, method=method)
    np.testing.assert_array_equal(dec.keypoints, 0.0)
    np.testing.assert_allclose(dec.scores[:, 0], -0.1, rtol=1e-6)
    np.testing.assert_array_equal(dec.scores[:, 1], 0.0)


def test_get_max_preds_by_hand():
    hm = np.zeros((1, 2, 5, 7), np.float32)
    hm[0, 0, 4, 6] = 0.9
    hm[0, 1, 1, 2] = 0.3
    coords, maxvals = codec.get_max_preds(hm)
    np.testing.assert_array_equal(coords[0], [[6, 4], [2, 1]])
    np.testing.assert_allclose(maxvals[0], [0.9, 0.3], rtol=1e-6)


# ----------------------------------------------------------------------------- DARK


@pytest.mark.parametrize("cx, cy", [(20.3, 30.7), (11.8, 40.45), (30.5, 12.1)])
def test_dark_recovers_subpixel_centre(cx, cy):
    yy, xx = np.mgrid[0:H, 0:W]
    hm = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.0**2)).astype(np.float32)
    dark = codec.decode_heatmaps(hm[None, None], stride=1.0, method="dark").keypoints[0, 0]
    argmax = codec.decode_heatmaps(hm[None, None], stride=1.0, method="argmax").keypoints[0, 0]
    assert np.abs(dark - [cx, cy]).max() < 0.1
    assert np.abs(argmax - [cx, cy]).max() > 0.1  # DARK did the work


def _dark_reference(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DarkPose's post-processing (lib/core/inference.py): zero-padded blur, log, Taylor step."""
    import cv2

    hm = heatmaps.astype(np.float64).copy()
    coords, _ = codec.get_max_preds(heatmaps)
    border = (kernel - 1) // 2
    n, k, h, w = hm.shape
    for i in range(n):
        for j in range(k):
            origin_max = hm[i, j].max()
            dr = np.zeros((h + 2 * border, w + 2 * border))
            dr[border:-border, border:-border] = hm[i, j]
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            hm[i, j] = dr[border:-border, border:-border]
            hm[i, j] *= origin_max / hm[i, j].max()
    hm = np.log(np.maximum(hm, 1e-10))
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if 1 < px < w - 2 and 1 < py < h - 2:
                dx = 0.5 * (m[py][px + 1] - m[py][px - 1])
                dy = 0.5 * (m[py + 1][px] - m[py - 1][px])
                dxx = 0.25 * (m[py][px + 2] - 2 * m[py][px] + m[py][px - 2])
                dxy = 0.25 * (m[py + 1][px + 1] - m[py - 1][px + 1] - m[py + 1][px - 1] + m[py - 1][px - 1])
                dyy = 0.25 * (m[py + 2][px] - 2 * m[py][px] + m[py - 2][px])
                if dxx * dyy - dxy**2 != 0:
                    hess = np.array([[dxx, dxy], [dxy, dyy]])
                    coords[i, j] += -np.linalg.inv(hess) @ np.array([dx, dy])
    return coords


def test_dark_matches_darkpose_reference_including_near_borders():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:H, 0:W]
    centres = [(2.4, 30.2), (45.3, 3.1), (20.7, 61.6), (24.2, 33.9), (3.2, 2.6), (40.1, 50.8)]
    hm = np.stack([
        np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.0**2)) + 0.02 * rng.random((H, W))
        for cx, cy in centres
    ]).astype(np.float32)[None]
    ours = codec.dark_refine(codec.get_max_preds(hm)[0], hm)
    np.testing.assert_allclose(ours, _dark_reference(hm), atol=1e-3)


def test_dark_leaves_border_points():
    yy, xx = np.mgrid[0:H, 0:W]
    hm = np.exp(-((xx - 0.6) ** 2 + (yy - 30.0) ** 2) / 8.0).astype(np.float32)
    dec = codec.decode_heatmaps(hm[None, None], stride=1.0, method="dark")
    np.testing.assert_allclose(dec.keypoints[0, 0], [1.0, 30.0])


# ----------------------------------------------------------------------------- flip back


def test_flip_heatmaps_back_swaps_mirrors_and_shifts():
    rng = np.random.default_rng(2)
    hm = rng.random((2, 17, 6, 5)).astype(np.float32)
    flip = COCO17.flip_index()
    out = codec.flip_heatmaps_back(hm, flip, shift=True)
    w = hm.shape[3]
    pair = dict(COCO17.flip_pairs)
    pair.update({b: a for a, b in COCO17.flip_pairs})
    for k in range(17):
        src = pair.get(k, k)
        for c in range(w):
            # HRNet: mirror, then shift one pixel right; column 0 keeps its (mirrored) value
            expected_col = w - 1 if c == 0 else w - c
            np.testing.assert_array_equal(out[:, k, :, c], hm[:, src, :, expected_col])
    unshifted = codec.flip_heatmaps_back(hm, flip, shift=False)
    np.testing.assert_array_equal(unshifted[:, 5], hm[:, 6, :, ::-1])
    np.testing.assert_array_equal(unshifted[:, 0], hm[:, 0, :, ::-1])


def test_flip_heatmaps_back_moves_left_wrist_peak_to_right_wrist():
    hm = np.zeros((1, 17, 8, 12), np.float32)
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    hm[0, lw, 3, 2] = 1.0
    out = codec.flip_heatmaps_back(hm, COCO17.flip_index())
    assert out[0, lw].max() == 0
    assert np.unravel_index(out[0, rw].argmax(), (8, 12)) == (3, 12 - 1 - 2 + 1)


# ----------------------------------------------------------------------------- codec objects


def test_heatmap_codec_is_the_functional_api_with_its_parameters_together():
    from posekit.spec import PoseModelSpec

    spec = PoseModelSpec(input_size=(192, 256), decode="dark")
    c = codec.HeatmapCodec.from_spec(spec, sigma=3.0)
    assert (c.input_size, c.stride, c.sigma, c.decoder, c.dark_kernel, c.cell_offset, c.num_keypoints) == (
        (192, 256), 4, 3.0, "dark", 11, 0.0, 17)
    assert c.heatmap_size == (48, 64) and c.flip_shift
    kp = np.array([[41.0, 47.0], [100.3, 20.9]])
    hm, w = c.encode(kp, np.array([1, 1]))
    ref_hm, ref_w = codec.encode_heatmaps(kp, np.array([1, 1]), (48, 64), stride=4.0, sigma=3.0)
    np.testing.assert_array_equal(hm, ref_hm)
    np.testing.assert_array_equal(w, ref_w)
    maps = np.concatenate([np.repeat(hm[None, :1], 17, axis=1), np.ones((1, 3, 64, 48), np.float32)], axis=1)
    dec = c.decode(maps)  # the 3 extra channels are dropped
    ref = codec.decode_heatmaps(maps[:, :17], stride=4.0, method="dark")
    assert dec.keypoints.shape == (1, 17, 2)
    np.testing.assert_array_equal(dec.keypoints, ref.keypoints)
    assert codec.HeatmapCodec.from_spec(spec, "hrnet").decoder == "hrnet"


def test_heatmap_codec_cell_offset_round_trip():
    # MoveNet-style centred cells: cell u at crop x = 4u + 1.5
    c = codec.HeatmapCodec(input_size=(192, 192), cell_offset=1.5, decoder="argmax")
    assert not c.flip_shift
    hm, _ = c.encode(np.array([[41.5, 81.5]]), np.array([1]))
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == (20, 10)
    np.testing.assert_allclose(c.decode(hm[None]).keypoints[0, 0], [41.5, 81.5])


def test_codec_validation_and_make_codec():
    from posekit.spec import PoseModelSpec

    with pytest.raises(ValueError, match="decoder"):
        codec.HeatmapCodec(input_size=(192, 256), decoder="soft")
    with pytest.raises(ValueError, match="dark_kernel"):
        codec.HeatmapCodec(input_size=(192, 256), dark_kernel=10)
    kspec = PoseModelSpec(input_size=(192, 192), output="keypoints", mean=None, std=None)
    assert isinstance(codec.make_codec(kspec), codec.KeypointCodec)
    assert isinstance(codec.make_codec(PoseModelSpec(input_size=(192, 256))), codec.HeatmapCodec)


# ----------------------------------------------------------------------------- SimCC (RTMPose)


def _simcc_fixtures() -> list[str]:
    import testdata

    return sorted(p.name for p in testdata.FIXTURES.iterdir() if p.name.startswith(("rtmpose_", "rtmw_")))


@pytest.mark.parametrize("name", _simcc_fixtures())
def test_simcc_decode_equals_mmpose_simcclabel(name):
    """MMPose's own decode of its outputs (``keypoints.npy``, ``scores.npy``, and after the flip-test merge),
    bit for bit: argmax / 2, score = the smaller maximum."""
    import json

    import testdata
    from posekit.codec import SimCCCodec

    folder = testdata.FIXTURES / name
    cfg = json.loads((folder / "fixture.json").read_text())["codec"]
    codec = SimCCCodec(tuple(cfg["input_size"]), cfg["simcc_split_ratio"], tuple(cfg["sigma"]))
    for prefix in ("", "flip_"):
        packed = codec.pack(np.load(folder / f"output_{prefix}simcc_x.npy"), np.load(folder / f"output_{prefix}simcc_y.npy"))
        decoded = codec.decode(packed)
        np.testing.assert_array_equal(decoded.keypoints, np.load(folder / f"{prefix}keypoints.npy"))
        np.testing.assert_array_equal(decoded.scores, np.load(folder / f"{prefix}scores.npy"))


def test_simcc_decode_invalid_points_ties_and_split():
    from posekit.codec import SimCCCodec

    codec = SimCCCodec((4, 3), split_ratio=2.0, num_keypoints=2)  # 8 x bins, 6 y bins
    x = np.zeros((1, 3, 8), np.float32)
    y = np.zeros((1, 3, 6), np.float32)
    x[0, 0, [2, 5]] = 0.7  # a tie: the first maximum
    y[0, 0, 4] = 0.3
    x[0, 1] = -0.3  # every logit <= 0: invalid, bins -1, score kept
    x[0, 1, 1] = -0.1
    y[0, 1] = -0.05
    decoded = codec.decode(codec.pack(x, y))
    assert decoded.keypoints.shape == (1, 2, 2)  # the third keypoint is beyond num_keypoints
    np.testing.assert_array_equal(decoded.keypoints[0], [[1.0, 2.0], [-0.5, -0.5]])
    np.testing.assert_allclose(decoded.scores[0], [0.3, -0.1])
    with pytest.raises(ValueError, match="bins"):
        codec.decode(np.zeros((1, 2, 13)))
    with pytest.raises(ValueError, match="do not match"):
        codec.pack(x, y[..., :5])


def test_simcc_flip_merge_reverses_x_and_swaps_channels():
    from posekit.codec import SimCCCodec

    codec = SimCCCodec((4, 2), split_ratio=1.0)  # 4 x bins, 2 y bins
    plain = codec.pack(np.zeros((1, 2, 4)), np.zeros((1, 2, 2)))
    fx = np.zeros((1, 2, 4))
    fy = np.zeros((1, 2, 2))
    fx[0, 0, 0] = 1.0  # the mirrored crop's keypoint 0 at x bin 0 ...
    fy[0, 0, 1] = 1.0
    merged = codec.merge_flipped(plain, codec.pack(fx, fy), np.array([1, 0]))
    x, y = codec.split(merged)
    np.testing.assert_array_equal(x[0, 1], [0, 0, 0, 0.5])  # ... is keypoint 1 at bin 3 (= 4 - 1 - 0), no shift
    np.testing.assert_array_equal(y[0, 1], [0, 0.5])
    assert not x[0, 0].any()


def test_simcc_encode_gaussians_and_weights():
    from posekit.codec import SimCCCodec

    codec = SimCCCodec((192, 256), split_ratio=2.0, sigma=(4.9, 5.66))
    kp = np.array([[50.3, 100.75], [10.0, 20.0], [-40.0, 50.0], [96.0, 128.0]])
    packed, weights = codec.encode(kp, np.array([1.0, 0.0, 1.0, 2.0]))
    assert packed.shape == (4, 384 + 512) and packed.dtype == np.float32 and weights.dtype == np.float32
    target_x, target_y = codec.split(packed[None])
    target_x, target_y = target_x[0], target_y[0]
    assert target_x.shape == (4, 384) and target_y.shape == (4, 512) and target_x.dtype == np.float32
    # labelled (> 0) weighs 1, as HeatmapCodec.encode; unlabelled and window off the vector weigh 0
    np.testing.assert_array_equal(weights, [1.0, 0.0, 0.0, 1.0])
    assert target_x[0].argmax() == 101 and target_y[0].argmax() == 202  # round(50.3 * 2), round(201.5) = 202 (half to even)
    assert target_x[0].max() == 1.0
    np.testing.assert_allclose(target_x[0, 101 + 5], np.exp(-25 / (2 * 4.9**2)), rtol=1e-6)
    assert not target_x[1].any() and not target_x[2].any() and not target_y[2].any()
    # a decode of the targets gives the keypoints back to half a pixel
    decoded = codec.decode(codec.pack(target_x[None], target_y[None]))
    np.testing.assert_allclose(decoded.keypoints[0, [0, 3]], [[50.5, 101.0], [96.0, 128.0]])


def test_heatmap_and_simcc_codecs_share_the_encode_interface():
    """encode(keypoints (K, 2), visible (K,)) -> (target (K, ...), weight (K,)) for both kinds: labelled means
    visible > 0, a target off the map / vectors weighs 0, the rest weigh 1; the SimCC target is packed."""
    from posekit.codec import HeatmapCodec, SimCCCodec, make_codec
    from posekit.spec import PoseModelSpec

    kp = np.array([[50.3, 100.75], [10.0, 20.0], [-100.0, -100.0], [96.0, 128.0]])
    vis = np.array([1.0, 0.0, 1.0, 0.3])
    heat = make_codec(PoseModelSpec(input_size=(192, 256)))
    simcc = make_codec(PoseModelSpec(input_size=(192, 256), output="simcc", simcc_sigma=(4.9, 5.66)))
    assert isinstance(heat, HeatmapCodec) and isinstance(simcc, SimCCCodec)
    for codec, shape in ((heat, (4, 64, 48)), (simcc, (4, 384 + 512))):
        target, weight = codec.encode(kp, vis)
        assert target.shape == shape and target.dtype == np.float32 and weight.dtype == np.float32
        np.testing.assert_array_equal(weight, [1.0, 0.0, 0.0, 1.0])
        assert not target[1].any() and not target[2].any() and target[0].max() == target[3].max() == 1.0
