"""YOLOv3-SPP (AlphaPose's detector network): naming, forward parity, ONNX export.

Parity fixture: ``shared/fixtures/yolov3_spp_320`` (official AlphaPose
``Darknet`` with synthetic gain-0.5 weights, input 320).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import parity  # noqa: E402
from posekit.models.yolov3 import (  # noqa: E402
    YOLOV3_ANCHORS,
    ZeroPadMaxPool2d,
    build_darknet_from_cfg,
    build_yolov3_spp,
    export_yolov3_onnx,
    parse_darknet_cfg,
    yolov3_spp_blocks,
)

@pytest.fixture(scope="module")
def manifest(synth, yolo_dir: Path) -> list:
    return synth.load_manifest(yolo_dir / "manifest.json")


@pytest.fixture(scope="module")
def model(yolo_state):
    net = build_yolov3_spp(input_size=320)
    net.load_state_dict(yolo_state, strict=True)
    return net.eval()


@pytest.fixture(scope="module")
def fixture_input(synth, yolo_dir: Path) -> np.ndarray:
    return parity.fixture_input(synth, yolo_dir)


@pytest.fixture(scope="module")
def reference(yolo_dir: Path) -> np.ndarray:
    return np.load(yolo_dir / "output.npy")


@pytest.fixture(scope="module")
def torch_output(model, fixture_input: np.ndarray) -> np.ndarray:
    return parity.forward_single_thread(model, fixture_input)


# --------------------------------------------------------------------------- naming


def test_state_dict_matches_manifest_names_shapes_order(model, manifest, yolo_info):
    fresh = build_yolov3_spp(input_size=320)
    ours = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in fresh.state_dict().items()]
    ref = [(k, tuple(shape), dtype) for k, shape, dtype in manifest]
    assert ours == ref
    assert len(ours) == yolo_info["state_dict_keys"] == 444
    n_params = sum(p.numel() for p in fresh.parameters())
    assert n_params == yolo_info["parameter_count"]
    # The three detection convolutions are the only ones with a bias and without BN.
    biased = sorted(int(k.split(".")[1]) for k in fresh.state_dict() if k.endswith(".bias") and ".conv_" in k)
    assert biased == [88, 100, 112]


def test_synthetic_weights_load_strict(yolo_state, yolo_info):
    digest = hashlib.sha256()
    for name, tensor in yolo_state.items():
        digest.update(name.encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == yolo_info["synth_state_dict_sha256"]
    net = build_yolov3_spp(input_size=320)
    result = net.load_state_dict(yolo_state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    bad = dict(yolo_state)
    bad.pop("module_list.88.conv_88.bias")
    with pytest.raises(RuntimeError, match="conv_88.bias"):
        net.load_state_dict(bad, strict=True)


# --------------------------------------------------------------------------- forward


def test_forward_matches_official_output(torch_output, reference, yolo_info):
    assert torch_output.shape == tuple(yolo_info["output_shape"]) == (1, 6300, 85)
    assert torch_output.dtype == np.float32
    err = parity.rel_err(torch_output, reference)
    print(f"YOLOv3-SPP torch vs fixture: max|d|/max|ref| = {err:.3e}")
    assert err <= parity.TOLERANCE


def test_row_order_and_decoding(torch_output):
    """cx/cy of the first rows follow (anchor, x, y) order and the three heads' strides."""
    out = torch_output[0]
    # Head at stride 32, grid 10: rows 0..2 are cell (0, 0), rows 3..5 cell (1, 0), row 30 cell (0, 1).
    assert np.all(out[0:3, 0] < 32) and np.all(out[3:6, 0] >= 32) and np.all(out[3:6, 0] < 64)
    assert np.all(out[0:30, 1] < 32) and np.all(out[30:33, 1] >= 32)
    # Widths grow with exp() of the anchor: ratio of the head-1 anchors (116,90),(156,198),(373,326) appear.
    assert out.shape[0] == 300 + 1200 + 4800
    assert np.all((out[:, 4:] > 0) & (out[:, 4:] < 1))  # sigmoid obj and sigmoid classes
    # Sigmoid (not softmax) class scores: rows do not sum to 1.
    assert not np.allclose(out[:, 5:].sum(1), 1.0, atol=1e-3)
    # Last head: stride 8 -> centres of the last cell near 320.
    assert out[-1, 0] > 312 and out[-1, 1] > 312


