"""Tests for posekit.detect.postprocess (YOLO post-processing, AlphaPose-faithful)."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.detect.postprocess import YoloPostprocessConfig, nms, yolo_postprocess
from posekit.geometry import box_iou


def _row(cx, cy, w, h, obj, cls):
    return [cx, cy, w, h, obj, *cls]


# ----------------------------------------------------------------------------- nms


def test_nms_iou_equal_to_threshold_is_suppressed():
    # IoU exactly 0.5: intersection 2, areas 3 and 3, union 4
    boxes = np.array([[0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 4.0, 1.0]])
    scores = np.array([0.9, 0.8])
    assert box_iou(boxes[:1], boxes[1:])[0, 0] == 0.5
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5000001), [0, 1])


def test_nms_plus_one_boundary():
    # inclusive pixels: widths 3, 3; intersection 2 -> IoU 2 / 4 = 0.5
    boxes = np.array([[0.0, 0.0, 2.0, 0.0], [1.0, 0.0, 3.0, 0.0]])
    scores = np.array([0.8, 0.9])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, plus_one=True), [1])
    np.testing.assert_array_equal(nms(boxes, scores, 0.6, plus_one=True), [1, 0])
    # continuous convention: widths 2, 2, height 0 -> IoU 0, both kept
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [1, 0])


def test_nms_order_and_stable_ties():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [200, 0, 210, 10], [1, 0, 11, 10]], dtype=float)
    scores = np.array([0.5, 0.7, 0.7, 0.6])
    # ties (indices 1, 2) keep input order; box 3 overlaps box 0 (IoU 90/110) and wins
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [1, 2, 3])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


# ----------------------------------------------------------------------------- yolo_postprocess


def test_xywh_to_xyxy_and_scores():
    pred = np.array([_row(50, 60, 20, 40, 0.9, [0.8, 0.1])], dtype=np.float32)
    boxes, scores = yolo_postprocess(pred)
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[40, 40, 60, 80]])
    np.testing.assert_allclose(scores, [0.9])
    _, scores = yolo_postprocess(pred, score_mode="obj_cls")
    np.testing.assert_allclose(scores, [0.9 * 0.8], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conf_equal_to_threshold_is_dropped(dtype):
    pred = np.array(
        [
            _row(10, 10, 4, 4, 0.05, [0.9]),  # conf == thresh -> dropped
            _row(50, 10, 4, 4, 0.0500001, [0.9]),  # just above -> kept
            _row(90, 10, 4, 4, 0.01, [0.9]),  # below -> dropped
        ],
        dtype=dtype,
    )
    boxes, scores = yolo_postprocess(pred, conf_thresh=0.05)
    assert boxes.shape == (1, 4)
    np.testing.assert_array_equal(boxes[0], [48, 8, 52, 12])


def test_conf_boundary_obj_cls_mode():
    # 0.5 * 0.1 == 0.05 exactly in float64 -> dropped; obj alone (0.5) would pass
    pred = np.array([_row(10, 10, 4, 4, 0.5, [0.1, 0.05])], dtype=np.float64)
    assert yolo_postprocess(pred, score_mode="obj_cls")[0].shape == (0, 4)
    assert yolo_postprocess(pred, score_mode="obj")[0].shape == (1, 4)


def test_non_person_best_class_dropped():
    pred = np.array(
        [
            _row(10, 10, 4, 4, 0.99, [0.3, 0.9]),  # best class 1 -> dropped for class 0
            _row(50, 10, 4, 4, 0.40, [0.6, 0.5]),  # person
        ],
        dtype=np.float64,
    )
    boxes, scores = yolo_postprocess(pred)
    np.testing.assert_array_equal(boxes, [[48, 8, 52, 12]])
    np.testing.assert_allclose(scores, [0.4])
    boxes, scores = yolo_postprocess(pred, class_id=1)
    np.testing.assert_array_equal(boxes, [[8, 8, 12, 12]])
    np.testing.assert_allclose(scores, [0.99])


def test_sorted_by_conf_and_score_mode_changes_order():
    pred = np.array(
        [
            _row(10, 10, 4, 4, 0.60, [0.5]),
            _row(50, 10, 4, 4, 0.90, [0.5]),
            _row(90, 10, 4, 4, 0.80, [0.9]),
        ],
        dtype=np.float64,
    )
    boxes, scores = yolo_postprocess(pred)
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.6])
    np.testing.assert_array_equal(boxes[:, 0], [48, 88, 8])
    boxes, scores = yolo_postprocess(pred, score_mode="obj_cls")
    np.testing.assert_allclose(scores, [0.72, 0.45, 0.30])
    np.testing.assert_array_equal(boxes[:, 0], [88, 48, 8])


def test_nms_inside_postprocess_uses_obj_order():
    # two overlapping persons (IoU 0.8): the higher objectness survives
    pred = np.array([_row(10, 10, 10, 10, 0.5, [0.9]), _row(11, 10, 10, 10, 0.7, [0.9])], dtype=np.float64)
    boxes, scores = yolo_postprocess(pred, nms_thresh=0.6)
    np.testing.assert_allclose(scores, [0.7])
    np.testing.assert_array_equal(boxes, [[6, 5, 16, 15]])


def _chain(n: int) -> np.ndarray:
    """``n`` person boxes 3.8 wide at unit x-steps: adjacent IoU 2.8/4.8 ~ 0.583,
    two apart 1.8/5.8 ~ 0.31, scores decreasing along the chain."""
    i = np.arange(n, dtype=np.float64)
    rows = np.zeros((n, 6))
    rows[:, 0] = i + 1.9  # cx -> x1 = i, x2 = i + 3.8
    rows[:, 1] = 5.0
    rows[:, 2] = 3.8
    rows[:, 3] = 10.0
    rows[:, 4] = 0.9 - 0.001 * i
    rows[:, 5] = 1.0
    return rows


def test_chain_ious_are_what_the_retry_test_assumes():
    boxes = np.array([[0, 0, 3.8, 10], [1, 0, 4.8, 10], [2, 0, 5.8, 10]])
    iou = box_iou(boxes, boxes)
    assert 0.55 < iou[0, 1] < 0.6
    assert iou[0, 2] < 0.55


def test_retry_not_triggered_at_max_boxes():
    boxes, scores = yolo_postprocess(_chain(100), nms_thresh=0.6)
    assert boxes.shape == (100, 4)  # all adjacent IoUs < 0.6: nothing suppressed, 100 is not > 100


def test_retry_when_more_than_max_boxes_survive():
    # first pass at 0.6 keeps all 101 (> 100) -> redo at 0.55: every other box survives
    boxes, scores = yolo_postprocess(_chain(101), nms_thresh=0.6)
    assert boxes.shape == (51, 4)
    np.testing.assert_allclose(boxes[:, 0], np.arange(0, 101, 2), atol=1e-5)
    assert np.all(np.diff(scores) < 0)
    # without the retry (larger max_boxes) all are kept
    assert yolo_postprocess(_chain(101), nms_thresh=0.6, max_boxes=101)[0].shape == (101, 4)
    # the retry happens only once: at 0.55 still > 10 survive, but no second retry
    assert yolo_postprocess(_chain(101), nms_thresh=0.6, max_boxes=10)[0].shape == (51, 4)


def test_config_object_overrides_keywords():
    cfg = YoloPostprocessConfig(nms_thresh=0.6, max_boxes=50, retry_step=0.05)
    assert yolo_postprocess(_chain(60), config=cfg)[0].shape == (30, 4)
    with pytest.raises(ValueError):
        YoloPostprocessConfig(score_mode="cls")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        cfg.nms_thresh = 0.5  # type: ignore[misc]


def test_empty_inputs():
    for pred in (np.zeros((0, 85), dtype=np.float32), np.zeros((0,))):
        boxes, scores = yolo_postprocess(pred)
        assert boxes.shape == (0, 4) and scores.shape == (0,)
        assert boxes.dtype == np.float32 and scores.dtype == np.float32
    # everything below threshold
    boxes, scores = yolo_postprocess(np.array([_row(1, 1, 1, 1, 0.01, [0.9])]))
    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_input_not_modified():
    pred = _chain(5)
    before = pred.copy()
    yolo_postprocess(pred)
    np.testing.assert_array_equal(pred, before)
