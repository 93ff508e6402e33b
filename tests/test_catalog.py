"""Tests for posekit.catalog: entries, sha256, the models directory and downloads from a loopback server.

File lookups and downloads run on the synthetic contract networks (``contract_catalog``: the catalogue with their
sha256), so they exercise the same checks as the real files; one test compares the catalogue with the real files'
SHA256SUMS (``shared_data``)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import testdata
from posekit import catalog, geometry
from posekit.io import sha256_file
from posekit.spec import DetectorSpec, PoseModelSpec


@pytest.mark.shared_data
def test_catalog_sha256_matches_shared_sha256sums(models_dir):
    sums = {}
    for line in (models_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    for m in catalog.list_entries(runtime="onnx"):
        assert "test-only" not in m.file.name  # the unlicensed test model is never registered
        if m.sha256 is not None:  # the files of the team's model set (the downloads are pinned instead)
            assert sums[m.file.name] == m.sha256, m.name


def test_list_entries_by_task_and_runtime():
    assert {m.name for m in catalog.list_entries("detection", "onnx")} == {
        "yolox_nano", "rtmdet_nano", "picodet_s_320", "picodet_s_192", "yolox_m_humanart", "yolox_tiny_humanart"}
    assert {m.name for m in catalog.list_entries("pose", "onnx")} == {
        "movenet_thunder", "movenet_lightning", "pp_tinypose_256x192", "pp_tinypose_128x96",
        *(f"rtmpose_{s}_256x192_onnx" for s in "tsml"), "rtmpose_m_384x288_onnx", "rtmpose_l_384x288_onnx",
        "dwpose_m_256x192_onnx", "dwpose_l_384x288_onnx", "rtmw_m_256x192_onnx", "rtmw_l_256x192_onnx",
        "rtmw_l_384x288_onnx"}
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


def test_model_file_path(contract_catalog, tmp_path):
    models_dir = contract_catalog
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
    """A loopback HTTP server over a folder that counts the requests it serves; the first ``failures`` requests are
    answered 503 (a flaky server)."""

    def __init__(self, root: Path, failures: int = 0) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                if len(server.requests) <= failures:
                    self.send_error(503)
                    return
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


def test_download_verifies_caches_and_reuses(contract_catalog, user_cache, monkeypatch):
    with _Server(contract_catalog) as server:
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


def test_download_is_retried_and_logs_no_pooch_advice(contract_catalog, user_cache, monkeypatch, caplog):
    """A failed request is retried (pooch, twice at most); pooch's "use this value as the known_hash" advice is not
    logged (posekit checks the file itself)."""
    caplog.set_level(logging.DEBUG)
    with _Server(contract_catalog, failures=1) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        path = catalog.model_file_path("rtmdet_nano")
        assert server.requests == ["/rtmdet-nano-person/end2end.onnx"] * 2
    assert sha256_file(path) == catalog.get("rtmdet_nano").sha256
    assert "known_hash" not in caplog.text


def test_corrupt_download_is_rejected_and_not_cached(contract_catalog, user_cache, tmp_path, monkeypatch):
    models_dir = contract_catalog
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


def test_managed_folder_never_downloads(contract_models, tmp_path, monkeypatch):
    with _Server(contract_models) as server:
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


# ----------------------------------------------------------------------------- mmdeploy SDK zips (RTMPose & co.)

#: Planted crop keypoints of the synthetic RTMPose-m stand-in: an upright person in the 192x256 crop.
_CROP_KEYPOINTS = np.array(testdata.MOVENET_YX)[:, ::-1] * [192, 256]


@pytest.fixture(scope="module")
def sdk_mirror(tmp_path_factory) -> Path:
    """A local mirror in rtmlib's layout: the ``rtmpose-m`` preset's two zips and ``crowd``'s under their official
    names."""
    import contract_models as cm

    mirror = tmp_path_factory.mktemp("mirror")
    person = np.column_stack([_CROP_KEYPOINTS + [220, 180], np.full(17, 0.9)])
    for name, model in (
        ("yolox_m_humanart", cm.rtmdet_end2end([(200.0, 100.0, 330.0, 500.0, 0.93)], [0], size=640)),
        ("rtmpose_m_256x192_onnx", cm.simcc_net(_CROP_KEYPOINTS)),
        ("rtmo_s_body7", cm.rtmo_net([[200.0, 170.0, 430.0, 450.0, 0.88]], person[None])),
    ):
        file = catalog.get(name).file
        cm.sdk_zip(model, mirror / file.remote_name, file.remote_name.removesuffix(".zip"))
    return mirror


def test_sdk_entries_are_zip_members_with_pinned_digests():
    entry = catalog.get("rtmpose_m_256x192_onnx")
    assert entry.runtime == "onnx" and entry.spec.output == "simcc" and entry.spec.input_size == (192, 256)
    file = entry.file
    assert file.archive_member == "end2end.onnx" and file.integrity == "pinned"
    assert file.url.startswith("https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/")
    assert file.remote_name == file.url.rsplit("/", 1)[-1] and file.remote_name.endswith("-e48f03d0_20230504.zip")
    assert file.name == file.remote_name.removesuffix(".zip") + "/end2end.onnx"
    # MMPose .pth files carry the first 8 hex digits of their sha256; RTMW's distilled files only a date
    assert catalog.get("rtmpose_m_256x192").file.sha256_prefix == "63eb25f7"
    assert catalog.get("rtmw_l_256x192").file.integrity == "pinned"
    hrnet = catalog.get("hrnet_w32_256x192")
    assert [f.integrity for f in hrnet.files] == ["sha256", "sha256 prefix"]
    assert hrnet.files[1].sha256_prefix == "81c58e40" and hrnet.files[1].url.endswith(hrnet.files[1].name)


def test_preset_downloads_verifies_extracts_and_runs(sdk_mirror, user_cache, tmp_path, monkeypatch):
    """``posekit predict --preset rtmpose-m`` from a mirror: zips fetched once, members extracted and pinned, poses
    where the stand-ins planted them; a later run uses the cache; a changed file is fetched again and must match
    its pin."""
    from posekit.cli import main

    with _Server(sdk_mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        assert main(["predict", str(testdata.PERSON_IMAGE), "--out", str(tmp_path / "a"), "--preset", "rtmpose-m",
                     "--threads", "1", "-q"]) == 0
        assert sorted(server.requests) == sorted("/" + catalog.get(n).file.remote_name
                                                 for n in ("yolox_m_humanart", "rtmpose_m_256x192_onnx"))
        pose_file = user_cache / catalog.get("rtmpose_m_256x192_onnx").file.name
        pin = json.loads(catalog.pin_path(pose_file).read_text())
        assert pin["sha256"] == sha256_file(pose_file) and pin["url"].startswith(server.url)
        assert not [p for p in pose_file.parent.iterdir() if p.name.startswith(".download")]  # no staging left
        results = json.loads((tmp_path / "a" / "results.json").read_text())
        assert len(results) == 1
        kp = np.asarray(results[0]["keypoints"]).reshape(17, 3)
        # the planted box (640 input = the 480x640 photo scaled by 1) and crop keypoints, mapped back by hand
        centers, scales = geometry.box_to_center_scale(np.array([[200.0, 100.0, 330.0, 500.0]]), 0.75, 1.25)
        expected = centers[0] - scales[0] / 2 + _CROP_KEYPOINTS * scales[0] / [192, 256]
        np.testing.assert_allclose(kp[:, :2], expected, atol=0.5 * scales[0, 0] / 192 + 0.01)

        # second run: nothing downloaded
        assert main(["predict", str(testdata.PERSON_IMAGE), "--out", str(tmp_path / "b"), "--preset", "rtmpose-m",
                     "-q"]) == 0
        assert len(server.requests) == 2
        # a damaged cached file fails its pin: fetched again, and the fresh copy matches the pin
        pose_file.write_bytes(pose_file.read_bytes()[:-10])
        assert catalog.model_file_path("rtmpose_m_256x192_onnx") == pose_file
        assert len(server.requests) == 3 and sha256_file(pose_file) == pin["sha256"]


def test_changed_or_damaged_zips_are_refused(sdk_mirror, user_cache, tmp_path, monkeypatch):
    import contract_models as cm

    file = catalog.get("rtmpose_m_256x192_onnx").file
    mirror = tmp_path / "mirror"
    shutil.copytree(sdk_mirror, mirror)
    with _Server(mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        path = catalog.model_file_path("rtmpose_m_256x192_onnx")  # pinned now
        # the mirror now serves another network under the same name: the pin refuses it
        cm.sdk_zip(cm.simcc_net(_CROP_KEYPOINTS + 3), mirror / file.remote_name, "x")
        path.unlink()
        with pytest.raises(catalog.ModelFileCorrupt, match="pinned") as info:
            catalog.model_file_path("rtmpose_m_256x192_onnx")
        assert file.url.rsplit("/", 1)[-1].removesuffix(".zip") in str(info.value) or server.url in str(info.value)
        assert not path.exists()
    # a first download of a damaged zip: a clear error naming the zip, nothing cached
    catalog.pin_path(path).unlink()
    data = (sdk_mirror / file.remote_name).read_bytes()
    (mirror / file.remote_name).write_bytes(data[: len(data) // 2])
    with _Server(mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        with pytest.raises(catalog.ModelFileCorrupt, match="not a readable zip") as info:
            catalog.model_file_path("rtmpose_m_256x192_onnx")
        assert file.remote_name in str(info.value)
    assert not path.exists() and not catalog.pin_path(path).exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".download")]


def test_a_refused_download_leaves_the_cached_file_and_nothing_else(sdk_mirror, user_cache, tmp_path, monkeypatch):
    """A damaged cached member is fetched again; when the new zip's member fails its pin, the cached file stays as it
    was and no temporary file or staging folder is left (the member is checked before it is moved into place)."""
    import contract_models as cm

    file = catalog.get("rtmpose_m_256x192_onnx").file
    mirror = tmp_path / "mirror"
    shutil.copytree(sdk_mirror, mirror)
    with _Server(mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        path = catalog.model_file_path("rtmpose_m_256x192_onnx")
        pin = json.loads(catalog.pin_path(path).read_text())
        assert set(pin) == {"sha256", "url", "pinned"} and pin["sha256"] == sha256_file(path)
        damaged = path.read_bytes()[:-10]
        path.write_bytes(damaged)
        cm.sdk_zip(cm.simcc_net(_CROP_KEYPOINTS + 3), mirror / file.remote_name, "x")
        with pytest.raises(catalog.ModelFileCorrupt, match="pinned"):
            catalog.model_file_path("rtmpose_m_256x192_onnx")
        assert len(server.requests) == 2
    assert path.read_bytes() == damaged and json.loads(catalog.pin_path(path).read_text()) == pin
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, catalog.pin_path(path).name])


def test_stale_staging_folders_are_removed(contract_catalog, user_cache, monkeypatch):
    """``.download-*`` folders a killed download left behind (untouched for over an hour) go at the next download;
    a recent one (a download running in another process) stays."""
    import os
    import time

    user_cache.mkdir(parents=True)
    stale, recent = user_cache / ".download-stale", user_cache / ".download-recent"
    for folder in (stale, recent):
        folder.mkdir()
        (folder / "yolox_nano_416x416.onnx.part").write_bytes(b"partial")
    old = time.time() - 2 * 3600
    for p in (stale / "yolox_nano_416x416.onnx.part", stale):
        os.utime(p, (old, old))
    with _Server(contract_catalog) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        catalog.model_file_path("yolox_nano")
    assert not stale.exists() and (recent / "yolox_nano_416x416.onnx.part").exists()


def test_sha256_prefix_is_checked(user_cache, tmp_path, monkeypatch):
    """An OpenMMLab checkpoint whose sha256 does not start with the 8 hex digits of its name is refused."""
    entry = catalog.get("rtmpose_t_256x192")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / entry.file.name).write_bytes(b"not the checkpoint")
    with _Server(mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        with pytest.raises(catalog.ModelFileCorrupt, match="starting cfc8f33d"):
            catalog.model_file_path(entry.name)
    assert not (user_cache / entry.file.name).exists()


def test_availability_says_what_a_fresh_install_can_run(user_cache, monkeypatch):
    from posekit.cli.presets import format_presets, preset_availability
    from posekit.presets import PRESETS

    states = {name: preset_availability(p) for name, p in PRESETS.items()}
    assert states == {"fast": "offline", "balanced": "offline", "accurate": "offline", "movenet": "unavailable",
                      "rtmpose-m": "downloads", "rtmpose-l": "downloads", "wholebody": "downloads", "crowd": "downloads"}
    assert catalog.availability("movenet_thunder") == "unavailable"  # our conversion has no download
    assert catalog.availability("yolox_nano") == "downloads"
    text = format_presets()
    assert "needs files you provide" in text and "downloads on first use" in text


def test_crowd_preset_downloads_rtmo_and_runs_one_stage(sdk_mirror, user_cache, tmp_path, monkeypatch):
    """``posekit predict --preset crowd``: RTMO-s's zip fetched, extracted and pinned; no detector is involved."""
    from posekit.cli import main

    with _Server(sdk_mirror) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        assert main(["predict", str(testdata.PERSON_IMAGE), "--out", str(tmp_path / "out"), "--preset", "crowd",
                     "-q"]) == 0
        assert server.requests == ["/" + catalog.get("rtmo_s_body7").file.remote_name]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results) == 1 and results[0]["score"] == pytest.approx(0.88)
    kp = np.asarray(results[0]["keypoints"]).reshape(17, 3)
    h, w = 640, 480  # the skier photo; MMPose's centred warp at scale 1 for a 480x640 image
    np.testing.assert_allclose(kp[:, :2], _CROP_KEYPOINTS + [220, 180] - [(640 - w) / 2, (640 - h) / 2], atol=0.01)


