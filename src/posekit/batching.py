"""The accelerator plan of :meth:`~posekit.pipeline.PoseEstimator.predict_files`: images batched into
few network calls on one session, CPU threads decoding and cropping ahead of it.

On the CPU the engine (:mod:`posekit.engine`) runs one single-threaded replica of the
estimator per core, each on whole images: small calls on many sessions keep the
cores busy. On an accelerator the cost model flips: every call pays a launch and a
copy to the device that a large batch shares out, the device runs one call's
crops in parallel by itself, and each replica would hold its own copy of the
networks in device memory. So when the estimator's networks run on an
accelerator (:attr:`PoseEstimator.device <posekit.pipeline.PoseEstimator>`, from the sessions
that actually run: :func:`posekit.runtime.stages_device`), ``predict_files`` runs
:func:`batched_results` instead, on the estimator's own sessions::

    decode threads  read + decode the files, ``decode_ahead`` images ahead (CPU; a
                    :class:`~posekit.engine.ReplicaPool` of the reader, in order)
    front thread    a group of ``images_per_group`` images: the detector in one call
                    (graphs with a batch axis, :meth:`OnnxDetector.detect_batch
                    <posekit.detect.onnx_detectors.OnnxDetector.detect_batch>`; others image by
                    image), the crop budget, then the crops cut on as many crop threads
    this thread     the crops of the whole group (and their mirrors, flip test) through the pose
                    network in calls of up to ``estimator.batch_size`` crops
                    (:data:`posekit.runtime.ACCELERATOR_BATCH_PIXELS` by default), then each
                    image's tail (decode, map back, pose NMS), results yielded in input order

The front thread works on group ``k + 1`` while this thread runs group ``k``'s pose
network, and the decode threads read group ``k + 2``.

Bounds: at most ``2 * images_per_group + decode_ahead`` decoded images exist at a
time (32 by default: two groups between the front and this thread, the read-ahead);
one pose-network call holds at most ``batch_size`` crops. Both are counts, not bytes:
an image's size is known only once decoded, and the per-call bound in pixels is what
sets the device memory (activations grow with the pixels of a call).

Results are the CPU plan's, image by image, on the same sessions: an image's detector
outputs and a crop's pose outputs do not depend on the others in their batch, and the
tail is the estimator's own (:meth:`~posekit.pipeline.PoseEstimator.tail`, which
:meth:`~posekit.pipeline.PoseEstimator.estimate` ends with: :func:`posekit.pose.topdown.poses_from_outputs`)
(checked on the CPU provider by ``tests/test_batching.py``). A file that cannot be read
keeps its reason at its place; when a batched call fails, its group is redone image by
image on the estimator's own path, so the failing image gets its error and the others
their poses. One-stage estimators (no detector, no crops) get the read-ahead and run
image by image.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from posekit.detect.budget import select_boxes
from posekit.engine import ReplicaPool, available_cpus
from posekit.pose.crop import crop_people
from posekit.runtime import Device, stage_device
from posekit.structures import Poses
from posekit.timing import StageTimer

__all__ = ["BatchPlan", "batched_results", "uses_batched_plan", "device_report", "device_line"]

log = logging.getLogger(__name__)

#: ``read(path) -> (image or None, error or None)``.
Reader = Callable[[Path], "tuple[np.ndarray | None, str | None]"]
#: ``one_image(estimator, path, image, error) -> (path, image, poses, error)``: the estimator's own path for
#: one read file (:func:`posekit.pipeline._file_result`), used for unreadable files and to redo a failed group.
OneImage = Callable[[Any, Path, "np.ndarray | None", "str | None"], tuple]


@dataclass(frozen=True)
class BatchPlan:
    """The sizes of the accelerator plan (see the module docstring).

    Attributes:
        images_per_group: images per detector call and per round of pose-network calls. 8: PicoDet's
            320x320 input is 1.2 MB of float32 per image, so a group is a small copy, and 8 images of
            the dev set give 20-60 crops, one or a few pose calls (not tuned on a GPU).
        decode_ahead: images read and decoded ahead of the front thread (``None``: ``2 * images_per_group``).
        decode_threads: threads that decode images, and as many that cut crops (``None``: ``min(4, CPUs)``:
            OpenCV releases the GIL while decoding and warping).
    """

    images_per_group: int = 8
    decode_ahead: int | None = None
    decode_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("images_per_group", "decode_ahead", "decode_threads"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")

    @property
    def ahead(self) -> int:
        return int(self.decode_ahead or 2 * self.images_per_group)

    @property
    def threads(self) -> int:
        return int(self.decode_threads or min(4, available_cpus()))

    @property
    def max_images(self) -> int:
        """Decoded images that exist at once, at most."""
        return 2 * self.images_per_group + self.ahead


def uses_batched_plan(estimator: Any) -> bool:
    """True if :meth:`~posekit.pipeline.PoseEstimator.predict_files` runs this plan for ``estimator``:
    its networks run on an accelerator (its ``device``). The one test of it: ``predict_files``,
    :attr:`PoseEstimator.replicable <posekit.pipeline.PoseEstimator.replicable>` (no replicas on an
    accelerator), :func:`device_report` and the batch engine's figures all ask here."""
    device = getattr(estimator, "device", None)
    return isinstance(device, Device) and device.accelerator


