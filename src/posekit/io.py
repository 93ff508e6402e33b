"""posekit's I/O layer: reading images, finding them, hashing and writing files safely.

Ground floor: imports only numpy and OpenCV (no other posekit module), so the
CLI, training, video and any service can share it.

* :func:`read_image` / :func:`decode_image` -- an image file (or its bytes) as
  ``(H, W, 3)`` uint8 BGR, or :class:`ImageReadError` naming the file and the
  reason (missing, empty, not an image, truncated, ...). 16-bit, RGBA and
  grayscale inputs are converted, never rejected. The EXIF orientation of
  JPEG, PNG (``eXIf``) and WebP files is applied by default, so the pixels are
  those a photo viewer shows; ``ignore_orientation=True`` keeps the stored
  pixel frame (what COCO annotations and HRNet's
  ``cv2.IMREAD_IGNORE_ORIENTATION`` use).
* :func:`find_images` / :func:`walk_images` / :func:`natural_key` /
  :func:`image_ids_for` -- which images a user named, in natural order
  (``img2`` before ``img10``), safe with symlink loops and undecodable names.
* :func:`sha256_file` -- hex digest of a file.
* :func:`atomic_open`, :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_json` -- write through a temporary file in the same
  folder (flushed and fsynced) and ``os.replace`` it into place, so a reader or
  a crash never sees half a file; the temporary file is removed on failure.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import logging
import os
import re
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

import cv2
import numpy as np

__all__ = [
    "ImageReadError",
    "user_cache_dir",
    "file_sha256",
    "IMAGE_EXTENSIONS",
    "read_image",
    "decode_image",
    "image_header_size",
    "sniff_video",
    "MAX_PIXELS",
    "exif_orientation",
    "apply_exif_orientation",
    "find_images",
    "walk_images",
    "natural_path_key",
    "natural_key",
    "image_ids_for",
    "sha256_file",
    "opencv_path",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
]

log = logging.getLogger(__name__)

#: File name extensions (lower case) taken as images when a folder is listed.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp",
    ".jp2", ".pgm", ".ppm", ".pbm", ".pnm",
)


class ImageReadError(ValueError, OSError):
    """An image file could not be used; ``path`` and ``reason`` say why.

    A :class:`ValueError` (bad content) and an :class:`OSError` (file
    problems), so handlers written for either keep working.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str = "") -> None:
        # ``reason`` is optional so that code which rebuilds an exception from
        # its message alone (torch's DataLoader workers) gets this type back.
        super().__init__(f"{os.fspath(path)}: {reason}" if reason else os.fspath(path))
        self.path = os.fspath(path)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.reason else self.path


# ----------------------------------------------------------------------------- reading images


#: A file signature: the kind, and the bytes each of which must stand at its offset.
_Signature = tuple[str, tuple[tuple[int, bytes], ...]]

