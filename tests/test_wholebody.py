"""133 COCO-WholeBody keypoints through the whole product: estimator, result formats, evaluation, drawing,
video with tracking and the service, with a synthetic network of RTMW's contract (planted crop keypoints)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import testdata
from posekit import catalog
from posekit.evaluation import evaluate_wholebody
from posekit.pipeline import PoseEstimator
from posekit.schema import COCO_WHOLEBODY, WHOLEBODY_PARTS
from posekit.spec import SPEC_METADATA_KEY

onnx = pytest.importorskip("onnx")

#: Crop keypoints of the stand-in: the 133 points spread over the 192x256 crop, body in its upper two thirds.
_RNG = np.random.default_rng(7)
CROP_KEYPOINTS = np.column_stack([_RNG.uniform(20, 172, 133), _RNG.uniform(20, 236, 133)])


@pytest.fixture(scope="module")
def rtmw_file(tmp_path_factory) -> Path:
    """An ONNX file with RTMW's contract and spec (``posekit.spec`` metadata), as ``posekit export`` writes one."""
    import contract_models as cm

    model = onnx.load_model_from_string(cm.simcc_net(CROP_KEYPOINTS))
    prop = model.metadata_props.add()
    prop.key, prop.value = SPEC_METADATA_KEY, catalog.get("rtmw_l_256x192").spec.to_json()
    path = tmp_path_factory.mktemp("rtmw") / "rtmw-standin.onnx"
    onnx.save(model, str(path))
    return path


def _one_person(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    return np.array([[0.2 * w, 0.1 * h, 0.6 * w, 0.9 * h]], np.float32), np.array([0.9], np.float32)


@pytest.fixture(scope="module")
def estimator(rtmw_file: Path) -> PoseEstimator:
    return PoseEstimator(_one_person, str(rtmw_file), flip_test=False, num_threads=1)


def test_estimator_formats_and_evaluation(estimator: PoseEstimator, tmp_path: Path) -> None:
    image = cv2.imread(str(testdata.PERSON_IMAGE))
    poses = estimator(image)
    assert estimator.schema is COCO_WHOLEBODY and len(poses) == 1 and poses.keypoints.shape == (1, 133, 2)
    # the planted crop keypoints, back in the image through the crop's affine map
    from posekit.pose.crop import crop_matrices

    matrix = crop_matrices(_one_person(image)[0], estimator.spec, image.shape[:2])[0]
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    expected = CROP_KEYPOINTS @ inverse[:, :2].T + inverse[:, 2]
    np.testing.assert_allclose(poses.keypoints[0], expected, atol=0.5 * inverse[0, 0] + 0.01)

    (result,) = poses.to_coco(556158)
    for part, (start, stop) in WHOLEBODY_PARTS.items():
        field = "keypoints" if part == "body" else f"{part}_kpts"
        assert len(result[field]) == 3 * (stop - start), part
    doc = poses.to_openpose()
    person = doc["people"][0]
    assert len(person["face_keypoints_2d"]) == 70 * 3 and len(person["hand_left_keypoints_2d"]) == 21 * 3
    assert len(person["hand_right_keypoints_2d"]) == 21 * 3 and len(person["pose_keypoints_2d"]) == 18 * 3

    # a ground truth made of the result itself scores 1 on every part
    gt = {"images": [{"id": 556158, "width": image.shape[1], "height": image.shape[0]}],
          "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": 1, "image_id": 556158, "category_id": 1, "iscrowd": 0, "area": 40000.0,
                           "bbox": [0, 0, 200, 200], "num_keypoints": 17,
                           **{f: [v if i % 3 != 2 else 2 for i, v in enumerate(result[f])]
                              for f in ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")}}]}
    stats = evaluate_wholebody(gt, [result])
    assert set(stats) == {"body", "foot", "face", "lefthand", "righthand", "wholebody"}
    assert all(s["AP"] == pytest.approx(1.0) for s in stats.values())

    from posekit.draw import draw_poses

    drawn = draw_poses(image, poses)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


def test_video_tracking_takes_wholebody_poses(estimator: PoseEstimator, tmp_path: Path) -> None:
    from posekit.video import run_video

    summary = run_video(estimator, testdata.DEMO_VIDEO, tmp_path, detect_every=2, save_video=True, smoothing=True,
                        progress=False)
    assert summary.frames == 5 and summary.tracks == 1 and not summary.ended_early
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    person = lines[-1]["poses"][0]
    assert person["track_id"] >= 1 and len(person["keypoints"]) == 133


def test_service_returns_133_keypoints(estimator: PoseEstimator) -> None:
    from fastapi.testclient import TestClient

    from posekit.serve import ServeSettings, create_app

    app = create_app(ServeSettings(workers=1), lambda: estimator)
    with TestClient(app) as client:
        deadline_ok = app.state.pool.wait_ready(60)
        assert deadline_ok, app.state.pool.error
        data = testdata.PERSON_IMAGE.read_bytes()
        body = client.post("/v1/pose", content=data, headers={"Content-Type": "image/jpeg"}).json()
    assert body["keypoint_names"] == list(COCO_WHOLEBODY.keypoints)
    assert len(body["people"]) == 1 and len(body["people"][0]["keypoints"]) == 133