# ----------------------------------------------------------------------------- posekit models: looks, never fetches


def _listing(capsys, *args: str) -> dict[str, str]:
    """``posekit models``'s row of every catalogue entry, by name."""
    from posekit.cli import main

    assert main(["models", *args]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
            if line and line.split()[0] in catalog.CATALOG}


def test_models_listing_never_downloads_a_corrupt_cached_file(contract_catalog, user_cache, monkeypatch, capsys):
    """A cached file that fails its check is reported ``corrupt``: not fetched again (that is for the next real
    use), and no crash when it cannot be fetched (offline)."""
    bad = user_cache / catalog.get("yolox_nano").file.name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a model")
    with _Server(contract_catalog) as server:
        monkeypatch.setenv("POSEKIT_MODELS_URL", server.url)
        row = _listing(capsys)["yolox_nano"]
        assert " corrupt " in row and " cache " in row
        assert server.requests == [] and bad.read_bytes() == b"not a model"
    monkeypatch.setenv("POSEKIT_OFFLINE", "1")
    assert " corrupt " in _listing(capsys)["yolox_nano"]
    with pytest.raises(catalog.ModelFileCorrupt):
        catalog.check(catalog.get("yolox_nano").file, "cache", bad)


def test_models_listing_never_pins(user_cache, capsys):
    """Listing a cached ``pinned`` file that has no pin yet checks nothing and writes no pin."""
    file = catalog.get("rtmpose_m_256x192_onnx").file
    path = user_cache / file.name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"some onnx file")
    row = _listing(capsys)["rtmpose_m_256x192_onnx"]
    assert " present " in row and " cache " in row
    assert not catalog.pin_path(path).exists()
    assert catalog.check(file, "cache", path) == "none" and not catalog.pin_path(path).exists()


