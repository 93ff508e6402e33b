"""RTMPose, DWPose and RTMW top-down pose networks (SimCC heads on CSPNeXt), as MMPose 1.3.2 builds them.

State-dict compatible with the official MMPose 1.x checkpoints (keys ``backbone.*``, ``neck.*`` for RTMW,
``head.*``) and output-identical to MMPose's ``forward(x, None, mode="tensor")``: the raw SimCC logits
``(simcc_x, simcc_y)``, no softmax, no decoding. Written from the published layer names, shapes and
formulas, not from MMPose's code.

* RTMPose / DWPose: :class:`~posekit.models.cspnext.CSPNeXt` (stage-4 output, stride 32) +
  :class:`RTMCCHead`.
* RTMW: CSPNeXt (stages 2-4) + :class:`~posekit.models.cspnext.CSPNeXtPAFPN` (stride-16 and stride-32
  outputs) + :class:`RTMWHead`.

The catalogue (:mod:`posekit.catalog`, family ``"rtmpose"``) holds each named model's constructor arguments
and checkpoint; ``posekit.create_model("rtmpose_m_256x192")`` builds one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from posekit.spec import simcc_bins

from .cspnext import ConvModule, CSPNeXt, CSPNeXtPAFPN

__all__ = [
    "ScaleNorm",
    "Scale",
    "RTMCCBlock",
    "RTMCCHead",
    "RTMWHead",
    "RTMPose",
    "HEAD_TYPES",
]

#: Head variants: ``"rtmcc"`` (RTMPose / DWPose: backbone stage 4 only) and ``"rtmw"`` (PAFPN neck + two-scale head).
HEAD_TYPES = ("rtmcc", "rtmw")

#: backbone stride of the head's (deepest) feature map
_STRIDE = 32


class ScaleNorm(nn.Module):
    """``x / clamp(||x||_2 * dim**-0.5, min=eps) * g`` over the last axis, ``g`` one learned scalar.

    Shapes: ``(..., dim) -> (..., dim)``.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = float(dim) ** -0.5
        self.eps = float(eps)
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Learned per-channel scale of the last axis (key ``scale``). Shapes: ``(..., dim) -> (..., dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class RTMCCBlock(nn.Module):
    """Gated attention unit (Hua et al. 2022) over the keypoint tokens, as RTMPose uses it (self-attention).

    With ``e = dim * expansion_factor``::

        t = ScaleNorm(x)                                    # ln
        u, v, base = split(silu(uv(t)), [e, e, s])          # uv: Linear(dim, 2e + s), no bias
        q = base * gamma[0] + beta[0];  k = base * gamma[1] + beta[1]
        A = relu(q @ k^T / sqrt(s)) ** 2                    # squared ReLU, no softmax
        out = res_scale(x) + o(u * (A @ v))                 # o: Linear(e, dim), no bias

    No relative-position bias, no rotary encoding, no dropout (the RTMPose configs disable them).
    Keys: ``gamma``, ``beta`` (``(2, s)``), ``o``, ``uv``, ``ln.g``, ``res_scale.scale``.

    Shapes: ``(N, K, dim) -> (N, K, dim)``.
    """

    def __init__(self, dim: int = 256, expansion_factor: int = 2, s: int = 128) -> None:
        super().__init__()
        self.e = int(dim * expansion_factor)
        self.s = int(s)
        self.gamma = nn.Parameter(torch.ones(2, self.s))
        self.beta = nn.Parameter(torch.zeros(2, self.s))
        self.o = nn.Linear(self.e, dim, bias=False)
        self.uv = nn.Linear(dim, 2 * self.e + self.s, bias=False)
        self.ln = ScaleNorm(dim)
        self.res_scale = Scale(dim)
        self.sqrt_s = math.sqrt(self.s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        uv = F.silu(self.uv(self.ln(x)))
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=-1)
        base = base.unsqueeze(2) * self.gamma + self.beta  # (N, K, 2, s)
        q, k = torch.unbind(base, dim=2)
        attn = torch.square(F.relu(torch.bmm(q, k.transpose(1, 2)) / self.sqrt_s))  # (N, K, K)
        return self.res_scale(x) + self.o(u * torch.bmm(attn, v))


def _check_map(feats: torch.Tensor, size: tuple[int, int], what: str) -> None:
    if tuple(feats.shape[-2:]) != size:
        raise ValueError(
            f"{what} is {tuple(feats.shape[-2:])} (HxW) but the head was built for {size}: "
            "feed the input size the model was built for"
        )


def _flatten(maps: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """``(N, C, h, w) -> (N, C, h*w)`` (row-major), with constant C and h*w so ONNX outputs keep a static K."""
    return maps.reshape(-1, channels, size)


class RTMCCHead(nn.Module):
    """RTMPose SimCC head: 7x7 conv to K maps, flatten, ScaleNorm + Linear, GAU, two classifiers.

    Keys: ``final_layer`` (Conv2d with bias), ``mlp.0.g`` (ScaleNorm), ``mlp.1.weight`` (Linear, no bias),
    ``gau.*`` (:class:`RTMCCBlock`), ``cls_x.weight``, ``cls_y.weight`` (Linear, no bias).

    Args:
        in_channels: channels of the backbone map.
        num_keypoints: K.
        input_size: network input ``(width, height)``.
        in_featuremap_size: ``(width, height)`` of the backbone map (input / 32).
        simcc_split_ratio: SimCC bins per input pixel.
        final_layer_kernel_size: kernel of ``final_layer``.
        hidden_dims, s, expansion_factor: GAU sizes.

    Shapes: ``(N, in_channels, h, w)`` (the last map of a tuple) -> ``(N, K, W * r)``, ``(N, K, H * r)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        input_size: Sequence[int],
        in_featuremap_size: Sequence[int],
        simcc_split_ratio: float = 2.0,
        final_layer_kernel_size: int = 7,
        hidden_dims: int = 256,
        s: int = 128,
        expansion_factor: int = 2,
    ) -> None:
        super().__init__()
        fw, fh = (int(v) for v in in_featuremap_size)
        self.map_size = (fh, fw)
        k = int(final_layer_kernel_size)
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, k, stride=1, padding=k // 2)
        self.num_keypoints = int(num_keypoints)
        flat = fw * fh
        self.mlp = nn.Sequential(ScaleNorm(flat), nn.Linear(flat, hidden_dims, bias=False))
        self.gau = RTMCCBlock(hidden_dims, expansion_factor, s)
        bins_x, bins_y = simcc_bins(input_size, simcc_split_ratio)
        self.cls_x = nn.Linear(hidden_dims, bins_x, bias=False)
        self.cls_y = nn.Linear(hidden_dims, bins_y, bias=False)

    def forward(self, feats: Sequence[torch.Tensor] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats if isinstance(feats, torch.Tensor) else feats[-1]
        _check_map(x, self.map_size, "the backbone map")
        maps = _flatten(self.final_layer(x), self.num_keypoints, self.map_size[0] * self.map_size[1])
        tokens = self.gau(self.mlp(maps))
        return self.cls_x(tokens), self.cls_y(tokens)


class RTMWHead(nn.Module):
    """RTMW two-scale SimCC head.

    * ``final_layer``: 7x7 ConvModule (BN, ReLU) on the stride-32 map to K maps, flatten (``h*w``),
      ``mlp`` = ScaleNorm + Linear(h*w -> hidden/2);
    * ``ps``: PixelShuffle(2) of the stride-32 map (C -> C/4 channels at stride 16), ``conv_dec`` 7x7
      ConvModule (BN, ReLU), concatenation ``[conv_dec output, stride-16 map]``, ``final_layer2`` 7x7
      ConvModule (BN, ReLU) to K maps, flatten (``4*h*w``), ``mlp2`` = ScaleNorm + Linear(4hw -> hidden/2);
    * tokens = ``cat[mlp, mlp2]`` (hidden), then the GAU and ``cls_x`` / ``cls_y`` as :class:`RTMCCHead`.

    Keys in order: ``conv_dec``, ``final_layer``, ``final_layer2``, ``mlp``, ``mlp2``, ``gau``, ``cls_x``, ``cls_y``.

    Args:
        in_channels: channels of the stride-32 map.
        num_keypoints, input_size, in_featuremap_size, simcc_split_ratio, final_layer_kernel_size,
        hidden_dims, s, expansion_factor: as :class:`RTMCCHead` (``in_featuremap_size`` is the stride-32 map's).
        skip_channels: channels of the stride-16 map (default ``in_channels // 2``).

    Shapes: ``((N, skip_channels, 2h, 2w), (N, in_channels, h, w))`` -> ``(N, K, W * r)``, ``(N, K, H * r)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        input_size: Sequence[int],
        in_featuremap_size: Sequence[int],
        simcc_split_ratio: float = 2.0,
        final_layer_kernel_size: int = 7,
        hidden_dims: int = 256,
        s: int = 128,
        expansion_factor: int = 2,
        skip_channels: int | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if in_channels % 4:
            raise ValueError(f"in_channels must be a multiple of 4 (PixelShuffle(2)), got {in_channels}")
        if hidden_dims % 2:
            raise ValueError(f"hidden_dims must be even, got {hidden_dims}")
        skip = in_channels // 2 if skip_channels is None else int(skip_channels)
        fw, fh = (int(v) for v in in_featuremap_size)
        self.map_size = (fh, fw)
        k = int(final_layer_kernel_size)
        shuffled = in_channels // 4
        self.ps = nn.PixelShuffle(2)
        self.conv_dec = ConvModule(shuffled, shuffled, k, act="relu", bn_eps=bn_eps)
        self.final_layer = ConvModule(in_channels, num_keypoints, k, act="relu", bn_eps=bn_eps)
        self.final_layer2 = ConvModule(shuffled + skip, num_keypoints, k, act="relu", bn_eps=bn_eps)
        self.num_keypoints = int(num_keypoints)
        flat = fw * fh
        self.mlp = nn.Sequential(ScaleNorm(flat), nn.Linear(flat, hidden_dims // 2, bias=False))
        self.mlp2 = nn.Sequential(ScaleNorm(4 * flat), nn.Linear(4 * flat, hidden_dims // 2, bias=False))
        self.gau = RTMCCBlock(hidden_dims, expansion_factor, s)
        bins_x, bins_y = simcc_bins(input_size, simcc_split_ratio)
        self.cls_x = nn.Linear(hidden_dims, bins_x, bias=False)
        self.cls_y = nn.Linear(hidden_dims, bins_y, bias=False)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        enc_b, enc_t = feats[-2], feats[-1]
        _check_map(enc_t, self.map_size, "the stride-32 map")
        k, flat = self.num_keypoints, self.map_size[0] * self.map_size[1]
        coarse = self.mlp(_flatten(self.final_layer(enc_t), k, flat))
        dec = self.conv_dec(self.ps(enc_t))
        fine = self.mlp2(_flatten(self.final_layer2(torch.cat((dec, enc_b), dim=1)), k, 4 * flat))
        tokens = self.gau(torch.cat((coarse, fine), dim=-1))
        return self.cls_x(tokens), self.cls_y(tokens)


class RTMPose(nn.Module):
    """RTMPose / DWPose (``head_type="rtmcc"``) or RTMW (``head_type="rtmw"``) network.

    Submodules ``backbone`` (:class:`~posekit.models.cspnext.CSPNeXt`), ``neck``
    (:class:`~posekit.models.cspnext.CSPNeXtPAFPN`, RTMW only; ``None`` otherwise) and ``head``
    (:class:`RTMCCHead` / :class:`RTMWHead`), so ``state_dict()`` has the official MMPose keys.

    Args:
        deepen_factor, widen_factor: CSPNeXt size (t 0.167/0.375, s 0.33/0.5, m 0.67/0.75, l 1.0/1.0,
            x 1.33/1.25).
        num_keypoints: K (17 COCO, 26 Halpe, 133 COCO-WholeBody).
        input_size: network input ``(width, height)``; the head is built for it (RTMW: multiples of 32,
            for the neck's and the head's 2x upsampling).
        head_type: one of :data:`HEAD_TYPES`.
        simcc_split_ratio: SimCC bins per input pixel.
        expand_ratio, channel_attention, bn_eps: CSPNeXt options (shared by the neck).
        final_layer_kernel_size, hidden_dims, s, expansion_factor: head options.
        neck_csp_blocks: CSPNeXt blocks per CSPLayer of the RTMW neck.

    Shapes: ``(N, 3, H, W)`` normalised crops -> ``(simcc_x (N, K, W * r), simcc_y (N, K, H * r))``, e.g.
    ``(N, 3, 256, 192) -> ((N, 17, 384), (N, 17, 512))``: raw logits, no softmax.
    """

    def __init__(
        self,
        deepen_factor: float = 0.67,
        widen_factor: float = 0.75,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (192, 256),
        head_type: str = "rtmcc",
        simcc_split_ratio: float = 2.0,
        expand_ratio: float = 0.5,
        channel_attention: bool = True,
        bn_eps: float = 1e-5,
        final_layer_kernel_size: int = 7,
        hidden_dims: int = 256,
        s: int = 128,
        expansion_factor: int = 2,
        neck_csp_blocks: int = 2,
    ) -> None:
        super().__init__()
        if head_type not in HEAD_TYPES:
            raise ValueError(f"head_type must be one of {HEAD_TYPES}, got {head_type!r}")
        width, height = (int(v) for v in input_size)
        if head_type == "rtmw" and (width % _STRIDE or height % _STRIDE):
            raise ValueError(f"RTMW needs an input size that is a multiple of {_STRIDE}, got {width}x{height}")
        self.input_size = (width, height)
        self.num_keypoints = int(num_keypoints)
        self.head_type = head_type
        self.simcc_split_ratio = float(simcc_split_ratio)
        map_size = (math.ceil(width / _STRIDE), math.ceil(height / _STRIDE))
        head_args: dict[str, Any] = dict(
            num_keypoints=self.num_keypoints, input_size=self.input_size, in_featuremap_size=map_size,
            simcc_split_ratio=simcc_split_ratio, final_layer_kernel_size=final_layer_kernel_size,
            hidden_dims=hidden_dims, s=s, expansion_factor=expansion_factor,
        )
        out_indices = (4,) if head_type == "rtmcc" else (2, 3, 4)
        self.backbone = CSPNeXt(deepen_factor, widen_factor, expand_ratio, out_indices, channel_attention, bn_eps)
        self.neck: CSPNeXtPAFPN | None
        self.head: RTMCCHead | RTMWHead
        if head_type == "rtmcc":
            self.neck = None
            self.head = RTMCCHead(self.backbone.out_channels[-1], **head_args)
        else:
            self.neck = CSPNeXtPAFPN(self.backbone.out_channels, neck_csp_blocks, expand_ratio, (1, 2), bn_eps)
            skip, deep = self.neck.out_channels
            self.head = RTMWHead(deep, skip_channels=skip, bn_eps=bn_eps, **head_args)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 3, H, W)`` -> ``(simcc_x (N, K, W * r), simcc_y (N, K, H * r))``."""
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        return self.head(feats)
