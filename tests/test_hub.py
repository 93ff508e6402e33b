"""Tests for posekit.hub (model files, sha256 and the models directory)."""

from __future__ import annotations

import hashlib

import pytest

from posekit import hub


def test_registry_sha256_matches_shared_sha256sums(models_dir):
    sums = {}
    for line in (models_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    for m in hub.list_model_files():
        assert sums[m.filename] == m.sha256, m.name
        assert "test-only" not in m.filename  # the unlicensed test model is never registered


def test_list_model_files_by_task():
    assert {m.name for m in hub.list_model_files("detection")} == {"yolox_nano", "rtmdet_nano"}
    assert {m.name for m in hub.list_model_files("pose")} == {"movenet_thunder", "movenet_lightning"}
    assert all(m.spec is not None for m in hub.list_model_files("pose"))


def test_sha256_file(tmp_path):
    p = tmp_path / "abc"
    p.write_bytes(b"abc")
    assert hub.sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 * 1024 + 5))
    assert hub.sha256_file(big, chunk=1024) == hashlib.sha256(b"x" * (3 * 1024 + 5)).hexdigest()


def test_resolve_models_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_MODELS", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert hub.resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert hub.resolve_models_dir() == tmp_path / "env"
    monkeypatch.delenv("POSEKIT_MODELS")
    assert hub.resolve_models_dir() == tmp_path / "cache" / "posekit" / "models"
    assert hub.default_models_dir() == tmp_path / "cache" / "posekit" / "models"


def test_model_file_path(models_dir, tmp_path):
    assert hub.model_file_path("yolox_nano", models_dir) == models_dir / "yolox_nano_416x416.onnx"
    with pytest.raises(KeyError, match="registered"):
        hub.model_file_path("resnet", models_dir)
    (tmp_path / "yolox_nano_416x416.onnx").write_bytes(b"junk")
    with pytest.raises(hub.ModelFileError, match="corrupt"):
        hub.model_file_path("yolox_nano", tmp_path)
    assert hub.model_file_path("yolox_nano", tmp_path, verify=False).read_bytes() == b"junk"
    with pytest.raises(hub.ModelFileError, match="not found") as info:
        hub.model_file_path("rtmdet_nano", tmp_path)
    assert "rtmdet-nano-person/end2end.onnx" in str(info.value)
