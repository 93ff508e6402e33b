"""HRNet: official state_dict layout and forward parity (``../shared/fixtures/hrnet_*``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from posekit.models import create_model, get_pretrained_config  # noqa: E402
from posekit.models.hrnet import HighResolutionModule, PoseHighResolutionNet  # noqa: E402
from posekit.pose.spec import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

FIXTURES = {"hrnet_w32_256x192": "hrnet_w32_256x192", "hrnet_w48_256x192": "hrnet_w48_256x192"}
TOLERANCE = 1e-4


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def synth(shared_dir: Path):
    tools = str(shared_dir / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import synth_weights

    return synth_weights


@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_state_dict_layout_matches_official(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    with torch.device("meta"):  # names and shapes only, no memory
        model = create_model(name)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    manifest = synth.load_manifest(fixtures_dir / folder / "manifest.json")
    assert ours == [(n, tuple(s)) for n, s, _ in manifest]


@pytest.mark.slow
@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_forward_parity_full_size(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    path = fixtures_dir / folder
    gain = json.loads((path / "fixture.json").read_text())["synth_gain"]
    model = create_model(name)
    model.load_state_dict(synth.synth_state_dict(synth.load_manifest(path / "manifest.json"), gain), strict=True)
    ref = np.load(path / "output.npy")
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(np.load(path / "input.npy"))).numpy()
    assert out.shape == ref.shape
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    assert err <= TOLERANCE, f"{name}: max|Δ|/max|ref| = {err:.3g}"


def test_official_naming_quirks() -> None:
    with torch.device("meta"):
        keys = set(PoseHighResolutionNet(width=32).state_dict())
    assert "transition1.0.0.weight" in keys and "transition1.1.0.0.weight" in keys
    assert "transition3.3.0.0.weight" in keys
    assert not any(k.startswith(("transition2.0.", "transition2.1.", "transition3.0.")) for k in keys)
    assert any(k.startswith("stage4.2.fuse_layers.0.") for k in keys)
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in keys)
    assert any(k.startswith("stage4.1.fuse_layers.3.") for k in keys)
    assert "stage3.0.fuse_layers.2.0.1.0.weight" in keys  # two stride-2 steps from branch 0 to 2


@pytest.mark.parametrize("width,size", [(8, (96, 128)), (18, (64, 96))])  # multiples of 32
def test_any_width_and_input_size(width: int, size: tuple[int, int]) -> None:
    model = PoseHighResolutionNet(width=width, num_joints=5).eval()
    assert model.final_layer.in_channels == width
    w, h = size
    with torch.no_grad():
        out = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, 5, h // 4, w // 4)


def test_high_resolution_module_single_output() -> None:
    module = HighResolutionModule([4, 8], [1, 1], multi_scale_output=False).eval()
    xs = [torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)]
    with torch.no_grad():
        out = module(xs)
    assert len(out) == 1 and out[0].shape == (1, 4, 8, 8)
    assert (out[0] >= 0).all()  # ReLU after the sum


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        PoseHighResolutionNet(num_modules=(1, 4))
    with pytest.raises(ValueError):
        PoseHighResolutionNet(final_conv_kernel=5)
    with pytest.raises(ValueError):
        HighResolutionModule([4, 8], [1])


@pytest.mark.parametrize(
    "name,size", [("hrnet_w32_256x192", (192, 256)), ("hrnet_w32_384x288", (288, 384)), ("hrnet_w48_384x288", (288, 384))]
)
def test_registry_specs(name: str, size: tuple[int, int]) -> None:
    config = get_pretrained_config(name)
    spec = config.spec
    assert spec.input_size == size and spec.heatmap_stride == 4
    assert spec.mean == IMAGENET_MEAN and spec.std == IMAGENET_STD and spec.channel_order == "RGB"
    assert spec.crop.mode == "affine" and spec.crop.padding == 1.25 and spec.decode == "hrnet"
    assert config.license == "MIT"
    assert config.checkpoint_file == f"pose_{name}.pth"
