"""AlphaPose FastPose networks: official state_dict layout and forward parity.

The fixtures (``../shared/fixtures/alphapose_*``) hold the official model's
state_dict manifest and its output on a fixed input with synthetic weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
from posekit.models import create_model, get_pretrained_config  # noqa: E402
from posekit.models.fastpose import FastPose, FastPoseDUC  # noqa: E402
from posekit.models.layers import DUC, Bottleneck, SELayer, make_duc_stage  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

#: fixture folder -> registry name
FIXTURES = {
    "alphapose_fastpose_res50_256x192": "fastpose_res50_256x192",
    "alphapose_fastpose_duc_res50_shuffle_256x192": "fastpose_duc_shuffle_res50_256x192",
    "alphapose_legacy_fastpose_duc_se_res101_320x256": "fastpose_legacy_se101_320x256",
}


@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_state_dict_layout_matches_official(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    model = create_model(name)
    assert parity.state_layout(model) == parity.manifest_layout(synth, fixtures_dir / folder)


@pytest.mark.slow
@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_forward_parity_full_size(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    parity.assert_fixture_parity(create_model(name), fixtures_dir / folder, synth, label=folder)


def test_legacy_outputs_33_channels_spec_keeps_17() -> None:
    config = get_pretrained_config("fastpose_legacy_se101_320x256")
    assert config.num_output_channels == 33
    assert config.spec.num_keypoints == 17
    assert config.spec.input_size == (256, 320)
    assert config.spec.heatmap_size == (64, 80)
    assert config.spec.crop.mode == "alphapose_legacy"
    assert config.spec.decode == "alphapose"


@pytest.mark.parametrize("cls,kwargs", [(FastPose, {}), (FastPoseDUC, {}), (FastPoseDUC, {"backbone": "se-resnet"})])
def test_output_is_quarter_resolution(cls, kwargs) -> None:
    model = cls(**kwargs).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 32))
    assert out.shape == (2, 17, 16, 8)


def test_se_variant_of_fastpose_duc_has_no_unshuffle() -> None:
    keys = FastPoseDUC(backbone="se-resnet").state_dict().keys()
    assert "preact.layer2.0.conv2.weight" in keys
    assert not any(".conv2.1." in k for k in keys)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="depth"):
        FastPose(depth=18)
    with pytest.raises(ValueError, match="backbone"):
        FastPoseDUC(backbone="dense")
    with pytest.raises(ValueError, match="stage_convs"):
        FastPoseDUC(stage_convs=(1, 1))
    with pytest.raises(ValueError, match="depth"):
        FastPose(depth=77)


def test_se_layer_gate() -> None:
    se = SELayer(8)
    for p in se.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 8, 3, 4)
    torch.testing.assert_close(se(x), 0.5 * x)  # sigmoid(0) = 0.5


def test_unshuffle_bottleneck_is_pixel_unshuffle_then_conv() -> None:
    block = Bottleneck(16, 4, stride=2, unshuffle=True).eval()
    assert isinstance(block.conv2, torch.nn.Sequential)
    assert tuple(block.conv2[1].weight.shape) == (4, 16, 3, 3)
    x = torch.randn(1, 4, 8, 6)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pixel_unshuffle(x, 2), block.conv2[1].weight, padding=1)
    torch.testing.assert_close(block.conv2(x), expected)


def test_duc_blocks() -> None:
    duc = DUC(8, 16).eval()
    assert duc(torch.zeros(1, 8, 3, 5)).shape == (1, 4, 6, 10)
    stage = make_duc_stage(32, 12, num_conv=2)
    assert [k for k in stage.state_dict() if k.endswith("weight")] == ["1.weight", "2.weight", "4.weight", "5.weight"]
    assert stage.eval()(torch.zeros(1, 32, 2, 3)).shape == (1, 12, 4, 6)
    with pytest.raises(ValueError):
        make_duc_stage(32, 12, num_conv=0)
