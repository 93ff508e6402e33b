"""A small HRNet memorises 8 persons of coco-val-dev: AP >= 0.8 on them, loss down >= 10x.

HRNet builder at width 32 with one module per stage and one block per branch
(3.2 M parameters, ~1 GFLOP at 128x96), Adam 1e-3 (HRNet's), x0.1 after
120 of 150 steps, no augmentation, GT boxes, no flip test. With 128x96 input
the heatmaps are 32x24, so even perfect targets decode to AP ~0.88 here (the
codec quantises to whole heatmap pixels); the run reaches ~0.87.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from train_helpers import TINY_HRNET, tiny_config, write_subset

from posekit.train.config import config_from_dict
from posekit.train.csvlog import read_csv_log
from posekit.train.trainer import train

log = logging.getLogger(__name__)


@pytest.mark.slow
def test_overfit_eight_persons(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    data = write_subset(coco_gt, 8, tmp_path / "eight.json")
    raw = tiny_config(
        data, coco_subset / "images", tmp_path / "run",
        model={"args": {**TINY_HRNET["args"], "width": 32}, "input_size": [96, 128]},
        augment={"enabled": False},
        optim={"lr": 1e-3, "lr_steps": [120]},
        train={"epochs": 150, "batch_size": 8},
        val={"interval": 150, "flip": False},
    )
    summary = train(config_from_dict(raw))
    first, last = summary.history[0]["loss"], summary.history[-1]["loss"]
    ap = summary.last_stats["AP"]
    log.info("overfit: AP %.4f, loss %.3g -> %.3g (%.1fx)", ap, first, last, first / last)
    assert summary.step == 150
    assert first / last >= 10.0, f"loss only fell {first / last:.1f}x ({first:.3g} -> {last:.3g})"
    assert ap >= 0.8, f"AP {ap:.4f} on the training persons"
    rows = read_csv_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 150 and rows[-1]["AP"] == pytest.approx(ap, abs=1e-6)
    assert (tmp_path / "run" / "best.pth").is_file()
