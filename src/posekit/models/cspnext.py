"""CSPNeXt backbone and CSPNeXt-PAFPN neck (RTMDet / RTMPose, Lyu et al. 2022; Jiang et al. 2023).

State-dict compatible with MMDetection 3.x's ``CSPNeXt`` and MMPose 1.x's ``CSPNeXtPAFPN`` as the RTMPose
family uses them (keys ``backbone.*`` / ``neck.*`` of the official MMPose checkpoints once the prefix is
removed). Written from the published layer names, shapes and formulas, not from MMDetection's code.

Building blocks (keys in brackets, in ``state_dict`` order):

* :class:`ConvModule`: conv without bias + BatchNorm + activation (``conv``, ``bn``);
* :class:`DepthwiseSeparableConvModule`: depthwise kxk ConvModule then pointwise 1x1 ConvModule
  (``depthwise_conv``, ``pointwise_conv``);
* :class:`CSPNeXtBlock`: 3x3 ConvModule then 5x5 depthwise-separable module, optional identity
  (``conv1``, ``conv2``);
* :class:`ChannelAttention`: ``x * hardsigmoid(fc(mean_hw(x)))`` (``fc`` with bias);
* :class:`CSPLayer`: two 1x1 halves, blocks on the main one, concatenation ``[main, short]``, optional
  channel attention, 1x1 fusion (``main_conv``, ``short_conv``, ``final_conv``, ``blocks``, ``attention``);
* :class:`SPPBottleneck`: 1x1 to half, max-pools 5/9/13 (stride 1), concatenation ``[x, p5, p9, p13]``,
  1x1 (``conv1``, ``conv2``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvModule",
    "DepthwiseSeparableConvModule",
    "CSPNeXtBlock",
    "ChannelAttention",
    "CSPLayer",
    "SPPBottleneck",
    "CSPNeXt",
    "CSPNeXtPAFPN",
    "P5_ARCH",
]

#: CSPNeXt P5 stages: (in_channels, out_channels, num_blocks, add_identity, use_spp) before widen/deepen.
P5_ARCH: tuple[tuple[int, int, int, bool, bool], ...] = (
    (64, 128, 3, True, False),
    (128, 256, 6, True, False),
    (256, 512, 6, True, False),
    (512, 1024, 3, False, True),
)

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}


class ConvModule(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation, MMCV's ``ConvModule`` layout (keys ``conv``, ``bn``).

    Args:
        in_ch, out_ch: channels.
        kernel_size: square kernel; padding defaults to ``kernel_size // 2``.
        stride, groups: of the convolution.
        act: ``"silu"``, ``"relu"`` or ``None`` (no activation).
        bn_eps: BatchNorm epsilon.

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, ceil(H / stride), ceil(W / stride))`` (odd kernels).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        act: str | None = "silu",
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if act is not None and act not in _ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(_ACTIVATIONS)} or None, got {act!r}")
        pad = kernel_size // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps)
        self.act = _ACTIVATIONS[act]() if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise ``k x k`` ConvModule (groups = channels) then pointwise 1x1 ConvModule, both with BN + act.

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, act: str | None = "silu", bn_eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(in_ch, in_ch, kernel_size, stride, groups=in_ch, act=act, bn_eps=bn_eps)
        self.pointwise_conv = ConvModule(in_ch, out_ch, 1, act=act, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class CSPNeXtBlock(nn.Module):
    """``conv2(conv1(x)) [+ x]``: 3x3 ConvModule, then a 5x5 depthwise-separable module.

    The identity is added only when ``add_identity`` and ``in_ch == out_ch``.

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, H, W)``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        add_identity: bool = True,
        expansion: float = 1.0,
        kernel_size: int = 5,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        hidden = int(out_ch * expansion)
        self.conv1 = ConvModule(in_ch, hidden, 3, bn_eps=bn_eps)
        self.conv2 = DepthwiseSeparableConvModule(hidden, out_ch, kernel_size, bn_eps=bn_eps)
        self.add_identity = add_identity and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class ChannelAttention(nn.Module):
    """``x * hardsigmoid(fc(global_avg_pool(x)))`` with ``fc`` a 1x1 conv with bias.

    Hardsigmoid is ``relu6(x + 3) / 6`` (PyTorch's ``nn.Hardsigmoid``).

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.hardsigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))
        return x * gate


class CSPLayer(nn.Module):
    """Cross-stage-partial layer with CSPNeXt blocks.

    ``final_conv(attention(cat[blocks(main_conv(x)), short_conv(x)]))``; ``main_conv`` / ``short_conv`` are
    1x1 ConvModules to ``int(out_ch * expand_ratio)`` channels, ``final_conv`` a 1x1 ConvModule back to ``out_ch``.

    Args:
        in_ch, out_ch: channels.
        num_blocks: CSPNeXt blocks on the main path.
        add_identity: residual inside each block.
        expand_ratio: width of the two halves relative to ``out_ch``.
        channel_attention: apply :class:`ChannelAttention` to the concatenation.
        bn_eps: BatchNorm epsilon.

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, H, W)``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        num_blocks: int = 1,
        add_identity: bool = True,
        expand_ratio: float = 0.5,
        channel_attention: bool = False,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        mid = int(out_ch * expand_ratio)
        self.main_conv = ConvModule(in_ch, mid, 1, bn_eps=bn_eps)
        self.short_conv = ConvModule(in_ch, mid, 1, bn_eps=bn_eps)
        self.final_conv = ConvModule(2 * mid, out_ch, 1, bn_eps=bn_eps)
        self.blocks = nn.Sequential(
            *(CSPNeXtBlock(mid, mid, add_identity, expansion=1.0, bn_eps=bn_eps) for _ in range(num_blocks))
        )
        self.attention = ChannelAttention(2 * mid) if channel_attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = self.short_conv(x)
        main = self.blocks(self.main_conv(x))
        out = torch.cat((main, short), dim=1)
        if self.attention is not None:
            out = self.attention(out)
        return self.final_conv(out)


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: ``conv2(cat[y, maxpool_k(y) for k]))`` with ``y = conv1(x)`` (half width).

    Max-pools have stride 1 and padding ``k // 2`` (size preserving).

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, H, W)``.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel_sizes: Sequence[int] = (5, 9, 13), bn_eps: float = 1e-5
    ) -> None:
        super().__init__()
        mid = in_ch // 2
        self.conv1 = ConvModule(in_ch, mid, 1, bn_eps=bn_eps)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), out_ch, 1, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))


