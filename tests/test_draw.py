"""Tests for posekit.draw."""

from __future__ import annotations

import numpy as np

from posekit.draw import draw_poses, track_color
from posekit.structures import Poses


def _one_pose(score: float, track_id: int = -1) -> Poses:
    kp = np.stack([np.linspace(20, 80, 17), np.linspace(10, 90, 17)], axis=1)
    return Poses([[10, 5, 90, 95]], [0.9], kp[None], np.full((1, 17), score), [1.0], track_ids=[track_id])


def test_draw_poses_draws_and_leaves_input_untouched():
    img = np.zeros((100, 100, 3), np.uint8)
    out = draw_poses(img, _one_pose(0.9))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert img.max() == 0 and out.max() > 0
    # a keypoint dot is drawn in white at its location
    assert out[10, 20].min() > 200


def test_draw_poses_skips_low_score_keypoints():
    img = np.zeros((100, 100, 3), np.uint8)
    out = draw_poses(img, _one_pose(0.1), draw_boxes=False)
    assert out.max() == 0
    boxed = draw_poses(img, _one_pose(0.1))
    assert boxed.max() > 0


def test_draw_empty_and_track_colors():
    img = np.full((20, 20, 3), 5, np.uint8)
    np.testing.assert_array_equal(draw_poses(img, Poses.empty()), img)
    assert track_color(3) == track_color(3)
    assert len({track_color(i) for i in range(10)}) == 10
    out = draw_poses(np.zeros((100, 100, 3), np.uint8), _one_pose(0.9, track_id=7))
    assert out.max() > 0
