"""Tests for posekit.factory (building pose models from names, paths and objects)."""

from __future__ import annotations

import pytest

from posekit.factory import build_pose_model
from posekit.pose.onnx_model import OnnxPoseModel

import testdata


class _Model:
    spec = object()

    def run(self, x):
        return x


def test_objects_pass_through():
    m = _Model()
    assert build_pose_model(m) is m


def test_registered_onnx_pose_model_with_output_choice(contract_catalog):
    m = build_pose_model("movenet_lightning", models_dir=contract_catalog, output="keypoints", num_threads=1)
    assert isinstance(m, OnnxPoseModel)
    assert m.spec.output == "keypoints" and m.spec.input_size == (192, 192) and m.spec.dtype == "int32"


def test_onnx_path_gets_hrnet_default_spec(contract_models):
    m = build_pose_model(str(contract_models / testdata.HEATMAP_NET), num_threads=1)
    assert m.spec.input_size == (192, 256) and m.spec.decode == "hrnet"


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="runtime"):
        build_pose_model("movenet_thunder", runtime="tensorrt")
    with pytest.raises(FileNotFoundError):
        build_pose_model(str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="movenet_thunder"):
        build_pose_model("no_such_network")


def test_session_backend_of_each_runtime():
    """The one mapping of ``--runtime`` to the sessions' backend, shared by the factory and ``posekit predict``'s
    early device check."""
    from posekit.factory import RUNTIMES, session_backend

    assert {r: session_backend(r) for r in RUNTIMES} == {
        "auto": "auto", "onnx": "onnxruntime", "torch": "onnxruntime", "openvino": "openvino"}
