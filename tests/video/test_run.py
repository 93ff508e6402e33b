"""run_video (posekit.video.run): valid JSONL / JSON / video, also after interrupts and early ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from posekit.video.run import run_video
from posekit.video.tracker import TrackerConfig

from videotest_utils import FakeEstimator, jpeg_offsets, read_jsonl, world, write_mjpg_video, write_png_sequence


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
from posekit.video.run import run_video

class Slow(FakeEstimator):
    def estimate(self, image, boxes, scores):
        time.sleep(0.02)
        return super().estimate(image, boxes, scores)

world = {{t: {{0: person(60 + t % 200, 120, 90)}} for t in range(400)}}
summary = run_video(Slow(world), {str(tmp_path / 'long.avi')!r}, {str(tmp_path / 'out')!r}, save_video=True,
                    progress=False)
sys.exit(130 if summary.interrupted else 0)
"""
    def as_from_a_shell() -> None:
        # A program started from a terminal has SIGINT at its default. When the test run itself
        # was started as a background job (``pytest &``, nohup), the shell set SIGINT to
        # "ignore", children inherit that, and Python then never raises KeyboardInterrupt.
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-c", script], preexec_fn=as_from_a_shell)
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
