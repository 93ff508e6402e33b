"""Training losses: heatmap losses (HRNet conventions) and MMPose's SimCC KL divergence (RTMPose).

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

``KLDiscretLoss`` (MMPose, RTMPose's loss) on SimCC vectors: for each keypoint and
each axis, ``p = log_softmax(beta * pred)`` and ``q = softmax(beta * target)``
(``label_softmax``; else ``q = target``), the elementwise KL divergence
``q (log q - p)`` averaged over the bins, times the keypoint's target weight,
summed over the batch, keypoints and both axes, divided by ``K``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["JointsMSELoss", "JointsOHKMMSELoss", "KLDiscretLoss", "build_loss"]


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


class KLDiscretLoss(nn.Module):
    """MMPose's ``KLDiscretLoss`` on packed SimCC vectors (see the module docstring).

    Args:
        bins: ``(W r, H r)``: where the packed vectors split into x and y.
        use_target_weight: weight each keypoint's divergence by its target weight.
        beta: temperature multiplier of the logits (RTMPose: 10).
        label_softmax: softmax the targets at the same temperature (RTMPose: true).

    Shapes: ``output, target (N, K, W r + H r)``, ``target_weight (N, K)`` -> scalar.
    """

    def __init__(self, bins: tuple[int, int], use_target_weight: bool = True, beta: float = 10.0,
                 label_softmax: bool = True) -> None:
        super().__init__()
        self.bins = (int(bins[0]), int(bins[1]))
        self.use_target_weight = use_target_weight
        self.beta = float(beta)
        self.label_softmax = label_softmax

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        if output.shape != target.shape or output.shape[-1] != sum(self.bins):
            raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)}: expected "
                             f"(N, K, {self.bins[0]} + {self.bins[1]})")
        n, k, _ = output.shape
        weight = target_weight.float().reshape(n * k) if self.use_target_weight else 1.0
        loss = output.new_zeros((), dtype=torch.float32)
        for pred, label in zip(output.float().split(self.bins, dim=-1), target.float().split(self.bins, dim=-1)):
            log_p = torch.log_softmax(pred.reshape(n * k, -1) * self.beta, dim=1)
            q = label.reshape(n * k, -1)
            if self.label_softmax:
                q = torch.softmax(q * self.beta, dim=1)
            divergence = torch.nn.functional.kl_div(log_p, q, reduction="none").mean(dim=1)
            loss = loss + (divergence * weight).sum()
        return loss / k


def build_loss(kind: str = "mse", use_target_weight: bool = True, topk: int = 8, *,
               bins: tuple[int, int] | None = None, beta: float = 10.0, label_softmax: bool = True) -> nn.Module:
    """``"mse"`` -> :class:`JointsMSELoss`, ``"ohkm"`` -> :class:`JointsOHKMMSELoss`, ``"kl"`` ->
    :class:`KLDiscretLoss` (needs the SimCC ``bins``)."""
    if kind == "mse":
        return JointsMSELoss(use_target_weight)
    if kind == "ohkm":
        return JointsOHKMMSELoss(use_target_weight, topk)
    if kind == "kl":
        if bins is None:
            raise ValueError("the 'kl' loss needs the SimCC bins (W r, H r)")
        return KLDiscretLoss(bins, use_target_weight, beta, label_softmax)
    raise ValueError(f"unknown loss {kind!r}; choices: 'mse', 'ohkm', 'kl'")
