"""Command-line options of video inputs: ``posekit predict VIDEO`` (webcam indices, stream URLs).

Not a subcommand: :mod:`posekit.cli.predict` adds these options to its parser
(:func:`add_video_arguments`), recognises video inputs
(:func:`is_video_source`) and hands them to :func:`run_video_from_args`, which
calls the library function :func:`posekit.video.run.run_video`.

This module imports only :mod:`argparse` at import time (``posekit --help``
stays fast); the video modules are imported on first use.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posekit.video.stream import Estimator

__all__ = [
    "add_video_arguments", "add_draw_arguments", "video_options_from_args", "run_video_from_args", "is_video_source",
]


def add_video_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the video / stream options to ``parser`` (an argument group).

    Options: ``--detect-every N``, ``--save-video``, ``--smooth`` (with
    ``--smooth-min-cutoff``, ``--smooth-beta``), ``--no-track``,
    ``--track-min-hits``, ``--track-max-misses``, ``--no-alphapose-json``,
    ``--sequence-fps``, ``--max-frames``, ``--prefetch``; and the rendering
    options of :func:`add_draw_arguments`.
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
    add_draw_arguments(parser)
    return group


def add_draw_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the rendering options (``--draw-pose-thr``, ``--draw-kpt-thr``) to ``parser``.

    They apply to ``--save-video`` (read by :func:`video_options_from_args`) and
    to ``posekit predict --save-img`` (read by :mod:`posekit.cli.predict`);
    :func:`add_video_arguments` adds them. Defaults: the measured
    :data:`posekit.draw.DEFAULT_POSE_THRESH` / :data:`~posekit.draw.DEFAULT_KEYPOINT_THRESH`.
    """
    from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH  # constants only: no OpenCV

    group = parser.add_argument_group(
        "rendering (--save-img, --save-video)",
        "which poses and keypoints are drawn; the JSON results keep every pose",
    )
    group.add_argument("--draw-pose-thr", type=_finite_float, default=DEFAULT_POSE_THRESH, metavar="S",
                       help="draw only people whose pose score is at least S "
                            f"(default: {DEFAULT_POSE_THRESH}; 0: every pose)")
    group.add_argument("--draw-kpt-thr", type=_finite_float, default=DEFAULT_KEYPOINT_THRESH, metavar="S",
                       help="draw only keypoints (and limbs) scored at least S; a person with none is not "
                            f"drawn (default: {DEFAULT_KEYPOINT_THRESH})")
    return group


def video_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`posekit.video.run.run_video` from parsed :func:`add_video_arguments` options."""
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
        "workers": getattr(args, "workers", None),
        "threads": getattr(args, "threads", None),
        "draw_pose_thresh": args.draw_pose_thr,
        "draw_keypoint_thresh": args.draw_kpt_thr,
        # --ignore-exif is defined by `posekit predict` (it applies to photos too)
        "ignore_orientation": bool(getattr(args, "ignore_exif", False)),
    }


def run_video_from_args(
    args: argparse.Namespace,
    estimator: Estimator,
    source: Any,
    out_dir: str | os.PathLike,
    *,
    progress: bool | None = None,
) -> int:
    """``posekit predict VIDEO``: :func:`~posekit.video.run.run_video` with the parsed video options.

    The progress bar is shown unless ``args.quiet`` (or ``progress=False``).

    Returns:
        the exit code: 0 when the run finished (also when the source ended
        early: the output is complete up to that point, a warning says so),
        130 when interrupted with Ctrl-C (the output files are closed and valid).
    """
    from posekit.video.run import run_video

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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
