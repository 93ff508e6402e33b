"""The model registry: names, pretrained configs, builders, torch runtime adapter."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from posekit.spec import DetectorSpec
from posekit.models.registry import PretrainedConfig, create_model, get_pretrained_config, list_models
from posekit.spec import ALPHAPOSE_MEAN, ALPHAPOSE_STD, PoseModelSpec

POSE_MODELS = [
    "fastpose_res50_256x192",
    "fastpose_duc_shuffle_res50_256x192",
    "fastpose_legacy_se101_320x256",
    "hrnet_w32_256x192",
    "hrnet_w32_384x288",
    "hrnet_w48_256x192",
    "hrnet_w48_384x288",
    "simplebaseline_res50_256x192",
]


def test_list_models() -> None:
    names = list_models()
    assert names == sorted(names)
    assert set(POSE_MODELS) <= set(names) and "yolov3_spp" in names
    assert "yolov3_spp" not in list_models(task="pose")
    assert list_models(task="detection") == ["yolov3_spp"]


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(KeyError, match="hrnet_w32_256x192"):
        get_pretrained_config("hrnet_w99")
    with pytest.raises(KeyError, match="choices"):
        create_model("nope")


@pytest.mark.parametrize("name", POSE_MODELS)
def test_pose_configs(name: str) -> None:
    config = get_pretrained_config(name)
    assert dataclasses.is_dataclass(config) and config.task == "pose"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "x"  # type: ignore[misc]
    spec = config.spec
    assert isinstance(spec, PoseModelSpec)
    assert spec.input_size == config.input_size and spec.heatmap_stride == 4
    assert spec.schema == "coco17" and spec.num_keypoints == 17
    assert config.num_output_channels >= spec.num_keypoints
    assert config.checkpoint_file.endswith(".pth") and config.source
    assert PoseModelSpec.from_json(spec.to_json()) == spec
    if config.family.startswith("fastpose"):
        assert "non-commercial" in config.license
        assert spec.mean == ALPHAPOSE_MEAN and spec.std == ALPHAPOSE_STD and spec.channel_order == "RGB"
    else:
        assert config.license == "MIT"


def test_current_alphapose_conventions() -> None:
    for name in ("fastpose_res50_256x192", "fastpose_duc_shuffle_res50_256x192"):
        spec = get_pretrained_config(name).spec
        assert spec.crop.mode == "affine" and spec.crop.padding == 1.25 and spec.decode == "hrnet"


def test_known_sha256_and_detector_config() -> None:
    assert get_pretrained_config("hrnet_w32_256x192").sha256 == (
        "19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c"
    )
    yolo = get_pretrained_config("yolov3_spp")
    assert yolo.task == "detection" and isinstance(yolo.spec, DetectorSpec) and yolo.input_size == (608, 608)
    assert yolo.checkpoint_file == "yolov3-spp.weights"
    with pytest.raises(ValueError):
        dataclasses.replace(yolo, task="pose")  # pose networks need a spec
    assert isinstance(yolo, PretrainedConfig)


def test_registry_imports_without_torch() -> None:
    code = (
        "import sys; from posekit.models import list_models, get_pretrained_config;"
        "assert get_pretrained_config('hrnet_w32_256x192').spec;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", POSE_MODELS)
def test_create_model_output_shape(name: str) -> None:
    config = get_pretrained_config(name)
    model = create_model(name)
    assert not model.training
    w, h = 64, 96  # fully convolutional: any multiple of 32 works
    with torch.no_grad():
        out = model(torch.randn(1, 3, h, w))
    assert out.shape == (1, config.num_output_channels, h // 4, w // 4)


def test_create_model_overrides_arguments() -> None:
    model = create_model("hrnet_w32_256x192", width=8, num_joints=5)
    assert model.final_layer.in_channels == 8 and model.final_layer.out_channels == 5


def test_yolov3_builder() -> None:
    pytest.importorskip("posekit.models.yolov3")
    model = create_model("yolov3_spp", input_size=320)
    assert not model.training


def test_torch_pose_model_runs_preprocessed_crops() -> None:
    from posekit.factory import build_pose_model
    from posekit.pose.torch_model import TorchPoseModel

    spec = get_pretrained_config("hrnet_w32_256x192").spec
    runner = TorchPoseModel(create_model("hrnet_w32_256x192", width=8), spec)
    assert runner.spec == spec
    crops = np.random.default_rng(0).integers(0, 256, (2, 256, 192, 3), dtype=np.uint8)
    inputs = runner.spec.preprocess(crops)
    heatmaps = runner.run(inputs)
    assert heatmaps.dtype == np.float32 and heatmaps.shape == (2, 17, 64, 48)
    with torch.no_grad():
        direct = runner.module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(heatmaps, direct, rtol=1e-5, atol=1e-6)
    assert runner.run(inputs[:0]).shape[0] == 0
    with pytest.raises(ValueError):  # a detector is not a pose model
        build_pose_model("yolov3_spp", runtime="torch")
