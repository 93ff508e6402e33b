"""Streaming pose inference over videos, folders of frames, webcams and streams.

:func:`stream_poses` is a generator of ``(index, time, poses)``, one item per
decoded frame, with track ids. Memory stays flat however long the stream:
frames are decoded ahead in a bounded background queue
(:mod:`posekit.prefetch`), and the per-frame logic
(:class:`FramePoseProcessor`) keeps only the previous frame's poses, the live
tracks and their smoothing filters.

One person, one pose
--------------------
Every frame's poses first go through a stricter greedy OKS-NMS
(:attr:`StreamConfig.duplicate_oks`, 0.7, keypoint-extent areas:
:func:`duplicate_areas`) than the image pipeline's (the top-down tail of
:mod:`posekit.pose.topdown`: HRNet's 0.9, tuned for COCO AP), then a "one head, one person" rule
(:attr:`StreamConfig.same_head`, :func:`posekit.posenms.head_nms`): in a crowd
a crop often yields a pose with one person's head on a neighbour's body, far
from the real pose in OKS. Such duplicates would otherwise each take a
track, flicker between ids and cost a crop per frame.

Detection every ``N`` frames
----------------------------
On a detection frame the person detector runs and every detected box goes
through the pose network (``estimator.detect`` then ``estimator.estimate``).
On the frames in between, the crops come from the previous frame's poses: the
tight box of each pose's confident keypoints, enlarged by ``box_expand`` around
its centre and clipped to the image, goes to ``estimator.estimate`` with the
pose's previous box score. Each such pose continues the track of the pose its
crop came from (:meth:`PoseTracker.update`'s ``continues``): it is that person
by construction, even when the network returns a half-visible pose that
matching alone would not recognise. A person the pose network loses (pose
confidence -- the mean keypoint score -- below ``min_pose_confidence``) is
dropped; people who enter are picked up on the next detection frame. The schedule counts
processed frames, so unreadable frames do not shift it; a frame whose size
differs from the previous one is always a detection frame.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass, replace
from typing import Any, Iterator, Protocol

import numpy as np

from posekit.geometry import center_scale_to_box, clip_boxes
from posekit.posenms import head_nms, oks_nms
from posekit.schema import COCO17, KeypointSchema
from posekit.structures import Poses
from posekit.prefetch import prefetch as prefetch_iter
from posekit.video.smoothing import OneEuroConfig, PoseSmoother
from posekit.video.sources import Frame, open_source
from posekit.video.tracker import PoseTracker, TrackerConfig, pose_boxes, pose_confidence

__all__ = ["Estimator", "StreamConfig", "DetectionSchedule", "FramePoseProcessor", "detection_poses",
           "stream_frames", "stream_poses", "propagation_boxes", "suppress_duplicates", "duplicate_areas"]

log = logging.getLogger(__name__)


class Estimator(Protocol):
    """What the stream needs from a pose estimator (:class:`posekit.pipeline.PoseEstimator` fits).

    ``estimate`` returns one pose per given box or fewer, in any order, each
    carrying the box it was estimated in; that box tells the stream which
    previous pose (and track) a propagated pose continues. Poses with other
    boxes are still tracked, by matching alone.

    An estimator with ``one_stage = True`` (a one-stage pose model, which has
    no detector and takes no boxes) is instead called on each whole frame
    (``estimator(image)``), and every frame is a detection frame.
    """

    schema: KeypointSchema

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses: ...


@dataclass(frozen=True)
class StreamConfig:
    """Per-frame pose handling of the stream: duplicates and propagation.

    Attributes:
        duplicate_oks: every frame's poses (detected or propagated) go through
            a greedy OKS-NMS (:func:`posekit.posenms.oks_nms`, most confident
            pose first, OKS over the candidate's confident keypoints) at this
            threshold before tracking: one person, one pose. The image
            pipeline's own NMS is tuned for COCO AP (HRNet keeps poses up to
            OKS 0.9), which leaves near-duplicates that would each take a
            track and a crop per frame. None disables it.
        same_head: then a pose whose head keypoints lie within this fraction
            of the pose box diagonal of a more confident pose's head is
            dropped (:func:`posekit.posenms.head_nms`; the schema's ``head``
            keypoints). None disables it.
        keypoint_threshold: keypoints scoring above this are "confident" (crop
            boxes, duplicate OKS).
        min_keypoints: poses with fewer confident keypoints keep their previous box.
        box_expand: the keypoint box is scaled by this factor around its centre
            (keypoints are joint centres: the head top and feet lie outside).
        max_growth: the new box's width and height are at most ``max_growth``
            times the previous crop box's, so a pose that strays onto a
            neighbour cannot blow the crop up in one frame.
        max_shrink: ... and at least ``1 / max_shrink`` times: a pose that
            loses its legs for a frame (fewer confident keypoints, a smaller
            keypoint box) must not shrink the next crop to its upper body,
            which would lose the legs for good.
        min_pose_confidence: a propagated pose whose mean keypoint score falls
            below this is considered lost and dropped.
    """

    duplicate_oks: float | None = 0.7
    same_head: float | None = 0.1
    keypoint_threshold: float = 0.3
    min_keypoints: int = 3
    box_expand: float = 1.25
    max_growth: float = 1.2
    max_shrink: float = 1.05
    min_pose_confidence: float = 0.2

    def __post_init__(self) -> None:
        if self.box_expand <= 0:
            raise ValueError(f"box_expand must be positive, got {self.box_expand}")
        if self.max_growth < 1:
            raise ValueError(f"max_growth must be >= 1, got {self.max_growth}")
        if self.max_shrink < 1:
            raise ValueError(f"max_shrink must be >= 1, got {self.max_shrink}")
        if self.duplicate_oks is not None and not 0.0 < self.duplicate_oks <= 1.0:
            raise ValueError(f"duplicate_oks must be in (0, 1] or None, got {self.duplicate_oks}")
        if self.same_head is not None and self.same_head < 0:
            raise ValueError(f"same_head must be >= 0 or None, got {self.same_head}")


def duplicate_areas(poses: Poses, keypoint_threshold: float) -> np.ndarray:
    """Object areas ``(N,)`` of the stream's duplicate OKS-NMS: the keypoint extent.

    The tight box of the keypoints scoring above ``keypoint_threshold``
    (:func:`~posekit.video.tracker.pose_boxes`; the pose's own box when fewer
    than 2 are), each side at least 1 px. Not the area of the image
    pipeline's OKS-NMS (:func:`posekit.pose.topdown.nms_areas`, the padded
    crop region of the detector box), on purpose: a pose's box in the stream
    is the detector's on detection frames but the crop box propagated from
    the previous frame in between, so a box area would change meaning from
    frame to frame, while the keypoint extent is the same measure on every
    frame -- and the one the tracker matches with.
    """
    boxes = pose_boxes(poses, keypoint_threshold)
    return (boxes[:, 2] - boxes[:, 0]).clip(min=1.0) * (boxes[:, 3] - boxes[:, 1]).clip(min=1.0)


def suppress_duplicates(poses: Poses, config: StreamConfig) -> Poses:
    """One pose per person in a frame (see :attr:`StreamConfig.duplicate_oks` and
    :attr:`StreamConfig.same_head`); order kept.

    A separate step after the estimator's own pose NMS (the top-down tail,
    :mod:`posekit.pose.topdown`, which keeps what helps COCO AP): stricter
    (OKS 0.7), over confident keypoints only, ranked by mean keypoint score,
    with keypoint-extent areas (:func:`duplicate_areas`).
    """
    if len(poses) < 2:
        return poses
    confidence = pose_confidence(poses)
    keep = np.arange(len(poses))
    if config.duplicate_oks is not None:
        areas = duplicate_areas(poses, config.keypoint_threshold)
        keep = oks_nms(poses.keypoints, poses.keypoint_scores, areas, confidence,
                       poses.schema.sigmas_array(), thresh=config.duplicate_oks,
                       in_vis_thresh=config.keypoint_threshold)
    if config.same_head is not None and len(keep) > 1:
        kept = head_nms(poses.keypoints[keep], poses.keypoint_scores[keep], confidence[keep], poses.schema.head,
                        fraction=config.same_head, keypoint_threshold=config.keypoint_threshold)
        keep = keep[kept]
    if len(keep) == len(poses):
        return poses
    return poses[np.sort(keep)]


def propagation_boxes(poses: Poses, image_shape: tuple[int, int], config: StreamConfig) -> np.ndarray:
    """Crop boxes ``(N, 4)`` xyxy for the next frame from this frame's poses.

    The tight box of the confident keypoints (or the pose's own box when fewer
    than ``min_keypoints`` are confident) scaled by ``box_expand`` about its
    centre; its width and height kept within ``[1 / max_shrink, max_growth]``
    times the pose's current box (``poses.boxes``: the detector box or the previous crop box);
    clipped to the image ``(H, W)``.
    """
    if len(poses) == 0:
        return np.zeros((0, 4))
    tight = pose_boxes(poses, config.keypoint_threshold, config.min_keypoints)
    centers = (tight[:, :2] + tight[:, 2:]) / 2.0
    sizes = (tight[:, 2:] - tight[:, :2]).clip(min=1.0) * config.box_expand
    previous = (poses.boxes[:, 2:] - poses.boxes[:, :2]).astype(np.float64).clip(min=1.0)
    sizes = np.clip(sizes, previous / config.max_shrink, previous * config.max_growth)
    return clip_boxes(center_scale_to_box(centers, sizes), image_shape[:2])


class DetectionSchedule:
    """Which processed frames are detection frames: every ``detect_every``-th, the first one, and
    any frame whose size differs from the previous frame's.

    Fed each processed frame's shape in order (:meth:`next`); the rule depends on nothing
    else, so the pipelined loop of :func:`stream_frames` can tell ahead which frames the
    detector needs (the frames in between depend on the previous frame's poses).
    """

    def __init__(self, detect_every: int = 1) -> None:
        if int(detect_every) < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.detect_every = int(detect_every)
        self._count = 0
        self._shape: tuple[int, ...] | None = None

    def next(self, shape: tuple[int, ...]) -> bool:
        """True if the next frame, of ``shape``, is a detection frame (and count it)."""
        detect = self._count % self.detect_every == 0 or self._shape is None or self._shape != tuple(shape)
        self._count += 1
        self._shape = tuple(shape)
        return detect

    @property
    def count(self) -> int:
        """Frames scheduled so far."""
        return self._count


class FramePoseProcessor:
    """Per-frame logic of the stream: detect or propagate, track, smooth.

    No threads and no queues here; feed frames in order with :meth:`process`.

    Args:
        estimator: provides ``detect``, ``estimate`` and ``schema``.
        detect_every: run the detector on every ``N``-th processed frame (>= 1).
        tracker_config: tracker settings (default :class:`TrackerConfig()`).
        track: assign track ids (False: every id stays -1).
        smoothing: One-Euro parameters, or None for no smoothing (needs ``track``).
        config: duplicate suppression and propagation between detection frames.
    """

    def __init__(
        self,
        estimator: Estimator,
        *,
        detect_every: int = 1,
        tracker_config: TrackerConfig | None = None,
        track: bool = True,
        smoothing: OneEuroConfig | None = None,
        config: StreamConfig | None = None,
    ) -> None:
        if getattr(estimator, "one_stage", False) and detect_every != 1:
            log.info("a one-stage model runs on every frame (there are no boxes to propagate): detect_every=1")
            detect_every = 1
        self.schedule = DetectionSchedule(detect_every)
        self.estimator = estimator
        self.detect_every = int(detect_every)
        self.config = config or StreamConfig()
        schema = getattr(estimator, "schema", None) or COCO17
        tracking = tracker_config or TrackerConfig()
        # The tracker always reports unconfirmed poses (id -1) so that they are
        # propagated to the next frame and can be confirmed; they are dropped
        # from the output here when the config asks for it.
        self._drop_tentative = track and not tracking.output_tentative
        self.tracker = PoseTracker(replace(tracking, output_tentative=True), schema) if track else None
        self.smoother = PoseSmoother(smoothing) if smoothing is not None and track else None
        if smoothing is not None and not track:
            log.warning("smoothing needs tracking (per-track filters); smoothing disabled")
        self._previous: Poses | None = None  # raw (unsmoothed) poses of the last frame
        self.detections_run = 0

    def process(self, index: int, time: float, image: np.ndarray, detected: Poses | None = None) -> Poses:
        """Poses of one frame (``image`` BGR ``(H, W, 3)``), with track ids when tracking.

        ``detected``: the frame's poses from the detector and the pose network, computed
        ahead (:func:`detection_poses`) by the pipelined loop of :func:`stream_frames`; only for
        a detection frame of :attr:`schedule`.
        """
        detect = self.schedule.next(image.shape)
        if detected is not None and not detect:
            raise ValueError(f"frame {index} is not a detection frame of this stream's schedule")
        if detect:
            poses = detected if detected is not None else detection_poses(self.estimator, image)
            self.detections_run += 1
        else:
            poses = self._propagate(image)  # carries the ids of the tracks it continues
        poses = suppress_duplicates(poses, self.config)
        if self.tracker is not None:
            poses = self.tracker.update(poses, index, continues=None if detect else poses.track_ids)
        self._previous = poses
        if self._drop_tentative:
            poses = poses[poses.track_ids >= 0]
        if self.smoother is not None and self.tracker is not None:
            poses = self.smoother(poses, time)
            self.smoother.retain(self.tracker.live_ids())
        return poses

    def _propagate(self, image: np.ndarray) -> Poses:
        prev = self._previous
        assert prev is not None
        if len(prev) == 0:
            return prev
        boxes = propagation_boxes(prev, image.shape[:2], self.config)
        poses = self.estimator.estimate(image, boxes, prev.box_scores)
        # The estimator may reorder and drop poses (its pose NMS); each output pose
        # keeps its crop box, which tells the previous pose -- and track -- it continues.
        same = (poses.boxes[:, None, :] == boxes[None, :, :].astype(poses.boxes.dtype)).all(axis=2)
        source = np.where(same.any(axis=1), same.argmax(axis=1), -1)
        ids = np.where(source >= 0, prev.track_ids[source.clip(min=0)], -1)
        poses = poses.replace(track_ids=ids.astype(np.int64))
        keep = pose_confidence(poses) >= self.config.min_pose_confidence
        if not keep.all():
            log.debug("%d propagated pose(s) lost by the pose model", int((~keep).sum()))
        return poses[keep]

    @property
    def frames_processed(self) -> int:
        return self.schedule.count


def detection_poses(estimator: Estimator, image: np.ndarray) -> Poses:
    """The poses of a detection frame: the detector's boxes through the pose network (a one-stage model: the
    whole frame through its network)."""
    if getattr(estimator, "one_stage", False):
        return estimator(image)  # type: ignore[operator]
    boxes, scores = estimator.detect(image)
    return estimator.estimate(image, boxes, scores)


def stream_frames(
    processor: FramePoseProcessor,
    source: Any,
    *,
    prefetch: int = 8,
    fps: float | None = None,
    max_frames: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> Iterator[tuple[Frame, Poses]]:
    """The frame loop of the stream: each decoded frame with its poses.

    :func:`stream_poses` and :func:`posekit.video.run.run_video` (which also
    needs the images and ``processor``'s counters) both run this loop.

    With more than one worker (:func:`posekit.engine.plan_engine`) and an
    estimator that can be replicated (:attr:`PoseEstimator.replicable
    <posekit.pipeline.PoseEstimator.replicable>`: models built from names or paths,
    running on the CPU -- one on an accelerator runs the serial loop, its one
    copy of the networks owning the device), the loop is pipelined: the detection
    frames of the schedule (detector + pose network, which need nothing from
    earlier frames) run ahead on replicas of the estimator while this thread
    propagates the poses of the frames in between and tracks every frame in
    order. Results are the same as the serial loop's. Replicas: all workers with
    ``detect_every=1``, all but one otherwise (this thread's propagation takes the
    last one; ``processor.estimator`` should then have ``threads``-thread sessions,
    and the crops of a propagated frame run on ``workers`` threads at once,
    :meth:`~posekit.pipeline.PoseEstimator.parallel_crops`).

    Args:
        processor: the per-frame logic (detection / propagation, tracking,
            smoothing); its counters (``detections_run``, ``tracker.stats``)
            stay readable afterwards.
        source: video file, folder of frames / glob, webcam index, stream URL,
            or an open :class:`~posekit.video.sources.FrameSource`.
        prefetch: frames decoded ahead in a background thread (0: no thread).
        fps: frame rate for image folders.
        max_frames: stop after this many frames.
        workers: the engine's workers (``None``: one per CPU; 1: the serial loop).
        threads: intra-op threads of each replica's sessions.

    Yields:
        ``(frame, poses)``: the :class:`~posekit.video.sources.Frame`
        (``index``, ``time``, BGR ``image`` ``(H, W, 3)``) and its poses.
        Closing the generator (or breaking out of the loop) stops the decoder
        thread and releases the source.
    """
    from posekit.engine import EnginePlan, ReplicaPool, plan_engine

    plan = plan_engine(workers, threads)
    estimator = processor.estimator
    pipelined = plan.parallel and getattr(estimator, "replicable", False)
    src = open_source(source, fps=fps)
    frames = prefetch_iter(src, prefetch)
    frames_in = itertools.islice(frames, max_frames)  # at most max_frames frames (None: all)
    try:
        if not pipelined:
            for frame in frames_in:
                yield frame, processor.process(frame.index, frame.time, frame.image)
            return
        own = processor.detect_every == 1  # no propagation: the estimator can be one of the replicas
        replicas = estimator.replicas(EnginePlan(plan.workers if own else max(1, plan.workers - 1), plan.threads),
                                      include_self=own)
        # frames held at most: the next detection frame is submitted while this one's followers are propagated
        pool = ReplicaPool(replicas, max_in_flight=max(2 * len(replicas), processor.detect_every + 1))
        try:
            # the propagated frames go one after the other: their crops use every worker's core
            with contextlib.nullcontext() if own else estimator.parallel_crops(plan.workers):
                yield from _pipelined(processor, frames_in, pool)
        finally:
            pool.close()
            estimator.gather_stats(replicas)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
        src.close()


def _pipelined(processor: FramePoseProcessor, frames: Iterator[Frame], pool: Any) -> Iterator[tuple[Frame, Poses]]:
    """Detection frames run on ``pool``'s replicas as they are decoded (:meth:`ReplicaPool.map
    <posekit.engine.ReplicaPool.map>`, in order, bounded); every frame finished by ``processor`` here."""
    schedule = DetectionSchedule(processor.detect_every)  # the processor's rule, fed the same frames

    def ahead(estimator: Estimator, item: tuple[Frame, bool]) -> tuple[Frame, Poses | None]:
        frame, detect = item
        return frame, detection_poses(estimator, frame.image) if detect else None

    scheduled = ((frame, schedule.next(frame.image.shape)) for frame in frames)
    for frame, detected in pool.map(ahead, scheduled):
        yield frame, processor.process(frame.index, frame.time, frame.image, detected=detected)


def stream_poses(
    estimator: Estimator,
    source: Any,
    *,
    detect_every: int = 1,
    tracker_config: TrackerConfig | None = None,
    smoothing: OneEuroConfig | None = None,
    prefetch: int = 8,
    track: bool = True,
    config: StreamConfig | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> Iterator[tuple[int, float, Poses]]:
    """Poses frame by frame, with track ids, in constant memory.

    Args:
        estimator: a :class:`posekit.pipeline.PoseEstimator` (or anything with
            ``detect``, ``estimate`` and ``schema``).
        source: video file, folder of frames / glob, webcam index, stream URL,
            or an open :class:`~posekit.video.sources.FrameSource`.
        detect_every: run the person detector every ``N`` frames; poses are
            propagated in between.
        tracker_config: tracker settings.
        smoothing: One-Euro parameters (None: no smoothing).
        prefetch: frames decoded ahead in a background thread (0: no thread).
        track: assign track ids.
        config: duplicate suppression and propagation between detection frames.
        fps: frame rate for image folders.
        max_frames: stop after this many frames.
        workers, threads: the parallel engine (see :func:`stream_frames`; ``workers=1``: serial).

    Yields:
        ``(index, time_seconds, poses)`` for each decoded frame. ``index`` is
        the frame's position in the source (unreadable frames are skipped).
        Closing the generator (or breaking out of the loop) stops the decoder
        thread and releases the source.
    """
    processor = FramePoseProcessor(
        estimator, detect_every=detect_every, tracker_config=tracker_config, track=track,
        smoothing=smoothing, config=config,
    )
    items = stream_frames(processor, source, prefetch=prefetch, fps=fps, max_frames=max_frames, workers=workers,
                          threads=threads)
    try:
        for frame, poses in items:
            yield frame.index, frame.time, poses
    finally:
        items.close()