class CSPNeXt(nn.Module):
    """CSPNeXt backbone, arch P5 (RTMDet / RTMPose), any depth and width.

    Layout (``c`` = P5 channels x ``widen_factor``):

    * ``stem``: three 3x3 ConvModules (stride 2, 1, 1) 3 -> c0/2 -> c0/2 -> c0 (``c0 = 64 * widen``);
    * ``stage1..4``: ``.0`` 3x3 stride-2 ConvModule, stage 4 then ``.1`` :class:`SPPBottleneck`, last a
      :class:`CSPLayer` with ``max(round(n * deepen_factor), 1)`` blocks (n = 3, 6, 6, 3), identity in the
      blocks of stages 1-3 only.

    Args:
        deepen_factor: block-count multiplier (t 0.167, s 0.33, m 0.67, l 1.0, x 1.33).
        widen_factor: channel multiplier (t 0.375, s 0.5, m 0.75, l 1.0, x 1.25).
        expand_ratio: CSPLayer half width.
        out_indices: outputs to return, 0 = stem, 1..4 = stages (strides 2, 4, 8, 16, 32).
        channel_attention: ChannelAttention inside the CSPLayers.
        bn_eps: BatchNorm epsilon (1e-5 in every RTMPose / RTMW config: their ``norm_cfg`` sets none).

    Shapes: ``(N, 3, H, W)`` -> tuple of ``(N, C_i, ceil(H / s_i), ceil(W / s_i))`` for ``i`` in ``out_indices``,
    e.g. RTMPose-m at 256x192 with ``out_indices=(4,)``: ``((N, 768, 8, 6),)``.
    """

    def __init__(
        self,
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        expand_ratio: float = 0.5,
        out_indices: Sequence[int] = (2, 3, 4),
        channel_attention: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        arch = P5_ARCH
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(not 0 <= i <= len(arch) for i in self.out_indices):
            raise ValueError(f"out_indices must be in 0..{len(arch)}, got {out_indices}")
        stem_ch = int(arch[0][0] * widen_factor // 2)
        first_ch = int(arch[0][0] * widen_factor)
        self.stem = nn.Sequential(
            ConvModule(3, stem_ch, 3, stride=2, bn_eps=bn_eps),
            ConvModule(stem_ch, stem_ch, 3, bn_eps=bn_eps),
            ConvModule(stem_ch, first_ch, 3, bn_eps=bn_eps),
        )
        channels = [first_ch]
        for index, (cin, cout, blocks, add_identity, use_spp) in enumerate(arch, start=1):
            cin, cout = int(cin * widen_factor), int(cout * widen_factor)
            layers: list[nn.Module] = [ConvModule(cin, cout, 3, stride=2, bn_eps=bn_eps)]
            if use_spp:
                layers.append(SPPBottleneck(cout, cout, bn_eps=bn_eps))
            layers.append(
                CSPLayer(
                    cout, cout, max(round(blocks * deepen_factor), 1), add_identity, expand_ratio,
                    channel_attention, bn_eps,
                )
            )
            self.add_module(f"stage{index}", nn.Sequential(*layers))
            channels.append(cout)
        #: channels of each output (in ``out_indices`` order)
        self.out_channels = tuple(channels[i] for i in self.out_indices)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        for index in range(1, len(P5_ARCH) + 1):
            x = getattr(self, f"stage{index}")(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)


class CSPNeXtPAFPN(nn.Module):
    """Path-aggregation FPN with CSPNeXt blocks (MMPose ``CSPNeXtPAFPN`` with ``out_channels=None``).

    For inputs ``C_0..C_L`` (shallow to deep, channels ``in_channels``):

    * top-down, from the deepest: ``reduce_layers[j]`` 1x1 ConvModule to the next shallower width, 2x nearest
      upsampling, concatenation ``[upsampled, lateral]``, ``top_down_blocks[j]`` (a CSPLayer). The reduced map
      replaces the deeper one for the bottom-up pass;
    * bottom-up: ``downsamples[i]`` 3x3 stride-2 ConvModule, concatenation ``[downsampled, reduced map]``,
      ``bottom_up_blocks[i]`` (a CSPLayer) to ``in_channels[i + 1]``.

    The CSPLayers have ``num_csp_blocks`` blocks, no identity, no channel attention.

    Args:
        in_channels: channels of the inputs, shallow to deep.
        num_csp_blocks: blocks per CSPLayer.
        expand_ratio: CSPLayer half width.
        out_indices: which of the ``len(in_channels)`` outputs to return.
        bn_eps: BatchNorm epsilon.

    Shapes: tuple of ``(N, in_channels[i], H_i, W_i)`` (each level half the size of the previous one)
    -> tuple of the same shapes for ``i`` in ``out_indices``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_csp_blocks: int = 3,
        expand_ratio: float = 0.5,
        out_indices: Sequence[int] = (0, 1, 2),
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        chans = [int(c) for c in in_channels]
        if len(chans) < 2:
            raise ValueError(f"need at least two input levels, got in_channels={in_channels}")
        self.in_channels = tuple(chans)
        self.out_indices = tuple(int(i) for i in out_indices)
        if any(not 0 <= i < len(chans) for i in self.out_indices):
            raise ValueError(f"out_indices must be in 0..{len(chans) - 1}, got {out_indices}")

        def csp(cin: int, cout: int) -> CSPLayer:
            return CSPLayer(cin, cout, num_csp_blocks, False, expand_ratio, False, bn_eps)

        deep_to_shallow = range(len(chans) - 1, 0, -1)
        self.reduce_layers = nn.ModuleList(
            ConvModule(chans[i], chans[i - 1], 1, bn_eps=bn_eps) for i in deep_to_shallow
        )
        self.top_down_blocks = nn.ModuleList(csp(2 * chans[i - 1], chans[i - 1]) for i in deep_to_shallow)
        shallow_to_deep = range(len(chans) - 1)
        self.downsamples = nn.ModuleList(
            ConvModule(chans[i], chans[i], 3, stride=2, bn_eps=bn_eps) for i in shallow_to_deep
        )
        self.bottom_up_blocks = nn.ModuleList(csp(2 * chans[i], chans[i + 1]) for i in shallow_to_deep)
        self.out_channels = tuple(chans[i] for i in self.out_indices)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        levels = len(self.in_channels)
        if len(inputs) != levels:
            raise ValueError(f"expected {levels} feature maps, got {len(inputs)}")
        # top-down: reduced[i] is the 1x1-reduced map of level i + 1 (level i's width)
        deeper = inputs[-1]
        reduced: list[torch.Tensor] = [inputs[-1]] * (levels - 1)
        for j, i in enumerate(range(levels - 1, 0, -1)):
            deeper = self.reduce_layers[j](deeper)
            reduced[i - 1] = deeper
            up = F.interpolate(deeper, scale_factor=2.0, mode="nearest")
            deeper = self.top_down_blocks[j](torch.cat((up, inputs[i - 1]), dim=1))
        # bottom-up from the shallowest top-down output
        outs = [deeper]
        for i in range(levels - 1):
            down = self.downsamples[i](outs[-1])
            outs.append(self.bottom_up_blocks[i](torch.cat((down, reduced[i]), dim=1)))
        return tuple(outs[i] for i in self.out_indices)

