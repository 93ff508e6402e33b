"""int8 static quantisation (posekit.quantize, ``posekit quantize``): files, sidecars, calibration, accuracy."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from posekit import quantize as q
from posekit.codec import get_max_preds
from posekit.io import find_images, sha256_file
from posekit.runtime import make_session
from posekit.spec import DetectorSpec, PoseModelSpec

import testdata

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

SMALL_MODEL = "test-only/ultralight-simplepose-256x192.onnx"  # opset 8, HRNet contract: a test fixture only
SPEC = PoseModelSpec(input_size=(192, 256))


@pytest.fixture(scope="module", params=["synthetic", pytest.param("test-only", marks=pytest.mark.shared_data)])
def source(request: pytest.FixtureRequest, contract_models: Path) -> tuple[str, Path, Path]:
    """``(kind, model file, COCO folder)``: the synthetic HRNet-contract network (opset 13) with the repository's
    COCO images, or the real test-only network (opset 8) with the 300-image dev set."""
    if request.param == "synthetic":
        return "synthetic", contract_models / testdata.HEATMAP_NET, testdata.COCO
    return "test-only", request.getfixturevalue("models_dir") / SMALL_MODEL, request.getfixturevalue("coco_dev")


@pytest.fixture(scope="module")
def dev(source) -> tuple[list[Path], Path]:
    _, _, coco = source
    images = find_images([coco / "images"])
    return images, coco / "person_keypoints.json"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, source, dev) -> tuple[Path, Path]:
    """The small model copied into a writable folder and quantised beside it (4 calibration images)."""
    images, gt = dev
    folder = tmp_path_factory.mktemp("models")
    src = folder / "ultralight-simplepose-256x192.onnx"  # one name for both sources: the paths below check it
    shutil.copyfile(source[1], src)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        out = q.quantize_model(src, SPEC, images[:4], gt=gt)
    return src, out


def test_quantized_file_sits_beside_its_source_with_a_sidecar(quantized) -> None:
    src, out = quantized
    assert out == src.with_name("ultralight-simplepose-256x192.int8.onnx")
    meta = json.loads(q.sidecar_path(out).read_text())
    assert q.sidecar_path(out).name == "ultralight-simplepose-256x192.int8.onnx.sha256"
    assert meta["sha256"] == sha256_file(out)
    assert meta["source"]["sha256"] == sha256_file(src)
    assert meta["settings"]["per_channel"] and meta["settings"]["format"] == "QDQ"
    assert meta["settings"]["calibration_samples"] >= 4  # GT person crops of 4 images
    assert q.quantized_path(src) == out
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_quantized_model_runs_close_to_fp32(quantized, dev, source) -> None:
    src, out = quantized
    images, gt = dev
    x = np.concatenate(list(q.calibration_inputs(SPEC, images[4:12], gt_boxes=q.load_gt_boxes(gt),
                                                 max_people_per_image=1)))
    fp32, int8 = make_session(src, 1), make_session(out, 1)
    name = fp32.get_inputs()[0].name
    a = np.concatenate([fp32.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])
    b = np.concatenate([int8.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])
    assert a.shape == b.shape == (len(x), 17, 64, 48)
    # bounds per source: (correlation, median and mean peak distance in heatmap pixels)
    min_corr, max_median, max_mean = {
        "test-only": (0.8, 2.0, 2.5),  # measured 0.91, 1.0, 1.0
        "synthetic": (0.99, 1.0, 2.0),  # measured 0.9998, 0.0, 0.82 (8 crops of the repository's images)
    }[source[0]]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > min_corr
    ca, scores = get_max_preds(a)
    cb, _ = get_max_preds(b)
    confident = scores.reshape(len(x), 17) > 0.3
    dist = np.linalg.norm(ca - cb, axis=-1)[confident]  # heatmap pixels
    assert confident.sum() >= 20
    assert np.median(dist) <= max_median and dist.mean() <= max_mean


def test_quantized_path_rejects_a_changed_source_or_int8_file(quantized, tmp_path) -> None:
    src, out = quantized
    copy = tmp_path / src.name
    shutil.copyfile(src, copy)
    for f in (out, q.sidecar_path(out)):
        shutil.copyfile(f, tmp_path / f.name)
    assert q.quantized_path(copy) == tmp_path / out.name
    with open(copy, "ab") as f:  # a newer fp32 file: the int8 file is stale
        f.write(b"\0")
    assert q.quantized_path(copy) is None
    shutil.copyfile(src, copy)
    assert q.quantized_path(copy) == tmp_path / out.name
    with open(tmp_path / out.name, "ab") as f:  # a damaged int8 file
        f.write(b"\0")
    assert q.quantized_path(copy) is None
    q.sidecar_path(tmp_path / out.name).unlink()
    assert q.quantized_path(copy) is None


def test_read_only_folder_sends_the_int8_file_to_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    models = tmp_path / "models"
    (models / "pp-tinypose").mkdir(parents=True)
    src = models / "pp-tinypose" / "net.onnx"
    src.write_bytes(b"x")
    assert q.default_output_path(src) == src.with_name("net.int8.onnx")
    monkeypatch.setenv("POSEKIT_MODELS", str(models))
    os.chmod(src.parent, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)  # r-x: read-only even for root
    try:
        out = q.default_output_path(src)
    finally:
        os.chmod(src.parent, stat.S_IRWXU)
    assert out == tmp_path / "cache" / "posekit" / "models" / "pp-tinypose" / "net.int8.onnx"
    monkeypatch.delenv("POSEKIT_MODELS")  # a source outside the models folder: a per-folder cache entry
    other = q.cache_path(src)
    assert other.name == "net.int8.onnx" and other.parent.parent == tmp_path / "cache" / "posekit" / "models" / "int8"


def test_calibration_inputs_for_pose_and_detector(dev) -> None:
    images, gt = dev
    boxes = q.load_gt_boxes(gt)
    with_people = [p for p in images if len(boxes.get(p.name, ())) >= 2][:2]
    crops = list(q.calibration_inputs(SPEC, with_people, gt_boxes=boxes, max_people_per_image=2))
    assert [c.shape for c in crops] == [(2, 3, 256, 192)] * 2 and crops[0].dtype == np.float32
    whole = list(q.calibration_inputs(SPEC, with_people))  # no boxes: one crop of the whole image
    assert [c.shape[0] for c in whole] == [1, 1]
    calls = []

    def detector(image):
        calls.append(image.shape)
        h, w = image.shape[:2]
        return np.array([[0, 0, w / 2, h / 2], [1, 1, 5, 5]], np.float32), np.array([0.9, 0.1], np.float32)

    found = list(q.calibration_inputs(SPEC, with_people, detector=detector))
    assert len(calls) == 2 and [c.shape[0] for c in found] == [1, 1]  # the 0.1 box is dropped
    det = DetectorSpec(input_size=(320, 320), resize="stretch", channel_order="RGB")
    assert [x.shape for x in q.calibration_inputs(det, images[:3], max_images=2)] == [(1, 3, 320, 320)] * 2


def test_calibration_reader_regroups_batches() -> None:
    arrays = [np.full((n, 2), i, np.float32) for i, n in enumerate((3, 0, 2, 4))]
    reader = q.CalibrationReader("x", arrays, batch_size=4)
    sizes = [len(feed["x"]) for feed in reader]
    assert sizes == [4, 4, 1] and reader.samples == 9
    assert reader.get_next() is None


def _conv(name, x, w, b, out, group=1):
    return onnx.helper.make_node("Conv", [x, w, b], [out], name=name, group=group, pads=[1, 1, 1, 1]
                                 if w.endswith("3") else [0, 0, 0, 0])


def _uneven_model() -> "onnx.ModelProto":
    """Conv -> Relu -> depthwise Conv -> 1x1 Conv -> Sigmoid, channels of very different ranges."""
    rng = np.random.default_rng(0)
    scale = np.array([0.05, 1.0, 20.0, 0.5], np.float32)
    inits = {
        "w1": rng.standard_normal((4, 3, 1, 1)).astype(np.float32) * scale[:, None, None, None], "b1": scale * 0.1,
        "w3": rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "b3": np.zeros(4, np.float32),
        "w4": rng.standard_normal((2, 4, 1, 1)).astype(np.float32), "b4": np.zeros(2, np.float32),
    }
    nodes = [
        _conv("c1", "x", "w1", "b1", "t1"), onnx.helper.make_node("Relu", ["t1"], ["r1"], name="relu"),
        _conv("dw", "r1", "w3", "b3", "t3", group=4), _conv("pw", "t3", "w4", "b4", "t4"),
        onnx.helper.make_node("Sigmoid", ["t4"], ["y"], name="sig"),
    ]
    graph = onnx.helper.make_graph(
        nodes, "uneven", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])


def test_channel_equalisation_is_exact_and_evens_out_ranges() -> None:
    import onnxruntime as ort

    model = _uneven_model()
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)

    def run(m, names=("y",)):
        probe = onnx.ModelProto()
        probe.CopyFrom(m)
        probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, 1, None) for n in names if n != "y")
        sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))

    before = run(model, ("y", "r1", "t3"))
    assert len(q._channel_pairs(model)) == 2  # c1 -relu-> dw, dw -> pw
    assert q._equalize_channels(model, [x], "x") == 2
    after = run(model, ("y", "r1", "t3"))
    np.testing.assert_allclose(after["y"], before["y"], rtol=1e-5, atol=1e-6)

    def spread(a):
        r = np.abs(a).max(axis=(0, 2, 3))
        return r.max() / r.min()

    # depthwise consumer: every channel brought to the largest range (scales clipped to 1e-3..1e3)
    assert spread(before["r1"]) > 1000 and spread(after["r1"]) < 1.5
    assert spread(after["t3"]) < spread(before["t3"])


def test_float_tail_is_what_follows_the_last_conv() -> None:
    model = _uneven_model()
    assert q._float_tail_nodes(model) == ["sig"]
    assert q._float_tail_nodes(model, include_last_convs=True) == ["pw", "sig"]


def test_cli_quantizes_and_checks(source, dev, tmp_path, monkeypatch, capsys) -> None:
    from posekit.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images, gt = dev
    src = tmp_path / "simple.onnx"
    shutil.copyfile(source[1], src)
    out = tmp_path / "out" / "simple.int8.onnx"
    argv = ["quantize", str(src), "--images", *map(str, images[:3]), "--gt", str(gt), "--out", str(out), "-q"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.is_file() and q.sidecar_path(out).is_file()
    make_session(out, 1)
    assert main(["quantize", str(src), "--out", str(out), "--check", "-q"]) == 0
    assert main(["quantize", str(src), "--check", "-q"]) == 1  # nothing beside src nor in the cache
    assert main(["quantize", "no_such_model", "--images", str(images[0]), "-q"]) == 2
