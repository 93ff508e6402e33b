"""RTMPose / DWPose / RTMW: official MMPose 1.3.2 state_dict layout, forward and ONNX parity.

The fixtures (``tests/data/fixtures/rtmpose_*``, ``rtmw_*``) hold the MMPose network's state_dict manifest
and its raw ``forward(x, None, mode="tensor")`` outputs (``output_simcc_x/y.npy``) for synthetic weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402
from posekit.models.cspnext import CSPLayer, CSPNeXt, CSPNeXtBlock, CSPNeXtPAFPN  # noqa: E402
from posekit import catalog  # noqa: E402
from posekit.models.registry import create_model  # noqa: E402
from posekit.models.rtmpose import RTMCCBlock, RTMPose, ScaleNorm  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

NAMES = [e.name for e in catalog.list_entries("pose", "torch") if e.family == "rtmpose"]
OUTPUTS = ("simcc_x", "simcc_y")


def _run(model: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        sx, sy = model(torch.from_numpy(np.ascontiguousarray(x)))
    return sx.numpy(), sy.numpy()


@pytest.fixture(scope="module")
def loaded(fixtures_dir: Path, synth: ModuleType) -> Callable[[str], RTMPose]:
    """``loaded(name)``: the network of a fixture with its synthetic weights, eval mode, built once per module."""
    cache: dict[str, RTMPose] = {}

    def get(name: str) -> RTMPose:
        if name not in cache:
            model = create_model(name)
            model.load_state_dict(parity.synth_state(synth, fixtures_dir / name), strict=True)
            cache[name] = model.eval()
        return cache[name]

    return get


def _arch(name: str) -> dict:
    """The catalogue's constructor arguments of ``name``."""
    return dict(catalog.get(name).arch)


def test_catalogue_covers_the_fixtures(fixtures_dir: Path) -> None:
    folders = {p.name for p in fixtures_dir.iterdir() if p.name.startswith(("rtmpose_", "rtmw_"))}
    assert set(NAMES) == folders
    with pytest.raises(KeyError, match="rtmpose_t_256x192"):
        create_model("rtmpose_q_256x192")


@pytest.mark.parametrize("name", NAMES)
def test_arch_table_matches_fixture_json(fixtures_dir: Path, name: str) -> None:
    """Every model_cfg value of fixture.json, either in the table or equal to the constructor's default."""
    info = parity.fixture_info(fixtures_dir / name)
    cfg, arch = info["model_cfg"], _arch(name)
    backbone, head, neck = cfg["backbone"], cfg["head"], cfg.get("neck")
    defaults = {k: p.default for k, p in inspect.signature(RTMPose).parameters.items()}
    assert arch["deepen_factor"] == backbone["deepen_factor"] and arch["widen_factor"] == backbone["widen_factor"]
    assert arch["num_keypoints"] == head["out_channels"] == info["num_keypoints"]
    assert arch["input_size"] == tuple(head["input_size"]) == tuple(info["input_shape"][:1:-1])
    assert arch["head_type"] == {"RTMCCHead": "rtmcc", "RTMWHead": "rtmw"}[head["type"]]
    assert (neck is not None) == (arch["head_type"] == "rtmw")
    assert backbone["arch"] == "P5" and backbone["act_cfg"]["type"] == "SiLU"
    assert backbone["expand_ratio"] == defaults["expand_ratio"]
    assert backbone["channel_attention"] == defaults["channel_attention"]
    assert info["bn_eps"]["backbone"] == [defaults["bn_eps"]]
    assert head["simcc_split_ratio"] == defaults["simcc_split_ratio"]
    assert head["final_layer_kernel_size"] == defaults["final_layer_kernel_size"]
    gau = head["gau_cfg"]
    assert (gau["hidden_dims"], gau["s"], gau["expansion_factor"]) == (
        defaults["hidden_dims"], defaults["s"], defaults["expansion_factor"]
    )
    assert gau["act_fn"] == "SiLU" and not gau["use_rel_bias"] and not gau["pos_enc"]
    assert gau["dropout_rate"] == 0.0 and gau["drop_path"] == 0.0
    if neck is not None:
        assert neck["num_csp_blocks"] == defaults["neck_csp_blocks"]
        assert neck["expand_ratio"] == defaults["expand_ratio"]
        assert neck["out_indices"] == [1, 2] and neck["out_channels"] is None
        assert info["bn_eps"]["neck"] == info["bn_eps"]["head"] == [defaults["bn_eps"]]
    with torch.device("meta"):
        model = create_model(name)
    # values MMPose derives in its configs, derived here from the table
    assert model.head.cls_x.out_features == head["input_size"][0] * head["simcc_split_ratio"]
    assert model.head.map_size == tuple(head["in_featuremap_size"][::-1])
    assert model.backbone.out_channels[-1] == head["in_channels"]
    if neck is not None:
        assert list(model.neck.in_channels) == neck["in_channels"]
    assert sum(p.numel() for p in model.parameters()) == info["parameter_count"]


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_matches_official(fixtures_dir: Path, synth: ModuleType, name: str) -> None:
    """Names, shapes and order of every entry, against MMPose's own state_dict."""
    with torch.device("meta"):
        model = create_model(name)
    assert parity.state_layout(model) == parity.manifest_layout(synth, fixtures_dir / name)
    assert (model.neck is None) == (_arch(name)["head_type"] == "rtmcc")


