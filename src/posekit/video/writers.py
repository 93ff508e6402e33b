"""Output files of a video run, each valid at any time it can be interrupted.

* :class:`JsonlWriter` -- ``results.jsonl``: one JSON object per frame,
  ``{"frame": i, "time": s, "poses": [{"track_id", "box", "keypoints", "score"}]}``,
  flushed line by line (a crash loses at most the line being written).
* :class:`AlphaPoseJsonWriter` -- AlphaPose's result list (``image_id`` = frame
  file name such as ``"0.jpg"``, ``idx`` = track id), streamed entry by entry
  into a temporary file and moved into place, closed with ``]``, on
  :meth:`~AlphaPoseJsonWriter.close` (normal end or interrupt). Memory stays flat.
* :class:`TrackSummary` -- per-track statistics (``tracks.json``): id,
  first/last frame, frames seen, mean score; a few numbers per track.
* :class:`VideoRenderer` -- the rendered video (skeletons and ids) at the
  input's fps and size; ``close`` finalises the container.
* :func:`write_json_atomic` -- indented JSON through :func:`posekit.io.atomic_write_json`
  (temporary file, fsync, ``os.replace``), so readers never see half a file.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import IO, Any, Callable, Sequence

import cv2
import numpy as np

from posekit.draw import draw_poses
from posekit.io import atomic_write_json, opencv_path
from posekit.structures import Poses

__all__ = [
    "frame_record",
    "JsonlWriter",
    "AlphaPoseJsonWriter",
    "TrackSummary",
    "VideoRenderer",
    "write_json_atomic",
    "render_frame",
    "BROWSER_CODECS",
]

log = logging.getLogger(__name__)


def _r(value: float, decimals: int) -> float | None:
    v = float(value)
    return round(v, decimals) if math.isfinite(v) else None


def frame_record(index: int, time: float, poses: Poses, decimals: int = 2) -> dict[str, Any]:
    """The ``results.jsonl`` object of one frame.

    ``{"frame": index, "time": seconds, "poses": [{"track_id": int (-1 untracked),
    "box": [x1, y1, x2, y2], "keypoints": [[x, y, score], ...K], "score": float}]}``.
    """
    people = []
    for i in range(len(poses)):
        kp = poses.keypoints[i]
        ks = poses.keypoint_scores[i]
        people.append({
            "track_id": int(poses.track_ids[i]),
            "box": [_r(v, decimals) for v in poses.boxes[i]],
            "keypoints": [[_r(kp[k, 0], decimals), _r(kp[k, 1], decimals), _r(ks[k], 4)] for k in range(len(kp))],
            "score": _r(poses.scores[i], 5),
        })
    return {"frame": int(index), "time": round(float(time), 6), "poses": people}


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (:func:`posekit.io.atomic_write_json`)."""
    atomic_write_json(path, data, indent=indent)