#: Image formats by their first bytes (PNM is checked apart: ``P1``..``P7`` then white space).
_IMAGE_SIGNATURES: tuple[_Signature, ...] = (
    ("jpeg", ((0, b"\xff\xd8"),)),
    ("png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("bmp", ((0, b"BM"),)),
    ("tiff", ((0, b"II*\x00"),)),
    ("tiff", ((0, b"MM\x00*"),)),
    ("webp", ((0, b"RIFF"), (8, b"WEBP"))),
    ("jpeg2000", ((0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),)),
    ("jpeg2000", ((0, b"\xff\x4f\xff\x51"),)),
)

#: Video containers by their first bytes, as the file suffix OpenCV/FFmpeg reads them by.
_VIDEO_SIGNATURES: tuple[_Signature, ...] = (
    (".mp4", ((4, b"ftyp"),)),                                  # MP4 / MOV / 3GP
    (".avi", ((0, b"RIFF"), (8, b"AVI "))),
    (".mkv", ((0, b"\x1a\x45\xdf\xa3"),)),                      # Matroska / WebM
    (".ogv", ((0, b"OggS"),)),
    (".flv", ((0, b"FLV\x01"),)),
    (".wmv", ((0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),)),      # ASF
    (".y4m", ((0, b"YUV4MPEG2"),)),
    (".mpg", ((0, b"\x00\x00\x01\xba"),)),                      # MPEG-PS pack header
    (".mpg", ((0, b"\x00\x00\x01\xb3"),)),                      # MPEG video sequence header
    (".ts", ((0, b"\x47"), (188, b"\x47"), (376, b"\x47"))),     # three 188-byte TS packets
)


def _match_signature(data: bytes, signatures: tuple[_Signature, ...]) -> str | None:
    """The kind of the first signature whose every part stands in ``data``, or None."""
    for kind, parts in signatures:
        if all(data.startswith(magic, offset) for offset, magic in parts):
            return kind
    return None


def _sniff(data: bytes) -> str | None:
    """The image format from the file signature (``"jpeg"``, ``"png"``, ...) or None."""
    kind = _match_signature(data, _IMAGE_SIGNATURES)
    if kind is None and len(data) >= 3 and data[:1] == b"P" and data[1:2] in b"1234567" and data[2:3] in b" \t\r\n":
        kind = "pnm"
    return kind


def sniff_video(head: bytes) -> str | None:
    """The file suffix (``".mp4"``, ``".avi"``, ...) of a video container from its first bytes, or None.

    Knows MP4/MOV/3GP (``ftyp``), AVI, Matroska/WebM, Ogg, FLV, MPEG-TS, MPEG-PS, ASF/WMV and Y4M.
    """
    return _match_signature(head, _VIDEO_SIGNATURES)


#: Largest image (width x height) decoded by default: Pillow's ``MAX_IMAGE_PIXELS``
#: (about 179 MP, 0.5 GB of BGR pixels). Larger headers are refused before any
#: pixel is decoded (decompression bombs); ``max_pixels=None`` lifts the limit.
MAX_PIXELS = 178_956_970


_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, length)`` of each JPEG header segment up to the image data.

    ``start`` is the index of the segment's ``0xFF`` byte; ``length`` counts the two
    length bytes and the payload (the payload is ``data[start + 4 : start + 2 + length]``).
    Stops at start of scan / end of image or at anything malformed.
    """
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image
            return
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return
        yield marker, i, length
        i += 2 + length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the first SOFn segment of a JPEG, or None."""
    for marker, start, _ in _jpeg_segments(data):
        if marker in _JPEG_SOF:
            if start + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[start + 5 : start + 9])
            return width, height
    return None


