"""run_video outputs: valid JSONL / JSON / video, also after interrupts and early ends."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.structures import Poses
from posekit.video.cli import add_video_arguments, run_video, run_video_from_args, video_options_from_args
from posekit.video.tracker import TrackerConfig
from posekit.video.writers import AlphaPoseJsonWriter, JsonlWriter, TrackSummary, frame_record

from videotest_utils import FakeEstimator, jpeg_offsets, make_poses, person, write_mjpg_video, write_png_sequence


def world(n: int) -> dict[int, dict[int, np.ndarray]]:
    return {t: {0: person(60 + 2 * t, 120, 90), 1: person(240 - 2 * t, 125, 85)} for t in range(n)}


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]


def check_outputs(out: Path, frames: int) -> dict:
    lines = read_jsonl(out / "results.jsonl")
    assert len(lines) == frames
    for rec in lines:
        assert set(rec) == {"frame", "time", "poses"}
        for p in rec["poses"]:
            assert set(p) == {"track_id", "box", "keypoints", "score"}
            assert len(p["box"]) == 4 and len(p["keypoints"]) == 17 and len(p["keypoints"][0]) == 3
    tracks = json.loads((out / "tracks.json").read_text())
    alphapose = json.loads((out / "alphapose-results.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == frames
    assert not list(out.glob("*.partial")) and not list(out.glob("*.tmp"))
    return {"lines": lines, "tracks": tracks, "alphapose": alphapose, "summary": summary}


def test_run_video_on_video_file(tmp_path: Path) -> None:
    video = write_mjpg_video(tmp_path / "walk.avi", 20, fps=20)
    est = FakeEstimator(world(20))
    summary = run_video(est, video, tmp_path / "out", detect_every=5, save_video=True, progress=False,
                        tracker_config=TrackerConfig(min_hits=2), smoothing=True)
    res = check_outputs(tmp_path / "out", 20)
    assert summary.frames == 20 and summary.tracks == 2 and summary.detections == 4
    assert not summary.interrupted and not summary.ended_early and summary.error is None
    assert res["lines"][0]["frame"] == 0 and res["lines"][19]["time"] == pytest.approx(0.95)
    assert [p["track_id"] for p in res["lines"][0]["poses"]] == [-1, -1]
    assert sorted(p["track_id"] for p in res["lines"][5]["poses"]) == [1, 2]
    assert [t["track_id"] for t in res["tracks"]] == [1, 2]
    assert res["tracks"][0]["first_frame"] == 1 and res["tracks"][0]["last_frame"] == 19
    assert res["tracks"][0]["frames_seen"] == 19
    ap = res["alphapose"]
    assert len(ap) == 40 and ap[0]["image_id"] == "0.jpg" and "idx" not in ap[0]
    assert ap[-1]["image_id"] == "19.jpg" and ap[-1]["idx"] in (1, 2) and len(ap[-1]["keypoints"]) == 51
    cap = cv2.VideoCapture(summary.files["video"])
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 20 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(20)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    cap.release()


def test_rendered_video_shows_tracked_people_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from posekit.video import writers

    drawn: list[list[int]] = []
    write = writers.VideoRenderer.write
    monkeypatch.setattr(writers.VideoRenderer, "write",
                        lambda self, image, poses: (drawn.append(poses.track_ids.tolist()), write(self, image, poses)))
    video = write_mjpg_video(tmp_path / "walk.avi", 6)
    run_video(FakeEstimator(world(6)), video, tmp_path / "out", save_video=True, progress=False,
              tracker_config=TrackerConfig(min_hits=3))
    assert drawn[:2] == [[], []] and all(sorted(ids) == [1, 2] for ids in drawn[2:])
    lines = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert [p["track_id"] for p in lines[0]["poses"]] == [-1, -1]  # the JSON keeps them
    drawn.clear()
    run_video(FakeEstimator(world(6)), video, tmp_path / "out2", save_video=True, progress=False, track=False)
    assert drawn == [[-1, -1]] * 6  # no tracking: every pose is drawn


def test_run_video_image_folder_uses_file_names(tmp_path: Path) -> None:
    names = [f"cam_{i:03d}.png" for i in range(8)]
    write_png_sequence(tmp_path / "frames", 8, names=names)
    summary = run_video(FakeEstimator(world(8)), tmp_path / "frames", tmp_path / "out", progress=False, fps=10)
    res = check_outputs(tmp_path / "out", 8)
    assert {e["image_id"] for e in res["alphapose"]} == set(names)
    assert summary.kind == "images" and res["lines"][4]["time"] == pytest.approx(0.4)


def test_keyboard_interrupt_leaves_valid_files(tmp_path: Path) -> None:
    video = write_mjpg_video(tmp_path / "walk.avi", 30)
    est = FakeEstimator(world(30), raise_at={12: KeyboardInterrupt()})
    summary = run_video(est, video, tmp_path / "out", save_video=True, progress=False,
                        tracker_config=TrackerConfig(min_hits=1))
    assert summary.interrupted and summary.end_reason == "interrupted" and summary.frames == 12
    res = check_outputs(tmp_path / "out", 12)
    assert res["summary"]["interrupted"] is True
    assert len(res["alphapose"]) == 24 and len(res["tracks"]) == 2
    cap = cv2.VideoCapture(summary.files["video"])
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 12  # finalised, readable
    assert cap.read()[0]
    cap.release()


def test_other_errors_propagate_after_closing_files(tmp_path: Path) -> None:
    write_png_sequence(tmp_path / "frames", 10)
    est = FakeEstimator(world(10), raise_at={6: RuntimeError("boom")})
    with pytest.raises(RuntimeError, match="boom"):
        run_video(est, tmp_path / "frames", tmp_path / "out", progress=False)
    res = check_outputs(tmp_path / "out", 6)
    assert res["summary"]["error"] == "RuntimeError: boom"


def test_truncated_video_output_complete_up_to_the_end(tmp_path: Path) -> None:
    video = write_mjpg_video(tmp_path / "walk.avi", 60)
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: jpeg_offsets(data)[30] + 50])
    summary = run_video(FakeEstimator(world(60)), cut, tmp_path / "out", progress=False)
    assert summary.ended_early and "ended early" in summary.end_reason
    res = check_outputs(tmp_path / "out", summary.frames)
    assert 25 <= summary.frames <= 31 and res["summary"]["ended_early"] is True


def test_max_frames(tmp_path: Path) -> None:
    write_png_sequence(tmp_path / "frames", 10)
    summary = run_video(FakeEstimator(world(10)), tmp_path / "frames", tmp_path / "out", progress=False,
                        max_frames=4, alphapose_json=False)
    assert summary.frames == 4 and not (tmp_path / "out" / "alphapose-results.json").exists()
    assert len(read_jsonl(tmp_path / "out" / "results.jsonl")) == 4


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
    from posekit.video.cli import is_video_source

    assert is_video_source("clip.mp4") and not is_video_source("photo.jpg")


def test_cli_module_import_is_light() -> None:
    code = ("import sys, posekit.video.cli, posekit.video; "
            "heavy = [m for m in ('cv2', 'scipy', 'posekit.video.tracker') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_real_sigint_in_subprocess(tmp_path: Path) -> None:
    """Ctrl-C delivered as a real SIGINT to a running run_video: files closed and valid, exit code 130."""
    import os
    import signal
    import time

    write_mjpg_video(tmp_path / "long.avi", 400)
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from videotest_utils import FakeEstimator, person
from posekit.video.cli import run_video

class Slow(FakeEstimator):
    def estimate(self, image, boxes, scores):
        time.sleep(0.02)
        return super().estimate(image, boxes, scores)

world = {{t: {{0: person(60 + t % 200, 120, 90)}} for t in range(400)}}
summary = run_video(Slow(world), {str(tmp_path / 'long.avi')!r}, {str(tmp_path / 'out')!r}, save_video=True,
                    progress=False)
sys.exit(130 if summary.interrupted else 0)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    results = tmp_path / "out" / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] and 10 <= summary["frames"] < 400
    res = check_outputs(tmp_path / "out", summary["frames"])
    assert len(res["alphapose"]) == summary["frames"]
    cap = cv2.VideoCapture(summary["files"]["video"])
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == summary["frames"]
    cap.release()
