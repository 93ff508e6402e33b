"""Frame sources: video files, folders of frames, webcams and network streams.

Every source is a :class:`FrameSource`: iterate it once to get
:class:`Frame` tuples ``(index, time, image)``:

* ``index`` is the frame's position in the source (0-based). Frames that could
  not be decoded are skipped, so indices can jump; they are never reused.
* ``time`` is in seconds: the container timestamp for video files (or
  ``index / fps``), ``index / fps`` for image folders, and wall-clock time since
  the first frame for webcams and live streams.
* ``image`` is a BGR ``uint8`` array ``(H, W, 3)``. Files of image folders are
  read with :func:`posekit.io.read_image` (EXIF orientation applied unless
  ``ignore_orientation=True``), exactly as ``posekit predict`` reads photos.

Unreadable frames are counted in :attr:`FrameSource.stats` (``skipped``) and
logged; a video that stops before its announced frame count, or a stream that
stops answering, ends the iteration normally and is recorded in
``stats.ended_early`` / ``stats.end_reason`` (and logged as a warning), so
whatever was produced up to that point stays usable.

:func:`open_source` picks the right class from a path, URL or webcam index;
:func:`is_video_source` tells a caller (``posekit predict``) whether an input
should go the video way.
"""

from __future__ import annotations

import glob
import logging
import mimetypes
import os
import re
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import cv2
import numpy as np

from posekit import io as _io
from posekit.io import ImageReadError, natural_key

__all__ = [
    "Frame",
    "SourceInfo",
    "SourceStats",
    "FrameSource",
    "VideoFileSource",
    "CaptureSource",
    "ImageFolderSource",
    "open_source",
    "is_video_source",
    "natural_key",
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "STREAM_SCHEMES",
]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
     ".m2ts", ".3gp", ".ogv", ".asf", ".vob", ".mjpeg", ".mjpg", ".y4m", ".h264", ".hevc"}
)
#: Image file extensions (:data:`posekit.io.IMAGE_EXTENSIONS`).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(_io.IMAGE_EXTENSIONS)
#: URL schemes handed to OpenCV as live streams.
STREAM_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "mms")

_URL_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_GLOB_CHARS = re.compile(r"[*?\[]")


class Frame(NamedTuple):
    """One decoded frame: ``(index, time, image)``; ``image`` is BGR ``(H, W, 3)`` uint8."""

    index: int
    time: float
    image: np.ndarray


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before reading it.

    Attributes:
        kind: ``"video"``, ``"images"``, ``"webcam"`` or ``"stream"``.
        name: the path, URL or ``"webcam:N"``.
        fps: frames per second (the container's, the requested one for image
            folders, or a default of 25 when a camera reports none).
        width, height: frame size in pixels (0 when unknown).
        frame_count: announced number of frames, ``None`` for live sources or
            when the container does not say.
    """

    kind: str
    name: str
    fps: float
    width: int
    height: int
    frame_count: int | None

    @property
    def is_live(self) -> bool:
        """True for webcams and network streams (no known end, wall-clock time)."""
        return self.kind in ("webcam", "stream")


@dataclass
class SourceStats:
    """Counters filled while a source is read (one instance per source).

    Attributes:
        frames: frames delivered.
        skipped: frames that could not be decoded / read and were skipped.
        ended_early: the source stopped before its announced end (truncated
            video, stream dropped, too many unreadable frames in a row).
        end_reason: why iteration stopped (``"end"``, ``"closed"``, or a description).
        last_index: index of the last delivered frame (-1 before any).
    """

    frames: int = 0
    skipped: int = 0
    ended_early: bool = False
    end_reason: str = ""
    last_index: int = -1
    skipped_indices: list[int] = field(default_factory=list)

    #: At most this many skipped indices are remembered (the count is exact).
    MAX_SKIPPED_LISTED = 100

    def note_skipped(self, index: int) -> None:
        self.skipped += 1
        if len(self.skipped_indices) < self.MAX_SKIPPED_LISTED:
            self.skipped_indices.append(int(index))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FrameSource(ABC):
    """A source of frames, iterated once.

    Use as a context manager (or call :meth:`close`) to release the capture.
    ``info`` is available right after construction; ``stats`` fill up while
    iterating.
    """

    info: SourceInfo

    def __init__(self) -> None:
        self.stats = SourceStats()
        self._iterated = False

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated:
            raise RuntimeError(f"{type(self).__name__} can be iterated only once; open the source again")
        self._iterated = True
        return self._closing(self._frames())

    def _closing(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """``frames``, then close the source however the iteration ends (``end_reason``
        is ``"closed"`` when the consumer stopped before the source ended)."""
        try:
            yield from frames
        finally:
            if not self.stats.end_reason:
                self.stats.end_reason = "closed"
            self.close()

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """The frame generator (runs once)."""

    def frame_name(self, index: int) -> str:
        """File name that identifies frame ``index`` in AlphaPose-style output (``"12.jpg"``)."""
        return f"{index}.jpg"

    def close(self) -> None:
        """Release resources (idempotent)."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _finish(self, reason: str, early: bool) -> None:
        self.stats.end_reason = reason
        self.stats.ended_early = early
        if early:
            log.warning("%s: %s (after %d frames, %d skipped)", self.info.name, reason, self.stats.frames,
                        self.stats.skipped)
        else:
            log.debug("%s: %s after %d frames", self.info.name, reason, self.stats.frames)

    def __repr__(self) -> str:
        i = self.info
        return f"{type(self).__name__}({i.name!r}, {i.width}x{i.height}, fps={i.fps:g}, frames={i.frame_count})"


