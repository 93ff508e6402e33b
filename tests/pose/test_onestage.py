"""One-stage pose models (posekit.pose.onestage) on synthetic networks with Ultralytics' YOLO-pose and RTMO's
contracts: recognition, letterbox inversion, thresholds, NMS, bad files, and the estimator's one-stage kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import testdata
from posekit.io import read_image
from posekit.pipeline import PoseEstimator
from posekit.pose.onestage import OneStageContractError, OneStageModel, decode_yolo_pose, recognise_contract
from posekit.runtime import make_session
from posekit.spec import RTMO_SPEC, YOLO_POSE_SPEC

onnx = pytest.importorskip("onnx")

K = 17


_candidate = testdata.yolo_pose_person

#: A person (0.9), its near-duplicate (IoU > 0.7, removed by NMS), a second person (0.6), and a candidate below
#: the 0.001 evaluation threshold; input pixels of a 640x640 input.
CANDIDATES = np.stack([
    _candidate(300, 330, 120, 360, 0.9),
    _candidate(305, 334, 120, 360, 0.8),
    _candidate(480, 300, 100, 300, 0.6, visibility=0.4),
    _candidate(100, 100, 60, 60, 0.0005),
])


@pytest.fixture(scope="module")
def yolo_file(tmp_path_factory) -> Path:
    import contract_models as cm

    return cm.write(cm.yolo_pose_net(CANDIDATES), tmp_path_factory.mktemp("yolo") / "yolo11n-pose.onnx")


@pytest.fixture(scope="module")
def rtmo_file(tmp_path_factory) -> Path:
    import contract_models as cm

    keep = [0, 2]
    dets = np.column_stack([CANDIDATES[keep, 0] - CANDIDATES[keep, 2] / 2, CANDIDATES[keep, 1] - CANDIDATES[keep, 3] / 2,
                            CANDIDATES[keep, 0] + CANDIDATES[keep, 2] / 2, CANDIDATES[keep, 1] + CANDIDATES[keep, 3] / 2,
                            CANDIDATES[keep, 4]])
    keypoints = CANDIDATES[keep, 5:].reshape(2, K, 3)
    return cm.write(cm.rtmo_net(dets, keypoints), tmp_path_factory.mktemp("rtmo") / "end2end.onnx")


def _ultralytics_inverse(points: np.ndarray, w: int, h: int, size: int = 640) -> np.ndarray:
    """Ultralytics' ``LetterBox`` then ``scale_coords``, written out: input pixels -> image pixels."""
    r = min(size / h, size / w)
    new_w, new_h = round(w * r), round(h * r)
    left, top = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
    return (np.asarray(points, np.float64) - [left, top]) / r


def _mmpose_inverse(points: np.ndarray, w: int, h: int, size: int = 640) -> np.ndarray:
    """MMPose's ``BottomupResize`` inverse: the image centre sits at the input centre, scale ``min(size / w, size / h)``."""
    r = min(size / w, size / h)
    return (np.asarray(points, np.float64) - [size / 2, size / 2]) / r + [w / 2, h / 2]


def test_contracts_are_recognised(yolo_file: Path, rtmo_file: Path, contract_models: Path) -> None:
    assert recognise_contract(make_session(yolo_file, 1)) == "yolo_pose"
    assert recognise_contract(make_session(rtmo_file, 1)) == "rtmo"
    assert recognise_contract(make_session(contract_models / testdata.HEATMAP_NET, 1)) is None
    model = OneStageModel(yolo_file, num_threads=1)
    assert model.spec == YOLO_POSE_SPEC and model.spec.num_keypoints == K
    assert OneStageModel(rtmo_file, num_threads=1).spec == RTMO_SPEC


def test_one_stage_models_take_and_report_their_device(yolo_file: Path, monkeypatch) -> None:
    """``device`` and ``half`` reach the session like the top-down models'; ``.device`` is where it runs, which the
    estimator and its device report read."""
    import onnxruntime

    from posekit.batching import device_report
    from posekit.runtime import Device, DeviceUnavailableError

    model = OneStageModel(yolo_file, num_threads=1, device="cpu")
    assert model.device == Device("cpu")
    with pytest.raises(ValueError, match="half precision"):
        OneStageModel(yolo_file, num_threads=1, device="cpu", half=True)
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1, device="auto")
    assert est.pose_model.device == est.device == Device("cpu")
    report = device_report(est)
    assert (report["device"], report["plan"], report["pose_model"]) == ("cpu", "cpu", "CPUExecutionProvider")
    # ONNX Runtime lists CUDA but this build cannot start it: an explicit device is an error, not a CPU run
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(DeviceUnavailableError), pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        OneStageModel(yolo_file, num_threads=1, device="cuda")