class JsonlWriter:
    """``results.jsonl``: one line per frame, flushed as written.

    Args:
        path: output file (overwritten).
        decimals: decimals of coordinates.
    """

    def __init__(self, path: str | os.PathLike, decimals: int = 2) -> None:
        self.path = Path(path)
        self.decimals = decimals
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")
        self.lines = 0

    def write(self, index: int, time: float, poses: Poses) -> None:
        """Append the frame's record and flush."""
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        line = json.dumps(frame_record(index, time, poses, self.decimals), separators=(",", ":"))
        self._file.write(line + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AlphaPoseJsonWriter:
    """AlphaPose-style ``alphapose-results.json``, streamed to disk.

    Entries go to ``<path>.partial`` as they come (a JSON array being built);
    :meth:`close` writes the closing bracket and renames the file to ``path``.
    ``image_id`` is the frame's file name (``"12.jpg"`` for frame 12 of a
    video), ``idx`` the track id (absent for untracked poses), as
    :meth:`Poses.to_alphapose` writes them.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._file: IO[str] | None = open(self._partial, "w", encoding="utf-8")
        self._file.write("[")
        self.entries = 0

    def write(self, image_name: str, poses: Poses) -> None:
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        for entry in poses.to_alphapose(image_name):
            self._file.write(("," if self.entries else "") + "\n" + json.dumps(entry, separators=(",", ":")))
            self.entries += 1

    def close(self) -> None:
        """Finish the JSON array and move it into place (idempotent)."""
        if self._file is None:
            return
        self._file.write("\n]\n")
        self._file.close()
        self._file = None
        os.replace(self._partial, self.path)

    def __enter__(self) -> "AlphaPoseJsonWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TrackSummary:
    """Per-track statistics gathered from the output stream.

    Memory grows with the number of distinct track ids (a few numbers each),
    not with the number of frames.
    """

    def __init__(self) -> None:
        self._tracks: dict[int, list[float]] = {}  # id -> [first, last, seen, score_sum, kp_conf_sum]

    def update(self, index: int, poses: Poses) -> None:
        for tid, score, conf in zip(poses.track_ids.tolist(), poses.scores.tolist(),
                                    poses.keypoint_scores.mean(axis=1).tolist() if len(poses) else []):
            if tid < 0:
                continue
            entry = self._tracks.get(tid)
            if entry is None:
                self._tracks[tid] = [index, index, 1, score, conf]
            else:
                entry[1] = index
                entry[2] += 1
                entry[3] += score
                entry[4] += conf

    def __len__(self) -> int:
        return len(self._tracks)

    def to_list(self) -> list[dict[str, Any]]:
        """``[{"track_id", "first_frame", "last_frame", "frames_seen", "mean_score", "mean_keypoint_score"}]`` by id."""
        out = []
        for tid in sorted(self._tracks):
            first, last, seen, score_sum, conf_sum = self._tracks[tid]
            out.append({
                "track_id": tid,
                "first_frame": int(first),
                "last_frame": int(last),
                "frames_seen": int(seen),
                "mean_score": round(score_sum / seen, 5),
                "mean_keypoint_score": round(conf_sum / seen, 5),
            })
        return out

    def write(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_list())


def render_frame(image: np.ndarray, poses: Poses, draw: Callable[..., np.ndarray] | None = None) -> np.ndarray:
    """A copy of ``image`` with skeletons, boxes and track ids drawn (:func:`posekit.draw.draw_poses`)."""
    return (draw or draw_poses)(image, poses)


#: Codecs for a video a web browser will play: VP8 in WebM, else MPEG-4 Part 2, else MJPEG.
BROWSER_CODECS: tuple[tuple[str, str], ...] = ((".webm", "VP80"), (".mp4", "mp4v"), (".avi", "MJPG"))
_MEDIA_TYPES = {".webm": "video/webm", ".mp4": "video/mp4", ".avi": "video/x-msvideo", ".mkv": "video/x-matroska"}


class VideoRenderer:
    """Write rendered frames to a video at a fixed fps and size.

    Tries each ``(suffix, fourcc)`` of ``codecs`` in turn (default: ``mp4v`` in
    the path's container, then ``MJPG`` in an ``.avi`` next to it) and keeps the
    first this OpenCV can open; :data:`BROWSER_CODECS` puts VP8 in WebM first,
    which browsers play. Frames of another size are resized to ``size``.

    Args:
        path: output file (``.mp4`` suggested; the suffix may change to the codec's).
        fps: frames per second of the output.
        size: ``(width, height)``.
        draw: ``(image, poses) -> image`` renderer (default: :func:`posekit.draw.draw_poses`).
        codecs: ``(suffix, fourcc)`` pairs to try, in order.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 draw: Callable[..., np.ndarray] | None = None,
                 codecs: Sequence[tuple[str, str]] | None = None) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._draw = draw or draw_poses
        self.frames = 0
        path = Path(path)
        self._writer: cv2.VideoWriter | None = None
        for suffix, fourcc in codecs or ((path.suffix or ".mp4", "mp4v"), (".avi", "MJPG")):
            candidate = path.with_suffix(suffix)
            writer = cv2.VideoWriter(opencv_path(candidate), cv2.VideoWriter_fourcc(*fourcc), self.fps, self.size)
            if writer.isOpened():
                self._writer, self.path = writer, candidate
                break
            writer.release()
        if self._writer is None:
            raise OSError(f"cannot open a video writer for {path}")

    @property
    def media_type(self) -> str:
        """The MIME type of the file written (``video/webm``, ``video/mp4``, ...)."""
        return _MEDIA_TYPES.get(self.path.suffix.lower(), "application/octet-stream")

    def write(self, image: np.ndarray, poses: Poses) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path} is closed")
        frame = self._draw(image, poses)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finalise the file (idempotent)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoRenderer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
