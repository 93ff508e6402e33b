"""Video runs: stream a video, image sequence, webcam or URL into result files.

:func:`run_video` streams the input through the pose estimator (one loop:
:func:`posekit.video.stream.stream_frames`, the loop of
:func:`~posekit.video.stream.stream_poses`) and writes, in ``out_dir``:

* ``results.jsonl`` -- one JSON object per frame, flushed as written;
* ``tracks.json`` -- one entry per track: id, first/last frame, frames seen, mean score;
* ``alphapose-results.json`` -- AlphaPose's format (``image_id`` = ``"<frame>.jpg"``, ``idx`` = track id);
* ``<name>_posekit.mp4`` -- with ``save_video``: skeletons and ids at the input's fps and size;
* ``summary.json`` -- what happened: frames processed / skipped, early end, interrupt, speed, tracks.

Ctrl-C stops the run cleanly: every file above is closed and valid, and the
summary says ``"interrupted": true``. The same holds when the source ends early
(truncated video, dropped stream).

The command-line options of video inputs (``posekit predict VIDEO``) are in
:mod:`posekit.cli.video`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH, draw_poses
from posekit.video.smoothing import OneEuroConfig
from posekit.video.sources import FrameSource, SourceInfo, open_source
from posekit.video.stream import Estimator, FramePoseProcessor, StreamConfig, stream_frames
from posekit.video.tracker import TrackerConfig
from posekit.video.writers import AlphaPoseJsonWriter, JsonlWriter, TrackSummary, VideoRenderer, write_json_atomic

__all__ = ["VideoSummary", "run_video"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoSummary:
    """Outcome of :func:`run_video` (also written to ``summary.json``).

    Attributes:
        source: the input (path, URL or ``webcam:N``).
        kind: ``"video"``, ``"images"``, ``"webcam"`` or ``"stream"``.
        frames: frames processed (one ``results.jsonl`` line each).
        skipped: unreadable frames skipped.
        expected_frames: the source's announced frame count (None if unknown).
        ended_early: the source stopped before its announced end / dropped.
        end_reason: why reading stopped.
        interrupted: stopped by Ctrl-C (KeyboardInterrupt).
        error: the exception that stopped the run, if any (it is re-raised).
        elapsed_seconds: wall time of the run.
        fps: frames processed per second.
        source_fps: the input's frame rate.
        detect_every: detector period.
        detections: detector runs.
        tracks: tracks created (confirmed ids).
        tracker: tracker counters (confirmed, deleted, discarded, reassociated, ...).
        files: output files by role.
    """

    source: str
    kind: str
    frames: int
    skipped: int
    expected_frames: int | None
    ended_early: bool
    end_reason: str
    interrupted: bool
    error: str | None
    elapsed_seconds: float
    fps: float
    source_fps: float
    detect_every: int
    detections: int
    tracks: int
    tracker: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_video(
    estimator: Estimator,
    source: Any,
    out_dir: str | os.PathLike,
    *,
    detect_every: int = 1,
    save_video: bool = False,
    smoothing: OneEuroConfig | bool | None = None,
    alphapose_json: bool = True,
    progress: bool = True,
    track: bool = True,
    tracker_config: TrackerConfig | None = None,
    stream_config: StreamConfig | None = None,
    prefetch: int = 8,
    fps: float | None = None,
    max_frames: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    ignore_orientation: bool = False,
    draw_pose_thresh: float = DEFAULT_POSE_THRESH,
    draw_keypoint_thresh: float = DEFAULT_KEYPOINT_THRESH,
) -> VideoSummary:
    """Stream a video / image sequence / webcam / URL through ``estimator`` and write results.

    Args:
        estimator: a :class:`posekit.pipeline.PoseEstimator` (``detect``, ``estimate``, ``schema``).
        source: anything :func:`posekit.video.sources.open_source` accepts.
        out_dir: output folder (created).
        detect_every: run the detector every ``N`` frames, propagate poses in between.
        save_video: also write the rendered video.
        smoothing: One-Euro smoothing: ``True`` (defaults), a
            :class:`~posekit.video.smoothing.OneEuroConfig`, or None/False.
        alphapose_json: also write ``alphapose-results.json``.
        progress: show a tqdm progress bar (with frames/s).
        track: assign track ids (``--no-track`` turns this off).
        tracker_config: :class:`~posekit.video.tracker.TrackerConfig`.
        stream_config: :class:`~posekit.video.stream.StreamConfig` (duplicates, propagation).
        prefetch: frames decoded ahead in a background thread.
        fps: frame rate of image sequences (timestamps, rendered video).
        max_frames: stop after this many frames.
        workers, threads: the parallel engine (:func:`~posekit.video.stream.stream_frames`: detection
            frames run ahead on estimator replicas; ``workers=1``: the serial loop).
        ignore_orientation: image sequences: keep each file's stored pixels,
            ignoring its EXIF orientation (``--ignore-exif``).
        draw_pose_thresh: rendered video: draw only poses scored at least this
            (``pose_thresh`` of :func:`posekit.draw.draw_poses`, ``--draw-pose-thr``).
        draw_keypoint_thresh: rendered video: draw only keypoints scored at least
            this (``keypoint_thresh`` of :func:`~posekit.draw.draw_poses`, ``--draw-kpt-thr``).

    Returns:
        the :class:`VideoSummary`. A KeyboardInterrupt ends the run normally
        (``interrupted=True``); other exceptions propagate after the files
        have been closed and the summary written.
    """
    if smoothing is True:
        smoothing = OneEuroConfig()
    elif smoothing is False:
        smoothing = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = FramePoseProcessor(
        estimator, detect_every=detect_every, tracker_config=tracker_config, track=track,
        smoothing=smoothing, config=stream_config,
    )
    files: dict[str, str] = {}
    tracks = TrackSummary()
    count = 0
    interrupted = False
    error: BaseException | None = None
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_source(source, fps=fps, ignore_orientation=ignore_orientation))
        info = src.info
        jsonl = stack.enter_context(JsonlWriter(out / "results.jsonl"))
        files["results"] = str(jsonl.path)
        alphapose: AlphaPoseJsonWriter | None = None
        if alphapose_json:
            alphapose = stack.enter_context(AlphaPoseJsonWriter(out / "alphapose-results.json"))
            files["alphapose"] = str(alphapose.path)
        renderer: VideoRenderer | None = None
        log.info("processing %s (%s, %dx%d, %.3g fps, %s frames), detector every %d frame(s)",
                 info.name, info.kind, info.width, info.height, info.fps, info.frame_count or "?", detect_every)
        bar = stack.enter_context(tqdm(total=_expected_total(info, max_frames), unit="frame", desc=_video_name(info),
                                       disable=not progress, dynamic_ncols=True))
        if progress:
            stack.enter_context(logging_redirect_tqdm())
        items = stack.enter_context(contextlib.closing(
            stream_frames(processor, src, prefetch=prefetch, max_frames=max_frames, workers=workers,
                          threads=threads)))
        start = time.perf_counter()
        try:
            for frame, poses in items:
                with _sigint_deferred():  # a frame goes to every output, or to none
                    jsonl.write(frame.index, frame.time, poses)
                    if alphapose is not None:
                        alphapose.write(src.frame_name(frame.index), poses)
                    tracks.update(frame.index, poses)
                    if save_video:
                        if renderer is None:
                            draw = functools.partial(draw_poses, pose_thresh=draw_pose_thresh,
                                                     keypoint_thresh=draw_keypoint_thresh)
                            renderer = stack.enter_context(_open_renderer(out, info, frame.image.shape, draw))
                            files["video"] = str(renderer.path)
                        # Tracked people only: in a crowd the untracked poses (not yet
                        # confirmed, or too weak) bury the picture; they stay in the JSON.
                        renderer.write(frame.image, poses[poses.track_ids >= 0] if track else poses)
                    count += 1
                bar.update(1)
                if count % 10 == 0:
                    bar.set_postfix(people=len(poses), tracks=len(tracks), refresh=False)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted after %d frames; closing output files", count)
        except BaseException as exc:
            error = exc
            raise
        finally:
            with _sigint_deferred():  # a second Ctrl-C waits until the files are closed
                elapsed = time.perf_counter() - start
                stack.close()  # the stream (decoder thread, source), progress bar, writers
                summary = _finish(out, files, tracks, src, processor, count=count, elapsed=elapsed,
                                  interrupted=interrupted, error=error, max_frames=max_frames,
                                  detect_every=detect_every)
    return summary


def _finish(
    out: Path,
    files: dict[str, str],
    tracks: TrackSummary,
    src: FrameSource,
    processor: FramePoseProcessor,
    *,
    count: int,
    elapsed: float,
    interrupted: bool,
    error: BaseException | None,
    max_frames: int | None,
    detect_every: int,
) -> VideoSummary:
    """Write ``tracks.json`` and ``summary.json`` of a finished (closed) run and log its outcome."""
    info, stats, tracker = src.info, src.stats, processor.tracker
    tracks.write(out / "tracks.json")
    files["tracks"] = str(out / "tracks.json")
    # The stream reads one frame past max_frames before it stops: a source that
    # delivered more frames than were processed was cut by max_frames.
    stopped_at_max = max_frames is not None and count >= max_frames and stats.frames > count
    summary = VideoSummary(
        source=info.name,
        kind=info.kind,
        frames=count,
        skipped=stats.skipped,
        expected_frames=info.frame_count,
        ended_early=stats.ended_early,
        end_reason=(
            "interrupted" if interrupted else "error" if error else "max_frames" if stopped_at_max
            else stats.end_reason or "stopped"
        ),
        interrupted=interrupted,
        error=None if error is None else f"{type(error).__name__}: {error}",
        elapsed_seconds=round(elapsed, 3),
        fps=round(count / elapsed, 3) if elapsed > 0 else 0.0,
        source_fps=info.fps,
        detect_every=int(detect_every),
        detections=processor.detections_run,
        tracks=tracker.stats.confirmed if tracker is not None else 0,
        tracker=asdict(tracker.stats) if tracker is not None else {},
        files=files,
    )
    files["summary"] = str(out / "summary.json")
    write_json_atomic(out / "summary.json", summary.to_dict())
    if stats.ended_early:
        log.warning("%s ended early: %s; output up to frame %d is complete", info.name, stats.end_reason,
                    stats.last_index)
    log.info("%d frames in %.1f s (%.2f frames/s), %d skipped, %d tracks -> %s",
             count, elapsed, summary.fps, stats.skipped, summary.tracks, out)
    return summary


def _video_name(info: SourceInfo) -> str:
    """Short name of the input for the progress bar and the rendered video's file name."""
    if info.kind == "webcam":
        return info.name.replace(":", "")
    if info.kind == "stream":
        return "stream"
    stem = Path(info.name.rstrip("/\\*")).name or "video"
    return Path(stem).stem or "video"


def _expected_total(info: SourceInfo, max_frames: int | None) -> int | None:
    """Frames the progress bar expects: the announced count, capped by ``max_frames``."""
    total = info.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    return total


def _open_renderer(
    out: Path, info: SourceInfo, image_shape: tuple[int, ...], draw: Callable[..., Any] | None = None,
) -> VideoRenderer:
    """The rendered video at the input's fps and size (the first frame's ``(H, W, 3)`` if unknown).

    ``draw`` renders each frame (default: :func:`posekit.draw.draw_poses` with its defaults).
    """
    size = (info.width, info.height) if info.width and info.height else (image_shape[1], image_shape[0])
    return VideoRenderer(out / f"{_video_name(info)}_posekit.mp4", info.fps, size, draw=draw)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then deliver it.

    Only in the main thread (elsewhere, and where signals cannot be handled,
    the block runs unprotected). The previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt
