"""stream_poses / FramePoseProcessor with a scripted fake estimator."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from posekit.video.smoothing import OneEuroConfig
from posekit.structures import Poses
from posekit.video.stream import FramePoseProcessor, StreamConfig, propagation_boxes, stream_poses, suppress_duplicates
from posekit.video.tracker import TrackerConfig

from videotest_utils import FakeEstimator, blank_frame, make_poses, person, write_png_sequence

import testdata


def walking_world(n: int, enter_at: int = 7, vanish_at: int | None = None) -> dict[int, dict[int, np.ndarray]]:
    """Person 0 walks right all along; person 1 enters at ``enter_at`` (and vanishes at ``vanish_at``)."""
    world = {}
    for t in range(n):
        people = {0: person(60 + 3 * t, 120, 90)}
        if t >= enter_at and (vanish_at is None or t < vanish_at):
            people[1] = person(250 - 2 * t, 125, 85)
        world[t] = people
    return world


def run_processor(est: FakeEstimator, n: int, **kwargs) -> list:
    proc = FramePoseProcessor(est, **kwargs)
    return [proc.process(t, t / 25, blank_frame(t)) for t in range(n)]


def test_detect_every_frame() -> None:
    est = FakeEstimator(walking_world(12))
    out = run_processor(est, 12, detect_every=1, tracker_config=TrackerConfig(min_hits=2))
    assert est.detect_calls == list(range(12))
    assert [len(p) for p in out] == [1] * 7 + [2] * 5
    assert all(p.track_ids[0] == 1 for p in out[1:])


def test_detect_every_n_propagates_and_picks_up_newcomers() -> None:
    est = FakeEstimator(walking_world(20, enter_at=7))
    out = run_processor(est, 20, detect_every=5, tracker_config=TrackerConfig(min_hits=2))
    assert est.detect_calls == [0, 5, 10, 15]
    # Between detections the pose model runs on propagated crops.
    assert [i for i, _ in est.estimate_calls] == list(range(20))
    counts = [len(p) for p in out]
    assert counts[:10] == [1] * 10  # the newcomer (t = 7) waits for the detection at t = 10
    assert counts[10:] == [2] * 10
    ids0 = {int(p.track_ids[0]) for p in out[1:]}
    assert ids0 == {1}
    newcomer = [int(p.track_ids[1]) for p in out[11:]]
    assert newcomer == [2] * 9
    # Propagated keypoints follow the walker.
    np.testing.assert_allclose(out[13].keypoints[0], person(60 + 39, 120, 90), atol=1e-4)


def test_person_lost_by_pose_model_is_dropped() -> None:
    est = FakeEstimator(walking_world(15, enter_at=0, vanish_at=7))
    out = run_processor(est, 15, detect_every=10, tracker_config=TrackerConfig(min_hits=1))
    assert [len(p) for p in out[:7]] == [2] * 7
    assert [len(p) for p in out[7:]] == [1] * 8  # gone at t = 7 though the next detection is at t = 10
    assert est.estimate_calls[7] == (7, 2) and est.estimate_calls[8] == (8, 1)


def test_no_track_leaves_ids_unset() -> None:
    est = FakeEstimator(walking_world(6))
    out = run_processor(est, 6, detect_every=2, track=False)
    assert all((p.track_ids == -1).all() for p in out)
    assert all(len(p) == 1 for p in out)


def test_smoothing_is_applied_to_tracked_poses() -> None:
    world = {t: {0: person(100 + (8 if t % 2 else 0), 120, 90)} for t in range(10)}  # jittering person
    raw = run_processor(FakeEstimator(world), 10, tracker_config=TrackerConfig(min_hits=1))
    smooth = run_processor(FakeEstimator(world), 10, tracker_config=TrackerConfig(min_hits=1),
                           smoothing=OneEuroConfig(min_cutoff=0.5, beta=0.0))
    jitter_raw = np.abs(np.diff([p.keypoints[0, 0, 0] for p in raw])).mean()
    jitter_smooth = np.abs(np.diff([p.keypoints[0, 0, 0] for p in smooth])).mean()
    assert jitter_smooth < 0.5 * jitter_raw


def test_propagation_boxes_growth_is_limited() -> None:
    poses = make_poses([person(100, 120, 90)])
    poses = poses.replace(boxes=np.array([[80.0, 70.0, 120.0, 170.0]]))  # previous crop: 40 x 100
    boxes = propagation_boxes(poses, (240, 320), StreamConfig(box_expand=3.0, max_growth=1.2))
    w, h = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    assert w == pytest.approx(48) and h == pytest.approx(120)
    clipped = propagation_boxes(make_poses([person(5, 120, 90)]), (240, 320), StreamConfig())
    assert clipped[0, 0] == 0


def test_propagation_boxes_shrink_is_limited() -> None:
    # The pose lost its legs (only the upper body confident): the next crop may
    # shrink by max_shrink at most, so the legs stay in view.
    scores = np.full(17, 0.05)
    scores[:11] = 0.9
    poses = make_poses([person(100, 120, 90)], kp_scores=[scores])
    poses = poses.replace(boxes=np.array([[60.0, 60.0, 140.0, 200.0]]))  # previous crop: 80 x 140
    boxes = propagation_boxes(poses, (240, 320), StreamConfig(max_shrink=1.25))
    w, h = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    assert w == pytest.approx(64) and h == pytest.approx(112)
    free = propagation_boxes(poses, (240, 320), StreamConfig(max_shrink=100.0))
    assert free[0, 3] - free[0, 1] < 112
    with pytest.raises(ValueError, match="max_shrink"):
        StreamConfig(max_shrink=0.9)


def test_invalid_detect_every() -> None:
    with pytest.raises(ValueError):
        FramePoseProcessor(FakeEstimator({}), detect_every=0)


def test_stream_poses_over_image_folder(tmp_path: Path) -> None:
    write_png_sequence(tmp_path, 16)
    est = FakeEstimator(walking_world(16))
    items = list(stream_poses(est, tmp_path, detect_every=4, tracker_config=TrackerConfig(min_hits=2), fps=10))
    assert [i for i, _, _ in items] == list(range(16))
    assert items[3][1] == pytest.approx(0.3)
    assert all(int(p.track_ids[0]) == 1 for _, _, p in items[1:])


def test_stream_poses_closing_stops_worker(tmp_path: Path) -> None:
    write_png_sequence(tmp_path, 30)
    est = FakeEstimator(walking_world(30))
    before = {t.ident for t in threading.enumerate()}
    gen = stream_poses(est, tmp_path, prefetch=2)
    for i, _, _ in gen:
        if i == 3:
            break
    gen.close()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.name == "posekit-prefetch"]
    assert leftover == []


def test_stream_error_in_estimator_propagates(tmp_path: Path) -> None:
    write_png_sequence(tmp_path, 10)
    est = FakeEstimator(walking_world(10), raise_at={4: RuntimeError("network exploded")})
    with pytest.raises(RuntimeError, match="exploded"):
        for _ in stream_poses(est, tmp_path):
            pass


def test_output_tentative_false_still_confirms_between_detections() -> None:
    est = FakeEstimator(walking_world(12, enter_at=100))
    out = run_processor(est, 12, detect_every=5,
                        tracker_config=TrackerConfig(min_hits=3, output_tentative=False))
    assert [len(p) for p in out] == [0, 0] + [1] * 10
    assert all(int(p.track_ids[0]) == 1 for p in out[2:])


def test_duplicates_are_suppressed_before_tracking() -> None:
    body = person(100, 120, 90)
    poses = make_poses([body + 1.0, body, person(220, 120, 90)],
                       kp_scores=[np.full(17, 0.6), np.full(17, 0.9), np.full(17, 0.8)])
    kept = suppress_duplicates(poses, StreamConfig())
    assert len(kept) == 2
    np.testing.assert_allclose(kept.keypoints[0], body)  # the more confident copy, order kept
    # The copy also has the same head: both rules must be off to keep it.
    assert len(suppress_duplicates(poses, StreamConfig(duplicate_oks=None))) == 2
    assert len(suppress_duplicates(poses, StreamConfig(duplicate_oks=None, same_head=None))) == 3


def test_same_head_on_another_body_is_a_duplicate() -> None:
    # A crop of a crowd: one person's head on a neighbour's body. Far apart in
    # OKS (the bodies differ by 40 px), but one head is one person.
    real = person(100, 120, 90)
    chimera = real.copy()
    chimera[5:] += np.array([40.0, 10.0])
    neighbour = person(220, 120, 90)
    poses = make_poses([real, chimera, neighbour],
                       kp_scores=[np.full(17, 0.8), np.full(17, 0.5), np.full(17, 0.7)])
    kept = suppress_duplicates(poses, StreamConfig())
    assert len(kept) == 2
    np.testing.assert_allclose(kept.keypoints[0], real)
    np.testing.assert_allclose(kept.keypoints[1], neighbour)
    assert len(suppress_duplicates(poses, StreamConfig(same_head=None))) == 3


def test_processor_drops_duplicate_detections() -> None:
    class Doubling(FakeEstimator):
        def estimate(self, image, boxes, scores):
            poses = super().estimate(image, boxes, scores)
            return Poses.concat([poses, poses.replace(keypoints=poses.keypoints + 1.5,
                                                      keypoint_scores=poses.keypoint_scores * 0.8)])

    out = run_processor(Doubling(walking_world(6)), 6, detect_every=2, tracker_config=TrackerConfig(min_hits=1))
    assert [len(p) for p in out] == [1] * 6
    assert all(p.track_ids.tolist() == [1] for p in out)


def test_propagated_poses_continue_their_tracks_even_when_reordered() -> None:
    # The estimator returns poses in another order than the boxes it was given
    # (as a pose NMS sorting by score does); each propagated pose must still
    # hand the tracker the id of the pose its crop came from.
    class Reversing(FakeEstimator):
        def estimate(self, image, boxes, scores):
            poses = super().estimate(image, boxes, scores)
            return poses[::-1]

    est = Reversing(walking_world(12, enter_at=0))
    proc = FramePoseProcessor(est, detect_every=5, tracker_config=TrackerConfig(min_hits=1))
    seen = []
    update = proc.tracker.update

    def spy(poses, index, continues=None):
        seen.append((index, None if continues is None else continues.tolist(), poses.keypoints[:, 0, 0].tolist()))
        return update(poses, index, continues=continues)

    proc.tracker.update = spy
    out = [proc.process(t, t / 25, blank_frame(t)) for t in range(12)]
    walker_id = {int(p.track_ids[np.argmin(p.keypoints[:, 0, 0])]) for p in out}
    entrant_id = {int(p.track_ids[np.argmax(p.keypoints[:, 0, 0])]) for p in out}
    assert len(walker_id) == 1 and len(entrant_id) == 1 and walker_id != entrant_id
    for index, continues, xs in seen:
        if index % 5 == 0:
            assert continues is None  # detection frames: matching only
        else:  # the pose further left is the walker, whatever the order
            assert continues == [walker_id.copy().pop() if x == min(xs) else entrant_id.copy().pop() for x in xs]


@pytest.mark.slow
@pytest.mark.parametrize("detect_every", [1, 3])
def test_pipelined_stream_equals_the_serial_loop(detect_every: int) -> None:
    """With two workers the detection frames run ahead on estimator replicas; every frame's poses and
    track ids are exactly those of the serial loop."""
    from posekit.pipeline import PoseEstimator

    video = testdata.VTEST_VIDEO  # the first 30 frames of OpenCV's vtest.avi
    serial_est = PoseEstimator.from_preset("fast", num_threads=1)
    serial = list(stream_poses(serial_est, video, detect_every=detect_every, max_frames=24, workers=1))
    engine_est = PoseEstimator.from_preset("fast", num_threads=1)
    parallel = list(stream_poses(engine_est, video, detect_every=detect_every, max_frames=24, workers=2, threads=1))
    assert [i for i, _, _ in parallel] == [i for i, _, _ in serial] == list(range(24))
    assert sum(len(p) for _, _, p in serial) > 24
    for (_, _, a), (_, _, b) in zip(serial, parallel):
        assert np.array_equal(a.track_ids, b.track_ids)
        assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
    # the replicas' stage timings come back to the estimator
    assert engine_est.timer.counts["detect"] == serial_est.timer.counts["detect"]


def test_an_estimator_on_an_accelerator_streams_without_replicas() -> None:
    """``PoseEstimator(device="cuda").stream(...)`` with several workers: no replicas (each would hold its own
    copy of the networks on the device); the serial loop, the same poses. The device is forced on an estimator
    whose sessions stay on the CPU."""
    from posekit.pipeline import PoseEstimator
    from posekit.runtime import Device

    video = testdata.VTEST_VIDEO
    est = PoseEstimator.from_preset("fast", num_threads=1, device="cpu")
    assert est.replicable
    expected = list(stream_poses(est, video, max_frames=3, workers=1))
    est.device = Device("cuda")
    assert not est.replicable
    with pytest.raises(ValueError, match="networks run on cuda"):
        est.replicate(1)

    def no_replicas(*args, **kwargs):
        raise AssertionError("replicas built for an estimator on an accelerator")

    est.replicas = no_replicas
    got = list(stream_poses(est, video, max_frames=3, workers=2, threads=1))
    assert [i for i, _, _ in got] == [0, 1, 2]
    for (_, _, a), (_, _, b) in zip(expected, got):
        assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.track_ids, b.track_ids)


def test_detection_schedule() -> None:
    from posekit.video.stream import DetectionSchedule

    s = DetectionSchedule(3)
    shapes = [(4, 4, 3)] * 5 + [(8, 8, 3)] + [(8, 8, 3)] * 3
    assert [s.next(x) for x in shapes] == [True, False, False, True, False, True, True, False, False]
    with pytest.raises(ValueError):
        DetectionSchedule(0)
