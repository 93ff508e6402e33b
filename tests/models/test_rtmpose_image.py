"""RTMPose in image space: posekit's whole top-down path equals MMPose's ``inference_topdown``.

``rtmpose_m_256x192`` and ``rtmpose_m_wholebody_256x192`` hold an image-space case: ``astronaut.png`` with two boxes
(one reaching outside the image) through MMPose's crop (``GetBBoxCenterScale`` + ``TopdownAffine``), normalisation,
network, flip test and back-mapping (fixture.json ``image_case``; ``image_crops.npy``, ``image_keypoints.npy``,
``image_scores.npy``). ``image_inputs.npy`` is not stored in the repository: it follows from the crops (BGR to RGB,
then ``(x - mean) / std`` in float32), which is what is checked here.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
import testdata  # noqa: E402
from posekit import catalog, geometry  # noqa: E402
from posekit.pipeline import PoseEstimator  # noqa: E402
from posekit.pose.crop import crop_people  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

CASES = ["rtmpose_m_256x192", "rtmpose_m_wholebody_256x192"]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return cv2.imread(str(testdata.ASTRONAUT))


def _case(fixtures_dir: Path, name: str) -> dict:
    case = parity.fixture_info(fixtures_dir / name)["image_case"]
    assert case["image_file_sha256"] == catalog.file_sha256(testdata.ASTRONAUT)  # the very image MMPose read
    return case


@pytest.mark.parametrize("name", CASES)
def test_crops_and_inputs_are_mmposes(fixtures_dir: Path, image: np.ndarray, name: str) -> None:
    """Same warp matrices, same uint8 crops (OpenCV 4's warpAffine), same network input."""
    case = _case(fixtures_dir, name)
    spec = catalog.get(name).spec
    boxes = np.asarray(case["boxes_xyxy"])
    centers, scales = geometry.box_to_center_scale(boxes, spec.aspect_ratio, spec.crop.padding)
    crops, matrices = crop_people(image, boxes, spec)
    for i, box in enumerate(case["per_box"]):
        np.testing.assert_allclose(centers[i], box["input_center"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(scales[i], box["input_scale"], rtol=1e-7)  # MMPose keeps the scale in float32
        np.testing.assert_allclose(matrices[i], box["warp_matrix"], rtol=0, atol=1e-9)
    expected = np.load(fixtures_dir / name / "image_crops.npy")  # (B, 3, H, W) BGR
    np.testing.assert_array_equal(crops.transpose(0, 3, 1, 2), expected)
    mean, std = (np.asarray(v, np.float32)[:, None, None] for v in (spec.mean, spec.std))
    inputs = (expected[:, ::-1].astype(np.float32) - mean) / std  # what MMPose fed the network
    np.testing.assert_array_equal(spec.preprocess(crops), inputs)


@pytest.fixture(scope="module")
def mmpose_checkpoints(fixtures_dir: Path, synth: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each case's synthetic weights as an MMPose 1.x file (state_dict + meta), written once for both runtimes."""
    files = {}
    for name in CASES:
        files[name] = tmp_path_factory.mktemp(name) / "mmpose.pth"
        torch.save({"state_dict": parity.synth_state(synth, fixtures_dir / name), "meta": {"mmpose_version": "1.3.2"}},
                   files[name])
    return files


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
@pytest.mark.parametrize("name", CASES)
def test_estimate_reproduces_mmpose_image_keypoints(fixtures_dir: Path, mmpose_checkpoints: dict, image: np.ndarray,
                                                     name: str, runtime: str) -> None:
    """``PoseEstimator(pose_model=NAME, checkpoint=FILE, flip_test=True, pose_nms="none").estimate(image, boxes, 1)``:
    MMPose's image-pixel keypoints within 0.05 px and its scores within 1e-4, through PyTorch and ONNX Runtime."""
    case = _case(fixtures_dir, name)
    checkpoint = mmpose_checkpoints[name]
    est = PoseEstimator(pose_model=name, checkpoint=checkpoint, flip_test=True, pose_nms="none", runtime=runtime,
                        num_threads=1)
    assert est.schema.num_keypoints == parity.fixture_info(fixtures_dir / name)["num_keypoints"]
    boxes = np.asarray(case["boxes_xyxy"])
    poses = est.estimate(image, boxes, np.ones(len(boxes)))
    order = [int(np.abs(poses.boxes - box).sum(axis=1).argmin()) for box in boxes]  # poses come best first
    keypoints, scores = poses.keypoints[order], poses.keypoint_scores[order]
    np.testing.assert_allclose(keypoints, np.load(fixtures_dir / name / "image_keypoints.npy"), rtol=0, atol=0.05)
    np.testing.assert_allclose(scores, np.load(fixtures_dir / name / "image_scores.npy"), rtol=0, atol=1e-4)