def test_offline_listings_say_downloads_cannot_happen_now(user_cache, monkeypatch, capsys):
    """With ``POSEKIT_OFFLINE`` set, what would download is ``blocked`` (as ``predict`` refuses to fetch it), in
    :func:`catalog.availability`, ``posekit models`` and ``posekit presets`` alike."""
    from posekit.cli.presets import format_presets, preset_availability
    from posekit.presets import PRESETS

    monkeypatch.setenv("POSEKIT_OFFLINE", "1")
    assert catalog.availability("yolox_nano") == "blocked"
    assert catalog.availability("movenet_thunder") == "unavailable"
    with pytest.raises(catalog.ModelFileMissing, match="POSEKIT_OFFLINE"):
        catalog.model_file_path("yolox_nano")
    states = {name: preset_availability(p) for name, p in PRESETS.items()}
    assert states == {"fast": "offline", "balanced": "offline", "accurate": "offline", "movenet": "unavailable",
                      "rtmpose-m": "blocked", "rtmpose-l": "blocked", "wholebody": "blocked", "crowd": "blocked"}
    text = format_presets()
    assert "cannot download now" in text and "POSEKIT_OFFLINE is set" in text and "downloads on first use" not in text
    rows = _listing(capsys)
    assert " blocked " in rows["yolox_nano"] and " missing " in rows["movenet_thunder"]
    assert " present " in rows["picodet_s_320"]