def _keypoints_net(num_keypoints: int = 17) -> bytes:
    """A top-down model with one keypoints output ``(1, K, 3)`` (input ``(1, 3, 64, 48)``): not YOLO-pose, though
    ``17 = 5 + 3 x 4``."""
    import contract_models as cm
    from onnx import TensorProto, helper, numpy_helper

    planted = np.full((1, num_keypoints, 3), 0.5, np.float32)
    nodes, inits = cm._planted("input", "input", planted, "keypoints", "kp")
    return cm._model(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 48])],
                     [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, num_keypoints, 3])],
                     inits + [numpy_helper.from_array(np.zeros((), np.float32), "zero")], "top_down_keypoints")


def _with_spec(model: bytes, spec_json: str) -> bytes:
    """``model`` carrying posekit's spec metadata, as ``posekit export`` writes it."""
    from onnx import helper

    from posekit.spec import SPEC_METADATA_KEY

    proto = onnx.load_from_string(model)
    helper.set_model_props(proto, {SPEC_METADATA_KEY: spec_json})
    return proto.SerializeToString()


def test_top_down_files_are_not_taken_for_yolo_pose(tmp_path: Path) -> None:
    """A top-down model with one ``(1, 17, 3)`` keypoints output is not YOLO-pose with K = 4, and a file carrying
    posekit's spec is top-down whatever its outputs look like; the factory then builds the top-down model."""
    import contract_models as cm

    from posekit.factory import build_pose_model
    from posekit.pose.onnx_model import OnnxPoseModel
    from posekit.spec import PoseModelSpec

    keypoints_file = cm.write(_keypoints_net(), tmp_path / "keypoints.onnx")
    assert recognise_contract(make_session(keypoints_file, 1)) is None
    spec = PoseModelSpec(input_size=(48, 64), output="keypoints")
    exported = cm.write(_with_spec(_keypoints_net(), spec.to_json()), tmp_path / "exported.onnx")
    model = build_pose_model(str(exported), num_threads=1)
    assert isinstance(model, OnnxPoseModel) and model.spec.output == "keypoints"
    yolo_like = cm.write(_with_spec(cm.yolo_pose_net(CANDIDATES), spec.to_json()), tmp_path / "yolo-like.onnx")
    assert recognise_contract(make_session(yolo_like, 1)) is None
    assert recognise_contract(make_session(cm.write(cm.yolo_pose_net(CANDIDATES), tmp_path / "y.onnx"), 1)) == (
        "yolo_pose")


