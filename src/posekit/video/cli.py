"""Video runs: ``run_video`` and the command-line options of video inputs.

``posekit predict VIDEO --out DIR`` (and webcam indices / stream URLs, see
:func:`posekit.video.sources.is_video_source`) ends up in :func:`run_video`,
which streams the input through the pose estimator and writes, in ``DIR``:

* ``results.jsonl`` -- one JSON object per frame, flushed as written;
* ``tracks.json`` -- one entry per track: id, first/last frame, frames seen, mean score;
* ``alphapose-results.json`` -- AlphaPose's format (``image_id`` = ``"<frame>.jpg"``, ``idx`` = track id);
* ``<name>_posekit.mp4`` -- with ``save_video``: skeletons and ids at the input's fps and size;
* ``summary.json`` -- what happened: frames processed / skipped, early end, interrupt, speed, tracks.

Ctrl-C stops the run cleanly: every file above is closed and valid, and the
summary says ``"interrupted": true``. The same holds when the source ends early
(truncated video, dropped stream).

This module imports only :mod:`argparse` at import time (``posekit --help``
stays fast); the heavy parts are imported by :func:`run_video`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "VideoSummary",
    "run_video",
    "add_video_arguments",
    "video_options_from_args",
    "run_video_from_args",
    "is_video_source",
]

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


def _video_name(info: Any) -> str:
    if info.kind == "webcam":
        return info.name.replace(":", "")
    if info.kind == "stream":
        return "stream"
    stem = Path(info.name.rstrip("/\\*")).name or "video"
    return Path(stem).stem or "video"


def run_video(
    estimator: Any,
    source: Any,
    out_dir: str | os.PathLike,
    *,
    detect_every: int = 1,
    save_video: bool = False,
    smoothing: Any = None,
    alphapose_json: bool = True,
    progress: bool = True,
    track: bool = True,
    tracker_config: Any = None,
    stream_config: Any = None,
    prefetch: int = 8,
    fps: float | None = None,
    max_frames: int | None = None,
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

    Returns:
        the :class:`VideoSummary`. A KeyboardInterrupt ends the run normally
        (``interrupted=True``); other exceptions propagate after the files
        have been closed and the summary written.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from posekit.video.prefetch import prefetch as prefetch_iter
    from posekit.video.smoothing import OneEuroConfig
    from posekit.video.sources import open_source
    from posekit.video.stream import FramePoseProcessor
    from posekit.video.writers import (
        AlphaPoseJsonWriter,
        JsonlWriter,
        TrackSummary,
        VideoRenderer,
        write_json_atomic,
    )

    if smoothing is True:
        smoothing = OneEuroConfig()
    elif smoothing is False:
        smoothing = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    src = open_source(source, fps=fps)
    info = src.info
    processor = FramePoseProcessor(
        estimator, detect_every=detect_every, tracker_config=tracker_config, track=track,
        smoothing=smoothing, config=stream_config,
    )
    files: dict[str, str] = {}
    jsonl = JsonlWriter(out / "results.jsonl")
    files["results"] = str(jsonl.path)
    alphapose = AlphaPoseJsonWriter(out / "alphapose-results.json") if alphapose_json else None
    if alphapose is not None:
        files["alphapose"] = str(alphapose.path)
    tracks = TrackSummary()
    renderer: VideoRenderer | None = None
    total = info.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    log.info("processing %s (%s, %dx%d, %.3g fps, %s frames), detector every %d frame(s)",
             info.name, info.kind, info.width, info.height, info.fps, info.frame_count or "?", detect_every)
    bar = tqdm(total=total, unit="frame", desc=_video_name(info), disable=not progress, dynamic_ncols=True)
    frames = prefetch_iter(src, prefetch)
    interrupted = False
    stopped_at_max = False
    error: BaseException | None = None
    count = 0
    start = time.perf_counter()
    redirect = logging_redirect_tqdm() if progress else contextlib.nullcontext()
    try:
        redirect.__enter__()
        for index, t, image in frames:
            if max_frames is not None and count >= max_frames:
                stopped_at_max = True
                break
            poses = processor.process(index, t, image)
            with _sigint_deferred():  # a frame goes to every output, or to none
                jsonl.write(index, t, poses)
                if alphapose is not None:
                    alphapose.write(src.frame_name(index), poses)
                tracks.update(index, poses)
                if save_video:
                    if renderer is None:
                        size = (info.width, info.height) if info.width and info.height else (
                            image.shape[1], image.shape[0])
                        renderer = VideoRenderer(out / f"{_video_name(info)}_posekit.mp4", info.fps, size)
                        files["video"] = str(renderer.path)
                    # Tracked people only: in a crowd the untracked poses (not yet
                    # confirmed, or too weak) bury the picture; they stay in the JSON.
                    renderer.write(image, poses[poses.track_ids >= 0] if track else poses)
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
            redirect.__exit__(None, None, None)
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            src.close()
            bar.close()
            jsonl.close()
            if alphapose is not None:
                alphapose.close()
            if renderer is not None:
                renderer.close()
            tracks.write(out / "tracks.json")
            files["tracks"] = str(out / "tracks.json")
            stats = src.stats
            tracker = processor.tracker
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


@contextlib.contextmanager
def _sigint_deferred() -> Any:
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


# ----------------------------------------------------------------------------- command line


def add_video_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the video / stream options to ``parser`` (an argument group).

    Options: ``--detect-every N``, ``--save-video``, ``--smooth`` (with
    ``--smooth-min-cutoff``, ``--smooth-beta``), ``--no-track``,
    ``--track-min-hits``, ``--track-max-misses``, ``--no-alphapose-json``,
    ``--sequence-fps``, ``--max-frames``, ``--prefetch``.
    """
    group = parser.add_argument_group(
        "video, webcam and streams",
        "used when the input is a video file, a webcam index (0) or a stream URL (rtsp://, http://)",
    )
    group.add_argument("--detect-every", type=_positive_int, default=1, metavar="N",
                       help="run the person detector every N frames and follow people with the pose "
                            "model in between (default: 1, every frame)")
    group.add_argument("--save-video", action="store_true",
                       help="write a video with skeletons and track ids (input fps and size)")
    group.add_argument("--smooth", action="store_true", help="One-Euro smoothing of keypoints per track")
    group.add_argument("--smooth-min-cutoff", type=float, default=1.0, metavar="HZ",
                       help="One-Euro minimum cutoff frequency (default: 1.0)")
    group.add_argument("--smooth-beta", type=float, default=0.05, metavar="B",
                       help="One-Euro speed coefficient (default: 0.05)")
    group.add_argument("--no-track", action="store_true", help="do not assign track ids")
    group.add_argument("--track-min-hits", type=_positive_int, default=3, metavar="K",
                       help="frames a new person must be seen before getting an id (default: 3)")
    group.add_argument("--track-max-misses", type=_non_negative_int, default=30, metavar="M",
                       help="frames a lost track is kept for re-identification (default: 30)")
    group.add_argument("--no-alphapose-json", action="store_true",
                       help="do not write alphapose-results.json")
    group.add_argument("--sequence-fps", type=float, default=None, metavar="FPS",
                       help="frame rate of an image sequence (default: 25)")
    group.add_argument("--max-frames", type=_positive_int, default=None, metavar="N",
                       help="stop after N frames")
    group.add_argument("--prefetch", type=_non_negative_int, default=8, metavar="N",
                       help="frames decoded ahead in a background thread (default: 8, 0: none)")
    return group


