"""Training SimCC models (RTMPose): targets, MMPose's KL-divergence loss, and an overfit run from an MMPose checkpoint."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import tiny_config, write_subset

from posekit import catalog
from posekit.models import create_model
from posekit.schema import COCO17
from posekit.train.config import AugmentConfig, ConfigError, config_from_dict
from posekit.train.dataset import KeypointDataset, load_coco_persons
from posekit.train.loss import KLDiscretLoss, build_loss
from posekit.train.trainer import train

log = logging.getLogger(__name__)


def test_kl_loss_by_hand() -> None:
    """MMPose's KLDiscretLoss: per keypoint and axis mean_i q_i (log q_i - log p_i) with p = softmax(beta pred),
    q = softmax(beta target), weighted, summed over batch, keypoints and axes, divided by K."""
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 5 + 4, generator=g), torch.rand(2, 3, 5 + 4, generator=g)
    weight = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.5]])
    loss = KLDiscretLoss((5, 4), beta=10.0)(pred, target, weight)
    expected = 0.0
    for n in range(2):
        for k in range(3):
            for lo, hi in ((0, 5), (5, 9)):
                p = torch.softmax(10 * pred[n, k, lo:hi].double(), 0)
                q = torch.softmax(10 * target[n, k, lo:hi].double(), 0)
                expected += float(weight[n, k]) * float((q * (q.log() - p.log())).mean())
    assert float(loss) == pytest.approx(expected / 3, rel=1e-5)
    assert float(KLDiscretLoss((5, 4))(target, target, weight)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="5 \\+ 4"):
        KLDiscretLoss((5, 4))(pred[..., :8], target[..., :8], weight)
    with pytest.raises(ValueError, match="bins"):
        build_loss("kl")


def test_dataset_gives_packed_simcc_targets(coco_gt: dict, coco_subset: Path) -> None:
    spec = catalog.get("rtmpose_t_256x192").spec
    records = load_coco_persons(coco_gt, coco_subset / "images")[:2]
    item = KeypointDataset(records, spec, COCO17, AugmentConfig(enabled=False))[1]
    assert item["image"].shape == (3, 256, 192) and item["target"].shape == (17, 384 + 512)
    visible = item["visible"] > 0
    assert np.array_equal(item["target_weight"] > 0, visible & (item["target"].max(axis=1) > 0))
    # each labelled keypoint's x and y targets peak at round(2 * crop coordinate)
    for k in np.flatnonzero(item["target_weight"] > 0):
        x, y = item["keypoints"][k]
        assert item["target"][k, :384].argmax() == np.around(2 * x)
        assert item["target"][k, 384:].argmax() == np.around(2 * y)


def test_loss_must_fit_the_model(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    data = write_subset(coco_gt, 2, tmp_path / "two.json")
    raw = tiny_config(data, coco_subset / "images", tmp_path / "run",
                      model={"name": "rtmpose_t_256x192", "args": {}, "input_size": [96, 128], "init": "default"})
    with pytest.raises(ConfigError, match="'kl'"):
        train(config_from_dict(raw))  # tiny_config's loss is HRNet's mse


@pytest.mark.slow
def test_overfit_rtmpose_from_an_mmpose_checkpoint(tmp_path: Path, coco_gt: dict, coco_subset: Path) -> None:
    """RTMPose-t at 128x96 starts from an MMPose 1.x file (``{"state_dict", "meta"}`` with numpy arrays in meta)
    and memorises 8 persons: the KL loss falls >= 100x and the training-set AP rises from 0 to >= 0.9.

    Measured: loss 0.419 -> 0.001, AP 0.0 (epoch 10) -> 0.98 (epoch 120), about 31 s on 2 cores.
    """
    data = write_subset(coco_gt, 8, tmp_path / "eight.json")
    torch.manual_seed(0)
    start = create_model("rtmpose_t_256x192", input_size=(96, 128))
    checkpoint = tmp_path / "rtmpose-t_mmpose.pth"
    torch.save({"state_dict": start.state_dict(),
                "meta": {"dataset_meta": {"sigmas": np.asarray(COCO17.sigmas, np.float32)}}}, checkpoint)
    raw = tiny_config(
        data, coco_subset / "images", tmp_path / "run",
        model={"name": "rtmpose_t_256x192", "args": {}, "input_size": [96, 128], "init": "default",
               "init_checkpoint": str(checkpoint)},
        augment={"enabled": False},
        loss={"type": "kl"},
        optim={"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.0, "lr_steps": [96]},
        train={"epochs": 120, "batch_size": 8},
        val={"interval": 10, "flip": False},
    )
    summary = train(config_from_dict(raw))
    losses = [row["loss"] for row in summary.history]
    aps = [row["AP"] for row in summary.history if "AP" in row and not math.isnan(row["AP"])]
    log.info("RTMPose overfit: loss %.3g -> %.3g, AP %s", losses[0], losses[-1], [round(a, 3) for a in aps])
    assert summary.step == 120 and len(aps) == 12
    assert losses[0] / losses[-1] >= 100.0, (losses[0], losses[-1])
    assert aps[0] <= 0.1 and aps[-1] >= 0.9, aps
    # the checkpoint is a complete model: it predicts through the posekit tail like any other network
    from posekit.factory import build_pose_model

    model = build_pose_model(str(tmp_path / "run" / "last.pth"), runtime="torch", num_threads=1)
    assert model.spec.output == "simcc" and model.spec.input_size == (96, 128)
