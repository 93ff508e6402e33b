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
    parity.assert_close_to(parity.forward(model, parity.fixture_input(synth, folder)), np.load(folder / "output.npy"))


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


# ------------------------------------------------------------------ MMPose checkpoints (RTMPose family, HRNet)

from posekit.models.checkpoint import convert_mmpose_state  # noqa: E402

RTM = "rtmpose_t_256x192"
#: what mmengine keeps next to the weights (a subset; publish_model keeps only ``meta`` and ``state_dict``)
MMPOSE_META = {
    "mmengine_version": "0.10.7",
    "time": "20230127_120000",
    "dataset_meta": {"dataset_name": "coco", "num_keypoints": 17, "flip_indices": [0, 2, 1, 4, 3]},
}
MMPOSE_VARIANTS = ["mmpose1", "mmpose1_data_preprocessor", "mmpose0_keypoint_head", "mmpose1_legacy_serialization"]


def _mmpose_entries(state: dict, variant: str) -> "OrderedDict[str, torch.Tensor]":
    """``state`` (keys ``backbone.`` / ``neck.`` / ``head.``) as a ``variant`` MMPose file stores it.

    ``variant``: ``mmpose1`` (1.x), ``mmpose1_data_preprocessor`` (older 1.x files with the preprocessor's
    mean / std buffers first), ``mmpose0_keypoint_head`` (0.x: ``keypoint_head.``),
    ``mmpose1_legacy_serialization`` (1.x in the non-zip format of ``publish_model.py``).
    """
    entries: OrderedDict[str, torch.Tensor] = OrderedDict()
    if variant == "mmpose1_data_preprocessor":
        entries["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).reshape(3, 1, 1)
        entries["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).reshape(3, 1, 1)
    for key, value in state.items():
        if variant == "mmpose0_keypoint_head" and key.startswith("head."):
            key = "keypoint_head." + key[len("head."):]
        entries[key] = value
    return entries


def _mmpose_file(path: Path, state: dict, variant: str) -> Path:
    """Write ``state`` as MMPose publishes a checkpoint: ``{"meta": ..., "state_dict": ...}``."""
    legacy = variant == "mmpose1_legacy_serialization"
    entries = _mmpose_entries(state, variant)
    torch.save({"meta": MMPOSE_META, "state_dict": entries}, path, _use_new_zipfile_serialization=not legacy)
    return path


def _hrnet_as_mmpose(state: dict) -> "OrderedDict[str, torch.Tensor]":
    """Official HRNet keys -> MMPose's: ``backbone.`` prepended, ``final_layer.*`` under ``head.``."""
    return OrderedDict(
        ("head." + k if k.startswith("final_layer.") else "backbone." + k, v) for k, v in state.items()
    )


@pytest.fixture(scope="module")
def rtm_state(fixtures_dir: Path, synth) -> "OrderedDict[str, torch.Tensor]":
    return parity.synth_state(synth, fixtures_dir / RTM)


@pytest.mark.parametrize("variant", MMPOSE_VARIANTS)
def test_mmpose_rtmpose_checkpoint(tmp_path: Path, fixtures_dir: Path, synth, rtm_state, variant: str) -> None:
    path = _mmpose_file(tmp_path / f"{variant}.pth", rtm_state, variant)
    model = load_checkpoint(create_model(RTM), path).eval()
    _same(model, rtm_state)
    folder = fixtures_dir / RTM
    with torch.no_grad():
        sx, sy = model(torch.from_numpy(parity.fixture_input(synth, folder)))
    parity.assert_close_to(sx.numpy(), np.load(folder / "output_simcc_x.npy"))
    parity.assert_close_to(sy.numpy(), np.load(folder / "output_simcc_y.npy"))


@pytest.mark.parametrize(
    "variant,edit,expected",
    [
        ("mmpose1", "drop head.cls_x.weight", r"missing keys: head\.cls_x\.weight$"),
        ("mmpose1_data_preprocessor", "drop backbone.stem.0.conv.weight", r"missing keys: backbone\.stem\.0\.conv\.w"),
        ("mmpose1", "add head.extra.weight", r"unexpected keys: head\.extra\.weight$"),
        ("mmpose1", "add data_preprocessor.scale", r"unexpected keys: data_preprocessor\.scale$"),
        ("mmpose0_keypoint_head", "drop head.gau.o.weight", r"\(MMPose 0\.x layout\).*missing keys: head\.gau\.o\.w"),
        ("mmpose0_keypoint_head", "add head.extra.weight", r"unexpected keys: head\.extra\.weight$"),
    ],
)
def test_mmpose_checkpoint_wrong_keys(tmp_path: Path, rtm_state, variant: str, edit: str, expected: str) -> None:
    action, key = edit.split()
    state = OrderedDict(rtm_state)
    if action == "drop":
        del state[key]
    else:
        state[key] = torch.zeros(3)
    path = _mmpose_file(tmp_path / "broken_rtmpose.pth", state, variant)
    with pytest.raises(CheckpointError, match=expected) as info:
        load_checkpoint(create_model(RTM), path)
    assert "broken_rtmpose.pth" in str(info.value)


def test_mmpose_checkpoint_of_another_size(tmp_path: Path, rtm_state) -> None:
    path = _mmpose_file(tmp_path / "rtmpose-t.pth", rtm_state, "mmpose1")
    with pytest.raises(CheckpointError, match=r"rtmpose-t\.pth.*shape mismatches: backbone\.stem\.0\.conv\.weight"):
        load_checkpoint(create_model("rtmpose_s_256x192"), path)
    expected = r"\(218 checkpoint vs 620 model entries\).*unexpected keys: head\.final_layer\.weight, head\.final"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(create_model("rtmw_m_256x192"), path)


@pytest.mark.parametrize("variant", MMPOSE_VARIANTS)
def test_mmpose_hrnet_layouts_small(tmp_path: Path, small_state, variant: str) -> None:
    """MMPose's HRNet keys load into the official naming (``backbone.`` stripped, head mapped to nothing)."""
    path = _mmpose_file(tmp_path / "td-hm_hrnet.pth", _hrnet_as_mmpose(small_state), variant)
    model = create_model(NAME, checkpoint=path, **SMALL)
    _same(model, small_state)


def test_mmpose_hrnet_errors_name_the_official_keys(tmp_path: Path, small_state) -> None:
    state = _hrnet_as_mmpose(small_state)
    del state["head.final_layer.bias"]
    path = _mmpose_file(tmp_path / "hrnet_w8_mmpose0.pth", state, "mmpose0_keypoint_head")
    expected = r"hrnet_w8_mmpose0\.pth \(MMPose 0\.x layout\).*missing keys: final_layer\.bias$"
    with pytest.raises(CheckpointError, match=expected):
        create_model(NAME, checkpoint=path, **SMALL)
    state = _hrnet_as_mmpose(small_state)
    state["neck.conv.weight"] = torch.zeros(1)
    path = _mmpose_file(tmp_path / "hrnet_w8_neck.pth", state, "mmpose1")
    with pytest.raises(CheckpointError, match=r"unexpected keys: neck\.conv\.weight$"):
        create_model(NAME, checkpoint=path, **SMALL)


def test_convert_mmpose_state_rules() -> None:
    t = torch.zeros(1)
    plain = OrderedDict([("conv1.weight", t), ("final_layer.weight", t)])
    assert convert_mmpose_state(plain, plain) == (plain, None)
    mixed = OrderedDict([("backbone.conv1.weight", t), ("final_layer.weight", t)])  # not all under MMPose parts
    assert convert_mmpose_state(mixed, plain) == (mixed, None)
    same = OrderedDict([("backbone.a", t), ("head.b", t)])
    assert convert_mmpose_state(same, same) == (same, None)  # already the model's names
    legacy = OrderedDict([("data_preprocessor.mean", t), ("backbone.a", t), ("keypoint_head.b", t)])
    converted, layout = convert_mmpose_state(legacy, same)
    assert list(converted) == ["backbone.a", "head.b"] and layout == "MMPose 0.x"
    converted, layout = convert_mmpose_state(legacy, ["a", "b"])
    assert list(converted) == ["a", "b"] and layout == "MMPose 0.x"
    with pytest.raises(CheckpointError, match="two entries map to 'final_layer.weight'"):
        convert_mmpose_state({"backbone.final_layer.weight": t, "head.final_layer.weight": t}, ["final_layer.weight"])


@pytest.mark.slow
@pytest.mark.parametrize("width", [32, 48])
def test_mmpose_hrnet_checkpoints_full_size(tmp_path: Path, fixtures_dir: Path, synth, width: int) -> None:
    """MMPose 0.x and 1.x HRNet-W32/W48 files (same 1754 entries, order and shapes) reproduce the official output."""
    name = f"hrnet_w{width}_256x192"
    folder = fixtures_dir / name
    official = parity.synth_state(synth, folder)
    x = parity.fixture_input(synth, folder)
    reference = np.load(folder / "output.npy")
    for variant in ("mmpose0_keypoint_head", "mmpose1"):
        mmpose = _hrnet_as_mmpose(official)
        converted, layout = convert_mmpose_state(_mmpose_entries(mmpose, variant), official)
        assert list(converted) == list(official) and layout is not None  # same entries in the same order
        path = _mmpose_file(tmp_path / f"{name}_{variant}.pth", mmpose, variant)
        model = create_model(name, checkpoint=path)
        parity.assert_close_to(parity.forward(model, x), reference, label=f"{name} {variant}")


def test_mmpose_meta_with_numpy_arrays_loads_safely(tmp_path: Path) -> None:
    """mmengine keeps ``meta["dataset_meta"]`` (sigmas, flip indices) as numpy arrays: they load under
    ``weights_only=True`` in both torch formats and under numpy 1's module names; an object array does not."""
    from posekit.models.checkpoint import CheckpointError, read_state_dict

    state = OrderedDict(w=torch.arange(3.0))
    meta = {"dataset_meta": {"sigmas": np.array([0.026, 0.025], np.float32), "flip_indices": np.array([1, 0]),
                             "num_keypoints": np.int64(17), "scale": np.float64(1.5), "name": "coco"}}
    for legacy in (False, True):
        path = tmp_path / f"meta_{legacy}.pth"
        torch.save({"state_dict": state, "meta": meta}, path, _use_new_zipfile_serialization=not legacy)
        assert torch.equal(read_state_dict(path)["w"], state["w"])
    numpy1 = tmp_path / "numpy1.pth"  # the legacy pickle as numpy 1.x writes it
    numpy1.write_bytes((tmp_path / "meta_True.pth").read_bytes().replace(b"numpy._core.", b"numpy.core."))
    assert b"numpy.core.multiarray" in numpy1.read_bytes()
    assert torch.equal(read_state_dict(numpy1)["w"], state["w"])
    unsafe = tmp_path / "object.pth"
    torch.save({"state_dict": state, "meta": {"x": np.array([object()], dtype=object)}}, unsafe)
    with pytest.raises(CheckpointError, match="object.pth"):
        read_state_dict(unsafe)


@pytest.mark.parametrize("variant", ["mmpose1", "mmpose0_keypoint_head"])
def test_training_starts_from_an_mmpose_hrnet_file(tmp_path: Path, small_state, variant: str) -> None:
    """``model.init_checkpoint`` (and ``"pretrained"``, MMPose's HRNet file when the official one is absent) goes
    through the same key conversion as :func:`load_checkpoint`: every tensor of an MMPose-layout HRNet is used."""
    from posekit.models.checkpoint import read_model_state
    from posekit.train.modeling import load_partial_weights

    path = _mmpose_file(tmp_path / "td-hm_hrnet.pth", _hrnet_as_mmpose(small_state), variant)
    model = create_model(NAME, **SMALL)
    state, source = read_model_state(model, path)
    assert list(state) == list(small_state) and "MMPose" in source and "td-hm_hrnet.pth" in source
    assert load_partial_weights(model, str(path)) == len(small_state)
    _same(model, small_state)
