"""Frame sources: image folders, video files (good, corrupt, truncated), dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.video.sources import (
    CaptureSource,
    ImageFolderSource,
    VideoFileSource,
    is_video_source,
    natural_key,
    open_source,
)

from videotest_utils import decode_index, jpeg_offsets, write_mjpg_video, write_png_sequence

import testdata


def test_natural_sort() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame1b.png"]
    assert sorted(names, key=natural_key) == ["Frame1.png", "frame1b.png", "frame2.png", "frame10.png"]


def test_image_folder_natural_order_and_timestamps(tmp_path: Path) -> None:
    names = [f"img{i}.png" for i in range(12)]
    write_png_sequence(tmp_path, 12, names=names)
    (tmp_path / "notes.txt").write_text("not a frame")
    src = open_source(tmp_path, fps=10)
    assert isinstance(src, ImageFolderSource)
    assert src.info.kind == "images" and src.info.frame_count == 12 and (src.info.width, src.info.height) == (320, 240)
    frames = list(src)
    assert [f.index for f in frames] == list(range(12))
    assert [decode_index(f.image) for f in frames] == list(range(12))  # img10 after img9
    assert frames[5].time == pytest.approx(0.5)
    assert src.frame_name(10) == "img10.png"
    assert src.stats.frames == 12 and src.stats.skipped == 0 and not src.stats.ended_early


def test_image_folder_unreadable_frame_skipped(tmp_path: Path) -> None:
    write_png_sequence(tmp_path, 6)
    (tmp_path / "frame3.png").write_bytes(b"this is not a png")
    src = open_source(tmp_path)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 4, 5]
    assert [decode_index(f.image) for f in frames] == [0, 1, 2, 4, 5]
    assert src.stats.skipped == 1 and src.stats.skipped_indices == [3]
    assert src.stats.end_reason == "end" and not src.stats.ended_early


def test_glob_pattern(tmp_path: Path) -> None:
    write_png_sequence(tmp_path, 4)
    src = open_source(str(tmp_path / "frame*.png"))
    assert isinstance(src, ImageFolderSource) and len(list(src)) == 4


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path)


def test_video_file(tmp_path: Path) -> None:
    path = write_mjpg_video(tmp_path / "clip.avi", 30, fps=20)
    with open_source(path) as src:
        assert isinstance(src, VideoFileSource)
        assert src.info.fps == pytest.approx(20) and src.info.frame_count == 30
        frames = list(src)
    assert [f.index for f in frames] == list(range(30))
    assert [decode_index(f.image) for f in frames] == list(range(30))
    assert frames[10].time == pytest.approx(0.5)
    assert src.stats.frames == 30 and not src.stats.ended_early and src.frame_name(7) == "7.jpg"


def test_video_with_corrupt_frames_skips_them(tmp_path: Path) -> None:
    path = write_mjpg_video(tmp_path / "clip.avi", 30)
    data = bytearray(path.read_bytes())
    starts = jpeg_offsets(bytes(data))
    assert len(starts) == 30
    for k in (10, 11, 20):  # wipe the first half of three frames
        a, b = starts[k], starts[k + 1]
        data[a:a + (b - a) // 2] = bytes((b - a) // 2)
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(bytes(data))
    src = open_source(bad)
    frames = list(src)
    # Indices follow the timestamps: the broken frames leave gaps, nothing shifts.
    assert all(decode_index(f.image) == f.index for f in frames)
    assert src.stats.skipped == 3 and src.stats.skipped_indices == [10, 11, 20]
    assert [f.index for f in frames] == [i for i in range(30) if i not in (10, 11, 20)]
    assert not src.stats.ended_early


def test_truncated_video_reports_early_end(tmp_path: Path) -> None:
    path = write_mjpg_video(tmp_path / "clip.avi", 60)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: jpeg_offsets(data)[25] + 100])  # half of frame 25 survives
    src = open_source(cut)
    frames = list(src)
    assert 20 <= len(frames) <= 26
    assert all(decode_index(f.image) == f.index for f in frames)
    assert src.stats.ended_early and "ended early" in src.stats.end_reason


def test_iterate_once(tmp_path: Path) -> None:
    src = open_source(write_mjpg_video(tmp_path / "clip.avi", 3))
    list(src)
    with pytest.raises(RuntimeError, match="once"):
        iter(src)


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(OSError):
        open_source(junk)


def test_capture_source_open_failure() -> None:
    with pytest.raises(OSError, match="cannot open"):
        CaptureSource("rtsp://127.0.0.1:1/none", max_consecutive_failures=1)


def test_demo_video() -> None:
    src = open_source(testdata.DEMO_VIDEO)
    frames = list(src)
    assert len(frames) == 5 and frames[0].image.shape == (540, 960, 3)
    assert [round(f.time, 3) for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8]


@pytest.mark.parametrize(
    "source, expected",
    [
        (0, True), ("1", True), ("webcam:2", True), ("rtsp://cam/stream", True), ("http://host/live.m3u8", True),
        ("https://host/photo.jpg", False), ("clip.MP4", True), ("clip.avi", True), ("photo.png", False),
        ("file:///x/y.mkv", True), (3.5, False), (None, False), (True, False),
    ],
)
def test_is_video_source(source: object, expected: bool) -> None:
    assert is_video_source(source) is expected


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    assert not is_video_source(tmp_path)


class FakeCapture:
    """Stands in for cv2.VideoCapture: ``script`` lists read results (True: a frame, False: a failure)."""

    def __init__(self, script: list[bool]) -> None:
        self.script = list(script)
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def get(self, prop: int) -> float:
        import cv2

        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 64.0, cv2.CAP_PROP_FRAME_HEIGHT: 48.0}.get(prop, 0.0)

    def read(self):
        if self.script and self.script.pop(0):
            return True, np.zeros((48, 64, 3), np.uint8)
        return False, None

    def release(self) -> None:
        self.released = True


def test_stream_drop_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import posekit.video.sources as sources

    cap = FakeCapture([True] * 5 + [False, True] + [True] * 3)  # one hiccup, then the stream dies
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda *a, **k: cap)
    src = open_source("rtsp://camera/live", max_consecutive_failures=4)
    assert isinstance(src, CaptureSource) and src.info.is_live and src.info.fps == 30
    src._retry_delay = 0.0
    frames = list(src)
    assert [f.index for f in frames] == list(range(9))
    assert all(b.time >= a.time for a, b in zip(frames, frames[1:]))
    assert src.stats.ended_early and "dropped" in src.stats.end_reason
    assert cap.released


def test_webcam_index_opens_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    import posekit.video.sources as sources

    opened = []
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda arg, *a, **k: opened.append(arg) or FakeCapture([True]))
    src = open_source("0")
    assert opened == [0] and src.info.kind == "webcam" and src.info.name == "webcam:0"
