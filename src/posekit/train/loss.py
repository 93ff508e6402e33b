"""Heatmap losses (HRNet conventions).

``JointsMSELoss`` (HRNet ``lib/core/loss.py``)::

    loss = 1/K * sum_k 0.5 * mean_{n,y,x} (w_nk * pred_nkyx - w_nk * target_nkyx)^2

i.e. half the mean squared error of the weighted heatmaps, per joint averaged
over batch and pixels, then averaged over joints. As every joint has the same
number of elements this equals ``0.5 * mean((w * (pred - target))^2)`` over
``(N, K, H, W)``, which is how it is computed here.

AlphaPose's training script (``MSELoss`` type) computes
``0.5 * nn.MSELoss()(output * mask, target * mask)`` with ``mask`` the target
weights: the identical number, so one implementation serves both.

``JointsOHKMMSELoss`` (HRNet, online hard keypoint mining): per sample the
per-joint losses ``0.5 * mean_{y,x}(w (pred - target))^2`` are computed, the
``topk`` largest kept and summed, divided by ``topk``, then averaged over the batch.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["JointsMSELoss", "JointsOHKMMSELoss", "build_loss"]


def _weighted_diff(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ")
    diff = output.float() - target.float()
    if weight is not None:
        diff = diff * weight.float().reshape(output.shape[0], output.shape[1], 1, 1)
    return diff


class JointsMSELoss(nn.Module):
    """HRNet's ``JointsMSELoss`` (see the module docstring).

    Args:
        use_target_weight: multiply prediction and target by the target weights.

    Shapes: ``output, target (N, K, H, W)``, ``target_weight (N, K)`` -> scalar.
    """

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        diff = _weighted_diff(output, target, target_weight if self.use_target_weight else None)
        return 0.5 * diff.square().mean()


class JointsOHKMMSELoss(nn.Module):
    """HRNet's ``JointsOHKMMSELoss``: mean over the batch of the mean of the ``topk`` hardest joints.

    Args:
        use_target_weight: multiply prediction and target by the target weights.
        topk: joints kept per sample (HRNet: 8).

    Shapes: ``output, target (N, K, H, W)``, ``target_weight (N, K)`` -> scalar.
    """

    def __init__(self, use_target_weight: bool = True, topk: int = 8) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        diff = _weighted_diff(output, target, target_weight if self.use_target_weight else None)
        per_joint = 0.5 * diff.square().flatten(2).mean(dim=2)  # (N, K)
        k = min(self.topk, per_joint.shape[1])
        hardest, _ = per_joint.topk(k, dim=1)
        return (hardest.sum(dim=1) / k).mean()


def build_loss(kind: str = "mse", use_target_weight: bool = True, topk: int = 8) -> nn.Module:
    """``"mse"`` -> :class:`JointsMSELoss`, ``"ohkm"`` -> :class:`JointsOHKMMSELoss`."""
    if kind == "mse":
        return JointsMSELoss(use_target_weight)
    if kind == "ohkm":
        return JointsOHKMMSELoss(use_target_weight, topk)
    raise ValueError(f"unknown loss {kind!r}; choices: 'mse', 'ohkm'")
