"""Tests for posekit.detect.budget: which boxes get a pose crop."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.detect.budget import CropBudget, select_boxes

BOXES = np.array([[0, 0, 10, 40], [0, 0, 50, 100], [5, 5, 8, 60], [0, 0, 30, 30], [1, 1, 41, 41]], np.float32)
SCORES = np.array([0.9, 0.15, 0.6, 0.6, 0.05])


def test_default_budget_keeps_every_box_best_first():
    boxes, scores = select_boxes(BOXES, SCORES, CropBudget())
    assert len(boxes) == 5
    np.testing.assert_array_equal(scores, [0.9, 0.6, 0.6, 0.15, 0.05])
    np.testing.assert_array_equal(boxes[1], BOXES[2])  # equal scores keep input order
    np.testing.assert_array_equal(boxes[2], BOXES[3])


def test_min_score_min_size_and_cap():
    boxes, scores = select_boxes(BOXES, SCORES, CropBudget(min_score=0.1))
    np.testing.assert_array_equal(scores, [0.9, 0.6, 0.6, 0.15])
    boxes, scores = select_boxes(BOXES, SCORES, CropBudget(min_size=5))  # box 2 is 3 px wide
    assert not any(np.array_equal(b, BOXES[2]) for b in boxes) and len(boxes) == 4
    boxes, scores = select_boxes(BOXES, SCORES, CropBudget(min_score=0.1, max_crops=2))
    np.testing.assert_array_equal(boxes, BOXES[[0, 2]])
    boxes, scores = select_boxes(BOXES, SCORES, CropBudget(max_crops=0))
    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_empty_and_invalid():
    boxes, scores = select_boxes(np.zeros((0, 4)), np.zeros(0), CropBudget(min_score=0.5, max_crops=3))
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    with pytest.raises(ValueError, match="scores"):
        select_boxes(BOXES, SCORES[:2], CropBudget())
    with pytest.raises(ValueError, match="max_crops"):
        CropBudget(max_crops=-1)


def test_estimator_detect_applies_the_budget():
    from posekit.pipeline import PoseEstimator

    class Model:
        from posekit.spec import PoseModelSpec

        spec = PoseModelSpec(input_size=(48, 64))

        def run(self, x):
            return np.zeros((len(x), 17, 16, 12), np.float32)

    est = PoseEstimator(lambda image: (BOXES, SCORES), Model(), crop_budget=CropBudget(min_score=0.5, max_crops=2))
    boxes, scores = est.detect(np.zeros((100, 100, 3), np.uint8))
    np.testing.assert_array_equal(scores, [0.9, 0.6])
    est(np.zeros((100, 100, 3), np.uint8))
    assert est.crops_run == 2


def test_near_duplicates_relative_score_and_score_mass():
    boxes = np.array([[0, 0, 10, 20], [0, 0, 10, 19], [50, 50, 60, 70], [1, 0, 11, 20], [80, 0, 90, 20]], np.float32)
    scores = np.array([0.9, 0.8, 0.5, 0.3, 0.1])
    # IoU(0, 1) = 0.95 and IoU(0, 3) = 0.82: dropped at 0.8, kept at 0.96
    kept, s = select_boxes(boxes, scores, CropBudget(max_overlap=0.8))
    np.testing.assert_array_equal(s, [0.9, 0.5, 0.1])
    assert len(select_boxes(boxes, scores, CropBudget(max_overlap=0.96))[0]) == 5
    # below 0.4 x the best score (0.36): 0.3 and 0.1 go
    np.testing.assert_array_equal(select_boxes(boxes, scores, CropBudget(min_relative_score=0.4))[1], [0.9, 0.8, 0.5])
    # score mass: 0.9 + 0.8 = 1.7 of 2.6 is 65 %: 0.65 keeps 2, 0.66 keeps 3, 1.0 keeps all
    assert len(select_boxes(boxes, scores, CropBudget(score_mass=0.65))[0]) == 2
    assert len(select_boxes(boxes, scores, CropBudget(score_mass=0.66))[0]) == 3
    assert len(select_boxes(boxes, scores, CropBudget(score_mass=1.0))[0]) == 5
    assert len(select_boxes(boxes[:1], scores[:1], CropBudget(score_mass=0.1))[0]) == 1
    for bad in ({"max_overlap": 0.0}, {"max_overlap": 1.5}, {"min_relative_score": -0.1}, {"score_mass": 0.0}):
        with pytest.raises(ValueError):
            CropBudget(**bad)
