"""Exact resume and checkpoint compatibility with the model registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_HRNET, tiny_config, write_subset

from posekit.cli.val import main as val_main
from posekit.models import create_model
from posekit.train.checkpointing import load_trained_model
from posekit.train.config import ConfigError, config_from_dict
from posekit.train.csvlog import read_csv_log
from posekit.train.trainer import train


def _run(raw: dict, **train_keys) -> dict[str, torch.Tensor]:
    raw = {**raw, "train": {**raw["train"], **train_keys}}
    summary = train(config_from_dict(raw))
    state = torch.load(Path(raw["train"]["output_dir"]) / "last.pth", weights_only=True)
    assert state["step"] == summary.step
    return state


def test_resume_equals_straight_run(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    """3 steps, stop (mid-epoch), resume to 6 == 6 straight steps, bitwise; augmentation and LR decay on."""
    data = write_subset(coco_gt, 4, tmp_path / "four.json")
    common = dict(
        augment={"enabled": True},
        optim={"lr": 1e-3, "lr_steps": [1, 2], "lr_factor": 0.5},
    )
    straight = tiny_config(data, coco_subset / "images", tmp_path / "straight", **common)
    resumed = tiny_config(data, coco_subset / "images", tmp_path / "resumed", **common)

    a = _run(straight, epochs=4, max_steps=6)
    half = _run(resumed, epochs=4, max_steps=3)
    assert (half["epoch"], half["batch_in_epoch"], half["step"]) == (1, 1, 3)  # stopped inside epoch 1
    b = _run(resumed, epochs=4, max_steps=6, resume="auto")

    assert (a["epoch"], a["batch_in_epoch"], a["step"]) == (b["epoch"], b["batch_in_epoch"], b["step"]) == (3, 0, 6)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), f"{key} differs after resume"
    assert any(not torch.equal(v, half["state_dict"][k]) for k, v in a["state_dict"].items()), "training did not move"
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 3
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] == 2.5e-4
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])

    rows_a = read_csv_log(tmp_path / "straight" / "log.csv")
    rows_b = read_csv_log(tmp_path / "resumed" / "log.csv")
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] == [2, 4, 6]
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]  # epoch 1's loss spans the restart


def test_checkpoint_loads_with_create_model_and_val_cli(
    tmp_path: Path, coco_gt: dict, coco_subset: Path, capsys: pytest.CaptureFixture
) -> None:
    data = write_subset(coco_gt, 2, tmp_path / "two.json")
    raw = tiny_config(data, coco_subset / "images", tmp_path / "run", val={"interval": 1, "flip": True})
    summary = train(config_from_dict(raw))
    assert summary.best_ap >= 0.0
    for name in ("last.pth", "best.pth"):
        path = tmp_path / "run" / name
        model = create_model(TINY_HRNET["name"], checkpoint=path, **TINY_HRNET["args"])
        saved = torch.load(path, weights_only=True)
        for key, value in model.state_dict().items():
            assert torch.equal(value, saved["state_dict"][key])
        assert saved["model"]["name"] == TINY_HRNET["name"]
    assert (tmp_path / "run" / "config.yaml").is_file()
    trained, spec = load_trained_model(tmp_path / "run" / "best.pth")
    assert spec.input_size == (64, 96) and not trained.training
    for key, value in trained.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])
    rows = read_csv_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 1 and rows[0]["AP"] is not None

    # 'posekit val' on the checkpoint (model and config stored inside) reproduces the training-time AP ...
    capsys.readouterr()
    assert val_main([str(tmp_path / "run" / "best.pth"), "--json", "--out", str(tmp_path / "res.json")]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["AP"] == pytest.approx(summary.best_ap, abs=1e-9)
    assert len(json.loads((tmp_path / "res.json").read_text())) == 2
    # ... as on the run's config (weights: OUTPUT_DIR/best.pth), here without the flip test ...
    assert val_main([str(tmp_path / "run" / "config.yaml"), "val.flip=false", "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["AP"] <= 1.0
    # ... and on a plain state_dict with --model and the architecture as overrides.
    plain = tmp_path / "plain.pth"
    torch.save(model.state_dict(), plain)
    args = [f"model.args.{k}={json.dumps(v)}" for k, v in TINY_HRNET["args"].items()]
    code = val_main([str(plain), *args, "model.input_size=64,96", "--model", TINY_HRNET["name"], "--gt", str(data),
                     "--images", str(coco_subset / "images"), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["AP"] == pytest.approx(summary.best_ap, abs=1e-9)


def test_time_budget_stops_between_epochs(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    data = write_subset(coco_gt, 2, tmp_path / "two.json")
    raw = tiny_config(data, coco_subset / "images", tmp_path / "run")
    raw["train"].update(epochs=5, max_minutes=1e-4)
    summary = train(config_from_dict(raw))
    assert summary.epochs_done == 1 and summary.step == 1
    assert torch.load(tmp_path / "run" / "last.pth", weights_only=True)["epoch"] == 1


def test_resume_rejects_another_model(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    data = write_subset(coco_gt, 2, tmp_path / "two.json")
    raw = tiny_config(data, coco_subset / "images", tmp_path / "run")
    train(config_from_dict(raw))
    raw["model"]["args"] = {**raw["model"]["args"], "width": 16}
    raw["train"]["resume"] = "auto"
    with pytest.raises(ConfigError, match="another model config"):
        train(config_from_dict(raw))
