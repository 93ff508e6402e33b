"""First-run experience of the command line: --version, usage with an example, where files come from."""

from __future__ import annotations

import importlib.metadata
import shutil

import pytest

import posekit
from posekit import catalog
from posekit.cli import main, version

import testdata


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    try:
        expected = importlib.metadata.version("posekit")
    except importlib.metadata.PackageNotFoundError:
        expected = posekit.__version__
    assert capsys.readouterr().out.strip() == f"posekit {expected}" == f"posekit {version()}"


def test_version_falls_back_to_the_package(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert version() == posekit.__version__


def test_predict_without_inputs_prints_usage_and_an_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "usage: posekit predict INPUT [INPUT ...] [options]"
    assert "error: the following arguments are required: INPUT" in err
    assert "examples:" in err and "  posekit predict photo.jpg --out out/ --save-img" in lines
    assert "posekit predict --help" in lines[-1]
    assert len(lines) < 10  # short, not the whole option list


def test_bad_option_of_a_command_with_examples_is_short_too(capsys):
    with pytest.raises(SystemExit) as info:
        main(["eval"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: posekit eval --gt GT results [options]") and "example:" in err


def test_models_says_where_each_file_is(tmp_path, contract_catalog, monkeypatch, capsys):
    monkeypatch.delenv("POSEKIT_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert str(catalog.package_weights_dir()) in out and str(tmp_path / "cache") in out
    rows = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in catalog.CATALOG}
    for entry in catalog.list_entries(runtime="onnx"):
        expected = "package" if entry.file.packaged else "missing"
        assert expected in rows[entry.name], rows[entry.name]
    models_dir = testdata.copy_packaged(tmp_path / "models")  # every ONNX file: packaged copies + stand-ins
    shutil.copytree(contract_catalog, models_dir, dirs_exist_ok=True)
    assert main(["models", "--models-dir", str(models_dir)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
            if line and line.split()[0] in catalog.CATALOG}
    copied = [e for e in catalog.list_entries(runtime="onnx") if e.file.packaged or e.name in testdata.CONTRACT_FILES]
    assert len(copied) == 8 and all("models dir" in rows[e.name] for e in copied)