def device_report(estimator: Any) -> dict[str, Any]:
    """Where ``estimator``'s networks ran, for logs and ``summary.json``: the device, the plan, and each
    network's execution provider as its session reports it (``session.get_providers()``)."""
    requested = getattr(estimator, "_init_args", {}).get("device")
    report: dict[str, Any] = {"requested": str(requested) if requested is not None else None,
                              "device": str(estimator.device),
                              "plan": "batched" if uses_batched_plan(estimator) else "cpu"}
    for name in ("detector", "pose_model"):
        stage = getattr(estimator, name, None)
        if stage is None:
            continue
        session = getattr(stage, "session", None) or getattr(stage, "_session", None)
        providers = session.get_providers() if session is not None and hasattr(session, "get_providers") else None
        report[name] = providers[0] if providers else f"{type(stage).__name__} on {stage_device(stage)}"
    return report


def device_line(estimator: Any) -> str:
    """:func:`device_report` as one log line: ``networks on requested auto, device cpu, plan cpu, detector ...``."""
    return "networks on " + ", ".join(f"{k} {v}" for k, v in device_report(estimator).items())


class _Image(NamedTuple):
    """One file on its way through the plan."""

    path: Path
    image: np.ndarray | None
    error: str | None


class _Front(NamedTuple):
    """A group after the front thread: boxes and crops of each readable image, or the failure that sends the
    group back to the one-image path."""

    items: list[_Image]
    boxes: list[np.ndarray] | None  # per item, (N, 4) float64; None for unreadable items
    scores: list[np.ndarray] | None
    crops: list[np.ndarray] | None  # per item, (N, H_in, W_in, 3) uint8
    matrices: list[np.ndarray] | None  # per item, (N, 2, 3)
    timer: StageTimer
    failure: BaseException | None = None


