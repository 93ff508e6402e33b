"""Tests for posekit.runtime: the ONNX Runtime session factory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.catalog import package_weights_dir
from posekit.io import sha256_file
from posekit.runtime import make_session

import testdata


def test_session_runs_with_each_option(contract_models):
    path = contract_models / testdata.CONTRACT_FILES["movenet_lightning"]
    x = np.zeros((1, 192, 192, 3), np.int32)
    outs = []
    for kwargs in ({}, {"spinning": True}, {"optimization": "basic"}):
        session = make_session(path, 1, **kwargs)
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=1e-3, atol=1e-5)  # fusions reorder float sums


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match="bad.onnx"):
        make_session(bad)
    with pytest.raises(ValueError, match="optimization"):
        make_session(bad, optimization="max")


# ---------------------------------------------------------------------- OpenVINO backend

#: The packaged PP-TinyPose 128x96 and PP-PicoDet-S 192 files.
TINYPOSE = package_weights_dir() / "pp-tinypose-128x96.onnx"
PICODET = package_weights_dir() / "picodet_s_192_lcnet_pedestrian.onnx"


@pytest.fixture(scope="module")
def openvino():
    return pytest.importorskip("openvino")


def _both(path, **kwargs):
    """ONNX Runtime and OpenVINO sessions of one file, one thread each."""
    return make_session(path, 1, **kwargs), make_session(path, 1, backend="openvino", **kwargs)


def _same_interface(ort_session, ov_session):
    ort_in, ov_in = ort_session.get_inputs(), ov_session.get_inputs()
    assert [i.name for i in ov_in] == [i.name for i in ort_in]
    assert [i.type for i in ov_in] == [i.type for i in ort_in]
    for a, b in zip(ort_in, ov_in):  # ORT names dynamic axes ("N"); OpenVINO gives None
        assert b.shape == [d if isinstance(d, int) else None for d in a.shape]
    assert [o.name for o in ov_session.get_outputs()] == [o.name for o in ort_session.get_outputs()]


def test_openvino_matches_onnxruntime_on_tinypose_dynamic_batch(openvino):
    ort_session, ov_session = _both(TINYPOSE)
    _same_interface(ort_session, ov_session)
    name = ov_session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    first = None
    for batch in (1, 3, 1):  # one compiled model serves every batch size, back and forth
        x = rng.standard_normal((batch, 3, 128, 96)).astype(np.float32)
        expected = ort_session.run(None, {name: x})
        got = ov_session.run(None, {name: x})
        assert len(got) == 1 and got[0].shape == expected[0].shape == (batch, 17, 32, 24)
        assert got[0].dtype == np.float32
        np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-3)
        if first is None:
            first = got[0]
            first_copy = first.copy()
    np.testing.assert_array_equal(first, first_copy)  # later calls did not overwrite an earlier result
    by_name = ov_session.run([ov_session.get_outputs()[0].name], {name: x})
    np.testing.assert_array_equal(by_name[0], got[0])


def test_openvino_matches_onnxruntime_on_picodet(openvino):
    ort_session, ov_session = _both(PICODET)
    _same_interface(ort_session, ov_session)
    assert [o.name for o in ov_session.get_outputs()] == ["boxes", "scores"]
    rng = np.random.default_rng(1)
    for batch in (1, 2):
        x = rng.standard_normal((batch, 3, 192, 192)).astype(np.float32)
        boxes, scores = ov_session.run(None, {"image": x})
        ref_boxes, ref_scores = ort_session.run(None, {"image": x})
        assert boxes.shape == ref_boxes.shape == (batch, 765, 4) and scores.shape == (batch, 1, 765)
        np.testing.assert_allclose(boxes, ref_boxes, rtol=0, atol=1e-2)  # pixels of the 192 input
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-4)
    scores_only = ov_session.run(["scores"], {"image": x})
    assert len(scores_only) == 1
    np.testing.assert_array_equal(scores_only[0], scores)


def test_openvino_reads_bytes_and_their_metadata(openvino):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(TINYPOSE))
    onnx.helper.set_model_props(model, {"posekit.spec": '{"input_size": [96, 128]}', "note": "ü"})
    data = model.SerializeToString()
    ort_session = make_session(data, 1)
    ov_session = make_session(data, 1, backend="openvino")
    assert ov_session.get_modelmeta().custom_metadata_map == ort_session.get_modelmeta().custom_metadata_map
    assert ov_session.get_modelmeta().custom_metadata_map["note"] == "ü"
    x = np.random.default_rng(2).standard_normal((2, 3, 128, 96)).astype(np.float32)
    np.testing.assert_allclose(
        ov_session.run(None, {"image": x})[0], ort_session.run(None, {"image": x})[0], rtol=0, atol=1e-3
    )
    plain = make_session(TINYPOSE, 1, backend="openvino")
    assert plain.get_modelmeta().custom_metadata_map == {}


def test_openvino_runs_movenet_and_checks_feeds_like_onnxruntime(openvino, contract_models):
    ort_session, ov_session = _both(contract_models / testdata.CONTRACT_FILES["movenet_lightning"])
    _same_interface(ort_session, ov_session)
    x = np.random.default_rng(3).integers(0, 256, (1, 192, 192, 3)).astype(np.int32)
    for got, expected in zip(ov_session.run(None, {"input:0": x}), ort_session.run(None, {"input:0": x})):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
    with pytest.raises(TypeError, match="int32"):
        ov_session.run(None, {"input:0": x.astype(np.float32)})
    with pytest.raises(ValueError, match="input names"):
        ov_session.run(None, {"image": x})
    with pytest.raises(ValueError, match="unknown output"):
        ov_session.run(["nope"], {"input:0": x})


def test_openvino_errors_name_the_file(openvino, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match="bad.onnx"):
        make_session(bad, backend="openvino")


def test_backend_is_checked_and_a_missing_openvino_says_how_to_install(monkeypatch):
    import sys

    from posekit import runtime

    with pytest.raises(ValueError, match="backend"):
        make_session(TINYPOSE, backend="tensorrt")
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    runtime._openvino_core.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'posekit\[openvino\]'"):
            make_session(TINYPOSE, backend="openvino")
    finally:
        runtime._openvino_core.cache_clear()


# ----------------------------------------------------------------------------- backend "auto"


def test_auto_measures_once_per_machine_and_model(openvino, tmp_path, monkeypatch):
    from posekit import runtime

    path = TINYPOSE
    cache = tmp_path / "choices.json"
    choice = runtime.choose_backend(path, cache_file=cache, rounds=2)  # a real measurement
    assert choice in ("onnxruntime", "openvino")
    entries = json.loads(cache.read_text())[runtime.machine_key()]
    (key, entry), = entries.items()
    assert key == sha256_file(path) and entry["choice"] == choice and entry["onnxruntime"] > 0 and entry["openvino"] > 0

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(runtime, "_time_backends", no_measuring)
    assert runtime.choose_backend(path, cache_file=cache) == choice  # read from the cache
    # another model is another measurement
    other = package_weights_dir() / "pp-tinypose-256x192.onnx"
    monkeypatch.setattr(runtime, "_time_backends", lambda *a: {"onnxruntime": 10.0, "openvino": 8.0})
    assert runtime.choose_backend(other, cache_file=cache) == "openvino"  # 1.25x >= AUTO_MIN_SPEEDUP
    # a damaged cache is measured again, not an error
    cache.write_text("{not json")
    monkeypatch.setattr(runtime, "_time_backends", lambda *a: {"onnxruntime": 10.0, "openvino": 9.5})
    assert runtime.choose_backend(other, cache_file=cache) == "onnxruntime"  # 1.05x: not worth it


def test_auto_without_openvino_is_onnxruntime(monkeypatch, tmp_path):
    import importlib.util

    from posekit import runtime

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    cache = tmp_path / "choices.json"
    path = TINYPOSE
    assert runtime.choose_backend(path, cache_file=cache) == "onnxruntime"
    assert not cache.exists()  # nothing measured, nothing written
    session = make_session(path, 1, backend="auto")
    assert type(session).__module__.startswith("onnxruntime")


def test_default_batch_size():
    from posekit.runtime import default_batch_size

    assert default_batch_size((192, 256), 1) == 1 and default_batch_size((96, 128), 1) == 4
    assert default_batch_size((192, 256), 2) == 32 and default_batch_size((192, 256), None) == 32
