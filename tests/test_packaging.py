"""Out of the box (issue 20): the default weights ship inside posekit.

Fast tests check the packaged files (byte-identical to the catalogue's sha256, a NOTICE, tracked by
git, a corrupt copy refused). The slow ones build the wheel, install it with its dependencies into
a fresh virtualenv of the base interpreter (no torch, no ../shared, no models folder, offline, an
empty HOME) and run the quick start there: ``posekit predict`` on the shipped sample image, the
Python API, ``eval``, ``merge``, a video, ``--version``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from posekit import catalog
from posekit.io import sha256_file

import testdata

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "basketball1.png"
PACKAGED = [e for e in catalog.list_entries() if e.file.packaged]


# ----------------------------------------------------------------------------- fast: the files in the tree


def test_the_default_presets_files_are_packaged():
    from posekit.presets import PRESETS

    names = {e.name for e in PACKAGED}
    assert names == {"picodet_s_320", "picodet_s_192", "pp_tinypose_256x192", "pp_tinypose_128x96"}
    for preset in ("fast", "balanced", "accurate"):
        assert {PRESETS[preset].detector, PRESETS[preset].pose_model} <= names, preset
    weights = catalog.package_weights_dir()
    assert sorted(p.name for p in weights.glob("*.onnx")) == sorted(e.file.package_name for e in PACKAGED)
    for entry in PACKAGED:  # byte-identical to the catalogue (and so to the shared model set)
        assert sha256_file(weights / entry.file.package_name) == entry.sha256, entry.name
    notice = (weights / "NOTICE").read_text(encoding="utf-8")
    assert "PaddleDetection" in notice and "Apache" in notice and "PaddlePaddle" in notice
    assert all(e.file.package_name in notice and e.sha256 in notice for e in PACKAGED)
    assert "Apache License" in (weights / "LICENSE-Apache-2.0").read_text(encoding="utf-8")
    assert SAMPLE.is_file() and SAMPLE.stat().st_size < 200_000
    assert (REPO / "examples" / "README.md").is_file()


def test_the_packaged_weights_are_tracked_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for entry in PACKAGED:
        rel = (catalog.package_weights_dir() / entry.file.package_name).relative_to(REPO)
        proc = subprocess.run(["git", "check-ignore", "-q", str(rel)], cwd=REPO)
        assert proc.returncode == 1, f"{rel} is ignored by .gitignore"


def test_dependency_floors_cover_the_checkpoint_reader():
    """posekit.models.checkpoint reads MMPose files with ``torch.serialization.safe_globals`` (torch 2.5) and
    allows ``numpy.dtypes`` (numpy 1.25): the declared lower bounds must not promise older versions."""
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def floor(requirements: list[str], name: str) -> tuple[int, ...]:
        (spec,) = [r for r in requirements if re.match(rf"{name}\b", r)]
        return tuple(int(v) for v in re.search(r">=([\d.]+)", spec).group(1).split("."))

    assert floor(project["dependencies"], "numpy") >= (1, 25)
    for extra in ("torch", "train"):
        assert floor(project["optional-dependencies"][extra], "torch") >= (2, 5), extra


@pytest.fixture
def no_models_dir(tmp_path, monkeypatch):
    """No models folder, an empty user cache, offline: only the package's files can be found."""
    monkeypatch.delenv("POSEKIT_MODELS", raising=False)
    monkeypatch.delenv("POSEKIT_MODELS_URL", raising=False)
    monkeypatch.setenv("POSEKIT_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def managed_dir(tmp_path) -> Path:
    """A models folder of the user's: the packaged files copied under their catalogue names."""
    return testdata.copy_packaged(tmp_path / "managed")


def _fake_package(monkeypatch, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(catalog, "package_weights_dir", lambda: folder)
    return folder


def test_lookup_order_models_dir_then_package_then_cache(no_models_dir, managed_dir, monkeypatch):
    models_dir = managed_dir
    entry = catalog.get("pp_tinypose_128x96")
    where, path = catalog.locate(entry.file)
    assert where == "package" and path == catalog.package_weights_dir() / "pp-tinypose-128x96.onnx"
    assert catalog.model_file_path(entry.name) == path
    # an explicit folder comes first ...
    assert catalog.locate(entry.file, models_dir) == ("models dir", models_dir / entry.file.name)
    monkeypatch.setenv("POSEKIT_MODELS", str(models_dir))
    assert catalog.model_file_path(entry.name) == models_dir / entry.file.name
    # ... a folder without the file falls back to the package, never to the cache
    empty = no_models_dir / "empty"
    empty.mkdir()
    assert catalog.locate(entry.file, empty)[0] == "package"
    monkeypatch.delenv("POSEKIT_MODELS")
    # without package files: the user cache
    _fake_package(monkeypatch, no_models_dir / "no-package")
    cached = catalog.default_models_dir() / entry.file.name
    cached.parent.mkdir(parents=True)
    shutil.copyfile(models_dir / entry.file.name, cached)
    assert catalog.locate(entry.file) == ("cache", cached)
    assert catalog.model_file_path(entry.name) == cached
    # files that are not packaged never come from the package
    assert catalog.locate(catalog.get("yolox_nano").file) == ("missing", None)


def test_corrupt_package_copy_is_refused(no_models_dir, monkeypatch):
    entry = catalog.get("pp_tinypose_128x96")
    real = catalog.package_weights_dir()
    fake = _fake_package(monkeypatch, no_models_dir / "site-packages" / "posekit" / "weights")
    data = bytearray((real / entry.file.package_name).read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    (fake / entry.file.package_name).write_bytes(bytes(data))
    actual = sha256_file(fake / entry.file.package_name)
    with pytest.raises(catalog.ModelFileCorrupt) as info:
        catalog.model_file_path(entry.name)
    message = str(info.value)
    assert entry.file.package_name in message and str(fake) in message
    assert entry.sha256 in message and actual in message and "expected" in message
    assert "reinstall" in message.lower()
    # the pipeline surfaces the same error (nothing is downloaded or silently replaced)
    from posekit.factory import build_pose_model

    with pytest.raises(catalog.ModelFileCorrupt):
        build_pose_model(entry.name)
    assert not catalog.default_models_dir().exists()


def test_package_files_are_hashed_once_per_process(no_models_dir, managed_dir, monkeypatch):
    models_dir = managed_dir
    entry = catalog.get("picodet_s_192")
    fake = _fake_package(monkeypatch, no_models_dir / "pkg")
    shutil.copyfile(models_dir / entry.file.name, fake / entry.file.package_name)
    calls = []

    def counting(path):
        calls.append(path)
        return sha256_file(path)

    import posekit.io

    monkeypatch.setattr(posekit.io, "sha256_file", counting)  # under the cached posekit.io.file_sha256
    for _ in range(3):
        assert catalog.model_file_path(entry.name) == fake / entry.file.package_name
    assert len(calls) == 1
    # a changed file (size / mtime) is hashed again, and refused
    with open(fake / entry.file.package_name, "ab") as f:
        f.write(b"\0")
    with pytest.raises(catalog.ModelFileCorrupt):
        catalog.model_file_path(entry.name)
    assert len(calls) == 2


# ----------------------------------------------------------------------------- slow: a fresh install


def _base_python() -> str:
    """The interpreter the test venv is made from: the base one, never this venv's site-packages."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POSEKIT_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(extra)
    return env


def _run(cmd, *, env, cwd, timeout=600, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (no stale build/ folder of the checkout can leak in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "*.int8.onnx", "*.int8.onnx.json")
    shutil.copytree(REPO / "src", src / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    out = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)], env=_clean_env(),
         cwd=tmp)
    (path,) = out.glob("posekit-*.whl")
    return path


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel):
    """A new venv of the base interpreter with only the wheel and its dependencies, and the environment of a
    first-time user: no POSEKIT_* variables but POSEKIT_OFFLINE=1, an empty HOME / XDG cache, cwd outside the repo."""
    tmp = tmp_path_factory.mktemp("fresh")
    venv = tmp / "venv"
    _run([_base_python(), "-m", "venv", str(venv)], env=_clean_env(), cwd=tmp)
    bindir = venv / "bin"
    python = bindir / "python"
    # pip keeps the machine's HOME (its wheel cache makes this fast after the first run)
    _run([python, "-m", "pip", "install", "-q", str(wheel)], env=_clean_env(), cwd=tmp, timeout=900)
    home = tmp / "home"
    home.mkdir()
    work = tmp / "work"
    work.mkdir()
    shutil.copy2(SAMPLE, work / SAMPLE.name)
    env = _clean_env(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(home),
                     XDG_CACHE_HOME=str(home / ".cache"), POSEKIT_OFFLINE="1")
    return {"python": python, "posekit": bindir / "posekit", "env": env, "cwd": work, "home": home}


def _in(fresh, *cmd, check=True):
    return _run(cmd, env=fresh["env"], cwd=fresh["cwd"], check=check)


@pytest.mark.slow
def test_wheel_contains_the_weights(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for entry in PACKAGED:
        assert f"posekit/weights/{entry.file.package_name}" in names
    assert {"posekit/weights/NOTICE", "posekit/weights/LICENSE-Apache-2.0"} <= names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)


@pytest.mark.slow
def test_fresh_install_has_no_torch(fresh):
    proc = _in(fresh, fresh["python"], "-c", "import torch", check=False)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr
    proc = _in(fresh, fresh["python"], "-c", "import posekit.catalog as c; print(c.package_weights_dir())")
    assert "site-packages" in proc.stdout  # the installed copy, not the checkout


@pytest.mark.slow
def test_fresh_install_version_and_first_run_help(fresh):
    proc = _in(fresh, fresh["posekit"], "--version")
    expected = _in(fresh, fresh["python"], "-c", "import importlib.metadata as m; print(m.version('posekit'))")
    assert proc.stdout.strip() == f"posekit {expected.stdout.strip()}"
    proc = _in(fresh, fresh["posekit"], "predict", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "usage: posekit predict INPUT" in proc.stderr and "posekit predict photo.jpg" in proc.stderr


@pytest.mark.slow
def test_fresh_install_quick_start(fresh):
    proc = _in(fresh, fresh["posekit"], "predict", SAMPLE.name, "--out", "out", "--save-img")
    out = fresh["cwd"] / "out"
    results = json.loads((out / "results.json").read_text())
    assert len(results) >= 1 and all(len(r["keypoints"]) == 51 for r in results)
    assert (out / "vis" / SAMPLE.name).stat().st_size > 1000
    assert "results.json" in proc.stderr and "vis" in proc.stderr  # the end-of-run line says where results went
    assert not (fresh["home"] / ".cache" / "posekit").exists()  # nothing downloaded or cached
    proc = _in(fresh, fresh["posekit"], "models")
    line = next(line for line in proc.stdout.splitlines() if line.startswith("pp_tinypose_256x192 "))
    assert "present" in line and "package" in line

    # eval against a tiny ground truth made from the predictions themselves
    summary = json.loads((out / "summary.json").read_text())
    (image_id,) = set(summary["image_ids"].values())
    annotations = []
    for i, r in enumerate(results):
        kp = list(r["keypoints"])
        kp[2::3] = [2] * 17
        xs, ys = kp[0::3], kp[1::3]
        box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        annotations.append({"id": i + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0, "keypoints": kp,
                            "num_keypoints": 17, "bbox": box, "area": box[2] * box[3]})
    gt = {"images": [{"id": image_id, "file_name": SAMPLE.name, "width": 640, "height": 480}],
          "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    (fresh["cwd"] / "gt.json").write_text(json.dumps(gt))
    proc = _in(fresh, fresh["posekit"], "eval", "out/results.json", "--gt", "gt.json", "--json")
    assert json.loads(proc.stdout)["AP"] > 0.9

    (out / "results.json").unlink()
    _in(fresh, fresh["posekit"], "merge", "out")
    assert len(json.loads((out / "results.json").read_text())) == len(results)


@pytest.mark.slow
def test_fresh_install_python_api_presets_and_video(fresh):
    code = ("import posekit, sys; est = posekit.PoseEstimator(); poses = est(sys.argv[1]); "
            "print(len(poses), poses.keypoints.shape[1])")
    proc = _in(fresh, fresh["python"], "-c", code, SAMPLE.name)
    count, keypoints = map(int, proc.stdout.split())
    assert count >= 1 and keypoints == 17
    for preset in ("fast", "accurate"):
        code = (f"import posekit, sys; est = posekit.PoseEstimator.from_preset({preset!r}); "
                "print(len(est(sys.argv[1])))")
        assert int(_in(fresh, fresh["python"], "-c", code, SAMPLE.name).stdout) >= 1, preset
    assert "balanced" in _in(fresh, fresh["posekit"], "presets").stdout

    import cv2

    image = cv2.imread(str(SAMPLE))
    writer = cv2.VideoWriter(str(fresh["cwd"] / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (image.shape[1], image.shape[0]))
    for _ in range(3):
        writer.write(image)
    writer.release()
    _in(fresh, fresh["posekit"], "predict", "clip.avi", "--out", "video")
    lines = (fresh["cwd"] / "video" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["poses"] for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("command, extra", [
    (["serve"], "posekit[serve]"),
    (["predict", SAMPLE.name, "--out", "o1", "--engine", "ray"], "posekit[ray]"),
    (["predict", SAMPLE.name, "--out", "o2", "--runtime", "openvino"], "posekit[openvino]"),
    (["predict", SAMPLE.name, "--out", "o3", "--format", "parquet"], "pip install pyarrow"),
    (["predict", SAMPLE.name, "--out", "o4", "--pose-model", "hrnet_w32_256x192", "--checkpoint", "none.pth"],
     "posekit[torch]"),
    (["export", "hrnet_w32_256x192", "--checkpoint", "none.pth", "--out", "m.onnx"], "posekit[torch]"),
    (["train", "config.yaml"], "posekit[train]"),
])
def test_fresh_install_names_the_missing_extra(fresh, command, extra):
    proc = _in(fresh, fresh["posekit"], *command, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert extra in proc.stderr and "pip install" in proc.stderr, proc.stderr
