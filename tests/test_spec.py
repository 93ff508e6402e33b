"""Tests for posekit.spec: the model contracts."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.spec import IMAGENET_MEAN, IMAGENET_STD, CropConfig, DetectorSpec, PoseModelSpec, normalise_pixels


def test_pose_spec_properties_json_round_trip_and_validation():
    spec = PoseModelSpec(input_size=(192, 256))
    assert PoseModelSpec.from_json(spec.to_json()) == spec
    assert spec.aspect_ratio == pytest.approx(0.75)
    assert spec.heatmap_size == (48, 64)
    assert spec.mean == IMAGENET_MEAN and spec.std == IMAGENET_STD
    assert spec.with_(decode="dark").decode == "dark" and spec.decode == "hrnet"
    for field, bad, message in [("layout", "CHW", "layout"), ("channel_order", "RGBA", "channel_order"),
                                ("output", "pafs", "output"), ("std", None, "mean and std")]:
        with pytest.raises(ValueError, match=message):
            PoseModelSpec(input_size=(1, 1), **{field: bad})
    with pytest.raises(ValueError, match="crop mode"):
        CropConfig(mode="square")


def test_detector_spec_validation():
    with pytest.raises(ValueError, match="resize"):
        DetectorSpec(input_size=(320, 320), resize="crop")
    with pytest.raises(ValueError, match="decoder"):
        DetectorSpec(input_size=(320, 320), decoder="ssd")
    with pytest.raises(ValueError, match="channel_order"):
        DetectorSpec(input_size=(320, 320), channel_order="GBR")
    with pytest.raises(ValueError, match="interpolation"):
        DetectorSpec(input_size=(320, 320), interpolation="lanczos9")


def test_detector_spec_normalise():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0] = 10  # blue
    image[..., 2] = 200  # red
    raw = DetectorSpec(input_size=(3, 2)).normalise(image)
    assert raw.shape == (1, 3, 2, 3) and raw.dtype == np.float32
    assert raw[0, 0, 0, 0] == 10 and raw[0, 2, 0, 0] == 200  # BGR kept
    rgb = DetectorSpec(input_size=(3, 2), channel_order="RGB", mean=IMAGENET_MEAN, std=IMAGENET_STD).normalise(image)
    np.testing.assert_allclose(rgb[0, 0, 0, 0], (200 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], rtol=1e-6)
    np.testing.assert_allclose(rgb[0, 2, 0, 0], (10 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], rtol=1e-6)


def test_normalise_pixels_keeps_raw_dtype_without_mean():
    x = np.full((1, 2, 2, 3), 7, np.uint8)
    assert normalise_pixels(x, "RGB", None, None).dtype == np.uint8
    assert normalise_pixels(x, "BGR", (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)).dtype == np.float32
