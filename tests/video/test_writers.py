"""Output writers (posekit.video.writers): JSON lines, AlphaPose JSON, track summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posekit.structures import Poses
from posekit.video.writers import AlphaPoseJsonWriter, JsonlWriter, TrackSummary, frame_record

from videotest_utils import make_poses, person, read_jsonl


def test_writers_directly(tmp_path: Path) -> None:
    poses = make_poses([person(100, 120)]).replace(track_ids=np.array([7]))
    rec = frame_record(3, 0.12, poses)
    assert rec["frame"] == 3 and rec["poses"][0]["track_id"] == 7
    with JsonlWriter(tmp_path / "r.jsonl") as w:
        w.write(0, 0.0, poses)
        w.write(1, 0.04, Poses.empty())
        # Flushed as written: readable before close.
        assert len(read_jsonl(tmp_path / "r.jsonl")) == 2
    w = AlphaPoseJsonWriter(tmp_path / "ap.json")
    w.write("0.jpg", poses)
    assert not (tmp_path / "ap.json").exists()
    w.close()
    w.close()
    assert json.loads((tmp_path / "ap.json").read_text())[0]["idx"] == 7
    empty = AlphaPoseJsonWriter(tmp_path / "empty.json")
    empty.close()
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    summary = TrackSummary()
    summary.update(0, poses)
    summary.update(4, poses)
    assert summary.to_list()[0]["frames_seen"] == 2 and summary.to_list()[0]["last_frame"] == 4
