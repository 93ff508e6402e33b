"""Tests for posekit.engine: the plan, the ordered replica pool, and identical results to the serial path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from posekit.engine import EnginePlan, ReplicaPool, available_cpus, plan_engine
from posekit.pipeline import PoseEstimator

import testdata

# ----------------------------------------------------------------------------- plan


def test_plan_fills_the_cpus():
    assert plan_engine(cpus=2) == EnginePlan(2, 1)
    assert plan_engine(cpus=8) == EnginePlan(8, 1)
    assert plan_engine(threads=2, cpus=8) == EnginePlan(4, 2)
    assert plan_engine(threads=3, cpus=2) == EnginePlan(1, 3)
    assert plan_engine(workers=3, cpus=8) == EnginePlan(3, 2)
    assert plan_engine(workers=4, threads=4, cpus=2) == EnginePlan(4, 4)  # as given
    assert not plan_engine(workers=1).parallel and plan_engine(workers=2).parallel
    assert plan_engine() == EnginePlan(available_cpus(), 1)
    for bad in ({"workers": 0}, {"threads": 0}, {"workers": -1}):
        with pytest.raises(ValueError):
            plan_engine(**bad)


# ----------------------------------------------------------------------------- pool


class _Replica:
    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = threading.Lock()
        self.used = 0


def _work(replica: _Replica, item: int) -> tuple[int, str]:
    assert replica.busy.acquire(blocking=False), "a replica ran two tasks at once"
    try:
        replica.used += 1
        time.sleep(0.002 * (item % 3))  # finish out of order
        return item * item, replica.name
    finally:
        replica.busy.release()


def test_pool_keeps_input_order_and_uses_every_replica():
    replicas = [_Replica("a"), _Replica("b")]
    with ReplicaPool(replicas) as pool:
        out = list(pool.map(_work, range(40)))
    assert [v for v, _ in out] == [i * i for i in range(40)]
    assert {name for _, name in out} == {"a", "b"} and sum(r.used for r in replicas) == 40


def test_pool_bounds_items_in_flight():
    pulled = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield i

    with ReplicaPool([_Replica("a"), _Replica("b")], max_in_flight=3) as pool:
        results = pool.map(_work, items())
        next(results)
        time.sleep(0.05)
        assert len(pulled) <= 4  # 3 in flight + the one just yielded
        results.close()


def test_pool_reraises_at_the_failing_position():
    def fail_on_5(replica, item):
        if item == 5:
            raise KeyError("five")
        return item

    got = []
    with ReplicaPool([_Replica("a"), _Replica("b")]) as pool:
        with pytest.raises(KeyError):
            for value in pool.map(fail_on_5, range(10)):
                got.append(value)
    assert got == [0, 1, 2, 3, 4]


def test_pool_needs_a_replica():
    with pytest.raises(ValueError):
        ReplicaPool([])


# ----------------------------------------------------------------------------- identical results


_same = testdata.same_result


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["fast", "balanced"])
def test_engine_results_equal_the_serial_path_image_by_image(preset, mixed_files):
    """The engine (2 single-threaded replicas) gives exactly the poses of the serial path, in order,
    with the bad files' errors at their places; the serial path runs the estimator's own 2-thread sessions."""
    est = PoseEstimator.from_preset(preset, num_threads=2)
    serial = list(est.predict_files(mixed_files, workers=1))
    est.timer.reset()
    est.crops_run = 0
    parallel = list(est.predict_files(mixed_files, workers=2, threads=1))
    assert [r.path for r in parallel] == mixed_files
    assert sum(r.error is not None for r in parallel) == 4
    assert sum(r.poses is not None and len(r.poses) > 0 for r in parallel) >= 8
    for a, b in zip(serial, parallel):
        assert _same(a, b), a.path
    # the workers' timings and crop counts are the estimator's
    assert est.timer.counts["detect"] == len(mixed_files) - 4 and est.crops_run > 0
    # a second run reuses the replicas (built once per plan)
    assert len(est.replicas(plan_engine(2, 1))) == 2
    again = list(est.predict_files(mixed_files[:5], workers=2, threads=1))
    assert all(_same(a, b) for a, b in zip(serial[:5], again))


def test_engine_falls_back_to_serial_for_ready_made_models():
    """A detector given as a callable may not be thread-safe: one worker, same results."""
    from posekit.catalog import package_weights_dir
    from posekit.factory import build_pose_model

    pose = build_pose_model(str(package_weights_dir() / "pp-tinypose-128x96.onnx"), num_threads=1)
    one_box = lambda image: (np.array([[10.0, 10.0, 60.0, 120.0]]), np.array([0.9]))  # noqa: E731
    est = PoseEstimator(one_box, pose, flip_test=False)
    assert not est.replicable
    with pytest.raises(ValueError):
        est.replicate(1)
    paths = [testdata.PERSON_IMAGE, testdata.BASKETBALL]
    results = list(est.predict_files(paths, workers=2))
    assert [len(r.poses) for r in results] == [1, 1]


def test_parallel_crops_give_the_same_poses(coco_subset):
    """One image's crop calls on two threads at once (the propagated frames of a stream): same poses."""
    import cv2

    est = PoseEstimator.from_preset("balanced", num_threads=1)
    images = [cv2.imread(str(p)) for p in sorted((coco_subset / "images").glob("*.jpg"))[:6]]
    alone = [est(im) for im in images]
    with est.parallel_crops(2):
        assert est._crop_pool is not None
        together = [est(im) for im in images]
    assert est._crop_pool is None
    assert sum(len(p) for p in alone) > 6
    for a, b in zip(alone, together):
        assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