def test_alternatives_resolve_alike_everywhere(user_cache, monkeypatch, capsys):
    """An entry with alternative files: the listing, :func:`catalog.availability` and :func:`catalog.fetch_first`
    agree on the file (:func:`catalog.resolve`)."""
    entry = catalog.get("hrnet_w32_256x192")
    official, mmpose = entry.files
    found = catalog.resolve(entry.files)
    assert (found.state, found.file, found.origin, found.path) == ("downloads", mmpose, "missing", None)
    path = user_cache / mmpose.name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    found = catalog.resolve(entry.files)
    assert (found.state, found.file, found.origin, found.path) == ("present", mmpose, "cache", path)
    assert catalog.availability(entry.name) == "present"
    row = _listing(capsys)[entry.name]
    assert " corrupt " in row and " cache " in row and mmpose.name in row and "sha256 prefix" in row
    monkeypatch.setenv("POSEKIT_MODELS", str(user_cache.parent / "managed"))
    found = catalog.resolve(entry.files)
    assert (found.state, found.file) == ("unavailable", official)


def test_models_listing_says_which_check_applies(tmp_path, capsys):
    """A ``pinned`` file in a models folder is checked only against a pin beside it: without one the listing says
    nothing checks it (not ``pinned``); with one it is verified against it."""
    file = catalog.get("rtmpose_m_256x192_onnx").file
    path = tmp_path / file.name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"some onnx file")
    for args in ((), ("--no-verify",)):
        row = _listing(capsys, "--models-dir", str(tmp_path), *args)["rtmpose_m_256x192_onnx"]
        assert " present " in row and " models dir " in row and " none (no pin) " in row, row
    assert catalog.integrity_of(file, "models dir", path) == "none" and catalog.check(file, "models dir", path) == "none"
    catalog.pin_path(path).write_text(json.dumps({"sha256": "0" * 64}))
    row = _listing(capsys, "--models-dir", str(tmp_path))["rtmpose_m_256x192_onnx"]
    assert " corrupt " in row and " pinned " in row, row
    catalog.pin_path(path).write_text(json.dumps({"sha256": sha256_file(path)}))
    row = _listing(capsys, "--models-dir", str(tmp_path))["rtmpose_m_256x192_onnx"]
    assert " present " in row and " pinned " in row, row
    assert catalog.integrity_of(file, "models dir", path) == "pinned"
    # what is not present is listed by how its download is checked; package files by their sha256
    rows = _listing(capsys, "--models-dir", str(tmp_path))
    assert " pinned " in rows["rtmpose_l_256x192_onnx"] and " sha256 " in rows["picodet_s_320"]