# ----------------------------------------------------------------------------- OpenCV captures


class CaptureSource(FrameSource):
    """A webcam (``int`` index) or a network stream URL, read with ``cv2.VideoCapture``.

    A failed read is retried ``max_consecutive_failures`` times, ``retry_delay``
    seconds apart; then the stream is considered dropped (``stats.ended_early``).

    Args:
        source: camera index or URL.
        fps: override the frame rate reported by the device.
        max_consecutive_failures: failed reads in a row that end the stream.
        retry_delay: seconds to wait between failed reads.
    """

    def __init__(
        self,
        source: int | str,
        *,
        fps: float | None = None,
        max_consecutive_failures: int = 50,
        retry_delay: float = 0.1,
    ) -> None:
        super().__init__()
        self._source = source
        kind = "webcam" if isinstance(source, int) else "stream"
        name = f"webcam:{source}" if isinstance(source, int) else str(source)
        self._cap = cv2.VideoCapture(source)
        if not self._cap.isOpened():
            self._cap.release()
            raise OSError(f"cannot open {kind} {name!r}")
        self._max_failures = max(1, int(max_consecutive_failures))
        self._retry_delay = float(retry_delay)
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.info = SourceInfo(
            kind=kind,
            name=name,
            fps=float(fps) if fps else (reported if 0 < reported < 1000 else 25.0),
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            frame_count=None,
        )

    def _frames(self) -> Iterator[Frame]:
        cap, stats = self._cap, self.stats
        failures = 0
        index = 0
        start: float | None = None
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                failures += 1
                if failures >= self._max_failures:
                    self._finish(f"stream ended or dropped: {failures} failed reads in a row", early=True)
                    return
                if self._retry_delay > 0:
                    time.sleep(self._retry_delay)
                continue
            if failures:
                log.info("%s: stream recovered after %d failed reads", self.info.name, failures)
            failures = 0
            now = time.monotonic()
            if start is None:
                start = now
            stats.frames += 1
            stats.last_index = index
            yield Frame(index, now - start, _as_bgr(image))
            index += 1

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(FrameSource):
    """A video file decoded with ``cv2.VideoCapture``.

    Frames are numbered in decoding order and timed by the container
    timestamps; after a frame that fails to decode, the index is taken from the
    next frame's timestamp, so the broken frame leaves a gap instead of
    shifting every later index (it is counted in ``stats.skipped``). After
    ``max_consecutive_failures`` failed reads in a row the file is considered
    finished; if fewer frames were seen than the header announced (beyond a
    small tolerance: ``max(2, 1%)``, since some containers only estimate the
    count) the video is reported as ended early (truncated or corrupt).

    Args:
        path: the video file.
        max_consecutive_failures: failed reads in a row that end the video.
    """

    def __init__(self, path: str | os.PathLike, *, max_consecutive_failures: int = 25) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self._cap = cv2.VideoCapture(_io.opencv_path(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise OSError(f"cannot open video {str(self.path)!r} (unsupported codec or corrupt/truncated file)")
        self._max_failures = max(1, int(max_consecutive_failures))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info = SourceInfo(
            kind="video",
            name=str(self.path),
            fps=fps if 0 < fps < 1000 else 25.0,
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            frame_count=count if count > 0 else None,
        )
        self._has_fps = 0 < fps < 1000

    def _frames(self) -> Iterator[Frame]:
        cap, stats, fps = self._cap, self.stats, self.info.fps
        failures = 0  # failed reads since the last good frame
        attempts = 0  # read calls so far (fallback index)
        last = -1
        while True:
            ok, image = cap.read()
            attempts += 1
            if not ok or image is None:
                failures += 1
                if failures >= self._max_failures:
                    break
                continue
            msec = float(cap.get(cv2.CAP_PROP_POS_MSEC))
            has_time = self._has_fps and np.isfinite(msec) and (msec > 0 or last < 0)
            if not failures:
                index = last + 1  # sequential (robust to variable frame rates)
            elif has_time:
                index = int(round(msec * fps / 1000.0))  # after a failure: where the timestamp says
            else:
                index = attempts - 1
            index = max(index, last + 1)
            t = msec / 1000.0 if has_time else index / fps
            if index - last - 1 > 0:
                log.warning("%s: %d unreadable frame(s) skipped before frame %d",
                            self.info.name, index - last - 1, index)
                for missing in range(last + 1, index):
                    stats.note_skipped(missing)
            elif failures:
                log.debug("%s: %d failed read(s) before frame %d lost no frame", self.info.name, failures, index)
            failures = 0
            last = index
            stats.frames += 1
            stats.last_index = index
            yield Frame(index, t, _as_bgr(image))
        expected = self.info.frame_count
        seen = last + 1
        if expected is not None and expected - seen > max(2, int(0.01 * expected)):
            self._finish(f"video ended early at frame {seen} of {expected} (truncated or corrupt file)", early=True)
        else:
            self._finish("end", early=False)

    def close(self) -> None:
        self._cap.release()


# ----------------------------------------------------------------------------- image folders


class ImageFolderSource(FrameSource):
    """A folder of frames (or a glob pattern), in natural sort order.

    Frames are read with :func:`posekit.io.read_image`, like photos given to
    ``posekit predict``: the EXIF orientation is applied unless
    ``ignore_orientation``. Unreadable files are skipped and counted (the
    reason is logged); their index stays reserved so the indices match the
    sorted file list.

    Args:
        path: a directory, or a glob pattern such as ``"frames/*.png"``.
        fps: frame rate used for timestamps (``index / fps``).
        ignore_orientation: keep the stored pixel frame of each file
            (``posekit predict --ignore-exif``).
    """

    def __init__(self, path: str | os.PathLike, *, fps: float = 25.0, ignore_orientation: bool = False) -> None:
        super().__init__()
        self.ignore_orientation = bool(ignore_orientation)
        spec = str(path)
        if os.path.isdir(spec):
            files = [p for p in Path(spec).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        else:
            files = [Path(p) for p in glob.glob(spec) if os.path.isfile(p)]
        if not files:
            raise FileNotFoundError(f"no image files in {spec!r}")
        self.files: list[Path] = sorted(files, key=lambda p: natural_key(p.name))
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        try:
            h, w = self._read(self.files[0]).shape[:2]
        except ImageReadError:  # reported when iterated
            h, w = 0, 0
        self.info = SourceInfo(kind="images", name=spec, fps=float(fps), width=w, height=h,
                               frame_count=len(self.files))

    def frame_name(self, index: int) -> str:
        return self.files[index].name

    def _read(self, path: Path) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 BGR frame of ``path`` (raises :class:`~posekit.io.ImageReadError`)."""
        return _io.read_image(path, ignore_orientation=self.ignore_orientation)

    def _frames(self) -> Iterator[Frame]:
        stats = self.stats
        for index, path in enumerate(self.files):
            try:
                image = self._read(path)
            except ImageReadError as exc:
                log.warning("%s: frame %d (%s) skipped: %s", self.info.name, index, path.name, exc.reason)
                stats.note_skipped(index)
                continue
            stats.frames += 1
            stats.last_index = index
            yield Frame(index, index / self.info.fps, image)
        self._finish("end", early=False)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# ----------------------------------------------------------------------------- dispatch


def _webcam_index(source: Any) -> int | None:
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return int(source)
    if isinstance(source, str) and source.strip().isdigit() and not os.path.exists(source):
        return int(source.strip())
    if isinstance(source, str) and source.startswith("webcam:") and source[7:].isdigit():
        return int(source[7:])
    return None


def _url_scheme(source: str) -> str | None:
    m = _URL_RE.match(source)
    return m.group(1).lower() if m else None


def is_video_source(source: Any) -> bool:
    """Whether ``source`` should be processed as a video (file, webcam or stream).

    True for webcam indices (``0``, ``"0"``, ``"webcam:0"``), stream URLs
    (``rtsp://``, ``http(s)://`` not ending in an image extension, ...) and
    files with a video extension (or a ``video/*`` MIME type). Folders of
    images are *not* videos here: ``posekit predict`` treats a folder as a set
    of photos; pass a folder to :func:`open_source` / ``stream_poses`` to
    process it as an image sequence. Cheap: never opens the file.
    """
    if _webcam_index(source) is not None:
        return True
    if not isinstance(source, (str, os.PathLike)):
        return False
    text = os.fspath(source)
    scheme = _url_scheme(text)
    if scheme is not None:
        if scheme == "file":
            return is_video_source(text[7:])
        suffix = Path(text.split("?", 1)[0]).suffix.lower()
        return scheme in STREAM_SCHEMES and suffix not in IMAGE_EXTENSIONS
    suffix = Path(text).suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return True
    if suffix in IMAGE_EXTENSIONS or os.path.isdir(text):
        return False
    guessed, _ = mimetypes.guess_type(text)
    return bool(guessed and guessed.startswith("video/"))


def open_source(
    source: Any,
    *,
    fps: float | None = None,
    max_consecutive_failures: int | None = None,
    ignore_orientation: bool = False,
) -> FrameSource:
    """Open a path, folder, glob, webcam index or URL as a :class:`FrameSource`.

    An existing :class:`FrameSource` is returned unchanged.

    Args:
        source: video file, folder of images / glob pattern, webcam index
            (``0`` or ``"0"``), or stream URL (``rtsp://``, ``http://``, ...).
        fps: frame rate for image folders (default 25) or to override a camera's.
        max_consecutive_failures: failed reads in a row that end a video/stream.
        ignore_orientation: image folders only: keep each file's stored pixel
            frame instead of applying its EXIF orientation (see
            :func:`posekit.io.read_image`).

    Raises:
        FileNotFoundError: missing file / empty folder.
        OSError: OpenCV cannot open the file or stream.
    """
    if isinstance(source, FrameSource):
        return source
    extra = {} if max_consecutive_failures is None else {"max_consecutive_failures": max_consecutive_failures}
    cam = _webcam_index(source)
    if cam is not None:
        return CaptureSource(cam, fps=fps, **extra)
    text = os.fspath(source)
    scheme = _url_scheme(text)
    if scheme is not None and scheme != "file":
        return CaptureSource(text, fps=fps, **extra)
    if scheme == "file":
        text = text[7:]
    if os.path.isdir(text) or (_GLOB_CHARS.search(text) and not os.path.exists(text)):
        return ImageFolderSource(text, fps=fps or 25.0, ignore_orientation=ignore_orientation)
    return VideoFileSource(text, **extra)
