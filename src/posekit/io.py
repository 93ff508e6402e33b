"""Reading images safely and finding the images a user named.

:func:`read_image` returns an 8-bit BGR image or raises :class:`ImageReadError`
naming the file and the reason (missing, empty, not an image, truncated, ...).
16-bit, RGBA and grayscale inputs are converted, never rejected.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

__all__ = ["ImageReadError", "IMAGE_EXTENSIONS", "read_image", "find_images", "image_ids_for"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """An image file could not be used; ``path`` and ``reason`` say why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _truncated(kind: str, data: bytes) -> bool:
    if kind == "jpeg":
        # The end-of-image marker may be followed by padding or trailing metadata.
        return b"\xff\xd9" not in data[-4096:]
    if kind == "png":
        return b"IEND" not in data[-64:]
    return False


def _to_bgr8(img: np.ndarray) -> np.ndarray:
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


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 BGR.

    Raises:
        ImageReadError: the file is missing, empty, not a supported image,
            truncated, or cannot be decoded.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(p, "file not found") from None
    except OSError as exc:
        raise ImageReadError(p, f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(p, "empty file")
    kind = _sniff(data)
    if kind is None:
        raise ImageReadError(p, "not an image (unrecognised file signature)")
    if _truncated(kind, data):
        raise ImageReadError(p, f"truncated {kind.upper()} file")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(p, f"corrupt {kind.upper()} data (decoder failed)")
    return _to_bgr8(img)


def find_images(inputs: Iterable[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted, de-duplicated list of paths.

    Folders contribute files with an image extension (:data:`IMAGE_EXTENSIONS`,
    any case); files named explicitly are kept whatever their extension so
    that a bad one is reported rather than silently skipped.

    Raises:
        FileNotFoundError: an input names nothing that exists.
    """
    found: list[Path] = []
    for item in inputs:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(q for q in p.glob(pattern) if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(s):
            found.extend(Path(q) for q in glob.glob(s, recursive=recursive) if Path(q).is_file())
        else:
            raise FileNotFoundError(f"input {s!r} does not exist")
    unique = {q.resolve(): q for q in found}
    return sorted(unique.values(), key=lambda q: (str(q.parent), _natural_key(q.name)))


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def image_ids_for(paths: list[Path]) -> dict[Path, int]:
    """COCO image ids: the number in COCO-style file names (``000000000885.jpg`` -> 885)
    when every stem is a number and they are unique; otherwise 1, 2, ... in sorted order."""
    stems = [p.stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return {p: int(p.stem) for p in paths}
    return {p: i + 1 for i, p in enumerate(paths)}