@pytest.mark.parametrize("size", [(1280, 720), (480, 960), (641, 479)])
def test_yolo_pose_people_land_where_planted(yolo_file: Path, size: tuple[int, int]) -> None:
    """Score threshold 0.001, NMS at IoU 0.7, boxes and keypoints back through Ultralytics' letterbox (<= 0.5 px)."""
    w, h = size
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1)
    assert est.one_stage and est.kind == "one-stage" and est.detector is None
    poses = est(np.zeros((h, w, 3), np.uint8))
    assert len(poses) == 2
    np.testing.assert_allclose(poses.scores, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(poses.box_scores, poses.scores)
    for i, planted in enumerate(CANDIDATES[[0, 2]]):
        kp = planted[5:].reshape(K, 3)
        np.testing.assert_allclose(poses.keypoints[i], _ultralytics_inverse(kp[:, :2], w, h), atol=0.5)
        np.testing.assert_allclose(poses.keypoint_scores[i], kp[:, 2], atol=1e-6)
        corners = np.array([planted[:2] - planted[2:4] / 2, planted[:2] + planted[2:4] / 2])
        box = _ultralytics_inverse(corners, w, h).ravel()
        box[[0, 2]], box[[1, 3]] = box[[0, 2]].clip(0, w), box[[1, 3]].clip(0, h)
        np.testing.assert_allclose(poses.boxes[i], box, atol=0.5)
    assert set(est.timer.totals) >= {"resize", "network", "decode", "pose_nms"}


def test_yolo_pose_decoding_thresholds_nms_and_cap() -> None:
    output = CANDIDATES.T
    people = decode_yolo_pose(output, YOLO_POSE_SPEC)
    np.testing.assert_allclose(people.scores, [0.9, 0.6])
    assert len(decode_yolo_pose(output, YOLO_POSE_SPEC.with_(nms_iou=0.99)).scores) == 3  # the duplicate stays
    assert len(decode_yolo_pose(output, YOLO_POSE_SPEC.with_(score_thresh=0.0001)).scores) == 3  # the faint one comes
    assert len(decode_yolo_pose(output, YOLO_POSE_SPEC.with_(score_thresh=0.7)).scores) == 1
    assert len(decode_yolo_pose(output, YOLO_POSE_SPEC.with_(max_people=1)).scores) == 1
    with pytest.raises(OneStageContractError, match="5 \\+ 3 x 17"):
        decode_yolo_pose(output[:20], YOLO_POSE_SPEC)


@pytest.mark.parametrize("size", [(1280, 720), (480, 960)])
def test_rtmo_people_land_where_planted(rtmo_file: Path, size: tuple[int, int]) -> None:
    """RTMO: MMPose's centred warp inverted exactly, NMS left to the graph."""
    w, h = size
    est = PoseEstimator(pose_model=str(rtmo_file), num_threads=1)
    assert est.one_stage and est.pose_model.spec.decoder == "rtmo"
    image = np.full((h, w, 3), 60, np.uint8)
    poses = est(image)
    assert len(poses) == 2
    for i, planted in enumerate(CANDIDATES[[0, 2]]):
        np.testing.assert_allclose(poses.keypoints[i], _mmpose_inverse(planted[5:].reshape(K, 3)[:, :2], w, h),
                                   atol=0.5)
    x, lb = est.pose_model.resize(image)  # BGR 0..255, pad 114 around the centred image
    assert x.shape == (1, 3, 640, 640) and x.max() == 114.0 and x.min() == 60.0


def test_top_down_stages_and_options_are_refused(yolo_file: Path) -> None:
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1)
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(TypeError, match="one-stage"):
        est.detect(image)
    with pytest.raises(TypeError, match="top-down stage"):
        est.estimate(image, np.zeros((1, 4)), np.ones(1))
    with pytest.raises(ValueError, match="flip_test"):
        PoseEstimator(pose_model=str(yolo_file), flip_test=True)
    oks = PoseEstimator(pose_model=str(yolo_file), pose_nms="oks", num_threads=1)
    assert len(oks(np.zeros((640, 640, 3), np.uint8))) == 2  # the two people are far apart in OKS


def test_bad_files_name_the_file(tmp_path: Path, contract_models: Path) -> None:
    import contract_models as cm

    wrong_k = cm.write(cm.yolo_pose_net(np.zeros((1, 5 + 3 * 15))), tmp_path / "fifteen.onnx")
    with pytest.raises(OneStageContractError, match="fifteen.onnx.*15 keypoints"):
        PoseEstimator(pose_model=str(wrong_k))
    with pytest.raises(OneStageContractError, match="heatmap-net.*not a yolo_pose contract"):
        PoseEstimator(pose_model=str(contract_models / testdata.HEATMAP_NET), model_kind="yolo-pose")
    nan = np.zeros((1, 5 + 3 * K))
    nan[0, :5] = [320, 320, 100, 100, 0.9]
    nan[0, 5] = np.nan
    est = PoseEstimator(pose_model=str(cm.write(cm.yolo_pose_net(nan), tmp_path / "nan-pose.onnx")), num_threads=1)
    with pytest.raises(ValueError, match="nan-pose.onnx.*NaN"):
        est(np.zeros((100, 100, 3), np.uint8))
    # through the engine a bad output is that image's error, named, and the run goes on
    results = list(est.predict_files([testdata.PERSON_IMAGE], workers=1))
    assert "nan-pose.onnx" in results[0].error and results[0].poses is None


def test_engine_replicas_equal_the_serial_path(yolo_file: Path) -> None:
    paths = testdata.coco_image_paths()[:6]
    est = PoseEstimator(pose_model=str(yolo_file), num_threads=1)
    serial = [r.poses for r in est.predict_files(paths, workers=1)]
    parallel = [r.poses for r in est.predict_files(paths, workers=2, threads=1)]
    for a, b in zip(serial, parallel):
        assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
    assert [len(p) for p in serial] == [2] * 6
    assert read_image(paths[0]).shape[2] == 3
