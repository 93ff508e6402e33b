"""Tests for posekit.catalog: entries, sha256, the models directory and downloads from a loopback server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from posekit import catalog
from posekit.io import sha256_file
from posekit.spec import DetectorSpec, PoseModelSpec


def test_catalog_sha256_matches_shared_sha256sums(models_dir):
    sums = {}
    for line in (models_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    for m in catalog.list_entries(runtime="onnx"):
        assert sums[m.file.name] == m.sha256, m.name
        assert "test-only" not in m.file.name  # the unlicensed test model is never registered


def test_list_entries_by_task_and_runtime():
    assert {m.name for m in catalog.list_entries("detection", "onnx")} == {
        "yolox_nano", "rtmdet_nano", "picodet_s_320", "picodet_s_192"}
    assert {m.name for m in catalog.list_entries("pose", "onnx")} == {
        "movenet_thunder", "movenet_lightning", "pp_tinypose_256x192", "pp_tinypose_128x96"}
    assert all(isinstance(m.spec, PoseModelSpec) for m in catalog.list_entries("pose"))
    assert all(isinstance(m.spec, DetectorSpec) for m in catalog.list_entries("detection"))
    assert "yolov3_spp" in {m.name for m in catalog.list_entries("detection", "torch")}
    assert "hrnet_w32_256x192" in {m.name for m in catalog.list_entries("pose", "torch")}
    # every entry names its file, source and licence
    for m in catalog.list_entries():
        assert m.file.name and m.source and m.license, m.name


def test_entries_validate_their_spec():
    entry = catalog.get("yolox_nano")
    with pytest.raises(ValueError, match="PoseModelSpec"):
        type(entry)(**{**entry.__dict__, "task": "pose"})
    with pytest.raises(KeyError, match="yolox_nano"):
        catalog.get("no_such_model")


def test_sha256_file(tmp_path):
    p = tmp_path / "abc"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 * (1 << 20) + 5))
    assert sha256_file(big) == hashlib.sha256(b"x" * (3 * (1 << 20) + 5)).hexdigest()


def test_resolve_models_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_MODELS", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert catalog.resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert catalog.resolve_models_dir() == tmp_path / "env"
    monkeypatch.delenv("POSEKIT_MODELS")
    assert catalog.resolve_models_dir() == tmp_path / "cache" / "posekit" / "models"
    assert catalog.default_models_dir() == tmp_path / "cache" / "posekit" / "models"


def test_model_file_path(models_dir, tmp_path):
    assert catalog.model_file_path("yolox_nano", models_dir) == models_dir / "yolox_nano_416x416.onnx"
    with pytest.raises(KeyError, match="choices"):
        catalog.model_file_path("resnet", models_dir)
    (tmp_path / "yolox_nano_416x416.onnx").write_bytes(b"junk")
    with pytest.raises(catalog.ModelFileCorrupt, match="corrupt"):
        catalog.model_file_path("yolox_nano", tmp_path)
    assert catalog.model_file_path("yolox_nano", tmp_path, verify=False).read_bytes() == b"junk"
    with pytest.raises(catalog.ModelFileMissing, match="not found") as info:
        catalog.model_file_path("rtmdet_nano", tmp_path)
    assert "rtmdet-nano-person/end2end.onnx" in str(info.value)


# ----------------------------------------------------------------------------- downloads


class _Server:
    """A loopback HTTP server over a folder that counts the requests it serves."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def user_cache(tmp_path, monkeypatch) -> Path:
    """No managed folder: files go to a fresh user cache; network allowed."""
    monkeypatch.delenv("POSEKIT_MODELS", raising=False)
    monkeypatch.delenv("POSEKIT_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "posekit" / "models"


def test_download_verifies_caches_and_reuses(models_dir, user_cache, monkeypatch):
    with _Server(models_dir) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        path = catalog.model_file_path("rtmdet_nano")
        assert path == user_cache / "rtmdet-nano-person" / "end2end.onnx"
        assert sha256_file(path) == catalog.get("rtmdet_nano").sha256
        assert server.requests == ["/rtmdet-nano-person/end2end.onnx"]
        assert not [p for p in path.parent.iterdir() if p != path]  # no temporary files left
        # second use: from the cache, no request
        assert catalog.model_file_path("rtmdet_nano") == path
        assert len(server.requests) == 1
    # and still with the server gone, even offline
    monkeypatch.setenv("POSEKIT_OFFLINE", "1")
    assert catalog.model_file_path("rtmdet_nano") == path


def test_corrupt_download_is_rejected_and_not_cached(models_dir, user_cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((models_dir / "yolox_nano_416x416.onnx").read_bytes())
    data[5000:5010] = bytes(b ^ 0xFF for b in data[5000:5010])
    (mirror / "yolox_nano_416x416.onnx").write_bytes(bytes(data))
    with _Server(mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        with pytest.raises(catalog.ModelFileCorrupt, match="sha256") as info:
            catalog.model_file_path("yolox_nano")
        assert server.url in str(info.value)
        assert not (user_cache / "yolox_nano_416x416.onnx").exists()
        assert not user_cache.exists() or not any(user_cache.iterdir())  # nothing half-written either
        # the good file from a good mirror then lands
        shutil.copyfile(models_dir / "yolox_nano_416x416.onnx", mirror / "yolox_nano_416x416.onnx")
        assert sha256_file(catalog.model_file_path("yolox_nano")) == catalog.get("yolox_nano").sha256


def test_offline_error_names_file_sha_and_url(user_cache, monkeypatch):
    monkeypatch.setenv("POSEKIT_OFFLINE", "1")
    entry = catalog.get("yolox_nano")
    with pytest.raises(catalog.ModelFileMissing, match="POSEKIT_OFFLINE") as info:
        catalog.model_file_path("yolox_nano")
    msg = str(info.value)
    assert entry.file.name in msg and entry.sha256 in msg and entry.url in msg


def test_unreachable_server_is_a_clear_error(user_cache, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("POSEKIT_MODELS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(catalog.ModelFileMissing, match="could not be downloaded") as info:
        catalog.model_file_path("movenet_lightning")
    assert "movenet-lightning_with_heatmaps.onnx" in str(info.value)
    assert not (user_cache / "movenet-lightning_with_heatmaps.onnx").exists()


def test_managed_folder_never_downloads(models_dir, tmp_path, monkeypatch):
    with _Server(models_dir) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        with pytest.raises(catalog.ModelFileMissing, match="--models-dir"):
            catalog.model_file_path("yolox_nano", tmp_path)
        monkeypatch.setenv("POSEKIT_MODELS", str(tmp_path))
        with pytest.raises(catalog.ModelFileMissing):
            catalog.model_file_path("yolox_nano")
        assert server.requests == []


def test_files_without_a_verified_download_are_never_fetched(user_cache, monkeypatch):
    # yolov3-spp.weights has an upstream URL but no known sha256: posekit does not fetch unverified files
    monkeypatch.setenv("POSEKIT_MODELS_URL", "http://127.0.0.1:9")
    with pytest.raises(catalog.ModelFileMissing, match="no verified download"):
        catalog.model_file_path("yolov3_spp")
