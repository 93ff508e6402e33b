"""Two CPU processes (torchrun, gloo) train an epoch; rank 0's checkpoint loads with create_model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import TINY_HRNET, tiny_config, write_subset

from posekit.cli import SUBCOMMANDS
from posekit.models import create_model
from posekit.train.csvlog import read_csv_log


@pytest.mark.slow
def test_two_process_gloo_epoch(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    data = write_subset(coco_gt, 4, tmp_path / "four.json")
    out = tmp_path / "run"
    raw = tiny_config(data, coco_subset / "images", out, val={"interval": 1, "flip": False})
    raw["train"].pop("threads")  # torchrun sets OMP_NUM_THREADS=1 per process
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(raw))
    # 'python -m posekit train' once the lead registers the subcommand; the module entry point until then.
    entry = ["-m", "posekit", "train"] if "train" in SUBCOMMANDS else ["-m", "posekit.cli.train"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *entry, str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "process 0/2" in proc.stderr and "process 1/2" in proc.stderr and "(gloo)" in proc.stderr
    # 4 persons over 2 ranks at batch 2: one step per rank, rank 0 alone wrote the files.
    rows = read_csv_log(out / "log.csv")
    assert len(rows) == 1 and rows[0]["step"] == 1 and rows[0]["AP"] is not None
    assert sorted(p.name for p in out.iterdir()) == ["best.pth", "config.yaml", "last.pth", "log.csv"]
    model = create_model(TINY_HRNET["name"], checkpoint=out / "last.pth", **TINY_HRNET["args"])
    saved = torch.load(out / "last.pth", weights_only=True)
    assert not any(k.startswith("module.") for k in saved["state_dict"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved["state_dict"][key])
