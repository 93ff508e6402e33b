"""HRNet (Sun et al. 2019, ``pose_hrnet``) for top-down pose estimation.

State-dict compatible with the official ``pose_hrnet_w{32,48}_*.pth``
checkpoints. Layout (width ``W``, channels of branch ``b`` = ``W * 2**b``):

* stem: ``conv1``/``bn1``, ``conv2``/``bn2`` (3x3 stride 2 each, 64 ch, 1/4 resolution);
* ``layer1``: 4 bottlenecks (64 -> 256 ch);
* ``transition1..3``: per branch either nothing (same channels), a
  conv3x3-BN-ReLU (channel change), or for a new branch ``Sequential(Sequential(
  conv3x3/2, BN, ReLU))`` built from the last existing branch;
* ``stage2..4``: 1 / 4 / 3 :class:`HighResolutionModule` with 2 / 3 / 4 branches
  of 4 basic blocks; the last module of stage 4 only outputs branch 0;
* ``final_layer``: 1x1 conv on branch 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BN_MOMENTUM, BasicBlock, Bottleneck, conv1x1, conv3x3

__all__ = ["HighResolutionModule", "PoseHighResolutionNet"]


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [conv3x3(in_ch, out_ch, stride), _bn(out_ch)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks followed by all-to-all fusion.

    Fusion ``fuse_layers[i][j]`` maps branch ``j`` to branch ``i``'s resolution:
    for ``j > i`` 1x1 conv + BN + nearest upsampling by ``2**(j-i)``; for ``j < i``
    ``i-j`` stride-2 3x3 conv + BN (ReLU between them, not after the last);
    ``j == i`` is the identity. Output ``i`` = ReLU(sum over j in order 0..n-1).

    Args:
        channels: channels of each branch (input == output).
        num_blocks: basic blocks per branch.
        multi_scale_output: output every branch (True) or branch 0 only.

    Shapes: list of ``(N, channels[b], H / 2**b, W / 2**b)`` -> same list
    (or its first entry only when ``multi_scale_output`` is False).
    """

    def __init__(self, channels: Sequence[int], num_blocks: Sequence[int], multi_scale_output: bool = True) -> None:
        super().__init__()
        if len(channels) != len(num_blocks):
            raise ValueError("channels and num_blocks must have one entry per branch")
        self.num_branches = len(channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(n))) for c, n in zip(channels, num_blocks)
        )
        self.fuse_layers = self._make_fuse_layers(list(channels)) if self.num_branches > 1 else None

    def _make_fuse_layers(self, channels: list[int]) -> nn.ModuleList:
        outputs = self.num_branches if self.multi_scale_output else 1
        fuse = nn.ModuleList()
        for i in range(outputs):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(
                        nn.Sequential(
                            conv1x1(channels[j], channels[i]),
                            _bn(channels[i]),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = [_conv_bn_relu(channels[j], channels[j], stride=2) for _ in range(i - j - 1)]
                    steps.append(_conv_bn_relu(channels[j], channels[i], stride=2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        return fuse

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if row[0] is None else row[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + (xs[j] if row[j] is None else row[j](xs[j]))
            out.append(F.relu(y))
        return out


def _make_transition(prev: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Transition from ``len(prev)`` to ``len(cur)`` branches (``None`` = identity)."""
    layers: list[nn.Module | None] = []
    for i, out_ch in enumerate(cur):
        if i < len(prev):
            layers.append(None if prev[i] == out_ch else _conv_bn_relu(prev[i], out_ch))
        else:
            # New (lower-resolution) branches: a chain of stride-2 convs from the last branch.
            steps = []
            for k in range(i + 1 - len(prev)):
                in_ch = prev[-1]
                step_out = out_ch if k == i - len(prev) else in_ch
                steps.append(_conv_bn_relu(in_ch, step_out, stride=2))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def _apply_transition(transition: nn.ModuleList, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Branch inputs of the next stage: existing branches from themselves, new ones from the last.

    (The official code feeds every non-identity transition ``y_list[-1]``; the two
    agree for every released configuration, where existing branches are identities.)
    """
    out = []
    for i, layer in enumerate(transition):
        source = xs[i] if i < len(xs) else xs[-1]
        out.append(source if layer is None else layer(source))
    return out


class PoseHighResolutionNet(nn.Module):
    """HRNet pose network of any width.

    Args:
        width: channels of the highest-resolution branch (32 or 48 in the releases);
            branch ``b`` has ``width * 2**b`` channels.
        num_joints: output heatmap channels.
        num_modules: HighResolutionModules in stages 2, 3, 4.
        num_blocks: basic blocks per branch in every module.
        final_conv_kernel: kernel of ``final_layer`` (1 or 3).

    Shapes: ``(N, 3, H, W) -> (N, num_joints, H/4, W/4)``, e.g.
    ``(N, 3, 256, 192) -> (N, 17, 64, 48)``, ``(N, 3, 384, 288) -> (N, 17, 96, 72)``.
    """

    def __init__(
        self,
        width: int = 32,
        num_joints: int = 17,
        num_modules: Sequence[int] = (1, 4, 3),
        num_blocks: int = 4,
        final_conv_kernel: int = 1,
    ) -> None:
        super().__init__()
        if len(num_modules) != 3:
            raise ValueError(f"num_modules needs 3 entries (stages 2-4), got {tuple(num_modules)}")
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        self.conv1 = conv3x3(3, 64, stride=2)
        self.bn1 = _bn(64)
        self.conv2 = conv3x3(64, 64, stride=2)
        self.bn2 = _bn(64)
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, downsample=nn.Sequential(conv1x1(64, 256), _bn(256))),
            *(Bottleneck(256, 64) for _ in range(3)),
        )
        prev: list[int] = [256]
        for stage, modules in zip((2, 3, 4), num_modules):
            channels = [width * 2**b for b in range(stage)]
            self.add_module(f"transition{stage - 1}", _make_transition(prev, channels))
            last_stage = stage == 4
            stage_modules = [
                HighResolutionModule(
                    channels,
                    [num_blocks] * stage,
                    multi_scale_output=not (last_stage and m == modules - 1),
                )
                for m in range(modules)
            ]
            self.add_module(f"stage{stage}", nn.Sequential(*stage_modules))
            prev = channels
        self.final_layer = nn.Conv2d(
            width, num_joints, kernel_size=final_conv_kernel, stride=1, padding=final_conv_kernel // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised crops -> ``(N, num_joints, H/4, W/4)`` heatmaps."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for stage in (2, 3, 4):
            xs = _apply_transition(getattr(self, f"transition{stage - 1}"), xs)
            for module in getattr(self, f"stage{stage}"):
                xs = module(xs)
        return self.final_layer(xs[0])
