"""Tests for posekit.draw."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH, draw_poses, track_color
from posekit.structures import Poses


def _one_pose(score: float | np.ndarray, track_id: int = -1, pose_score: float = 1.0) -> Poses:
    """One person with keypoints on a diagonal from (20, 10) to (80, 90), box (10, 5)-(90, 95)."""
    kp = np.stack([np.linspace(20, 80, 17), np.linspace(10, 90, 17)], axis=1)
    ks = np.broadcast_to(np.asarray(score, np.float32), (17,))
    return Poses([[10, 5, 90, 95]], [0.9], kp[None], ks[None], [pose_score], track_ids=[track_id])


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


def test_defaults_are_sane():
    assert 0.0 < DEFAULT_POSE_THRESH < 1.0 and 0.0 < DEFAULT_KEYPOINT_THRESH < 1.0


@pytest.mark.parametrize("pose_score", [0.05, DEFAULT_POSE_THRESH - 0.01])
def test_pose_below_pose_threshold_is_not_drawn(pose_score):
    img = np.full((100, 100, 3), 7, np.uint8)
    out = draw_poses(img, _one_pose(0.9, track_id=3, pose_score=pose_score))
    np.testing.assert_array_equal(out, img)  # no box, skeleton, dot or id


def test_pose_at_or_above_pose_threshold_is_drawn():
    img = np.zeros((100, 100, 3), np.uint8)
    assert draw_poses(img, _one_pose(0.9, pose_score=DEFAULT_POSE_THRESH)).max() > 0
    assert draw_poses(img, _one_pose(0.9, pose_score=0.5), pose_thresh=0.6).max() == 0
    assert draw_poses(img, _one_pose(0.9, pose_score=0.5), pose_thresh=0.4).max() > 0
    assert draw_poses(img, _one_pose(0.9, pose_score=0.01), pose_thresh=0).max() > 0  # 0 draws every pose


def test_only_the_confident_one_of_two_poses_is_drawn():
    a, b = _one_pose(0.9, pose_score=0.9), _one_pose(0.9, pose_score=0.05)
    shifted = b.replace(keypoints=b.keypoints + [100, 0], boxes=b.boxes + [100, 0, 100, 0])
    img = np.zeros((100, 200, 3), np.uint8)
    out = draw_poses(img, Poses.concat([a, shifted]))
    assert out[:, :100].max() > 0 and out[:, 101:].max() == 0


def test_keypoint_below_keypoint_threshold_is_not_drawn():
    img = np.zeros((100, 100, 3), np.uint8)
    scores = np.full(17, 0.9)
    scores[0] = 0.1  # keypoint 0 (nose, at (20, 10)) low; keypoint 16 (at (80, 90)) high
    out = draw_poses(img, _one_pose(scores), draw_boxes=False)
    assert out[90, 80].min() > 200  # the visible keypoint's dot
    np.testing.assert_array_equal(out[10, 20], img[10, 20])  # nothing at the low keypoint
    # its own threshold: at 0.05 the same keypoint is drawn
    assert draw_poses(img, _one_pose(scores), draw_boxes=False, keypoint_thresh=0.05)[10, 20].min() > 200


def test_pose_with_all_keypoints_below_threshold_draws_nothing():
    img = np.full((100, 100, 3), 7, np.uint8)
    out = draw_poses(img, _one_pose(0.1, track_id=4, pose_score=0.9))
    np.testing.assert_array_equal(out, img)  # no empty box, no id label
    out = draw_poses(img, _one_pose(0.1, pose_score=0.9), keypoint_thresh=0.05)
    assert not np.array_equal(out, img)  # the same pose with a lower keypoint threshold is drawn, box included
    assert (out[5, 10:90] != 7).any()  # top edge of the box


def test_draw_empty_and_track_colors():
    img = np.full((20, 20, 3), 5, np.uint8)
    np.testing.assert_array_equal(draw_poses(img, Poses.empty()), img)
    assert track_color(3) == track_color(3)
    assert len({track_color(i) for i in range(10)}) == 10
    out = draw_poses(np.zeros((100, 100, 3), np.uint8), _one_pose(0.9, track_id=7))
    assert out.max() > 0


def test_thresholds_are_keyword_only():
    img = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(TypeError):
        draw_poses(img, _one_pose(0.9), 0.3)  # type: ignore[misc]
