"""Checkpoint loading: official formats, safe loading and helpful errors."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
from posekit.models import create_model  # noqa: E402
from posekit.models.checkpoint import (  # noqa: E402
    CheckpointError,
    extract_state_dict,
    load_checkpoint,
    read_state_dict,
    sha256_file,
)

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = {"width": 8}  # a small HRNet keeps these tests fast
NAME = "hrnet_w32_256x192"


@pytest.fixture(scope="module")
def small_state() -> "OrderedDict[str, torch.Tensor]":
    torch.manual_seed(0)
    model = create_model(NAME, **SMALL)
    for name, buf in model.named_buffers():  # non-trivial BN statistics
        if name.endswith("running_mean"):
            buf.normal_(0, 0.1)
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 1.5)
    return model.state_dict()


def _same(a: torch.nn.Module, state: dict) -> None:
    for key, value in a.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, state[key], rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["plain", "module_prefix", "state_dict_wrapper", "model_wrapper", "no_counters"])
def test_official_checkpoint_layouts(tmp_path: Path, small_state, variant: str) -> None:
    state: object = OrderedDict(small_state)
    if variant == "module_prefix":
        state = OrderedDict(("module." + k, v) for k, v in small_state.items())
    elif variant == "state_dict_wrapper":  # HRNet's resumable checkpoint.pth
        prefixed = OrderedDict(("module." + k, v) for k, v in small_state.items())
        state = {"epoch": 140, "model": "pose_hrnet", "state_dict": prefixed, "perf": 0.74}
    elif variant == "model_wrapper":
        state = {"model": OrderedDict(small_state), "epoch": 3}
    elif variant == "no_counters":  # saved by PyTorch 0.4.0 (AlphaPose duc_se.pth, MSRA pose_resnet)
        state = OrderedDict((k, v) for k, v in small_state.items() if not k.endswith("num_batches_tracked"))
    path = tmp_path / f"{variant}.pth"
    torch.save(state, path)
    model = create_model(NAME, checkpoint=path, **SMALL)
    _same(model, small_state)
    assert not model.training


@pytest.mark.slow
def test_fixture_checkpoint_through_create_model(tmp_path: Path, fixtures_dir: Path, synth) -> None:
    """Full-size SimpleBaseline weights in the MSRA layout (module. prefix, wrapper, no counters)."""
    folder = fixtures_dir / "simplebaseline_res50_256x192"
    state = parity.synth_state(synth, folder)
    stripped = OrderedDict(("module." + k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    path = tmp_path / "pose_resnet_50_256x192.pth.tar"
    torch.save({"state_dict": stripped, "epoch": 140}, path)
    model = create_model("simplebaseline_res50_256x192", checkpoint=path, sha256=sha256_file(path))
    parity.assert_close_to(parity.forward(model, np.load(folder / "input.npy")), np.load(folder / "output.npy"))


def test_wrong_architecture_names_file_and_keys(tmp_path: Path, small_state) -> None:
    path = tmp_path / "hrnet_small.pth"
    torch.save(small_state, path)
    with pytest.raises(CheckpointError) as info:
        create_model("simplebaseline_res50_256x192", checkpoint=path)
    message = str(info.value)
    assert "hrnet_small.pth" in message
    assert "missing keys: " in message and "unexpected keys: " in message
    assert "deconv_layers.0.weight" in message or "layer2.0.conv1.weight" in message  # names are shown
    assert "in all)" in message  # long lists are cut with a count


def test_shape_mismatch_is_reported(tmp_path: Path, small_state) -> None:
    path = tmp_path / "w8.pth"
    torch.save(small_state, path)
    with pytest.raises(CheckpointError, match=r"w8\.pth.*shape mismatches: .*checkpoint \(8,") as info:
        create_model(NAME, checkpoint=path, width=16)
    assert "missing keys" not in str(info.value)


def test_missing_weight_is_not_tolerated(tmp_path: Path, small_state) -> None:
    state = OrderedDict((k, v) for k, v in small_state.items() if k != "final_layer.bias")
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing keys: final_layer.bias"):
        create_model(NAME, checkpoint=path, **SMALL)


def test_sha256_verification(tmp_path: Path, small_state) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save(small_state, path)
    digest = sha256_file(path)
    create_model(NAME, checkpoint=path, sha256=digest.upper(), **SMALL)
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        create_model(NAME, checkpoint=path, sha256="0" * 64, **SMALL)


class _Payload:
    """Stands in for arbitrary pickled objects, which weights_only loading refuses."""


def test_unsafe_or_broken_files_are_rejected(tmp_path: Path, small_state) -> None:
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": small_state, "extra": _Payload()}, unsafe)
    with pytest.raises(CheckpointError, match="unsafe.pth"):
        read_state_dict(unsafe)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        read_state_dict(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")
    no_tensors = tmp_path / "meta.pth"
    torch.save({"epoch": 1, "perf": 0.5}, no_tensors)
    with pytest.raises(CheckpointError, match="no state_dict"):
        read_state_dict(no_tensors)


def test_in_memory_state_dict(small_state) -> None:
    model = create_model(NAME, **SMALL)
    load_checkpoint(model, {"state_dict": {"module." + k: v for k, v in small_state.items()}})
    _same(model, small_state)
    assert list(extract_state_dict({"a.b": torch.zeros(1)})) == ["a.b"]


@pytest.mark.slow
def test_darknet_weights_dispatch(tmp_path: Path) -> None:
    """``create_model('yolov3_spp', checkpoint='*.weights')`` reads darknet files."""
    darknet = pytest.importorskip("posekit.models.darknet")
    torch.manual_seed(0)
    source = create_model("yolov3_spp", input_size=320)
    path = tmp_path / "yolov3-spp.weights"
    darknet.save_darknet_weights(source, path)
    loaded = create_model("yolov3_spp", checkpoint=path, sha256=sha256_file(path), input_size=320)
    _same(loaded, source.state_dict())
