"""``posekit predict`` on folders with broken, odd and empty inputs (in-process CLI)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import testdata
from image_cases import BAD, make_image_folder

from posekit.cli import main

pytestmark = pytest.mark.slow


def _predict(inputs: list[str], out: Path) -> int:
    return main(["predict", *inputs, "--out", str(out), "--preset", "fast", "--threads", "1"])


def test_predict_reports_each_bad_image_and_keeps_the_good_ones(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    folder = tmp_path / "in"
    good = make_image_folder(folder)
    out = tmp_path / "out"
    assert _predict([str(folder)], out) == 1

    summary = json.loads((out / "summary.json").read_text())
    results = json.loads((out / "results.json").read_text())
    errors = {Path(e["file"]).name: e["reason"] for e in summary["errors"]}
    assert set(errors) == set(BAD)
    for name, words in BAD.items():
        assert words in errors[name].lower(), (name, errors[name])
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and name in r.getMessage()]
        assert logged and errors[name] in logged[0], (name, logged)
    ids = {Path(p).name: i for p, i in summary["image_ids"].items()}
    assert set(good) <= set(ids)
    assert summary["images"] == len(good) + len(BAD)
    assert summary["processed"] == len(good) and summary["failed"] == len(BAD)
    # the photo's person made it into the results under its image id
    assert any(r["image_id"] == ids["good.jpg"] for r in results)
    assert {r["image_id"] for r in results} <= {ids[n] for n in good}
    assert summary["poses"] == len(results)


def test_predict_clean_folder_exits_0(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(testdata.PERSON_IMAGE, folder / "000000000042.jpg")
    out = tmp_path / "out"
    assert _predict([str(folder)], out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == [] and summary["processed"] == 1
    results = json.loads((out / "results.json").read_text())
    assert results and {r["image_id"] for r in results} == {42}


def test_predict_empty_folder_exits_2_with_message(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    assert _predict([str(tmp_path / "empty")], tmp_path / "out") == 2
    assert "no images found" in caplog.text
    assert not (tmp_path / "out" / "results.json").exists()


def test_predict_missing_path_exits_2(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert _predict([str(tmp_path / "does-not-exist")], tmp_path / "out") == 2
    assert "does-not-exist" in caplog.text
