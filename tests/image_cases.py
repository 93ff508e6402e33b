"""Builds a folder of good and bad image files for the I/O and CLI tests (not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

import testdata

#: name -> expected (H, W) of the images read_image must accept.
GOOD = {
    "good.jpg": None,  # a copy of a sample photo with a person (size read at build time)
    "deep16.png": (30, 40),
    "rgba.png": (20, 24),
    "gray.png": (50, 40),
    "tiny.png": (1, 1),
    "gradient.png": (120, 160),
}

#: name -> words that must appear in the ImageReadError reason.
BAD = {
    "corrupt.jpg": "corrupt jpeg",
    "cut.jpg": "truncated jpeg",
    "truncated.png": "truncated png",
    "notes.jpg": "not an image",
    "empty.png": "empty",
}


def make_image_folder(folder: Path, source: Path = testdata.PERSON_IMAGE, bad: bool = True) -> dict[str, tuple[int, int]]:
    """Write the good (and, with ``bad``, the bad) files; returns the good names with their (H, W).

    ``source`` is the JPEG photo with a person that ``good.jpg`` copies and the broken files are cut from.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / "good.jpg")
    photo = cv2.imread(str(source))
    cv2.imwrite(str(folder / "deep16.png"), np.full((30, 40, 3), 0x1234, np.uint16))
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[:] = (10, 20, 30, 40)
    cv2.imwrite(str(folder / "rgba.png"), rgba)
    cv2.imwrite(str(folder / "gray.png"), np.full((50, 40), 77, np.uint8))
    cv2.imwrite(str(folder / "tiny.png"), np.full((1, 1, 3), 200, np.uint8))
    ramp = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    cv2.imwrite(str(folder / "gradient.png"), np.dstack([ramp, ramp[::-1], np.full_like(ramp, 90)]))
    good = dict(GOOD)
    good["good.jpg"] = photo.shape[:2]
    if bad:
        rng = np.random.default_rng(0)
        header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        noise = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes().replace(b"\xff\xd9", b"\x00\x00")
        (folder / "corrupt.jpg").write_bytes(header + noise + b"\xff\xd9")
        jpeg = source.read_bytes()
        (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
        ok, png = cv2.imencode(".png", photo)
        assert ok
        (folder / "truncated.png").write_bytes(png.tobytes()[: len(png) // 2])
        (folder / "notes.jpg").write_text("this is not an image\n")
        (folder / "empty.png").write_bytes(b"")
    return good
