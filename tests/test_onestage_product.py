"""A YOLO-pose ONNX file (Ultralytics' output layout) through every entry point: the Python API, ``posekit predict``,
a batch job with ``--resume``, video with tracking and the service give the same poses.

The synthetic network's boxes and keypoints move with the image's mean brightness (``drift``), so each image has
its own poses and every entry point must feed it the same pixels.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import testdata
from posekit.cli import main
from posekit.io import read_image
from posekit.pipeline import PoseEstimator

onnx = pytest.importorskip("onnx")



@pytest.fixture(scope="module")
def yolo_file(tmp_path_factory) -> Path:
    import contract_models as cm

    people = np.stack([testdata.yolo_pose_person(300, 330, 120, 360, 0.9),
                       testdata.yolo_pose_person(480, 300, 100, 300, 0.7)])
    return cm.write(cm.yolo_pose_net(people, drift=40.0), tmp_path_factory.mktemp("yolo") / "yolo11n-pose.onnx")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """Six COCO photos of different sizes and brightness."""
    return testdata.image_folder(tmp_path_factory.mktemp("photos"), 6)


@pytest.fixture(scope="module")
def api(yolo_file: Path, images: list[Path]) -> dict[str, list[dict]]:
    """The Python API's COCO results per file name."""
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1)
    return {p.name: est(read_image(p)).to_coco(int(p.stem)) for p in images}


def test_predict_and_resume_equal_the_api(yolo_file: Path, images: list[Path], api: dict, tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for p in images[:3]:
        shutil.copyfile(p, folder / p.name)
    args = ["predict", str(folder), "--out", str(out), "--pose-model", str(yolo_file), "-q"]
    assert main(args) == 0
    for p in images[3:]:  # more images arrive; the job goes on from where it was
        shutil.copyfile(p, folder / p.name)
    assert main([*args, "--resume"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed"] == 6 and summary["errors"] == []
    results = json.loads((out / "results.json").read_text())
    expected = [r for p in sorted(images) for r in api[p.name]]
    assert results == expected and len(results) == 12
    records = [json.loads(line) for shard in sorted((out / "records").glob("part-*.jsonl"))
               for line in shard.read_text().splitlines()]
    assert len(records) == 6  # each image committed once over the two runs


def test_video_with_tracking_equals_the_api(yolo_file: Path, images: list[Path], tmp_path: Path) -> None:
    """A folder of frames through the video path (``run_video``: the stream, tracking, the writers): every frame's
    keypoints are the API's."""
    from posekit.video import run_video

    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    base = read_image(images[0])
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1)
    expected_by_frame = []
    for i in range(4):  # one scene getting brighter: the poses drift from frame to frame
        frame = cv2.convertScaleAbs(base, alpha=1.0, beta=12 * i)
        cv2.imwrite(str(frames / f"frame{i:03d}.png"), frame)
        expected_by_frame.append(est(frame).to_coco(i))
    out = tmp_path / "video"
    summary = run_video(est, frames, out, detect_every=3, progress=False, fps=5.0)
    assert summary.frames == 4
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for line, expected in zip(lines, expected_by_frame):
        poses = sorted(line["poses"], key=lambda q: -q["score"])
        assert len(poses) == len(expected)
        for got, want in zip(poses, expected):
            np.testing.assert_allclose(np.asarray(got["keypoints"]).ravel(), want["keypoints"], atol=0.01)
    assert all(q["track_id"] >= 1 for q in lines[-1]["poses"])  # tracks confirmed by the last frame


def test_service_equals_the_api(yolo_file: Path, images: list[Path], api: dict) -> None:
    from fastapi.testclient import TestClient

    from posekit.serve import ServeSettings, create_app

    app = create_app(ServeSettings(workers=1), lambda: PoseEstimator(pose_model=str(yolo_file), num_threads=1))
    with TestClient(app) as client:
        assert app.state.pool.wait_ready(60), app.state.pool.error
        for path in images[:3]:
            body = client.post("/v1/pose", content=path.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()
            people = body["people"]
            assert [p["score"] for p in people] == [r["score"] for r in api[path.name]]
            for person, result in zip(people, api[path.name]):
                assert [v for kp in person["keypoints"] for v in kp] == result["keypoints"]


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_timing_per_image_counts_one_stage_images(yolo_file: Path, images: list[Path], workers: int) -> None:
    """summary.json's ``timing_ms_per_image`` divides by the images run: a one-stage model times no ``detect``
    stage, and with two workers the replicas' images come back with their timings."""
    from posekit.batch import LocalEngine, RenderOptions, collect_inputs

    built: list[PoseEstimator] = []

    def make_estimator() -> PoseEstimator:
        built.append(PoseEstimator(pose_model=str(yolo_file), num_threads=1))
        return built[-1]

    engine = LocalEngine(make_estimator, workers=workers, threads=1)
    items = collect_inputs([str(p) for p in images])
    outcomes = list(engine.run(items, RenderOptions()))
    assert len(outcomes) == len(images) == 6
    est = built[0]
    assert est.images_run == 6 and "detect" not in est.timer.counts
    per_image = engine.stats()["timing_ms_per_image"]
    assert per_image == est.timer.mean_ms(per=6)
    assert per_image["network"] == pytest.approx(1000 * est.timer.totals["network"] / 6)

