"""Video options of ``posekit predict`` (posekit.cli.video)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from posekit.cli.video import add_video_arguments, run_video_from_args, video_options_from_args

# The fake estimator and synthetic frames of the video tests.
_VIDEO_TESTS = str(Path(__file__).resolve().parents[1] / "video")
if _VIDEO_TESTS not in sys.path:
    sys.path.insert(0, _VIDEO_TESTS)

from videotest_utils import FakeEstimator, world, write_png_sequence  # noqa: E402


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_video_arguments(parser)
    args = parser.parse_args(["--detect-every", "5", "--save-video", "--smooth", "--no-track",
                              "--track-min-hits", "2", "--max-frames", "100"])
    opts = video_options_from_args(args)
    assert opts["detect_every"] == 5 and opts["save_video"] and not opts["track"]
    assert opts["smoothing"] is not None and opts["tracker_config"].min_hits == 2 and opts["max_frames"] == 100
    defaults = video_options_from_args(parser.parse_args([]))
    assert defaults["detect_every"] == 1 and defaults["smoothing"] is None and defaults["alphapose_json"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--detect-every", "0"])


def test_run_video_from_args(tmp_path: Path) -> None:
    write_png_sequence(tmp_path / "frames", 5)
    parser = argparse.ArgumentParser()
    add_video_arguments(parser)
    args = parser.parse_args(["--detect-every", "2", "--no-alphapose-json"])
    code = run_video_from_args(args, FakeEstimator(world(5)), tmp_path / "frames", tmp_path / "out", progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert code == 0 and summary["frames"] == 5 and summary["detections"] == 3
    assert not (tmp_path / "out" / "alphapose-results.json").exists()
    est = FakeEstimator(world(5), raise_at={2: KeyboardInterrupt()})
    assert run_video_from_args(args, est, tmp_path / "frames", tmp_path / "out2", progress=False) == 130


def test_cli_is_video_source() -> None:
    from posekit.cli.video import is_video_source

    assert is_video_source("clip.mp4") and not is_video_source("photo.jpg")


def test_cli_module_import_is_light() -> None:
    code = ("import sys, posekit.cli.video, posekit.video; "
            "heavy = [m for m in ('cv2', 'scipy', 'posekit.video.tracker') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
