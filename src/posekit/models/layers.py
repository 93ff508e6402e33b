"""Building blocks shared by the pose networks.

Every block registers its sub-modules in the order the official
implementations do, so ``state_dict()`` keys come out in the official order
(``conv1, bn1, conv2, bn2, conv3, bn3, se, downsample`` for a bottleneck).

All blocks take and return ``(N, C, H, W)`` float tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BN_MOMENTUM",
    "conv3x3",
    "conv1x1",
    "SELayer",
    "BasicBlock",
    "Bottleneck",
    "DUC",
    "make_duc_stage",
]

#: BatchNorm momentum used by every official implementation here (training only).
BN_MOMENTUM = 0.1


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _se_residual(
    out: torch.Tensor, x: torch.Tensor, se: nn.Module | None, downsample: nn.Module | None
) -> torch.Tensor:
    """The common tail of the ResNet blocks: ``relu(se(out) + downsample(x))``, either step optional.

    Shapes: ``out (N, C, H', W')``, ``x (N, C_in, H, W)`` -> ``(N, C, H', W')``.
    """
    if se is not None:
        out = se(out)
    identity = x if downsample is None else downsample(x)
    return F.relu(out + identity)


class SELayer(nn.Module):
    """Squeeze-and-excitation gate as AlphaPose uses it.

    ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))``. The two linear layers live in
    ``fc`` at indices 0 and 2 (``fc.1`` is ReLU, ``fc.3`` Sigmoid), and AlphaPose
    uses ``reduction=1`` (``Linear(C, C)``).

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 1) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        gate = self.fc(F.adaptive_avg_pool2d(x, 1).reshape(n, c))
        return x * gate.reshape(n, c, 1, 1)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs and a residual (expansion 1).

    ``se=True`` applies an :class:`SELayer` to the ``bn2`` output before the
    residual add (AlphaPose SE-ResNet-18/34). Keys: ``conv1, bn1, conv2, bn2,
    [se], [downsample.0/1]``.

    Shapes: ``(N, in_ch, H, W) -> (N, planes, H/stride, W/stride)``.
    """

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        se: bool = False,
        unshuffle: bool = False,
    ) -> None:
        super().__init__()
        if unshuffle:
            raise ValueError("pixel-unshuffle downsampling is only defined for Bottleneck blocks")
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = _bn(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.se = SELayer(planes) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return _se_residual(out, x, self.se, self.downsample)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 -> 1x1, expansion 4), stride on the 3x3.

    Options used by AlphaPose:

    * ``se=True``: squeeze-and-excitation on the ``bn3`` output, before the
      residual add (first block of each stage in AlphaPose SE-ResNets).
    * ``unshuffle=True``: for ``stride > 1`` the strided 3x3 becomes
      ``Sequential(PixelUnshuffle(stride), Conv2d(planes*stride**2, planes, 3, padding=1))``
      (AlphaPose "shuffle" ResNet; key ``conv2.1.weight``).

    Keys: ``conv1, bn1, conv2, bn2, conv3, bn3, [se.fc.0/2], [downsample.0/1]``.

    Shapes: ``(N, in_ch, H, W) -> (N, 4*planes, H/stride, W/stride)``.
    """

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        se: bool = False,
        unshuffle: bool = False,
    ) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = _bn(planes)
        if unshuffle and stride > 1:
            self.conv2: nn.Module = nn.Sequential(
                nn.PixelUnshuffle(stride), conv3x3(planes * stride * stride, planes)
            )
        else:
            self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = _bn(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = _bn(out_ch)
        self.se = SELayer(out_ch) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return _se_residual(out, x, self.se, self.downsample)


class DUC(nn.Module):
    """Dense upsampling convolution: conv3x3 -> BN -> ReLU -> PixelShuffle.

    Keys ``conv.weight`` (no bias), ``bn.*``.

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch / r**2, r*H, r*W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, upscale_factor: int = 2) -> None:
        super().__init__()
        self.conv = conv3x3(in_ch, out_ch)
        self.bn = _bn(out_ch)
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_shuffle(F.relu(self.bn(self.conv(x))))


def make_duc_stage(in_ch: int, out_ch: int, num_conv: int, upscale_factor: int = 2) -> nn.Sequential:
    """A FastPose_DUC head stage: PixelShuffle first, then ``num_conv`` conv-BN-ReLU.

    The first ``num_conv - 1`` convs keep ``in_ch / r**2`` channels, the last
    maps to ``out_ch``. Keys ``{1,4,7,..}.weight`` (convs) and ``{2,5,8,..}.*`` (BN).

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, r*H, r*W)``.
    """
    if num_conv < 1:
        raise ValueError(f"num_conv must be >= 1, got {num_conv}")
    mid = in_ch // (upscale_factor * upscale_factor)
    layers: list[nn.Module] = [nn.PixelShuffle(upscale_factor)]
    for i in range(num_conv):
        cout = out_ch if i == num_conv - 1 else mid
        layers += [conv3x3(mid, cout), _bn(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)
