"""AlphaPose FastPose networks (SE-ResNet backbone + pixel-shuffle DUC head).

State-dict compatible with the official AlphaPose checkpoints:

* :class:`FastPose`: current AlphaPose ``FastPose`` (``fast_res50_256x192.pth``)
  and, with ``depth=101, num_joints=33``, the 2018 SPPE (``duc_se.pth``).
  ``preact`` (SE-ResNet) -> ``suffle1`` PixelShuffle(2) -> ``duc1`` DUC(512->1024)
  -> ``duc2`` DUC(256->512) -> ``conv_out`` 3x3 (with bias).
* :class:`FastPoseDUC`: AlphaPose ``FastPose_DUC`` with the pixel-unshuffle
  ("shuffle") or plain SE-ResNet backbone (``fast_421_res50-shuffle_256x192.pth``):
  three head stages, each PixelShuffle first then conv-BN-ReLU layers.

Written from the published architecture descriptions (names, shapes and
formulas), not from AlphaPose's code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import DUC, make_duc_stage
from .resnet import ResNet

__all__ = ["FastPose", "FastPoseDUC"]


class FastPose(nn.Module):
    """AlphaPose FastPose: SE-ResNet + PixelShuffle + two DUC + 3x3 output conv.

    Args:
        depth: backbone ResNet depth (50 for ``fast_res50``, 101 for the legacy SPPE).
            Must be a bottleneck ResNet (50/101/152) so the backbone ends in 2048 channels.
        num_joints: output channels (17; the legacy SPPE has 33).
        conv_dim: channels entering ``conv_out`` (128 in every released model).

    Shapes: ``(N, 3, H, W) -> (N, num_joints, H/4, W/4)``, e.g.
    ``(N, 3, 256, 192) -> (N, 17, 64, 48)`` or ``(N, 3, 320, 256) -> (N, 33, 80, 64)``.
    """

    def __init__(self, depth: int = 50, num_joints: int = 17, conv_dim: int = 128) -> None:
        super().__init__()
        self.preact = ResNet(depth, se=True)
        if self.preact.out_channels != 2048:
            raise ValueError(f"FastPose needs a bottleneck ResNet (depth >= 50), got depth {depth}")
        self.suffle1 = nn.PixelShuffle(2)
        self.duc1 = DUC(512, 1024, upscale_factor=2)
        self.duc2 = DUC(256, 4 * conv_dim, upscale_factor=2)
        self.conv_out = nn.Conv2d(conv_dim, num_joints, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised crops -> ``(N, num_joints, H/4, W/4)`` heatmaps."""
        out = self.suffle1(self.preact(x))
        out = self.duc2(self.duc1(out))
        return self.conv_out(out)


class FastPoseDUC(nn.Module):
    """AlphaPose FastPose_DUC: (shuffle) SE-ResNet + three PixelShuffle-first head stages.

    Args:
        depth: backbone ResNet depth (bottleneck: 50/101/152).
        num_joints: output channels.
        backbone: ``"shuffle"`` (strided 3x3 convs replaced by PixelUnshuffle + conv)
            or ``"se-resnet"`` (plain SE-ResNet).
        stage_convs: conv-BN-ReLU layers in ``duc1``, ``duc2``, ``duc3`` (4, 2, 1).
        conv_dim: channels out of ``duc3`` into ``conv_out`` (256).

    Head: ``duc1`` 2048 -> PS -> 512 -> ... -> 1024; ``duc2`` 1024 -> PS -> 256 -> ... -> 512;
    ``duc3`` 512 -> PS -> 128 -> conv_dim; ``conv_out`` 3x3 conv_dim -> num_joints (with bias).

    Shapes: ``(N, 3, H, W) -> (N, num_joints, H/4, W/4)``, e.g.
    ``(N, 3, 256, 192) -> (N, 17, 64, 48)``.
    """

    def __init__(
        self,
        depth: int = 50,
        num_joints: int = 17,
        backbone: str = "shuffle",
        stage_convs: Sequence[int] = (4, 2, 1),
        conv_dim: int = 256,
    ) -> None:
        super().__init__()
        if backbone not in ("shuffle", "se-resnet"):
            raise ValueError(f"backbone must be 'shuffle' or 'se-resnet', got {backbone!r}")
        if len(stage_convs) != 3:
            raise ValueError(f"stage_convs needs 3 entries, got {tuple(stage_convs)}")
        self.preact = ResNet(depth, se=True, unshuffle=backbone == "shuffle")
        if self.preact.out_channels != 2048:
            raise ValueError(f"FastPoseDUC needs a bottleneck ResNet (depth >= 50), got depth {depth}")
        self.duc1 = make_duc_stage(2048, 1024, stage_convs[0])
        self.duc2 = make_duc_stage(1024, 512, stage_convs[1])
        self.duc3 = make_duc_stage(512, conv_dim, stage_convs[2])
        self.conv_out = nn.Conv2d(conv_dim, num_joints, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised crops -> ``(N, num_joints, H/4, W/4)`` heatmaps."""
        out = self.duc3(self.duc2(self.duc1(self.preact(x))))
        return self.conv_out(out)
