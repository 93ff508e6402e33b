"""Videos, image sequences, webcams and streams: streaming inference with pose tracking.

* :func:`stream_poses` -- generator of ``(index, time, poses)`` with track ids,
  constant memory (``PoseEstimator.stream`` calls it).
* :func:`run_video` -- writes ``results.jsonl``, ``tracks.json``,
  ``alphapose-results.json``, ``summary.json`` and optionally a rendered video.
* :class:`PoseTracker` / :class:`TrackerConfig` -- OKS + IoU Hungarian tracker.
* :class:`PoseSmoother` / :class:`OneEuroConfig` -- One-Euro keypoint smoothing.
* :func:`open_source` / :func:`is_video_source` -- frame sources.
* :class:`BackgroundIterator` -- bounded read-ahead in a worker thread.

Names are imported lazily, so ``import posekit.video`` (and the argument
helpers in :mod:`posekit.video.cli`) cost nothing until used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "stream_poses": "stream",
    "FramePoseProcessor": "stream",
    "StreamConfig": "stream",
    "run_video": "cli",
    "VideoSummary": "cli",
    "add_video_arguments": "cli",
    "video_options_from_args": "cli",
    "run_video_from_args": "cli",
    "PoseTracker": "tracker",
    "TrackerConfig": "tracker",
    "TrackerStats": "tracker",
    "PoseSmoother": "smoothing",
    "OneEuroConfig": "smoothing",
    "OneEuroFilter": "smoothing",
    "open_source": "sources",
    "is_video_source": "sources",
    "FrameSource": "sources",
    "Frame": "sources",
    "BackgroundIterator": "prefetch",
    "JsonlWriter": "writers",
    "AlphaPoseJsonWriter": "writers",
    "TrackSummary": "writers",
    "VideoRenderer": "writers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'posekit.video' has no attribute {name!r}")
    return getattr(importlib.import_module(f"posekit.video.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
