"""The loss is HRNet's JointsMSELoss / JointsOHKMMSELoss; targets carry joint weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.spec import PoseModelSpec
from posekit.train.config import HRNET_COCO_JOINT_WEIGHTS
from posekit.train.loss import JointsMSELoss, JointsOHKMMSELoss, build_loss
from posekit.train.targets import make_targets


def _hrnet_joints_mse(output, target, weight, use_target_weight=True):
    """HRNet's per-joint loop, written out: 0.5 * MSE per joint, averaged over joints."""
    n, k = output.shape[:2]
    pred = output.reshape(n, k, -1)
    gt = target.reshape(n, k, -1)
    total = 0.0
    for j in range(k):
        p, g = pred[:, j], gt[:, j]
        if use_target_weight:
            w = weight[:, j : j + 1]
            p, g = p * w, g * w
        total = total + 0.5 * torch.nn.functional.mse_loss(p, g)
    return total / k


@pytest.mark.parametrize("use_weight", [True, False])
def test_mse_matches_hrnet_loop(use_weight: bool) -> None:
    g = torch.Generator().manual_seed(0)
    out, tgt = torch.rand(3, 17, 16, 12, generator=g), torch.rand(3, 17, 16, 12, generator=g)
    w = (torch.rand(3, 17, generator=g) > 0.3).float() * 1.5
    ours = JointsMSELoss(use_weight)(out, tgt, w)
    torch.testing.assert_close(ours, _hrnet_joints_mse(out, tgt, w, use_weight))
    # and the closed form stated in the docstring
    expected = 0.5 * ((out - tgt) * (w[..., None, None] if use_weight else 1)).square().mean()
    torch.testing.assert_close(ours, expected)


def test_ohkm_keeps_hardest_joints() -> None:
    out = torch.zeros(2, 17, 4, 4)
    tgt = torch.zeros(2, 17, 4, 4)
    tgt[:, :3] = 1.0  # three hard joints per sample, loss 0.5 each
    loss = JointsOHKMMSELoss(topk=8)(out, tgt, torch.ones(2, 17))
    torch.testing.assert_close(loss, torch.tensor(0.5 * 3 / 8))
    assert isinstance(build_loss("ohkm"), JointsOHKMMSELoss)
    with pytest.raises(ValueError):
        build_loss("l1")


def test_targets_weights_and_joint_weights() -> None:
    spec = PoseModelSpec(input_size=(96, 128))
    kp = np.tile([[48.0, 64.0]], (17, 1))
    kp[3] = [500.0, 10.0]  # far outside the crop
    vis = np.ones(17)
    vis[5] = 0  # unlabelled
    target, weight = make_targets(kp, vis, spec, sigma=2.0, joint_weights=HRNET_COCO_JOINT_WEIGHTS)
    assert target.shape == (17, 32, 24) and weight.shape == (17,)
    assert weight[3] == 0 and weight[5] == 0 and target[3].max() == 0 and target[5].max() == 0
    assert weight[9] == pytest.approx(1.5) and weight[7] == pytest.approx(1.2) and weight[0] == 1.0
    assert np.unravel_index(target[0].argmax(), target[0].shape) == (16, 12)  # int(64/4 + .5), int(48/4 + .5)
    assert target[0].max() == pytest.approx(1.0)
