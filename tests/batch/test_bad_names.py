"""No file name, path or image header crashes a run (issue 11): undecodable names, symlink loops,
folders named like images and decompression-bomb headers, with --save-img --recursive."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import testdata

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="POSIX names and symlinks")]


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_odd_names_and_headers_never_crash_and_lose_nothing(tmp_path):
    photos = testdata.coco_image_paths()
    root = tmp_path / "in"
    (root / "x.jpg").mkdir(parents=True)                               # a folder named like an image
    shutil.copyfile(testdata.PERSON_IMAGE, root / "x.jpg" / "inside.jpg")
    shutil.copyfile(photos[0], root / "plain.jpg")
    latin1 = os.fsencode(str(root)) + b"/caf\xe9.jpg"                  # not valid UTF-8 (Latin-1 archive)
    shutil.copyfile(photos[1], latin1)
    (root / "loop").symlink_to(root)                                    # folder symlink loop
    (root / "self.jpg").symlink_to(root / "self.jpg")                   # file symlink loop
    (root / "bomb.png").write_bytes(_png_header_only(60000, 60000))     # 3.6 gigapixel header
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posekit", "predict", str(root), "--recursive", "--save-img", "--out", str(out),
           "--preset", "fast", "-q"]
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stderr.decode(errors="replace")[-3000:]

    summary = json.loads((out / "summary.json").read_text())
    errors = {e["file"]: e["reason"] for e in summary["errors"]}
    assert set(errors) == {"bomb.png", "loop", "self.jpg"}, errors
    assert "too large" in errors["bomb.png"] and "60000x60000" in errors["bomb.png"]
    assert "symlink loop" in errors["loop"]
    assert "cannot read" in errors["self.jpg"]
    stderr = proc.stderr.decode(errors="replace")
    for name in ("bomb.png", "self.jpg"):
        assert name in stderr

    good = ["caf\\xe9.jpg", "plain.jpg", "x.jpg/inside.jpg"]
    assert summary["processed"] == len(good) and set(good) <= set(summary["image_ids"])
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == {summary["image_ids"][g] for g in good}
    # every good image rendered under its own (byte-exact) name
    assert (out / "vis" / "plain.jpg").stat().st_size > 1000
    assert (out / "vis" / "x.jpg" / "inside.jpg").stat().st_size > 1000
    assert os.stat(os.fsencode(str(out / "vis")) + b"/caf\xe9.jpg").st_size > 1000
    assert not (out / "vis" / "bomb.png").exists()