def image_header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from an encoded image's header without decoding it.

    Knows JPEG, PNG, BMP, WebP and PNM headers; returns None for other formats or
    when the header is cut short (the decoder then decides).
    """
    kind = _sniff(data)
    try:
        if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return w, h
        if kind == "jpeg":
            return _jpeg_size(data)
        if kind == "bmp" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if kind == "webp" and len(data) >= 30:
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = 1 + int.from_bytes(data[24:27], "little")
                h = 1 + int.from_bytes(data[27:30], "little")
                return w, h
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if kind == "pnm":
            fields = re.sub(rb"#[^\n]*", b" ", data[2:512]).split()
            if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
                return int(fields[0]), int(fields[1])
    except struct.error:
        return None
    return None


def _truncated(kind: str, data: bytes) -> bool:
    if kind == "jpeg":
        # The end-of-image marker may be followed by padding or trailing metadata.
        return b"\xff\xd9" not in data[-4096:]
    if kind == "png":
        return b"IEND" not in data[-64:]
    return False


def _to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any decoded image ``(H, W)``, ``(H, W, 1|3|4)`` of any depth -> ``(H, W, 3)`` uint8 BGR."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return img


_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112


def _jpeg_exif(data: bytes) -> bytes | None:
    """The TIFF block of the first ``APP1 Exif`` segment (before the image data)."""
    for marker, start, length in _jpeg_segments(data):
        if marker == 0xE1 and data[start + 4 : start + 10] == _EXIF_PREFIX:
            return data[start + 10 : start + 2 + length]
    return None


def _png_exif(data: bytes) -> bytes | None:
    """The ``eXIf`` chunk (read when it comes before the image data, as browsers do)."""
    i, n = 8, len(data)
    while i + 8 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        ctype = data[i + 4 : i + 8]
        if ctype == b"eXIf":
            return data[i + 8 : i + 8 + length]
        if ctype in (b"IDAT", b"IEND"):
            return None
        i += 12 + length
    return None


def _webp_exif(data: bytes) -> bytes | None:
    """The ``EXIF`` chunk of a (VP8X extended) WebP file."""
    i, n = 12, len(data)
    while i + 8 <= n:
        fourcc = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        if fourcc == b"EXIF":
            return data[i + 8 : i + 8 + size]
        i += 8 + size + (size & 1)
    return None


def _tiff_orientation(block: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in an EXIF TIFF block; 1 when absent or invalid."""
    if block.startswith(_EXIF_PREFIX):  # some PNG / WebP writers keep the JPEG prefix
        block = block[len(_EXIF_PREFIX) :]
    if len(block) < 8 or block[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if block[:2] == b"II" else ">"
    magic, ifd = struct.unpack_from(order + "HI", block, 2)
    if magic != 42 or ifd + 2 > len(block):
        return 1
    (count,) = struct.unpack_from(order + "H", block, ifd)
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(block):
            break
        tag, kind = struct.unpack_from(order + "HH", block, entry)
        if tag != _ORIENTATION_TAG:
            continue
        if kind == 3:  # SHORT, the standard type
            (value,) = struct.unpack_from(order + "H", block, entry + 8)
        elif kind == 4:  # LONG
            (value,) = struct.unpack_from(order + "I", block, entry + 8)
        elif kind == 1:  # BYTE
            value = block[entry + 8]
        else:
            return 1
        return int(value) if 1 <= value <= 8 else 1
    return 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of an encoded JPEG, PNG or WebP image; 1 when absent.

    Malformed metadata never raises: it counts as "no orientation" (1).
    Other formats return 1: TIFF files are left to OpenCV's TIFF decoder,
    which applies their orientation tag itself (8-bit images).
    """
    kind = _sniff(data)
    reader = {"jpeg": _jpeg_exif, "png": _png_exif, "webp": _webp_exif}.get(kind or "")
    if reader is None:
        return 1
    try:
        block = reader(data)
        return _tiff_orientation(block) if block else 1
    except (struct.error, IndexError, ValueError):
        return 1


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image ``(H, W[, C])`` into the frame its EXIF ``orientation`` (1..8) says to show.

    Orientations 5-8 swap width and height (``(W, H[, C])``). The transforms
    are OpenCV's (``ApplyExifOrientation``): 2 mirror, 3 rotate 180°,
    4 flip vertically, 5 transpose, 6 rotate 90° clockwise, 7 transverse,
    8 rotate 90° counter-clockwise. Returns a C-contiguous array (the input
    itself for orientation 1 or an unknown value).
    """
    if orientation == 2:
        out = image[:, ::-1]
    elif orientation == 3:
        out = image[::-1, ::-1]
    elif orientation == 4:
        out = image[::-1]
    elif orientation == 5:
        out = image.swapaxes(0, 1)
    elif orientation == 6:
        out = image.swapaxes(0, 1)[:, ::-1]
    elif orientation == 7:
        out = image.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = image.swapaxes(0, 1)[::-1]
    else:
        return image
    return np.ascontiguousarray(out)


def decode_image(
    data: bytes, *, source: str | os.PathLike[str] = "<bytes>", ignore_orientation: bool = False,
    max_pixels: int | None = MAX_PIXELS,
) -> np.ndarray:
    """Decode an encoded image (file contents, an upload) as ``(H, W, 3)`` uint8 BGR.

    Args:
        data: the encoded bytes.
        source: name used in error messages (a path, an URL, ``"<bytes>"``).
        ignore_orientation: keep the stored pixel frame instead of applying
            the EXIF orientation (JPEG, PNG ``eXIf``, WebP).
        max_pixels: refuse images whose header says more pixels than this,
            before decoding (:data:`MAX_PIXELS`; None: no limit).

    Raises:
        ImageReadError: empty data, not a supported image, too large,
            truncated, or cannot be decoded.
    """
    if not data:
        raise ImageReadError(source, "empty file")
    kind = _sniff(data)
    if kind is None:
        raise ImageReadError(source, "not an image (unrecognised file signature)")
    size = image_header_size(data)
    if size is not None and (size[0] <= 0 or size[1] <= 0):
        raise ImageReadError(source, f"invalid {kind.upper()} header (size {size[0]}x{size[1]})")
    if max_pixels is not None and size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(
            source, f"image too large: {size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} MP in its header, "
                    f"limit {max_pixels / 1e6:.0f} MP"
        )
    if _truncated(kind, data):
        raise ImageReadError(source, f"truncated {kind.upper()} file")
    # IMREAD_UNCHANGED keeps 16-bit / alpha / gray as stored and never applies
    # the orientation itself, so the orientation is handled here, one way.
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(source, f"corrupt {kind.upper()} data (decoder failed)")
    img = _to_bgr8(img)
    if not ignore_orientation:
        orientation = exif_orientation(data)
        if orientation != 1:
            log.debug("%s: EXIF orientation %d applied", os.fspath(source), orientation)
            img = apply_exif_orientation(img, orientation)
    return img


def read_image(
    path: str | os.PathLike[str], *, ignore_orientation: bool = False, max_pixels: int | None = MAX_PIXELS
) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 BGR, EXIF orientation applied.

    The bytes are read with Python's file I/O and decoded from memory, so
    any file name the OS accepts works (non-ASCII, odd characters).

    Args:
        path: the image file.
        ignore_orientation: return the stored pixel frame (ignore the EXIF
            orientation). COCO annotations are in that frame: training and
            COCO evaluation read with ``True`` (HRNet:
            ``cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION``). TIFF
            files are the exception: OpenCV's TIFF decoder applies their
            orientation tag itself, whatever this says.
        max_pixels: see :func:`decode_image`.

    Raises:
        ImageReadError: the file is missing, unreadable, empty, not a
            supported image, truncated, or cannot be decoded.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(p, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(p, "is a directory, not a file") from None
    except OSError as exc:
        raise ImageReadError(p, f"cannot read file ({exc.strerror or exc})") from None
    return decode_image(data, source=p, ignore_orientation=ignore_orientation, max_pixels=max_pixels)


# ----------------------------------------------------------------------------- finding images


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``, case-insensitively.

    Digit runs compare as numbers, the rest case-folded; names that differ only
    in case keep a fixed (code point) order.
    """
    parts = tuple(int(t) if t.isdigit() else t.casefold() for t in re.split(r"(\d+)", name))
    return parts, name


def natural_path_key(path: str) -> tuple[str, tuple[tuple[str | int, ...], str]]:
    """Sort key for paths: by folder, then :func:`natural_key` of the name (how posekit orders images)."""
    head, tail = os.path.split(path)
    return head, natural_key(tail)


def walk_images(
    folder: str | os.PathLike[str], recursive: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """Image files in ``folder`` (by :data:`IMAGE_EXTENSIONS`), sub-folders too if ``recursive``.

    Folder symlinks are followed, but never into a folder already visited, so a
    symlink loop ends the descent instead of recursing forever; ``on_skip(path,
    reason)`` hears of each such folder and of folders that cannot be listed.
    Names are returned as ``str`` exactly as the OS gave them (undecodable bytes
    kept as surrogate escapes, see :func:`os.fsdecode`). A folder named like an
    image (``x.jpg/``) is a folder; a file named like an image that is not one
    (a dangling or looping symlink) is returned, so that reading it reports why.
    """
    visited: set[tuple[int, int]] = set()

    def skip(path: str, reason: str) -> None:
        log.warning("skipped %s: %s", path, reason)
        if on_skip is not None:
            on_skip(path, reason)

    def visit(path: str) -> Iterator[str]:
        try:
            st = os.stat(path)
        except OSError as exc:
            skip(path, f"cannot open folder ({exc.strerror or exc})")
            return
        if (st.st_dev, st.st_ino) in visited:
            skip(path, "folder already visited (a symlink loop or a second link to it), not followed")
            return
        visited.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: natural_key(e.name))
        except OSError as exc:
            skip(path, f"cannot list folder ({exc.strerror or exc})")
            return
        subfolders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                subfolders.append(entry.path)
            elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                yield entry.path
        if recursive:
            for sub in subfolders:
                yield from visit(sub)

    yield from visit(os.fspath(folder))


def find_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted, de-duplicated list of paths.

    Folders contribute files with an image extension (:data:`IMAGE_EXTENSIONS`,
    any case; see :func:`walk_images`); files named explicitly are kept whatever
    their extension so that a bad one is reported rather than silently skipped.
    Sorted by :func:`natural_path_key`.

    Raises:
        FileNotFoundError: an input names nothing that exists.
    """
    found: list[str] = []
    for item in inputs:
        s = os.fspath(item)
        if os.path.isdir(s):
            found.extend(walk_images(s, recursive))
        elif os.path.lexists(s):  # a file, a dangling or looping symlink: reading it says which
            found.append(s)
        elif glob.has_magic(s):
            found.extend(q for q in glob.glob(s, recursive=recursive) if not os.path.isdir(q))
        else:
            raise FileNotFoundError(f"input {s!r} does not exist")
    unique = {os.path.realpath(q): q for q in found}
    return [Path(q) for q in sorted(unique.values(), key=natural_path_key)]


def image_ids_for(paths: list[Path]) -> dict[Path, int]:
    """COCO image ids: the number in COCO-style file names (``000000000885.jpg`` -> 885)
    when every stem is a number and they are unique; otherwise 1, 2, ... in sorted order."""
    stems = [p.stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return {p: int(p.stem) for p in paths}
    return {p: i + 1 for i, p in enumerate(paths)}


def opencv_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a ``str`` that is safe to hand to OpenCV's file functions.

    OpenCV converts file names to UTF-8 and crashes the process (a segmentation
    fault in ``cv2.imwrite`` / ``cv2.VideoCapture``) on names that are not valid
    UTF-8, such as Latin-1 names from old archives. Images are read and written
    through Python's file I/O instead; for video, which OpenCV must open itself,
    this raises a clear error.

    Raises:
        ValueError: the name is not valid UTF-8.
    """
    s = os.fspath(path)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        shown = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise ValueError(f"{shown}: OpenCV cannot open a file whose name is not valid UTF-8; rename it") from None
    return s


# ----------------------------------------------------------------------------- hashing


def user_cache_dir() -> Path:
    """posekit's per-user cache: ``$XDG_CACHE_HOME/posekit`` (``~/.cache/posekit``).

    Downloaded model files (``models/``) and measurements made once per machine
    (``runtime-choices.json``) live there.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "posekit"


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Lower-case hex sha256 of a file's bytes (read in ``chunk_size`` pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """:func:`sha256_file`, computed once per process for an unchanged file (same path, size, mtime
    and inode): model files are checked by the catalogue and keyed by the runtime choice, once each
    for every replica's sessions."""
    path = Path(path).resolve()
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime_ns, st.st_ino)


# ----------------------------------------------------------------------------- atomic writes


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@overload
def atomic_open(
    path: str | os.PathLike[str], mode: Literal["wb"] = ..., *, encoding: None = ..., fsync: bool = ...
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_open(
    path: str | os.PathLike[str], mode: Literal["w"], *, encoding: str | None = ..., fsync: bool = ...
) -> contextlib.AbstractContextManager[IO[str]]: ...


def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None, fsync: bool = True
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Open ``path`` for writing so that it appears complete or not at all.

    Yields a file object on a new temporary file in the same folder
    (``NAME.<random>.tmp``, created with the usual permissions). When the
    block ends normally the file is flushed, fsynced (``fsync=True``) and
    moved over ``path`` with ``os.replace``; when it raises, the temporary
    file is removed and ``path`` is left as it was.

    Args:
        path: the destination (its folder must exist).
        mode: ``"wb"`` (bytes) or ``"w"`` (text).
        encoding: text encoding (``"w"`` only; default UTF-8).
        fsync: flush the data to disk before the rename (and the rename after).

    Example::

        with atomic_open("best.pth") as f:
            torch.save(state, f)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    if mode == "wb" and encoding is not None:
        raise ValueError("encoding is only valid with mode 'w'")
    return _atomic_open(Path(path), mode, "utf-8" if mode == "w" and encoding is None else encoding, fsync)


@contextlib.contextmanager
def _atomic_open(target: Path, mode: str, encoding: str | None, fsync: bool) -> Iterator[IO[Any]]:
    tmp = target.with_name(f"{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # 0o666 & ~umask, as open() would
    try:
        f = os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                       fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`); returns the path."""
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`); returns the path."""
    with atomic_open(path, "w", encoding=encoding, fsync=fsync) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, fsync: bool = True, **dump_kwargs: Any) -> Path:
    """Write ``obj`` as JSON (``json.dump(obj, f, **dump_kwargs)`` and a final newline) atomically.

    Nothing is left behind when ``obj`` cannot be serialised: ``path`` keeps
    its previous content and the temporary file is removed.
    """
    with atomic_open(path, "w", encoding="utf-8", fsync=fsync) as f:
        json.dump(obj, f, **dump_kwargs)
        f.write("\n")
    return Path(path)
