"""Tests for posekit.draw."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH, draw_poses, track_color
from posekit.schema import COCO_WHOLEBODY
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


# ----------------------------------------------------------------------------- COCO-WholeBody


def _reference_draw(image, poses, *, pose_thresh, keypoint_thresh, thickness=None):
    """``draw_poses`` as it was before whole-body support (COCO-17 drawing must stay pixel-identical)."""
    import cv2

    out = image.copy()
    schema = poses.schema
    t = thickness or max(1, round(max(image.shape[:2]) / 400))
    for i in range(len(poses)):
        kp, ks = poses.keypoints[i], poses.keypoint_scores[i]
        if not (poses.scores[i] >= pose_thresh and (ks >= keypoint_thresh).any()):
            continue
        tid = int(poses.track_ids[i])
        box_color = track_color(tid) if tid >= 0 else (0, 255, 0)
        x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), box_color, t, cv2.LINE_AA)
        for (a, b), color in zip(schema.skeleton, schema.colors):
            if ks[a] >= keypoint_thresh and ks[b] >= keypoint_thresh:
                pa = tuple(int(round(v)) for v in kp[a])
                pb = tuple(int(round(v)) for v in kp[b])
                cv2.line(out, pa, pb, color, t + 1, cv2.LINE_AA)
        for j in range(len(kp)):
            if ks[j] >= keypoint_thresh:
                cv2.circle(out, tuple(int(round(v)) for v in kp[j]), t + 2, (255, 255, 255), -1, cv2.LINE_AA)
        if tid >= 0:
            x1, y1 = int(poses.boxes[i, 0]), int(poses.boxes[i, 1])
            cv2.putText(out, f"id {tid}", (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t + 0.2,
                        box_color, t, cv2.LINE_AA)
    return out


def _coco_people(rng: np.random.Generator) -> tuple[np.ndarray, Poses]:
    """A COCO image and its labelled people as COCO-17 Poses with random scores and track ids."""
    import cv2

    import testdata

    gt = testdata.coco_gt()
    for path in testdata.coco_image_paths():  # the first image with two labelled people or more
        anns = [a for a in gt["annotations"] if a["image_id"] == int(path.stem) and a["num_keypoints"] > 0]
        if len(anns) > 1:
            break
    assert len(anns) > 1
    kp = np.stack([np.asarray(a["keypoints"], np.float64).reshape(17, 3) for a in anns])
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    n = len(anns)
    poses = Poses(boxes, np.full(n, 0.9), kp[..., :2], rng.uniform(0, 1, (n, 17)), rng.uniform(0.1, 1, n),
                  track_ids=np.arange(n) - 1)
    return cv2.imread(str(path)), poses


@pytest.mark.parametrize("thickness", [None, 1, 3])
def test_coco17_drawing_is_unchanged(thickness):
    image, poses = _coco_people(np.random.default_rng(4))
    kwargs = dict(pose_thresh=DEFAULT_POSE_THRESH, keypoint_thresh=DEFAULT_KEYPOINT_THRESH)
    ours = draw_poses(image, poses, thickness=thickness, **kwargs)
    np.testing.assert_array_equal(ours, _reference_draw(image, poses, thickness=thickness, **kwargs))
    assert not np.array_equal(ours, image)


def test_half_pixel_keypoints_round_as_the_reference():
    """Keypoints at x.5 and fractional positions land on the reference drawer's pixels (Python's round: half to
    even), with the rounding done once per person."""
    image, poses = _coco_people(np.random.default_rng(5))
    rng = np.random.default_rng(6)
    jitter = rng.choice([0.5, -0.5, 1.5, 0.25, 0.75, 0.0], poses.keypoints.shape)
    poses = poses.replace(keypoints=poses.keypoints + jitter)
    kwargs = dict(pose_thresh=0.0, keypoint_thresh=0.2)
    np.testing.assert_array_equal(draw_poses(image, poses, **kwargs), _reference_draw(image, poses, **kwargs))


def _wholebody(points: dict[int, tuple[float, float]], box=(20, 20, 380, 380)) -> Poses:
    """One COCO-WholeBody person: only the keypoints in ``points`` (index -> xy) are scored (0.9)."""
    kp = np.zeros((133, 2))
    ks = np.zeros(133)
    for j, xy in points.items():
        kp[j], ks[j] = xy, 0.9
    return Poses([box], [0.9], kp[None], ks[None], [0.9], schema=COCO_WHOLEBODY)


def _painted(out: np.ndarray, xy: tuple[float, float], half: int = 12) -> int:
    x, y = int(xy[0]), int(xy[1])
    return int(np.count_nonzero(out[y - half:y + half + 1, x - half:x + half + 1].max(axis=2)))


@pytest.mark.parametrize("size, box", [(400, (20, 20, 380, 380)), (1200, (100, 100, 1100, 1100)),
                                       (1200, (100, 100, 300, 300))])
def test_face_and_hand_marks_are_smaller_than_body_marks(size, box):
    nose, face, hand = (100.0, 100.0), (200.0, 100.0), (100.0, 200.0)
    poses = _wholebody({0: nose, 23 + 30: face, 91 + 8: hand}, box)  # no limb: no two linked keypoints scored
    out = draw_poses(np.zeros((size, size, 3), np.uint8), poses, draw_boxes=False)
    body, f, h = _painted(out, nose), _painted(out, face), _painted(out, hand)
    assert 0 < f < body and 0 < h < body, (body, f, h)
    assert f <= body / 2


def test_fine_marks_grow_with_the_person_but_stay_below_the_body():
    size = 1200  # t = 3: body dots of radius 5
    small = draw_poses(np.zeros((size, size, 3), np.uint8), _wholebody({53: (600, 600)}, (500, 400, 650, 800)))
    large = draw_poses(np.zeros((size, size, 3), np.uint8), _wholebody({53: (600, 600)}, (100, 50, 1100, 1150)))
    body = draw_poses(np.zeros((size, size, 3), np.uint8), _wholebody({0: (600, 600)}, (100, 50, 1100, 1150)))
    s, g, b = (_painted(o, (600, 600)) for o in (small, large, body))
    assert s < g < b, (s, g, b)


def test_face_points_are_dots_and_hand_links_are_thin():
    # two neighbouring face landmarks far apart: nothing drawn between them (no face lines)
    out = draw_poses(np.zeros((400, 400, 3), np.uint8), _wholebody({23: (100, 100), 24: (200, 100)}),
                     draw_boxes=False)
    assert out[100, 150].max() == 0 and out[100, 100].max() > 0
    # a hand link (root -> thumb 1) vs a body limb (left shoulder -> left elbow), both 100 px long and vertical
    pts = {5: (100, 100), 7: (100, 200), 91: (250, 100), 92: (250, 200)}
    out = draw_poses(np.zeros((400, 400, 3), np.uint8), _wholebody(pts), draw_boxes=False)
    body_width = np.count_nonzero(out[150, 80:120].max(axis=1))
    hand_width = np.count_nonzero(out[150, 230:270].max(axis=1))
    assert 0 < hand_width < body_width, (hand_width, body_width)


def test_wholebody_body_is_drawn_as_coco17():
    """A whole-body pose with only its 17 body keypoints scored draws exactly the COCO-17 pose."""
    image, poses = _coco_people(np.random.default_rng(8))
    kp = np.zeros((len(poses), 133, 2), np.float32)
    ks = np.zeros((len(poses), 133), np.float32)
    kp[:, :17], ks[:, :17] = poses.keypoints, poses.keypoint_scores
    wb = Poses(poses.boxes, poses.box_scores, kp, ks, poses.scores, poses.track_ids, schema=COCO_WHOLEBODY)
    np.testing.assert_array_equal(draw_poses(image, wb), draw_poses(image, poses))