def test_zero_padded_spp_maxpool():
    torch.manual_seed(0)
    for size, k in ((7, 5), (10, 13), (3, 9), (20, 13)):
        x = torch.randn(2, 4, size, size) - 0.5
        ref = F.max_pool2d(F.pad(x, (k // 2,) * 4, value=0.0), k, stride=1)
        out = ZeroPadMaxPool2d(k)(x)
        assert out.shape == x.shape
        assert torch.equal(out, ref)
    x = -torch.rand(1, 1, 6, 6) - 0.1  # all negative: zero padding wins at the border
    out = ZeroPadMaxPool2d(5)(x)
    assert torch.all(out[..., 0, :] == 0) and torch.all(out[..., 2:4, 2:4] < 0)
    with pytest.raises(ValueError):
        ZeroPadMaxPool2d(4)


def test_input_size_validation():
    for bad in (0, 33, 100, 610):
        with pytest.raises(ValueError, match="multiple of 32"):
            build_yolov3_spp(input_size=bad)
    with pytest.raises(TypeError):
        build_yolov3_spp(input_size=320.0)
    net = build_yolov3_spp(input_size=608)
    assert net.num_boxes() == 3 * (19 * 19 + 38 * 38 + 76 * 76) == 22743
    assert net.num_boxes(320) == 6300
    with pytest.raises(ValueError, match="expected input"):
        net(torch.zeros(1, 3, 320, 320))


def test_num_classes_and_anchors():
    net = build_yolov3_spp(input_size=64, num_classes=1)
    sd = net.state_dict()
    assert tuple(sd["module_list.88.conv_88.weight"].shape) == (18, 1024, 1, 1)
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 3 * (4 + 16 + 64), 6)
    assert [layer.anchors for layer in net.yolo_layers] == [
        YOLOV3_ANCHORS[6:9], YOLOV3_ANCHORS[3:6], YOLOV3_ANCHORS[0:3]
    ]
    net.set_input_size(96)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 96, 96))
    assert out.shape == (1, 3 * (9 + 36 + 144), 6) == (1, net.num_boxes(), 6)
    assert out[0, -1, 0] > 88  # stride 8 at the last head: centre of cell 11 is in [88, 96)


def test_default_architecture_equals_official_cfg(yolo_dir: Path):
    """Our in-code block list describes the same network as the official cfg."""
    net, blocks = parse_darknet_cfg(yolo_dir / "yolov3-spp.cfg")
    assert net["height"] == 608 and len(blocks) == 114
    ours = yolov3_spp_blocks()
    keys = ("type", "filters", "size", "stride", "pad", "activation", "from", "layers", "mask", "anchors", "classes")
    for i, (theirs, mine) in enumerate(zip(blocks, ours)):
        assert int(theirs.get("batch_normalize", 0)) == int(mine.get("batch_normalize", 0)), i
        assert {k: theirs.get(k) for k in keys} == {k: mine.get(k) for k in keys}, i
    from_cfg = build_darknet_from_cfg(yolo_dir / "yolov3-spp.cfg", input_size=320)
    default = build_yolov3_spp(320)
    assert [(k, v.shape) for k, v in from_cfg.state_dict().items()] == [
        (k, v.shape) for k, v in default.state_dict().items()
    ]


def test_create_model_registry():
    models = pytest.importorskip("posekit.models")
    net = models.create_model("yolov3_spp", input_size=320)
    assert net.input_size == 320 and net.num_boxes() == 6300


# --------------------------------------------------------------------------- ONNX


@pytest.mark.slow
def test_onnx_export_matches_torch(model, fixture_input, torch_output, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    data = export_yolov3_onnx(model, tmp_path / "yolov3_spp_320.onnx")
    assert (tmp_path / "yolov3_spp_320.onnx").read_bytes() == data
    # Default session options: all graph optimisations on (this is where a Pad(0)->MaxPool
    # pair would be fused into a -inf padded MaxPool and go wrong).
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[1:] == [3, 320, 320] and not isinstance(inp.shape[0], int)
    out = session.run(None, {inp.name: fixture_input})[0]
    assert out.shape == (1, 6300, 85)
    err = parity.rel_err(out, torch_output)
    print(f"YOLOv3-SPP ONNX vs torch: max|d|/max|ref| = {err:.3e}")
    assert err <= parity.TOLERANCE

    batch = np.concatenate([fixture_input, np.ascontiguousarray(fixture_input[:, :, ::-1])])
    out2 = session.run(None, {inp.name: batch})[0]
    ref2 = parity.forward_single_thread(model, batch)
    assert out2.shape == (2, 6300, 85)
    assert parity.rel_err(out2, ref2) <= parity.TOLERANCE
    assert parity.rel_err(out2[:1], torch_output) <= parity.TOLERANCE
