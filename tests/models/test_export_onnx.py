"""ONNX export: onnxruntime matches torch (dynamic batch), and files carry their spec."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import parity  # noqa: E402
from posekit.export import SPEC_METADATA_KEY, export_onnx, export_registered  # noqa: E402
from posekit.models import create_model, get_pretrained_config  # noqa: E402
from posekit.spec import PoseModelSpec  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.slow
def test_cli_export_hrnet_w32_full_size(tmp_path: Path, fixtures_dir: Path, synth) -> None:
    """`posekit export` with an official-format checkpoint; OnnxPoseModel reads the spec back."""
    from posekit.cli.export import register
    from posekit.pose.onnx_model import OnnxPoseModel
    from posekit.pose.torch_model import TorchPoseModel

    folder = fixtures_dir / "hrnet_w32_256x192"
    state = parity.synth_state(synth, folder)
    checkpoint = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(state, checkpoint)
    out = tmp_path / "hrnet.onnx"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["export", "hrnet_w32_256x192", "--checkpoint", str(checkpoint), "--out", str(out)])
    assert args.func(args) == 0

    onnx_model = OnnxPoseModel(out, num_threads=1)
    config = get_pretrained_config("hrnet_w32_256x192")
    assert onnx_model.spec == config.spec
    torch_model = TorchPoseModel(create_model("hrnet_w32_256x192", checkpoint=checkpoint), config.spec)
    x = parity.batch2(parity.fixture_input(synth, folder))
    ort_out, torch_out = onnx_model.run(x), torch_model.run(x)
    assert ort_out.shape == (2, 17, 64, 48)
    assert parity.rel_err(ort_out, torch_out) <= parity.TOLERANCE
    assert parity.rel_err(ort_out[:1], np.load(folder / "output.npy")) <= parity.TOLERANCE


@pytest.mark.slow
def test_export_fastpose_res50_full_size(tmp_path: Path, fixtures_dir: Path, synth) -> None:
    folder = fixtures_dir / "alphapose_fastpose_res50_256x192"
    state = parity.synth_state(synth, folder)
    path = export_registered("fastpose_res50_256x192", state, tmp_path / "fastpose.onnx")
    session = parity.ort_session(path)
    meta = session.get_modelmeta().custom_metadata_map
    assert PoseModelSpec.from_json(meta[SPEC_METADATA_KEY]) == get_pretrained_config("fastpose_res50_256x192").spec
    assert meta["posekit.model"] == "fastpose_res50_256x192" and "non-commercial" in meta["posekit.license"]
    x = parity.batch2(parity.fixture_input(synth, folder))
    ort_out = session.run(None, {"input": x})[0]
    model = create_model("fastpose_res50_256x192", checkpoint=state)
    torch_out = parity.forward(model.eval(), x)
    assert parity.rel_err(ort_out, torch_out) <= parity.TOLERANCE
    assert parity.rel_err(ort_out[:1], np.load(folder / "output.npy")) <= parity.TOLERANCE


#: registry name -> constructor overrides that keep the export small but exercise the same ops
REDUCED = {
    "fastpose_duc_shuffle_res50_256x192": {"stage_convs": (1, 1, 1)},  # PixelUnshuffle + PS-first stages
    "fastpose_legacy_se101_320x256": {"depth": 50},  # 33 outputs at 320x256
    "hrnet_w48_384x288": {"width": 12},
    "simplebaseline_res50_256x192": {"depth": 18},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", REDUCED)
def test_export_reduced_networks(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    config = get_pretrained_config(name)
    model = create_model(name, **REDUCED[name])
    path = export_onnx(model, tmp_path / f"{name}.onnx", config.input_size, config.spec)
    session = parity.ort_session(path)
    spec = PoseModelSpec.from_json(session.get_modelmeta().custom_metadata_map[SPEC_METADATA_KEY])
    assert spec == config.spec
    w, h = config.input_size
    x = parity.batch2(np.random.default_rng(1).standard_normal((1, 3, h, w)).astype(np.float32))
    ort_out = session.run(None, {"input": x})[0]
    assert ort_out.shape == (2, config.num_output_channels, h // 4, w // 4)
    assert parity.rel_err(ort_out, parity.forward(model.eval(), x)) <= parity.TOLERANCE


def test_static_batch_and_argument_checks(tmp_path: Path) -> None:
    model = create_model("simplebaseline_res50_256x192", depth=18, deconv_filters=(32, 32, 32))
    spec = get_pretrained_config("simplebaseline_res50_256x192").spec
    path = export_onnx(model, tmp_path / "static.onnx", None, spec, dynamic_batch=False)
    session = parity.ort_session(path)
    assert session.get_inputs()[0].shape == [1, 3, 256, 192]
    assert session.get_outputs()[0].name == "heatmaps"
    with pytest.raises(ValueError, match="differs"):
        export_onnx(model, tmp_path / "x.onnx", (128, 128), spec)
    with pytest.raises(ValueError, match="input_size"):
        export_onnx(model, tmp_path / "x.onnx", None, None)


def test_cli_errors(tmp_path: Path) -> None:
    from posekit.cli.export import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["export", "no_such_model", "--out", str(tmp_path / "x.onnx")])
    assert args.func(args) == 2
    args = parser.parse_args(
        ["export", "hrnet_w32_256x192", "--checkpoint", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x.onnx")]
    )
    assert args.func(args) == 1
    args = parser.parse_args(["export", "hrnet_w32_256x192", "--input-size", "320", "--out", str(tmp_path / "x.onnx")])
    assert args.func(args) == 2
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_bytes_output_names() -> None:
    """One naming rule for ``output_name`` / ``output_names`` (a ``str`` or several) and the defaults."""
    import onnx

    from posekit.models.onnx_export import onnx_bytes

    net = torch.nn.Conv2d(3, 2, 1)
    spec = PoseModelSpec(input_size=(8, 8))

    def names(**kwargs) -> list[str]:
        return [o.name for o in onnx.load_model_from_string(onnx_bytes(net, (8, 8), **kwargs)).graph.output]

    assert names() == ["output"] and names(spec=spec) == ["heatmaps"]
    assert names(output_names="y") == names(output_names=["y"]) == names(output_name="y") == ["y"]
    assert names(spec=spec, output_name="y") == ["y"]
    with pytest.raises(ValueError, match="not both"):
        names(output_name="y", output_names=["y"])
    with pytest.raises(ValueError, match="distinct"):
        names(output_names=["y", "y"])
    with pytest.raises(ValueError, match="non-empty"):
        names(output_names=[])
