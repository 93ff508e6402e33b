"""PoseTracker on hand-made sequences."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.structures import Poses
from posekit.video.tracker import PoseTracker, TrackerConfig, _assign, pose_boxes, similarity_matrix

from videotest_utils import make_poses, person


def run(tracker: PoseTracker, frames: list[list[np.ndarray]], start: int = 0) -> list[np.ndarray]:
    """Track a list of frames (each a list of keypoint arrays); returns the id arrays."""
    return [tracker.update(make_poses(people), start + i).track_ids for i, people in enumerate(frames)]


def id_switches(labels: list[list[int]], ids: list[np.ndarray]) -> int:
    """MOT-style ID switches: a ground-truth person whose (non -1) id changes."""
    last: dict[int, int] = {}
    switches = 0
    for gt, pred in zip(labels, ids):
        for g, p in zip(gt, pred.tolist()):
            if p < 0:
                continue
            if g in last and last[g] != p:
                switches += 1
            last[g] = p
    return switches


def test_single_person_gets_id_after_min_hits() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    ids = run(tracker, [[person(100 + 3 * t, 200)] for t in range(6)])
    assert [int(i[0]) for i in ids] == [-1, -1, 1, 1, 1, 1]
    assert tracker.stats.confirmed == 1


def test_min_hits_one_confirms_immediately() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1, first_id=0))
    ids = run(tracker, [[person(100, 200), person(300, 200)]])
    assert ids[0].tolist() == [0, 1]


def test_crossing_people_keep_their_ids() -> None:
    # A walks right, B walks left, slightly further away (higher, smaller); they cross at t ~ 20.
    frames, labels = [], []
    for t in range(40):
        a = person(100 + 10 * t, 200, 120, phase=0.5 * t)
        b = person(500 - 10 * t, 190, 105, phase=0.5 * t + 1)
        order = [0, 1] if t % 2 else [1, 0]  # detection order must not matter
        people = [a, b]
        frames.append([people[i] for i in order])
        labels.append(order)
    tracker = PoseTracker(TrackerConfig(min_hits=2))
    ids = run(tracker, frames)
    assert id_switches(labels, ids) == 0
    final = dict(zip(labels[-1], ids[-1].tolist()))
    assert final[0] != final[1] and min(final.values()) >= 1
    assert tracker.stats.confirmed == 2


@pytest.mark.parametrize("use_velocity", [True, False])
def test_crossing_at_same_depth_needs_velocity(use_velocity: bool) -> None:
    # Identical people on the same line: at t = 13 each new pose is closer to the
    # *other* person's last pose; only the constant-velocity prediction gets it right.
    frames, labels = [], []
    for t in range(30):
        frames.append([person(200 + 7 * t, 200, 100), person(380 - 7 * t, 200, 100)])
        labels.append([0, 1])
    ids = run(PoseTracker(TrackerConfig(min_hits=1, use_velocity=use_velocity)), frames)
    assert (id_switches(labels, ids) == 0) == use_velocity


def test_occlusion_gap_is_reassociated() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=2, max_misses=15))
    frames = []
    for t in range(40):
        people = [person(400, 200, 110)]  # a still bystander
        if not 15 <= t < 25:  # the walker is hidden for 10 frames
            people.append(person(100 + 2 * t, 220, 120))
        frames.append(people)
    ids = run(tracker, frames)
    before, after = int(ids[14][1]), int(ids[25][1])
    assert before >= 1 and after == before
    assert tracker.stats.reassociated == 1
    assert tracker.stats.confirmed == 2


def test_lost_track_beyond_window_gets_new_id() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1, max_misses=5))
    ids = run(tracker, [[person(100, 200)]] * 3 + [[]] * 6 + [[person(100, 200)]])
    assert int(ids[0][0]) == 1 and int(ids[-1][0]) == 2
    assert tracker.stats.deleted == 1


def test_new_person_entering() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    frames = []
    for t in range(20):
        people = [person(100 + 2 * t, 200)]
        if t >= 8:
            people.append(person(600 - 4 * (t - 8), 210))
        frames.append(people)
    ids = run(tracker, frames)
    assert [len(i) for i in ids[7:9]] == [1, 2]
    assert ids[8][1] == -1 and ids[9][1] == -1  # tentative for two frames
    assert ids[10][1] == 2 and all(i[1] == 2 for i in ids[10:])
    assert all(i[0] == 1 for i in ids[2:])


def test_birth_and_death_counts() -> None:
    cfg = TrackerConfig(min_hits=3, max_misses=4)
    tracker = PoseTracker(cfg)
    frames: list[list[np.ndarray]] = []
    for t in range(30):
        people = []
        if t < 10:
            people.append(person(100 + t, 200))  # leaves at t = 10
        if 5 <= t < 25:
            people.append(person(400, 200 + t))  # from 5 to 24
        if t in (3, 12, 20):
            people.append(person(250, 50 + 10 * t, 60))  # one-frame false positives
        frames.append(people)
    ids = run(tracker, frames)
    stats = tracker.stats
    assert stats.confirmed == 2  # false positives never got an id
    assert stats.discarded == 3
    assert stats.deleted == 2  # both real tracks died: 10 + 4 < 30 and 25 + 4 < 30
    assert len(tracker) == 0 and tracker.live_ids() == frozenset()
    assert sorted({int(i) for frame in ids for i in frame if i >= 0}) == [1, 2]


def test_weak_poses_do_not_start_tracks() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1, min_birth_confidence=0.5))
    poses = make_poses([person(100, 200)], score=0.2)
    assert tracker.update(poses, 0).track_ids.tolist() == [-1]
    assert tracker.stats.confirmed == 0


def test_output_tentative_false_drops_unconfirmed() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=2, output_tentative=False))
    out0 = tracker.update(make_poses([person(100, 200)]), 0)
    out1 = tracker.update(make_poses([person(101, 200)]), 1)
    assert len(out0) == 0 and out1.track_ids.tolist() == [1]


def test_order_and_data_preserved() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    poses = make_poses([person(100, 200), person(300, 220)])
    out = tracker.update(poses, 0)
    np.testing.assert_array_equal(out.keypoints, poses.keypoints)
    np.testing.assert_array_equal(out.scores, poses.scores)
    assert out.track_ids.tolist() == [1, 2]


def test_deterministic() -> None:
    rng = np.random.default_rng(0)
    frames = [[person(100 + 5 * t + rng.normal(0, 2), 200), person(300 - 5 * t, 200 + rng.normal(0, 2))]
              for t in range(30)]
    a = run(PoseTracker(), frames)
    b = run(PoseTracker(), frames)
    assert all((x == y).all() for x, y in zip(a, b))


def test_frame_gaps_allowed_but_order_enforced() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    tracker.update(make_poses([person(100, 200)]), 0)
    out = tracker.update(make_poses([person(110, 200)]), 5)  # skipped frames in between
    assert out.track_ids.tolist() == [1]
    with pytest.raises(ValueError, match="increase"):
        tracker.update(make_poses([]), 5)


def test_empty_frames_and_reset() -> None:
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    assert len(tracker.update(Poses.empty(), 0)) == 0
    tracker.update(make_poses([person(100, 200)]), 1)
    tracker.reset()
    assert len(tracker) == 0
    assert tracker.update(make_poses([person(100, 200)]), 0).track_ids.tolist() == [1]


@pytest.mark.parametrize(
    "kwargs", [{"min_hits": 0}, {"max_misses": -1}, {"oks_weight": 1.5}, {"match_threshold": -0.1},
               {"keypoint_memory": -1}]
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrackerConfig(**kwargs)


def test_similarity_matrix_identical_pose_is_one() -> None:
    poses = make_poses([person(100, 200), person(300, 200)])
    boxes = pose_boxes(poses, 0.3)
    sim, oks = similarity_matrix(
        poses.keypoints, poses.keypoint_scores, boxes, poses.keypoints, poses.keypoint_scores, boxes,
        poses.schema.sigmas_array(), oks_weight=0.5, keypoint_threshold=0.3,
    )
    np.testing.assert_allclose(np.diag(sim), 1.0)
    assert sim[0, 1] < 0.01 and oks.shape == (2, 2)


def test_weak_fragment_does_not_steal_a_track() -> None:
    # A confident person, plus (from frame 3 on) a weak fragment sharing only the head keypoints.
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    for t in range(8):
        body = person(200 + t, 200)
        people, scores = [body], [np.full(17, 0.9)]
        if t >= 3:
            frag = body + np.array([40.0, 5.0])  # off everywhere ...
            frag[:3] = body[:3]  # ... except nose and eyes, exact
            s = np.full(17, 0.05)
            s[:3] = 0.5
            people.insert(0, frag)
            scores.insert(0, s)
        out = tracker.update(make_poses(people, kp_scores=scores), t)
        assert out.track_ids[-1] == 1  # the body keeps its id
        if t >= 3:
            assert out.track_ids[0] == -1


def test_established_track_has_priority_over_tentative() -> None:
    # Track 1 is confirmed; a tentative track appears right next to it; when only one
    # pose is left it goes to the established track, even if the newcomer is closer.
    tracker = PoseTracker(TrackerConfig(min_hits=3, use_velocity=False))
    for t in range(3):
        tracker.update(make_poses([person(200, 200)]), t)
    out = tracker.update(make_poses([person(200, 200), person(204, 200)]), 3)
    assert out.track_ids.tolist() == [1, -1]
    out = tracker.update(make_poses([person(204, 200)]), 4)
    assert out.track_ids.tolist() == [1]
    assert tracker.stats.discarded == 1


def test_lost_track_recognised_by_its_remembered_whole_body() -> None:
    # Walks right 3 px/frame: 8 frames whole, 6 with the legs hidden (unconfident
    # and misplaced), 4 frames gone, then whole again where the walk leads.
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    legs_hidden = np.full(17, 0.9)
    legs_hidden[11:] = 0.05
    ids = []
    for t in range(14):
        pose = person(100 + 3 * t, 200)
        scores = np.full(17, 0.9)
        if t >= 8:
            pose[11:] += np.array([25.0, -30.0])  # what a network guesses for hidden legs
            scores = legs_hidden
        ids.append(int(tracker.update(make_poses([pose], kp_scores=[scores]), t).track_ids[0]))
    # The template keeps the legs where they were last seen, carried along with the walk.
    (track,) = tracker._tracks
    np.testing.assert_allclose(track.memory[11:], person(100 + 3 * 13, 200)[11:], atol=1.0)
    assert (track.age[11:] == 6).all() and (track.age[:11] == 0).all()
    for t in range(14, 18):
        tracker.update(Poses.empty(), t)
    ids.append(int(tracker.update(make_poses([person(100 + 3 * 18, 200)]), 18).track_ids[0]))
    assert ids == [1] * 15 and tracker.stats.reassociated == 1


def test_assignment_does_not_trade_a_strong_pair_for_two_weak_ones() -> None:
    # Plain minimum-cost matching that must match as many tracks as possible
    # would pair (0, 1) and (1, 0): two mediocre matches instead of one good one.
    similarity = np.array([[0.9, 0.5], [0.55, 0.1]])
    assert _assign(similarity, 0.3) == [(0, 0)]
    assert _assign(similarity, 0.95) == []
    assert _assign(np.array([[0.3]]), 0.3) == [(0, 0)]  # the threshold itself is admissible


def test_continuation_keeps_the_id_whatever_the_pose_looks_like() -> None:
    # Between detections a pose is estimated in a crop taken from its track's
    # previous pose: it is that person by construction, even when the network
    # returns a very different pose (here: upper body only, far off).
    def fresh() -> PoseTracker:
        tracker = PoseTracker(TrackerConfig(min_hits=1))
        tracker.update(make_poses([person(100, 200)]), 0)
        return tracker

    scores = np.full(17, 0.05)
    scores[:7] = 0.9
    odd = make_poses([person(100, 200) + np.array([30.0, -40.0])], kp_scores=[scores])
    assert fresh().update(odd, 1).track_ids.tolist() == [2]  # matching alone: a new person
    assert fresh().update(odd, 1, continues=np.array([1])).track_ids.tolist() == [1]
    # An id that is no live track is ignored; a track takes one pose only.
    assert fresh().update(odd, 1, continues=np.array([7])).track_ids.tolist() == [2]
    two = make_poses([person(100, 200), person(101, 200)])
    assert fresh().update(two, 1, continues=np.array([1, 1])).track_ids.tolist() == [1, 2]
    with pytest.raises(ValueError, match="continues"):
        fresh().update(two, 1, continues=np.array([1]))


def test_tentative_tracks_grow_on_strong_poses_only() -> None:
    # A flickering false positive (pose confidence 0.3, 0.2, 0.3, ...) never gets
    # min_hits strong poses in a row, so it never gets an id; a steady one does.
    flicker = PoseTracker(TrackerConfig(min_hits=3, min_birth_confidence=0.25))
    steady = PoseTracker(TrackerConfig(min_hits=3, min_birth_confidence=0.25))
    for t in range(8):
        level = 0.3 if t % 2 == 0 else 0.2
        assert flicker.update(make_poses([person(100, 200)], kp_scores=[np.full(17, level)]), t).track_ids[0] == -1
        steady.update(make_poses([person(100, 200)], kp_scores=[np.full(17, 0.3)]), t)
    assert flicker.stats.confirmed == 0 and steady.stats.confirmed == 1
