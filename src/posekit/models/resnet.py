"""ResNet backbones (plain, SE and pixel-unshuffle variants).

Names follow torchvision / AlphaPose: ``conv1`` (7x7/2), ``bn1``, max-pool,
``layer1..layer4``; the stride sits on the 3x3 conv of the first block of a
stage ("ResNet v1.5"). A stage's first block gets a ``downsample``
(1x1 conv + BN) whenever the stride or the channel count changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BN_MOMENTUM, BasicBlock, Bottleneck, conv1x1

__all__ = ["RESNET_DEPTHS", "ResNet", "resnet_spec", "stage_channels"]

#: depth -> (block type, blocks per stage).
RESNET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def resnet_spec(depth: int) -> tuple[type[nn.Module], tuple[int, int, int, int]]:
    """Block type and blocks per stage of a ResNet ``depth``."""
    try:
        return RESNET_DEPTHS[depth]
    except KeyError:
        raise ValueError(f"unsupported ResNet depth {depth}; choices: {sorted(RESNET_DEPTHS)}") from None


class ResNet(nn.Module):
    """ResNet feature extractor without the classifier.

    Args:
        depth: 18, 34, 50, 101 or 152.
        se: put an AlphaPose SE gate (``Linear(C, C)``) in the first block of
            every stage (the blocks with a ``downsample``).
        unshuffle: AlphaPose "shuffle" ResNet: strided 3x3 convs become
            PixelUnshuffle + 3x3 conv (Bottleneck only).

    Shapes: ``(N, 3, H, W) -> (N, 512 * expansion, H/32, W/32)``, e.g.
    ``(N, 3, 256, 192) -> (N, 2048, 8, 6)`` for depth 50.
    """

    def __init__(self, depth: int = 50, se: bool = False, unshuffle: bool = False) -> None:
        super().__init__()
        block, counts = resnet_spec(depth)
        self.depth = depth
        self.out_channels = 512 * block.expansion  # type: ignore[attr-defined]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_ch = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if index == 0 else 2
            layer, in_ch = _make_stage(block, in_ch, planes, count, stride, se, unshuffle)
            self.add_module(f"layer{index + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


def _make_stage(
    block: type[nn.Module],
    in_ch: int,
    planes: int,
    count: int,
    stride: int,
    se: bool,
    unshuffle: bool,
) -> tuple[nn.Sequential, int]:
    """One ResNet stage; returns ``(stage, output channels)``."""
    out_ch = planes * block.expansion  # type: ignore[attr-defined]
    downsample = None
    if stride != 1 or in_ch != out_ch:
        downsample = nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM))
    blocks: list[nn.Module] = [
        block(in_ch, planes, stride, downsample, se=se and downsample is not None, unshuffle=unshuffle)
    ]
    blocks += [block(out_ch, planes) for _ in range(1, count)]
    return nn.Sequential(*blocks), out_ch


def stage_channels(depth: int) -> Sequence[int]:
    """Output channels of ``layer1..layer4`` for a ResNet ``depth``."""
    block, _ = resnet_spec(depth)
    return tuple(p * block.expansion for p in (64, 128, 256, 512))  # type: ignore[attr-defined]
