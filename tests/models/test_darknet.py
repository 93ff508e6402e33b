"""Darknet ``.weights`` reading/writing, checked against the YOLOv3-SPP fixture file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import parity  # noqa: E402
from posekit.models.checkpoint import sha256_file  # noqa: E402
from posekit.models.darknet import (  # noqa: E402
    DarknetHeader,
    DarknetWeightsError,
    darknet_float_count,
    load_darknet_weights,
    read_darknet_header,
    save_darknet_weights,
)
from posekit.models.yolov3 import build_yolov3_spp  # noqa: E402


@pytest.fixture(scope="module")
def layout(yolo_dir: Path) -> dict:
    return json.loads((yolo_dir / "weights_layout.json").read_text())


@pytest.fixture(scope="module")
def weights_file(synth, yolo_state, layout: dict, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("darknet") / "y.weights"
    synth.write_darknet_weights(yolo_state, layout, path)
    return path


@pytest.fixture(scope="module")
def loaded(weights_file: Path):
    net = build_yolov3_spp(input_size=320)
    header = load_darknet_weights(net, weights_file)
    return net.eval(), header


def _tiny() -> nn.Module:
    """conv+bn+leaky, then a biased head conv: 2 darknet layers, 4*8 + 8*3*3*3 + 5 + 5*8 floats."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.1), nn.Conv2d(8, 5, 1)
    )


def _fill(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)


# --------------------------------------------------------------------------- fixture file


def test_generated_file_matches_fixture(weights_file: Path, yolo_info: dict, layout: dict):
    assert weights_file.stat().st_size == yolo_info["weights_file_bytes"] == 252_209_544
    assert sha256_file(weights_file) == yolo_info["weights_file_sha256"]
    header = read_darknet_header(weights_file)
    assert header == DarknetHeader(0, 2, 0, 0) and header.nbytes == 20
    assert darknet_float_count(build_yolov3_spp(320)) == layout["total_floats"] == 63_052_381


def test_load_gives_synthetic_state_dict(loaded, yolo_state):
    net, header = loaded
    assert header.major == 0 and header.minor == 2 and header.seen == 0
    ours = net.state_dict()
    assert list(ours) == list(yolo_state)
    for name, ref in yolo_state.items():
        assert torch.equal(ours[name], ref), name


def test_loaded_weights_reproduce_fixture_output(loaded, synth, yolo_dir: Path):
    net, _ = loaded
    out = parity.forward_single_thread(net, parity.fixture_input(synth, yolo_dir))
    err = parity.rel_err(out, np.load(yolo_dir / "output.npy"))
    print(f"YOLOv3-SPP via .weights vs fixture: max|d|/max|ref| = {err:.3e}")
    assert err <= parity.TOLERANCE


@pytest.mark.slow
def test_save_load_round_trip(loaded, weights_file: Path, tmp_path: Path):
    net, _ = loaded
    out = tmp_path / "rt.weights"
    n = save_darknet_weights(net, out)
    assert n == 63_052_381
    assert out.stat().st_size == weights_file.stat().st_size
    assert sha256_file(out) == sha256_file(weights_file)  # byte-identical to the reference writer
    again = build_yolov3_spp(input_size=320)
    load_darknet_weights(again, out)
    for (k, a), (k2, b) in zip(net.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


def test_truncated_file_is_a_clear_error(weights_file: Path, tmp_path: Path):
    bad = tmp_path / "short.weights"
    with weights_file.open("rb") as f:
        bad.write_bytes(f.read(20 + 4 * 1000))
    net = build_yolov3_spp(input_size=320)
    before = net.module_list[0].conv_0.weight.clone()
    with pytest.raises(DarknetWeightsError) as info:
        load_darknet_weights(net, bad)
    msg = str(info.value)
    assert "short.weights" in msg and "too short" in msg
    assert "63052381" in msg and "1000" in msg
    assert torch.equal(net.module_list[0].conv_0.weight, before)  # nothing was loaded


# --------------------------------------------------------------------------- small model


def test_tiny_round_trip_and_order(tmp_path: Path):
    src, dst = _tiny(), _tiny()
    _fill(src, 1)
    path = tmp_path / "tiny.weights"
    header = DarknetHeader(0, 2, 5, seen=(1 << 33) + 7)
    assert save_darknet_weights(src, path, header) == darknet_float_count(src) == 4 * 8 + 8 * 27 + 5 + 40
    raw = np.fromfile(path, dtype="<f4", offset=20)
    bn, conv, head = src[1], src[0], src[3]
    expected = np.concatenate(
        [t.detach().numpy().ravel() for t in (bn.bias, bn.weight, bn.running_mean, bn.running_var, conv.weight)]
        + [head.bias.detach().numpy(), head.weight.detach().numpy().ravel()]
    )
    assert np.array_equal(raw, expected)
    assert load_darknet_weights(dst, path) == header
    for a, b in zip(src.state_dict().values(), dst.state_dict().values()):
        assert torch.equal(a, b)


def test_old_four_word_header(tmp_path: Path):
    src, dst = _tiny(), _tiny()
    _fill(src, 2)
    path = tmp_path / "old.weights"
    save_darknet_weights(src, path, DarknetHeader(0, 1, 0, seen=12345))
    assert path.stat().st_size == 16 + 4 * darknet_float_count(src)
    header = load_darknet_weights(dst, path)
    assert header.nbytes == 16 and header.seen == 12345
    assert torch.equal(src[3].weight, dst[3].weight)


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda b: b + b"\0\0\0\0", r"too long.*expected 293 .*found 294"),
        (lambda b: b[:-8], r"too short.*expected 293 .*found 291"),
        (lambda b: b + b"\0\0", r"not a whole number of float32"),
        (lambda b: np.array([1234, 5, 0], "<i4").tobytes() + b[12:], r"not a supported darknet weights header.*expects 293 .*holds 293 "),
        (lambda b: np.array([0, 1, 0], "<i4").tobytes() + b[12:], r"too long.*expected 293 .*found 294"),
        (lambda b: b[:10], r"too short for a darknet weights header.*expects 293 .*holds 0 "),
    ],
)
def test_bad_files(tmp_path: Path, mutate, pattern):
    src = _tiny()
    good = tmp_path / "good.weights"
    save_darknet_weights(src, good)
    bad = tmp_path / "bad.weights"
    bad.write_bytes(mutate(good.read_bytes()))
    with pytest.raises(DarknetWeightsError, match=pattern) as info:
        load_darknet_weights(_tiny(), bad)
    assert "bad.weights" in str(info.value)


def test_conv_without_bias_or_bn_is_rejected():
    with pytest.raises(ValueError, match="without bias"):
        darknet_float_count(nn.Sequential(nn.Conv2d(3, 4, 1, bias=False)))