@pytest.mark.parametrize("name", NAMES)
def test_forward_parity(fixtures_dir: Path, synth: ModuleType, loaded, name: str) -> None:
    folder = fixtures_dir / name
    outs = _run(loaded(name), parity.fixture_input(synth, folder))
    for out, key in zip(outs, OUTPUTS):
        parity.assert_close_to(out, np.load(folder / f"output_{key}.npy"), label=f"{name} {key}")


def test_rtmw_all_zero_rows_stay_zero(fixtures_dir: Path, synth: ModuleType, loaded) -> None:
    """Keypoints whose two ReLU branches are all zero give exactly-zero SimCC rows (fixture.json all_zero_rows)."""
    name = "rtmw_m_256x192"
    info = parity.fixture_info(fixtures_dir / name)
    sx, sy = _run(loaded(name), parity.fixture_input(synth, fixtures_dir / name))
    zero = np.flatnonzero((sx[0] == 0).all(-1) & (sy[0] == 0).all(-1)).tolist()
    assert zero == info["all_zero_rows"] and zero


@pytest.mark.parametrize(
    "name,opset",
    [
        ("rtmpose_t_256x192", 11),  # mmdeploy's opset
        ("rtmpose_s_256x192", 11),
        *(pytest.param(name, 17 if name.startswith("rtmw") else 11, marks=pytest.mark.slow) for name in (
            "rtmpose_m_256x192", "rtmpose_l_256x192", "rtmpose_m_384x288", "rtmpose_l_384x288",
            "rtmpose_m_wholebody_256x192", "rtmpose_l_wholebody_384x288", "rtmw_m_256x192", "rtmw_l_256x192")),
    ],
)
def test_onnx_export_official_contract(fixtures_dir: Path, synth: ModuleType, loaded, name: str, opset: int) -> None:
    """Input ``input``, outputs ``simcc_x`` / ``simcc_y``, dynamic batch; onnxruntime == torch for a batch of 2."""
    pytest.importorskip("onnx")
    from posekit.models.onnx_export import onnx_bytes

    folder = fixtures_dir / name
    model = loaded(name)
    session = parity.ort_session(onnx_bytes(model, model.input_size, None, opset, output_names=OUTPUTS))
    k = model.num_keypoints
    (width, height), r = model.input_size, model.simcc_split_ratio
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", ["N", 3, height, width])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [
        ("simcc_x", ["N", k, int(width * r)]), ("simcc_y", ["N", k, int(height * r)])
    ]
    x = parity.batch2(parity.fixture_input(synth, folder))
    ort_outs = session.run(None, {"input": x})
    torch_outs = _run(model, x)
    for ort_out, torch_out, key in zip(ort_outs, torch_outs, OUTPUTS):
        parity.assert_close_to(ort_out, torch_out, label=f"{name} onnxruntime vs torch {key}")
        parity.assert_close_to(ort_out[:1], np.load(folder / f"output_{key}.npy"), label=f"{name} onnxruntime {key}")


