"""End to end with the real PoseEstimator (the packaged ``fast`` preset) on the 5-frame demo video (slow-ish)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posekit.video import run_video, stream_poses
from posekit.video.tracker import TrackerConfig

import testdata


@pytest.fixture(scope="module")
def estimator():
    from posekit.pipeline import PoseEstimator

    return PoseEstimator.from_preset("fast")


@pytest.mark.slow
def test_stream_real_video(estimator) -> None:
    video = testdata.DEMO_VIDEO
    items = list(stream_poses(estimator, video, detect_every=2, tracker_config=TrackerConfig(min_hits=2)))
    assert [i for i, _, _ in items] == [0, 1, 2, 3, 4]
    assert all(len(p) > 0 for _, _, p in items)
    assert (items[-1][2].track_ids >= 1).any()


@pytest.mark.slow
def test_run_real_video(estimator, tmp_path: Path) -> None:
    video = testdata.DEMO_VIDEO
    summary = run_video(estimator, video, tmp_path, detect_every=1, save_video=True, smoothing=True, progress=False)
    assert summary.frames == 5 and summary.tracks >= 1 and not summary.ended_early
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[4])["frame"] == 4
    assert Path(summary.files["video"]).stat().st_size > 0