def _detect(detector: Any, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The detector on several images: one call where it can (``detect_batch``), else one per image."""
    batch = getattr(detector, "detect_batch", None)
    return batch(images) if batch is not None else [detector(image) for image in images]


def _front(estimator: Any, items: list[_Image], pool: ThreadPoolExecutor) -> _Front:
    """Detection (batched), crop budget and crops of one group; runs in the front thread."""
    timer = StageTimer()
    try:
        readable = [i for i, item in enumerate(items) if item.error is None]
        start = time.perf_counter()
        found = _detect(estimator.detector, [items[i].image for i in readable])
        selected = [select_boxes(b, s, estimator.crop_budget) for b, s in found]
        timer.charge("detect", time.perf_counter() - start, len(readable))
        boxes: list = [None] * len(items)
        scores: list = [None] * len(items)
        for i, (b, s) in zip(readable, selected):
            boxes[i] = np.asarray(b, np.float64).reshape(-1, 4)
            scores[i] = np.asarray(s, np.float64).reshape(-1)
        start = time.perf_counter()
        spec = estimator.spec
        cut = [(i, pool.submit(crop_people, items[i].image, boxes[i], spec)) for i in readable if len(boxes[i])]
        crops: list = [None] * len(items)
        matrices: list = [None] * len(items)
        for i, future in cut:
            crops[i], matrices[i] = future.result()
        timer.charge("crop", time.perf_counter() - start, len(cut))
        return _Front(items, boxes, scores, crops, matrices, timer)
    except Exception as exc:  # the group goes back to the one-image path, which names the failing image
        return _Front(items, None, None, None, None, timer, exc)


def _back(estimator: Any, front: _Front, one_image: OneImage) -> Iterator[tuple]:
    """The pose network over a group's crops, then each image's tail; in this (the consumer's) thread."""
    estimator.timer.add(front.timer)
    if front.failure is not None:
        log.warning("a batched detection failed (%s: %s); redoing its %d images one by one",
                    type(front.failure).__name__, front.failure, len(front.items))
        yield from _one_by_one(estimator, front.items, one_image)
        return
    with_crops = [i for i, c in enumerate(front.crops) if c is not None]
    outputs = flipped = None
    if with_crops:
        try:
            start = time.perf_counter()
            outputs, flipped = estimator._run_network(np.concatenate([front.crops[i] for i in with_crops]))
            estimator.timer.charge("network", time.perf_counter() - start, len(with_crops))
        except Exception as exc:
            log.warning("a batched pose-network call failed (%s: %s); redoing its %d images one by one",
                        type(exc).__name__, exc, len(front.items))
            yield from _one_by_one(estimator, front.items, one_image)
            return
    offsets = dict(zip(with_crops, np.cumsum([0] + [len(front.crops[i]) for i in with_crops])))
    for i, item in enumerate(front.items):
        if item.error is not None:
            yield one_image(estimator, item.path, None, item.error)
            continue
        boxes, scores = front.boxes[i], front.scores[i]
        if not len(boxes):
            estimator.images_run += 1
            yield (item.path, item.image, Poses.empty(estimator.schema), None)
            continue
        start, end = offsets[i], offsets[i] + len(boxes)
        try:
            poses = estimator.tail(outputs[start:end], front.matrices[i], boxes, scores,
                                   flipped=None if flipped is None else flipped[start:end])
        except Exception:  # this image alone, on the estimator's path (which records its error)
            yield one_image(estimator, item.path, item.image, None)
            continue
        estimator.crops_run += len(boxes)
        estimator.images_run += 1  # an image redone on the one-image path is counted there instead
        yield (item.path, item.image, poses, None)


def _one_by_one(estimator: Any, items: Iterable[_Image], one_image: OneImage) -> Iterator[tuple]:
    for item in items:
        yield one_image(estimator, item.path, item.image, item.error)


def _read_one(read: Reader, path: str | Path) -> _Image:
    """One file read and decoded (a task of the decode threads)."""
    path = Path(path)
    return _Image(path, *read(path))


def _groups(items: Iterator[_Image], size: int) -> Iterator[list[_Image]]:
    group: list[_Image] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def batched_results(estimator: Any, paths: Iterable[str | Path], *, read: Reader, one_image: OneImage,
                    plan: BatchPlan = BatchPlan()) -> Iterator[tuple]:
    """``(path, image, poses, error)`` of each file, in input order, by the accelerator plan (module docstring).

    Args:
        estimator: a :class:`~posekit.pipeline.PoseEstimator` (its own sessions run every call).
        paths: image files.
        read: decodes one file (``posekit.pipeline._read`` with the orientation option).
        one_image: the estimator's one-image path (``posekit.pipeline._file_result``).
        plan: group size, read-ahead and decode threads.
    """
    # the files read and decoded on plan.threads threads, in order, plan.ahead ahead of the front thread
    decoders = ReplicaPool([read] * plan.threads, max_in_flight=plan.ahead + 1, name="posekit-decode")
    decoded = decoders.map(_read_one, paths)
    crop_pool = ThreadPoolExecutor(max_workers=plan.threads, thread_name_prefix="posekit-crop")
    front_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posekit-front")
    pending: deque[Future] = deque()
    try:
        if getattr(estimator, "one_stage", False) or getattr(estimator, "detector", None) is None:
            yield from _one_by_one(estimator, decoded, one_image)
            return
        for group in _groups(decoded, plan.images_per_group):
            pending.append(front_pool.submit(_front, estimator, group, crop_pool))
            if len(pending) > 1:  # the front works on this group while this thread finishes the previous one
                yield from _back(estimator, pending.popleft().result(), one_image)
        while pending:
            yield from _back(estimator, pending.popleft().result(), one_image)
    finally:
        for future in pending:
            future.cancel()
        decoded.close()
        front_pool.shutdown(wait=True, cancel_futures=True)
        crop_pool.shutdown(wait=True, cancel_futures=True)
        decoders.close()
