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


def test_detector_and_one_stage_specs_share_the_image_input_contract():
    """Both inherit ImageInputSpec's fields, checks and normalise; only their defaults differ."""
    import dataclasses

    from posekit.spec import RTMO_SPEC, YOLO_POSE_SPEC, ImageInputSpec, OneStageSpec

    shared = [f.name for f in dataclasses.fields(ImageInputSpec)]
    assert shared == ["input_size", "resize", "pad_value", "interpolation", "channel_order", "mean", "std"]
    for cls in (DetectorSpec, OneStageSpec):
        assert issubclass(cls, ImageInputSpec)
        assert [f.name for f in dataclasses.fields(cls)][: len(shared)] == shared
    det, one = DetectorSpec(input_size=(320, 320)), OneStageSpec(input_size=(640, 640))
    assert (det.resize, det.channel_order, det.mean, det.std) == ("letterbox_topleft", "BGR", None, None)
    assert (one.resize, one.channel_order, one.mean, one.std) == ("letterbox_yolo", "RGB", (0.0,) * 3, (255.0,) * 3)
    assert YOLO_POSE_SPEC == one and RTMO_SPEC.resize == "warp_center" and RTMO_SPEC.mean is None
    with pytest.raises(ValueError, match="resize"):
        OneStageSpec(input_size=(640, 640), resize="crop")
    with pytest.raises(ValueError, match="decoder"):
        OneStageSpec(input_size=(640, 640), decoder="yolox_grid")  # a detector decoder is not a one-stage one
    with pytest.raises(ValueError, match="max_people"):
        OneStageSpec(input_size=(640, 640), max_people=0)
    assert isinstance(one.with_(max_people=5), OneStageSpec) and isinstance(det.with_(pad_value=0), DetectorSpec)
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(one.normalise(image), image[..., ::-1].transpose(2, 0, 1)[None] / np.float32(255))