def video_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`run_video` from parsed :func:`add_video_arguments` options."""
    from posekit.video.smoothing import OneEuroConfig
    from posekit.video.tracker import TrackerConfig

    smoothing = (
        OneEuroConfig(min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta) if args.smooth else None
    )
    return {
        "detect_every": args.detect_every,
        "save_video": args.save_video,
        "smoothing": smoothing,
        "alphapose_json": not args.no_alphapose_json,
        "track": not args.no_track,
        "tracker_config": TrackerConfig(min_hits=args.track_min_hits, max_misses=args.track_max_misses),
        "fps": args.sequence_fps,
        "max_frames": args.max_frames,
        "prefetch": args.prefetch,
    }


def run_video_from_args(
    args: argparse.Namespace, estimator: Any, source: Any, out_dir: str | os.PathLike, *, progress: bool | None = None
) -> int:
    """``posekit predict VIDEO``: :func:`run_video` with the parsed :func:`add_video_arguments` options.

    The progress bar is shown unless ``args.quiet`` (or ``progress=False``).

    Returns:
        the exit code: 0 when the run finished (also when the source ended
        early: the output is complete up to that point, a warning says so),
        130 when interrupted with Ctrl-C (the output files are closed and valid).
    """
    if progress is None:
        progress = not getattr(args, "quiet", False)
    summary = run_video(estimator, source, out_dir, progress=progress, **video_options_from_args(args))
    return 130 if summary.interrupted else 0


def is_video_source(source: Any) -> bool:
    """Whether ``posekit predict`` should treat ``source`` as a video, webcam or stream.

    See :func:`posekit.video.sources.is_video_source` (imported on first call).
    """
    from posekit.video.sources import is_video_source as _is_video_source

    return _is_video_source(source)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
