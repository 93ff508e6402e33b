"""The ``posekit`` command line: help, eval, models and an end-to-end predict run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posekit import catalog
from posekit.cli import SUBCOMMANDS, main
from posekit.evaluation import STAT_NAMES

import testdata


def test_console_script_help():
    # the script pip installed beside this interpreter, whether or not its bin/ is on PATH
    script = Path(sys.executable).with_name("posekit")
    assert script.exists(), f"no console script at {script}: is posekit installed in this environment?"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: posekit" in proc.stdout
    for name in COMMANDS:
        assert name in proc.stdout


# subcommand modules use underscores, the commands dashes (show_targets -> show-targets)
COMMANDS = [name.replace("_", "-") for name in SUBCOMMANDS]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_of_each_command_exits_0(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: posekit" + (f" {command[0]}" if command else ""))


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: posekit" in capsys.readouterr().out


# ----------------------------------------------------------------------------- eval


@pytest.fixture(scope="module")
def perfect_results(tmp_path_factory, coco_subset) -> Path:
    gt = json.loads((coco_subset / "person_keypoints.json").read_text())
    results = []
    for a in gt["annotations"]:
        if a["iscrowd"] or a["num_keypoints"] == 0:
            continue
        kp = list(a["keypoints"])
        kp[2::3] = [1.0] * 17  # third value is the keypoint score in results
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp, "score": 1.0})
    path = tmp_path_factory.mktemp("eval") / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_eval_perfect_results_prints_ten_stats(perfect_results, coco_subset, capsys):
    assert main(["eval", str(perfect_results), "--gt", str(coco_subset / "person_keypoints.json")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 10
    parsed = [line.split(" ") for line in lines]
    assert [p[0] for p in parsed] == list(STAT_NAMES)
    assert all(len(p) == 2 for p in parsed)
    values = dict((k, float(v)) for k, v in parsed)
    assert lines[0] == "AP 1.0000"
    assert values["AR"] == 1.0 and values["AP50"] == 1.0


def test_eval_json_and_multi_person(perfect_results, coco_subset, capsys):
    gt = str(coco_subset / "person_keypoints.json")
    assert main(["eval", str(perfect_results), "--gt", gt, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(STAT_NAMES) and stats["AP"] == pytest.approx(1.0)
    assert main(["eval", str(perfect_results), "--gt", gt, "--json", "--multi-person"]) == 0
    assert json.loads(capsys.readouterr().out)["AP"] == pytest.approx(1.0)


def test_eval_degraded_results_score_lower(tmp_path, perfect_results, coco_subset, capsys):
    results = json.loads(perfect_results.read_text())
    for r in results[::2]:
        r["keypoints"] = [v + 25.0 if i % 3 != 2 else v for i, v in enumerate(r["keypoints"])]
    path = tmp_path / "worse.json"
    path.write_text(json.dumps(results))
    assert main(["eval", str(path), "--gt", str(coco_subset / "person_keypoints.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["AP"] < 0.9


def test_eval_missing_file_exits_2(tmp_path, coco_subset):
    assert main(["eval", str(tmp_path / "none.json"), "--gt", str(coco_subset / "person_keypoints.json")]) == 2


# ----------------------------------------------------------------------------- models


def test_models_lists_present_files(contract_catalog, capsys):
    models_dir = contract_catalog  # synthetic stand-ins (the catalogue carries their sha256) + the packaged files
    assert main(["models", "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert str(models_dir) in out
    for m in catalog.list_entries(runtime="onnx"):
        line = next(line for line in out.splitlines() if line.startswith(m.name + " "))
        if m.name in testdata.CONTRACT_FILES or m.file.packaged:
            assert "present" in line and m.file.name in line
        else:  # the downloads: never fetched into a folder the user manages
            assert " missing " in line and m.file.integrity in line, line


def test_models_reports_missing_and_corrupt(tmp_path, capsys):
    bad = catalog.get("yolox_nano").file.name
    (tmp_path / bad).write_bytes(b"not a model")
    assert main(["models", "--models-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    status = {m.name: next(line for line in lines if line.startswith(m.name + " ")) for m in catalog.list_entries(runtime="onnx")}
    assert "corrupt" in status["yolox_nano"]
    assert "missing" in status["movenet_thunder"]
    assert main(["models", "--models-dir", str(tmp_path), "--no-verify"]) == 0
    assert "present" in next(line for line in capsys.readouterr().out.splitlines() if line.startswith("yolox_nano "))


# ----------------------------------------------------------------------------- predict (subprocess)


@pytest.mark.slow
def test_python_m_posekit_predict_samples(tmp_path):
    samples = tmp_path / "samples"  # photos with people, under names that are not COCO ids
    samples.mkdir()
    for src, name in ((testdata.PERSON_IMAGE, "skier.jpg"), (testdata.BASKETBALL, "basketball1.png"),
                      (testdata.ASTRONAUT, "astronaut.png")):
        shutil.copyfile(src, samples / name)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posekit", "predict", str(samples), "--out", str(out), "--preset", "fast",
           "--threads", "1", "--save-img", "--format", "alphapose"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in samples.iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == [] and summary["images"] == len(names) == summary["processed"]
    # non-COCO names: ids 1..N in (natural) sorted order
    ids = {Path(p).name: i for p, i in summary["image_ids"].items()}
    assert ids == {n: i + 1 for i, n in enumerate(names)}
    assert set(summary["timing_ms_per_image"]) >= {"detect", "crop", "network", "decode", "map_back", "pose_nms"}

    results = json.loads((out / "results.json").read_text())
    assert len(results) == summary["poses"] > 0
    assert {r["image_id"] for r in results} == set(ids.values())  # every sample has people
    for r in results:
        assert len(r["keypoints"]) == 51 and "bbox" not in r

    for n in names:  # renderings mirror the input names (and formats)
        vis = out / "vis" / n
        assert vis.is_file() and vis.stat().st_size > 1000

    alphapose = json.loads((out / "alphapose-results.json").read_text())
    assert len(alphapose) == len(results)
    assert {a["image_id"] for a in alphapose} == set(names)
    for n in names:
        per_image = json.loads((out / "alphapose" / (Path(n).stem + ".json")).read_text())
        assert per_image and all(a["image_id"] == n and len(a["box"]) == 4 for a in per_image)
        assert len(per_image) == sum(1 for r in results if r["image_id"] == ids[n])
