"""Tests for posekit.detect.onnx_detectors (YOLOX-nano, RTMDet-nano, PP-PicoDet) on real images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.detect.onnx_detectors import DetectorConfig, yolox_grid_decode
from posekit.factory import build_detector
from posekit.io import read_image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_yolox_grid_decode_by_hand():
    # 64x64 input: strides 8, 16, 32 give 8x8, 4x4, 2x2 cells = 84 rows
    raw = np.zeros((84, 6), np.float32)
    row = 64 + 1 * 4 + 2  # stride 16, cell x=2, y=1
    raw[row, :4] = (0.5, 0.25, math.log(2.0), 0.0)
    raw[row, 4:] = (0.9, 0.8)
    out = yolox_grid_decode(raw, (64, 64))
    np.testing.assert_allclose(out[row], [(0.5 + 2) * 16, (0.25 + 1) * 16, 32, 16, 0.9, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out[9, :2], [1 * 8, 1 * 8])  # stride 8, cell (1, 1), zero offsets
    np.testing.assert_allclose(out[83, :4], [1 * 32, 1 * 32, 32, 32])  # last stride-32 cell (1, 1), w = exp(0) * 32
    with pytest.raises(ValueError, match="rows"):
        yolox_grid_decode(raw[:80], (64, 64))


@pytest.fixture(scope="module")
def person_image(shared_dir):
    return read_image(shared_dir / "data" / "samples" / "person.jpg")


@pytest.mark.parametrize("name", ["yolox_nano", "rtmdet_nano", "picodet_s_320", "picodet_s_192"])
def test_detector_finds_the_person(name, models_dir, person_image):
    det = build_detector(name, models_dir=models_dir, num_threads=1)
    boxes, scores = det(person_image)
    h, w = person_image.shape[:2]
    assert boxes.dtype == np.float32 and boxes.shape[1] == 4 and len(boxes) == len(scores) >= 1
    assert np.all(np.diff(scores) <= 0)  # sorted
    assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= w).all()
    assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= h).all()
    assert scores[0] > 0.5
    # the standing person of samples/person.jpg (checked by eye): about x 188..276, y 97..371
    assert iou(boxes[0], np.array([188.0, 97.0, 276.0, 371.0])) > 0.85


def test_letterbox_mapping_follows_the_image(models_dir, person_image):
    """Padding the photo on the left/top moves the detected box by exactly the padding."""
    det = build_detector("yolox_nano", models_dir=models_dir, num_threads=1)
    h, w = person_image.shape[:2]
    canvas = np.full((h + 300, w + 100, 3), 114, np.uint8)  # taller: a different letterbox scale
    canvas[300:, 100:] = person_image
    b0 = det(person_image)[0][0]
    b1 = det(canvas)[0][0]
    np.testing.assert_allclose(b1 - [100, 300, 100, 300], b0, atol=6.0)


def test_detector_thresholds(models_dir, person_image):
    strict = build_detector("yolox_nano", models_dir=models_dir, config=DetectorConfig(conf_thresh=0.99))
    boxes, scores = strict(person_image)
    assert len(boxes) == 0 and boxes.shape == (0, 4)


def test_build_detector_errors_and_callables(models_dir):
    def fn(image):
        return np.zeros((0, 4)), np.zeros(0)

    assert build_detector(fn) is fn
    with pytest.raises(ValueError, match="yolox_nano"):
        build_detector("ssd", models_dir=models_dir)
    with pytest.raises(ValueError, match="detector-checkpoint"):
        build_detector("yolov3_spp", models_dir=models_dir)


@pytest.mark.parametrize("name", ["picodet_s_320", "picodet_s_192"])
def test_picodet_contract(name, models_dir, person_image):
    """Stretch resize (no letterbox), RGB + ImageNet normalisation, decoded boxes + scores without NMS inside."""
    from posekit.detect.onnx_detectors import detector_input

    det = build_detector(name, models_dir=models_dir, num_threads=1)
    spec = det.spec
    assert spec.resize == "stretch" and spec.interpolation == "cubic" and spec.decoder == "boxes_scores"
    x, lb = detector_input(person_image, spec)
    size = spec.input_size[0]
    assert x.shape == (1, 3, size, size) and x.dtype == np.float32
    outputs = det.session.run(None, {det.input_name: x})
    rows = {"picodet_s_320": 2125, "picodet_s_192": 765}[name]
    assert outputs[0].shape == (1, rows, 4) and outputs[1].shape == (1, 1, rows)
    # stretching a wider canvas moves and scales the box with the image
    h, w = person_image.shape[:2]
    pad = w // 3
    canvas = np.zeros((h, w + pad, 3), np.uint8)
    canvas[:, pad:] = person_image
    b0 = det(person_image)[0][0]
    b1 = det(canvas)[0][0]
    assert iou(b1 - [pad, 0, pad, 0], b0) > 0.8
    # NMS happens on our side: no two kept boxes overlap more than the threshold
    boxes, _ = det(person_image)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert iou(boxes[i], boxes[j]) < det.config.nms_thresh
