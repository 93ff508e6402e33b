"""A ``posekit train`` checkpoint is a complete model: ``--pose-model run/best.pth`` and ``posekit export`` use it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from train_helpers import tiny_config, write_subset

import testdata

from posekit.cli import main
from posekit.factory import build_pose_model
from posekit.models.trained import load_trained_model
from posekit.pose.onnx_model import OnnxPoseModel
from posekit.pose.torch_model import TorchPoseModel
from posekit.spec import SPEC_METADATA_KEY, PoseModelSpec
from posekit.train.config import config_from_dict
from posekit.train.trainer import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, coco_gt: dict, coco_subset: Path) -> Path:
    out = tmp_path_factory.mktemp("trained")
    data = write_subset(coco_gt, 2, out / "two.json")
    train(config_from_dict(tiny_config(data, coco_subset / "images", out / "run")))
    return out / "run"


def test_checkpoint_builds_a_pose_model_in_both_runtimes(trained_run: Path) -> None:
    model, spec = load_trained_model(trained_run / "last.pth")
    crops = np.random.default_rng(0).integers(0, 256, (2, 96, 64, 3), dtype=np.uint8)
    x = spec.preprocess(crops)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()

    in_torch = build_pose_model(str(trained_run / "last.pth"), runtime="torch", num_threads=1)
    assert isinstance(in_torch, TorchPoseModel) and in_torch.spec == spec and in_torch.num_threads == 1
    np.testing.assert_allclose(in_torch.run(x), expected, rtol=1e-5, atol=1e-6)

    in_ort = build_pose_model(str(trained_run / "last.pth"), num_threads=1)
    assert isinstance(in_ort, OnnxPoseModel) and in_ort.spec == spec
    np.testing.assert_allclose(in_ort.run(x), expected, rtol=1e-4, atol=1e-5)


def test_export_cli_writes_a_self_describing_onnx(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(trained_run / "last.pth"), "--out", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    _, spec = load_trained_model(trained_run / "last.pth")
    assert PoseModelSpec.from_json(meta[SPEC_METADATA_KEY]) == spec
    assert meta["posekit.model"] == "hrnet_w32_256x192"
    # options that only make sense for catalogue networks are refused
    assert main(["export", str(trained_run / "last.pth"), "--out", str(out), "--input-size", "320"]) == 2


def test_predict_cli_takes_the_checkpoint_as_pose_model(trained_run: Path, tmp_path: Path) -> None:
    image = testdata.PERSON_IMAGE  # the default detector (PicoDet-S, in the package) finds the person
    for runtime in ("onnx", "torch"):
        out = tmp_path / runtime
        code = main(["predict", str(image), "--out", str(out),
                     "--pose-model", str(trained_run / "last.pth"), "--runtime", runtime, "--threads", "1"])
        assert code == 0
        results = json.loads((out / "results.json").read_text())
        assert results and all(len(r["keypoints"]) == 17 * 3 for r in results)
