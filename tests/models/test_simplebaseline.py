"""SimpleBaseline (pose_resnet): official state_dict layout and forward parity."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
from posekit.models import create_model, get_pretrained_config  # noqa: E402
from posekit.models.simplebaseline import PoseResNet, deconv_padding  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

FOLDER = "simplebaseline_res50_256x192"


def test_state_dict_layout_matches_official(fixtures_dir: Path, synth) -> None:
    with torch.device("meta"):
        model = create_model("simplebaseline_res50_256x192")
    assert parity.state_layout(model) == parity.manifest_layout(synth, fixtures_dir / FOLDER)


@pytest.mark.slow
def test_forward_parity_full_size(fixtures_dir: Path, synth) -> None:
    parity.assert_fixture_parity(create_model("simplebaseline_res50_256x192"), fixtures_dir / FOLDER, synth)


@pytest.mark.parametrize("depth,blocks", [(101, (3, 4, 23, 3)), (152, (3, 8, 36, 3))])
def test_deeper_resnets(depth: int, blocks: tuple[int, ...]) -> None:
    with torch.device("meta"):
        keys = set(create_model(f"simplebaseline_res{depth}_256x192").state_dict())
    for stage, count in enumerate(blocks, start=1):
        assert f"layer{stage}.{count - 1}.conv3.weight" in keys
        assert f"layer{stage}.{count}.conv1.weight" not in keys
    assert "deconv_layers.0.weight" in keys and "final_layer.bias" in keys


def test_basic_block_backbone_and_options() -> None:
    model = PoseResNet(depth=18, num_joints=5, deconv_filters=(32, 16), deconv_kernels=(4, 3), final_conv_kernel=3)
    assert tuple(model.deconv_layers[0].weight.shape) == (512, 32, 4, 4)  # ConvTranspose: [in, out, kh, kw]
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 128, 96))
    assert out.shape == (1, 5, 16, 12)  # /32 then two x2 deconvs


def test_deconv_padding() -> None:
    assert deconv_padding(4) == (1, 0)
    assert deconv_padding(3) == (1, 1)
    assert deconv_padding(2) == (0, 0)
    with pytest.raises(ValueError):
        deconv_padding(5)
    with pytest.raises(ValueError):
        PoseResNet(deconv_filters=(256,), deconv_kernels=(4, 4))


def test_registry_spec() -> None:
    config = get_pretrained_config("simplebaseline_res50_256x192")
    assert config.family == "simplebaseline" and config.checkpoint_file == "pose_resnet_50_256x192.pth"
    assert config.spec.input_size == (192, 256) and config.spec.decode == "hrnet"