def test_export_onnx_file_and_output_name_checks(tmp_path: Path, loaded) -> None:
    pytest.importorskip("onnx")
    from posekit.models.onnx_export import export_onnx

    model = loaded("rtmpose_t_256x192")
    path = export_onnx(model, tmp_path / "rtmpose_t.onnx", model.input_size, None, 11, output_names=OUTPUTS)
    assert [o.name for o in parity.ort_session(path.read_bytes()).get_outputs()] == list(OUTPUTS)
    with pytest.raises(ValueError, match="not both"):
        export_onnx(model, tmp_path / "x.onnx", model.input_size, output_name="a", output_names=OUTPUTS)
    with pytest.raises(ValueError, match="2 outputs"):
        export_onnx(model, tmp_path / "x.onnx", model.input_size, output_names=("simcc",))
    assert not (tmp_path / "x.onnx").exists()


# ------------------------------------------------------------------ building blocks


def test_scale_norm_formula() -> None:
    norm = ScaleNorm(4)
    with torch.no_grad():
        norm.g.fill_(2.0)
        x = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1e-7, 0.0, 0.0, 0.0]])
        y = norm(x)
    # ||x|| * 4**-0.5 = 2.5 -> x / 2.5 * 2; zero stays zero; tiny norms are clamped at 1e-5
    torch.testing.assert_close(y[0], torch.tensor([2.4, 3.2, 0.0, 0.0]))
    assert (y[1] == 0).all()
    torch.testing.assert_close(y[2], torch.tensor([1e-7 / 1e-5 * 2.0, 0.0, 0.0, 0.0]))


def test_gau_is_squared_relu_attention() -> None:
    torch.manual_seed(0)
    block = RTMCCBlock(dim=8, expansion_factor=2, s=4).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.uniform_(-1, 1)
        x = torch.randn(2, 5, 8)
        t = x / (x.norm(dim=-1, keepdim=True) * 8**-0.5).clamp(min=1e-5) * block.ln.g
        u, v, base = torch.split(torch.nn.functional.silu(t @ block.uv.weight.T), [16, 16, 4], dim=-1)
        q = base * block.gamma[0] + block.beta[0]
        k = base * block.gamma[1] + block.beta[1]
        attn = torch.relu(q @ k.transpose(1, 2) / 2.0) ** 2
        expected = x * block.res_scale.scale + (u * (attn @ v)) @ block.o.weight.T
        torch.testing.assert_close(block(x), expected)


def test_cspnext_blocks() -> None:
    block = CSPNeXtBlock(8, 8, add_identity=True).eval()
    assert block.add_identity and not CSPNeXtBlock(8, 4, add_identity=True).add_identity
    layer = CSPLayer(8, 16, num_blocks=2, channel_attention=True).eval()
    assert [n for n, _ in layer.named_children()] == ["main_conv", "short_conv", "final_conv", "blocks", "attention"]
    assert CSPLayer(8, 16).attention is None
    with torch.no_grad():
        assert layer(torch.randn(1, 8, 5, 7)).shape == (1, 16, 5, 7)


@pytest.mark.parametrize(
    "size,head_types", [((96, 128), ("rtmcc", "rtmw")), ((100, 70), ("rtmcc",))]  # (width, height)
)
def test_any_input_size_and_batch(size: tuple[int, int], head_types: tuple[str, ...]) -> None:
    width, height = size
    for head_type in head_types:
        model = RTMPose(0.167, 0.375, num_keypoints=5, input_size=size, head_type=head_type, hidden_dims=32, s=16)
        model.eval()
        with torch.no_grad():
            sx, sy = model(torch.randn(3, 3, height, width))
        assert sx.shape == (3, 5, 2 * width) and sy.shape == (3, 5, 2 * height)
        with pytest.raises(ValueError, match="built for"):
            model(torch.randn(1, 3, height + 64, width))


def test_backbone_and_neck_shapes() -> None:
    backbone = CSPNeXt(0.33, 0.5, out_indices=(0, 1, 2, 3, 4)).eval()
    assert backbone.out_channels == (32, 64, 128, 256, 512)
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 32, 48), (64, 16, 24), (128, 8, 12), (256, 4, 6), (512, 2, 3)]
    neck = CSPNeXtPAFPN((128, 256, 512), num_csp_blocks=1).eval()
    with torch.no_grad():
        outs = neck(feats[2:])
    assert [tuple(o.shape) for o in outs] == [tuple(f.shape) for f in feats[2:]]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="head_type"):
        RTMPose(head_type="rtmo")
    with pytest.raises(ValueError, match="out_indices"):
        CSPNeXt(out_indices=(5,))
    with pytest.raises(ValueError, match="levels"):
        CSPNeXtPAFPN((64,))
    with pytest.raises(ValueError, match="multiple of 32"):
        RTMPose(head_type="rtmw", input_size=(100, 70))


