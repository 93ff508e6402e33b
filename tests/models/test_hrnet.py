"""HRNet: official state_dict layout and forward parity (``tests/data/fixtures/hrnet_*``), and MMPose's checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
from posekit.models import create_model, get_pretrained_config  # noqa: E402
from posekit.models.hrnet import HighResolutionModule, PoseHighResolutionNet  # noqa: E402
from posekit.spec import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

FIXTURES = {"hrnet_w32_256x192": "hrnet_w32_256x192", "hrnet_w48_256x192": "hrnet_w48_256x192"}


@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_state_dict_layout_matches_official(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    with torch.device("meta"):  # names and shapes only, no memory
        model = create_model(name)
    assert parity.state_layout(model) == parity.manifest_layout(synth, fixtures_dir / folder)


@pytest.mark.slow
@pytest.mark.parametrize("folder,name", FIXTURES.items())
def test_forward_parity_full_size(fixtures_dir: Path, synth, folder: str, name: str) -> None:
    parity.assert_fixture_parity(create_model(name), fixtures_dir / folder, synth, label=name)


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


@pytest.mark.slow
def test_mmpose_checkpoint_downloads_verified_by_its_prefix_and_loads(fixtures_dir: Path, synth, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the official file, ``hrnet_w32_256x192`` falls back to MMPose's checkpoint: fetched from a mirror,
    checked against the sha256 prefix its name carries, loaded from the MMPose 1.x layout, and it gives the
    official network's output. (The synthetic file's own prefix stands in for ``81c58e40``.)"""
    import dataclasses
    import functools
    import http.server
    import threading
    from types import MappingProxyType

    import numpy as np

    from posekit import catalog
    from posekit.factory import build_pose_model
    from posekit.io import sha256_file

    folder = fixtures_dir / "hrnet_w32_256x192"
    entry = catalog.get("hrnet_w32_256x192")
    official, mmpose = entry.files
    assert mmpose.sha256_prefix == "81c58e40" and mmpose.url.endswith(mmpose.name)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    state = parity.synth_state(synth, folder)
    renamed = {("head." if k.startswith("final_layer.") else "backbone.") + k: v for k, v in state.items()}
    torch.save({"state_dict": renamed, "meta": {"dataset_meta": {"sigmas": np.ones(17, np.float32)}}},
               mirror / mmpose.name)
    stand_in = dataclasses.replace(mmpose, sha256_prefix=sha256_file(mirror / mmpose.name)[:8])
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(
        {**catalog.CATALOG, entry.name: dataclasses.replace(entry, files=(official, stand_in))}))
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("POSEKIT_OFFLINE", raising=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("POSEKIT_MODELS_URL", f"http://127.0.0.1:{server.server_address[1]}")
        model = build_pose_model("hrnet_w32_256x192", runtime="torch", num_threads=1)
    finally:
        server.shutdown()
        server.server_close()
    assert (cache / "posekit" / "models" / mmpose.name).is_file()
    out = model.run(parity.fixture_input(synth, folder))
    parity.assert_close_to(out, np.load(folder / "output.npy"), label="MMPose 1.x HRNet-W32")
