"""Videos, image sequences, webcams and streams: streaming inference with pose tracking.

* :func:`stream_poses` -- generator of ``(index, time, poses)`` with track ids,
  constant memory (``PoseEstimator.stream`` calls it); its frame loop,
  :func:`stream_frames`, also yields the images.
* :func:`run_video` -- writes ``results.jsonl``, ``tracks.json``,
  ``alphapose-results.json``, ``summary.json`` and optionally a rendered video
  (:mod:`posekit.video.run`; its command-line options are in :mod:`posekit.cli.video`).
* :class:`PoseTracker` / :class:`TrackerConfig` -- OKS + IoU Hungarian tracker.
* :class:`PoseSmoother` / :class:`OneEuroConfig` -- One-Euro keypoint smoothing.
* :func:`open_source` / :func:`is_video_source` -- frame sources.
* :class:`BackgroundIterator` -- bounded read-ahead in a worker thread.

Names are imported lazily, so ``import posekit.video`` costs nothing until used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "stream_poses": "stream",
    "FramePoseProcessor": "stream",
    "StreamConfig": "stream",
    "stream_frames": "stream",
    "run_video": "run",
    "VideoSummary": "run",
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
