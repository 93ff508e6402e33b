"""Yolov3Detector end to end on a real image with synthetic weights.

Synthetic weights detect nothing meaningful, so this checks the plumbing:
shapes, dtypes, clamping to the image, sorting, torch vs ONNX agreement, the
input formats (.weights / .pth / .onnx) and errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import testdata

from posekit.detect.yolov3 import Yolov3Detector, yolov3_preprocess

SIZE = 320


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img = cv2.imread(str(testdata.PERSON_IMAGE))
    assert img is not None
    return img


@pytest.fixture(scope="module")
def weights_file(fixtures_dir: Path, tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    import synth as sw

    d = fixtures_dir / "yolov3_spp_320"
    sd = sw.fixture_state(d)
    # Make class 0 (person) the best class of the 300 stride-32 rows, so that large boxes
    # reach NMS and the clamping; the fixture weights alone never pick class 0.
    bias = sd["module_list.88.conv_88.bias"]
    for anchor in range(3):
        bias[anchor * 85 + 5] += 8.0
    path = tmp_path_factory.mktemp("yolo") / "synth.weights"
    sw.write_darknet_weights(sd, json.loads((d / "weights_layout.json").read_text()), path)
    return path


@pytest.fixture(scope="module")
def torch_detector(weights_file: Path) -> Yolov3Detector:
    return Yolov3Detector(weights_file, input_size=SIZE, runtime="torch")


def _check_detections(boxes: np.ndarray, scores: np.ndarray, image: np.ndarray, conf: float) -> None:
    h, w = image.shape[:2]
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and scores.shape == (boxes.shape[0],)
    assert np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores))
    assert np.all(boxes[:, [0, 2]] >= 0) and np.all(boxes[:, [0, 2]] <= w)
    assert np.all(boxes[:, [1, 3]] >= 0) and np.all(boxes[:, [1, 3]] <= h)
    assert np.all(boxes[:, 2] >= boxes[:, 0]) and np.all(boxes[:, 3] >= boxes[:, 1])
    assert np.all(scores > conf) and np.all(scores <= 1)
    assert np.all(np.diff(scores) <= 0)


def test_preprocess_is_alphapose_letterbox(image: np.ndarray):
    x, lb = yolov3_preprocess(image, SIZE)
    h, w = image.shape[:2]
    assert x.shape == (1, 3, SIZE, SIZE) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert lb.scale == pytest.approx(min(SIZE / w, SIZE / h))
    # Centred padding with value 128 (same in all channels).
    new_w, new_h = int(w * lb.scale), int(h * lb.scale)
    px, py = (SIZE - new_w) // 2, (SIZE - new_h) // 2
    assert lb.pad == (px, py)
    if py > 0:
        assert np.all(x[0, :, :py, :] == np.float32(128) / np.float32(255))
    if px > 0:
        assert np.all(x[0, :, :, :px] == np.float32(128) / np.float32(255))
    # RGB order: channel 0 is the image's red (BGR index 2), resized with cubic interpolation.
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(x[0, 0, py : py + new_h, px : px + new_w], resized[:, :, 2] / np.float32(255))
    with pytest.raises(ValueError, match="H, W, 3"):
        yolov3_preprocess(image[:, :, 0], SIZE)


@pytest.mark.slow
def test_torch_detector_end_to_end(torch_detector: Yolov3Detector, image: np.ndarray):
    boxes, scores = torch_detector(image)
    _check_detections(boxes, scores, image, torch_detector.conf_thresh)
    assert len(boxes) > 0  # objectness is >= 0.39 everywhere and class 0 was boosted
    # Boxes that reach beyond the image were clamped onto its border.
    h, w = image.shape[:2]
    assert np.any(boxes[:, :2] == 0) and (np.any(boxes[:, 2] == w) or np.any(boxes[:, 3] == h))
    # A higher threshold keeps fewer boxes.
    thresh = float(np.median(scores))
    torch_detector.conf_thresh = thresh
    try:
        b2, s2 = torch_detector(image)
    finally:
        torch_detector.conf_thresh = 0.05
    _check_detections(b2, s2, image, thresh)
    assert 0 < len(s2) < len(scores)


@pytest.mark.slow
def test_onnx_detector_matches_torch(torch_detector: Yolov3Detector, weights_file: Path, image, tmp_path: Path):
    cache = tmp_path / "cache"
    onnx_det = Yolov3Detector(weights_file, input_size=SIZE, runtime="onnx", cache_dir=cache)
    boxes, scores = onnx_det(image)
    _check_detections(boxes, scores, image, onnx_det.conf_thresh)
    ref_boxes, ref_scores = torch_detector(image)
    assert boxes.shape == ref_boxes.shape
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)
    np.testing.assert_allclose(boxes, ref_boxes, rtol=0, atol=1e-2)

    # The export was cached and a ready .onnx file works on its own.
    (onnx_file,) = cache.glob("*.onnx")
    from_file = Yolov3Detector(onnx_file, input_size=SIZE)
    b3, s3 = from_file(image)
    np.testing.assert_array_equal(b3, boxes)
    np.testing.assert_array_equal(s3, scores)
    with pytest.raises(ValueError, match="320x320"):
        Yolov3Detector(onnx_file, input_size=416)
    with pytest.raises(ValueError, match="runtime='onnx'"):
        Yolov3Detector(onnx_file, input_size=SIZE, runtime="torch")


def test_pth_weights(torch_detector: Yolov3Detector, tmp_path: Path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "yolo.pth"
    torch.save(torch_detector._model.state_dict(), path)
    det = Yolov3Detector(path, input_size=SIZE, runtime="torch")
    ours, ref = det._model.state_dict(), torch_detector._model.state_dict()
    assert list(ours) == list(ref)
    assert all(torch.equal(ours[k], ref[k]) for k in ref)


def test_constructor_errors(weights_file: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="multiple of 32"):
        Yolov3Detector(weights_file, input_size=300)
    with pytest.raises(ValueError, match="runtime"):
        Yolov3Detector(weights_file, input_size=SIZE, runtime="tensorrt")
    with pytest.raises(FileNotFoundError):
        Yolov3Detector(tmp_path / "missing.weights", input_size=SIZE)
    bad = tmp_path / "bad.weights"
    bad.write_bytes(np.array([0, 2, 0, 0, 0], "<i4").tobytes() + b"\0" * 400)
    with pytest.raises(ValueError, match="bad.weights.*expected 63052381"):
        Yolov3Detector(bad, input_size=SIZE, runtime="torch")


def test_module_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import posekit.detect.yolov3 as m\n"
        "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