# ------------------------------------------------------------------ decoding and flip test (posekit's SimCC codec)


@pytest.mark.parametrize("name", NAMES)
def test_decode_and_flip_test_equal_mmpose(fixtures_dir: Path, synth: ModuleType, loaded, name: str) -> None:
    """The network's own outputs through posekit's codec: plain and flip-test keypoints and scores equal MMPose's
    (``keypoints.npy`` / ``flip_keypoints.npy``, input-crop pixels, no pixel-convention shift needed)."""
    from posekit.codec import make_codec

    folder = fixtures_dir / name
    info = parity.fixture_info(folder)
    codec = make_codec(catalog.get(name).spec)
    x = parity.fixture_input(synth, folder)
    plain = codec.pack(*_run(loaded(name), x))
    mirrored = codec.pack(*_run(loaded(name), np.ascontiguousarray(x[..., ::-1])))
    merged = codec.merge_flipped(plain, mirrored, np.asarray(info["flip_indices"]))
    wx = codec.bins[0]
    parity.assert_close_to(merged[..., :wx], np.load(folder / "output_flip_simcc_x.npy"), label=f"{name} flip x")
    parity.assert_close_to(merged[..., wx:], np.load(folder / "output_flip_simcc_y.npy"), label=f"{name} flip y")
    for outputs, prefix in ((plain, ""), (merged, "flip_")):
        decoded = codec.decode(outputs)
        np.testing.assert_allclose(decoded.keypoints, np.load(folder / f"{prefix}keypoints.npy"), rtol=0, atol=1e-4)
        np.testing.assert_allclose(decoded.scores, np.load(folder / f"{prefix}scores.npy"), rtol=0, atol=1e-4)


def test_posekit_export_writes_the_official_contract_and_predict_reads_it(fixtures_dir: Path, synth: ModuleType,
                                                                         tmp_path: Path) -> None:
    """``posekit export rtmpose_t_256x192 --checkpoint MMPOSE.pth``: input ``input``, outputs ``simcc_x`` /
    ``simcc_y``, dynamic batch, the fixture's outputs through onnxruntime; the file's ``posekit.spec`` makes it a
    SimCC model for ``--pose-model FILE.onnx`` (opset 11, as mmdeploy exports)."""
    from posekit.cli import main
    from posekit.pose.onnx_model import OnnxPoseModel

    name = "rtmpose_t_256x192"
    folder = fixtures_dir / name
    checkpoint = tmp_path / "rtmpose-t.pth"
    torch.save({"state_dict": parity.synth_state(synth, folder), "meta": {}}, checkpoint)
    out = tmp_path / "rtmpose_t.onnx"
    assert main(["export", name, "--checkpoint", str(checkpoint), "--out", str(out), "--opset", "11"]) == 0
    session = parity.ort_session(out.read_bytes())
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", ["N", 3, 256, 192])]
    assert [o.name for o in session.get_outputs()] == list(OUTPUTS)
    x = parity.batch2(parity.fixture_input(synth, folder))
    for got, key in zip(session.run(None, {"input": x}), OUTPUTS):
        parity.assert_close_to(got[:1], np.load(folder / f"output_{key}.npy"), label=key)
    model = OnnxPoseModel(out, num_threads=1)
    assert model.spec == catalog.get(name).spec and model.output_names == list(OUTPUTS)
    assert model.run(x).shape == (2, 17, 384 + 512)


def test_head_sizes_spec_and_codec_share_one_bin_rule() -> None:
    """W r = 289.5 and H r = 385.5: MMPose's heads truncate (289, 385); the spec and the codec say the same,
    so targets, loss and decoding always fit the network's outputs."""
    from posekit.codec import SimCCCodec
    from posekit.models.rtmpose import RTMCCHead
    from posekit.spec import PoseModelSpec, simcc_bins

    spec = PoseModelSpec(input_size=(193, 257), output="simcc", simcc_split_ratio=1.5)
    head = RTMCCHead(8, 3, spec.input_size, (7, 9), simcc_split_ratio=spec.simcc_split_ratio)
    assert (head.cls_x.out_features, head.cls_y.out_features) == (289, 385)
    assert spec.simcc_bins == SimCCCodec.from_spec(spec).bins == simcc_bins((193, 257), 1.5) == (289, 385)
    assert simcc_bins((192, 256), 2.0) == (384, 512)
