"""``--draw-pose-thr`` / ``--draw-kpt-thr``: from the command line to :func:`posekit.draw.draw_poses`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.cli import main
from posekit.cli.video import add_video_arguments, run_video_from_args, video_options_from_args
from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH
from posekit.io import read_image

import testdata

_VIDEO_TESTS = str(Path(__file__).resolve().parents[1] / "video")
if _VIDEO_TESTS not in sys.path:
    sys.path.insert(0, _VIDEO_TESTS)

from videotest_utils import FakeEstimator, world, write_png_sequence  # noqa: E402


def test_draw_options_defaults_and_parsing() -> None:
    parser = argparse.ArgumentParser()
    add_video_arguments(parser)
    opts = video_options_from_args(parser.parse_args([]))
    assert opts["draw_pose_thresh"] == DEFAULT_POSE_THRESH and opts["draw_keypoint_thresh"] == DEFAULT_KEYPOINT_THRESH
    opts = video_options_from_args(parser.parse_args(["--draw-pose-thr", "0.5", "--draw-kpt-thr", "0.1"]))
    assert opts["draw_pose_thresh"] == 0.5 and opts["draw_keypoint_thresh"] == 0.1
    for bad in ("nan", "inf", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--draw-pose-thr", bad])


def test_predict_draw_pose_thr_reaches_the_drawing(tmp_path: Path, contract_catalog: Path) -> None:
    src = testdata.PERSON_IMAGE
    # YOLOX-nano and MoveNet stand-ins: planted boxes and poses, whatever the image
    common = ["--models-dir", str(contract_catalog), "--detector", "yolox_nano", "--pose-model", "movenet_lightning",
              "--no-flip", "--threads", "1", "--save-img", "--quiet"]
    assert main(["predict", str(src), "--out", str(tmp_path / "none"), "--draw-pose-thr", "1.01", *common]) == 0
    assert main(["predict", str(src), "--out", str(tmp_path / "all"), "--draw-pose-thr", "0", *common]) == 0
    # nothing drawn: the vis image is the input's pixels written as JPEG (same encoder, same settings)
    image = read_image(src)
    undrawn = cv2.imdecode(cv2.imencode(".jpg", image)[1], cv2.IMREAD_COLOR)
    none = cv2.imread(str(tmp_path / "none" / "vis" / src.name))
    everything = cv2.imread(str(tmp_path / "all" / "vis" / src.name))
    np.testing.assert_array_equal(none, undrawn)
    assert everything.shape == undrawn.shape and not np.array_equal(everything, undrawn)


def test_save_video_thresholds_reach_the_drawing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import posekit.video.run as run_module

    calls: list[tuple[float, float, int]] = []
    draw = run_module.draw_poses

    def recording_draw(image, poses, **kwargs):
        calls.append((kwargs["pose_thresh"], kwargs["keypoint_thresh"], len(poses)))
        return draw(image, poses, **kwargs)

    monkeypatch.setattr(run_module, "draw_poses", recording_draw)
    write_png_sequence(tmp_path / "frames", 4)
    parser = argparse.ArgumentParser()
    add_video_arguments(parser)
    args = parser.parse_args(["--save-video", "--no-track", "--draw-pose-thr", "0.7", "--draw-kpt-thr", "0.4"])
    code = run_video_from_args(args, FakeEstimator(world(4)), tmp_path / "frames", tmp_path / "out", progress=False)
    assert code == 0
    assert len(calls) == 4 and all(c[:2] == (0.7, 0.4) for c in calls)
