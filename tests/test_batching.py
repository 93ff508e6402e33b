"""The accelerator plan (posekit.batching), run on ONNX Runtime's CPU provider: the same poses as the CPU plan,
image by image and in order, with bad files in place; bounded read-ahead; failed batches redone one by one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from posekit.batching import BatchPlan, batched_results, uses_batched_plan
from posekit.pipeline import FileResult, PoseEstimator, _file_result, _read
from posekit.runtime import Device

import testdata


_same = testdata.same_result


def _batched(est: PoseEstimator, files, plan: BatchPlan = BatchPlan(), read=None) -> list[FileResult]:
    read = read or (lambda path: _read(path, False))
    return [FileResult(*r) for r in batched_results(est, files, read=read, one_image=_file_result, plan=plan)]


@pytest.fixture(scope="module")
def cpu_plan(mixed_files):
    """Each preset's CPU-plan results (the serial path, 2-thread sessions) and crop count."""
    results = {}
    for preset in ("fast", "balanced"):
        est = PoseEstimator.from_preset(preset, num_threads=2, device="cpu")
        results[preset] = (list(est.predict_files(mixed_files, workers=1)), est.crops_run)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["fast", "balanced"])  # fast: flip test (a crop and its mirror per call)
def test_the_accelerator_plan_equals_the_cpu_plan_image_by_image(preset, mixed_files, cpu_plan):
    """Groups of 3 images (bad files inside groups), pose calls of 5 crops (crossing images): the CPU plan's
    poses exactly, in input order, the bad files' errors at their places, the same timing counts and crops."""
    serial, crops = cpu_plan[preset]
    est = PoseEstimator.from_preset(preset, num_threads=2, device="cpu", batch_size=5)
    assert est.detector.batchable  # PicoDet: one detector call per group
    got = _batched(est, mixed_files, BatchPlan(images_per_group=3, decode_ahead=2, decode_threads=2))
    assert [r.path for r in got] == mixed_files
    assert sum(r.error is not None for r in got) == 4
    assert sum(r.poses is not None and len(r.poses) > 0 for r in got) >= 8
    for a, b in zip(serial, got):
        assert _same(a, b), a.path
    assert est.crops_run == crops
    assert est.timer.counts["detect"] == est.timer.counts["network"] == len(mixed_files) - 4
    assert est.images_run == len(mixed_files) - 4  # the readable images, as the CPU plan's estimator counts them


@pytest.mark.slow
def test_predict_files_dispatches_to_the_accelerator_plan(mixed_files, cpu_plan):
    """An estimator whose device is an accelerator runs the accelerator plan from predict_files (here forced on
    the CPU provider): the same results, whatever ``workers`` says."""
    est = PoseEstimator.from_preset("balanced", num_threads=2, device="cpu")
    assert not uses_batched_plan(est)
    est.device = Device("cuda")  # what a CUDA session would report; the sessions stay on the CPU
    assert uses_batched_plan(est)
    calls = []
    real = est.detector.detect_batch
    est.detector.detect_batch = lambda images: calls.append(len(images)) or real(images)
    got = list(est.predict_files(mixed_files, workers=2, threads=1))
    assert calls and max(calls) > 1  # images batched into detector calls
    assert all(isinstance(r, FileResult) for r in got)
    assert all(_same(a, b) for a, b in zip(cpu_plan["balanced"][0], got)) and len(got) == len(mixed_files)


def test_detect_batch_equals_one_image_at_a_time(coco_subset):
    import cv2

    from posekit.factory import build_detector

    images = [cv2.imread(str(p)) for p in sorted((coco_subset / "images").glob("*.jpg"))[:5]]
    for name in ("picodet_s_320", "picodet_s_192"):
        detector = build_detector(name, runtime="onnx", num_threads=1, device="cpu")
        assert detector.batchable
        for (b1, s1), (b2, s2) in zip([detector(im) for im in images], detector.detect_batch(images)):
            assert np.array_equal(b1, b2) and np.array_equal(s1, s2)


def test_read_ahead_is_bounded(coco_subset):
    """At most 2 groups + ``decode_ahead`` images are read before the consumer takes the first result."""
    est = PoseEstimator.from_preset("fast", num_threads=1, device="cpu")
    files = sorted((coco_subset / "images").glob("*.jpg"))[:4] * 10
    started = []
    lock = threading.Lock()

    def read(path):
        with lock:
            started.append(path)
        return _read(path, False)

    plan = BatchPlan(images_per_group=3, decode_ahead=2, decode_threads=2)
    results = batched_results(est, files, read=read, one_image=_file_result, plan=plan)
    next(results)
    time.sleep(0.2)
    assert plan.max_images == 8 and len(started) <= plan.max_images
    results.close()  # stops the threads; nothing left running
    time.sleep(0.1)
    count = len(started)
    time.sleep(0.1)
    assert len(started) == count < len(files)
    prefixes = ("posekit-decode", "posekit-crop", "posekit-front")
    assert not [t for t in threading.enumerate() if t.name.startswith(prefixes)]


def test_a_failed_batch_is_redone_one_image_at_a_time(coco_subset, tmp_path):
    """A batched detector call that fails, then a pose-network call that fails: their groups are redone on the
    estimator's own path -- the same poses; an image that fails there too keeps its error at its place."""
    files = sorted((coco_subset / "images").glob("*.jpg"))[:5]
    est = PoseEstimator.from_preset("fast", num_threads=1, device="cpu")
    expected = [_file_result(est, p, *_read(p, False)) for p in files]
    failures = {"detect": 0, "network": 0}

    def detect_batch(images):
        if failures["detect"]:
            failures["detect"] -= 1
            raise RuntimeError("device lost")
        return [est.detector(im) for im in images]

    run_network = est._run_network

    def network(crops):
        if failures["network"]:
            failures["network"] -= 1
            raise RuntimeError("out of memory")
        return run_network(crops)

    est.detector.detect_batch = detect_batch
    est._run_network = network
    for failing in ("detect", "network"):
        failures[failing] = 1
        est.images_run = 0
        got = _batched(est, files, BatchPlan(images_per_group=2))
        assert failures == {"detect": 0, "network": 0}
        assert all(_same(a, b) for a, b in zip(expected, got)) and len(got) == len(files)
        assert est.images_run == len(files)  # the redone group's images once each, not twice
    # an image whose pose network fails alone: its own error, the others' poses
    poison = files[2]
    shape = _read(poison, False)[0].shape
    real_run = est.pose_model.run
    est._run_network = run_network

    def pose_run(x):
        if est._current == shape:
            raise RuntimeError("bad crop")
        return real_run(x)

    estimate = est.estimate

    def estimate_tracking(image, boxes, scores):
        est._current = image.shape
        try:
            return estimate(image, boxes, scores)
        finally:
            est._current = None

    est._current = None
    est.pose_model.run = pose_run
    est.estimate = estimate_tracking
    failures["network"] = 1  # the group holding the poison image goes one by one
    est._run_network = network
    got = _batched(est, files, BatchPlan(images_per_group=5))
    errors = [r.error for r in got]
    assert errors[2] is not None and "bad crop" in errors[2]
    assert all(_same(a, b) for i, (a, b) in enumerate(zip(expected, got)) if i != 2)
