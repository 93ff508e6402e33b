"""SimpleBaseline (Xiao et al. 2018, ``pose_resnet``): ResNet + deconvolution head.

State-dict compatible with the official ``pose_resnet_{50,101,152}_*.pth``
checkpoints: backbone keys at the top level (``conv1``, ``bn1``, ``layer1..4``),
``deconv_layers`` as one flat Sequential (ConvTranspose2d / BN / ReLU at
indices 0-2, 3-5, 6-8), then ``final_layer`` (1x1 conv with bias).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import BN_MOMENTUM
from .resnet import ResNet

__all__ = ["PoseResNet", "deconv_padding"]


def deconv_padding(kernel: int) -> tuple[int, int]:
    """``(padding, output_padding)`` that make a stride-2 deconv exactly double the size."""
    if kernel == 4:
        return 1, 0
    if kernel == 3:
        return 1, 1
    if kernel == 2:
        return 0, 0
    raise ValueError(f"deconv kernel must be 2, 3 or 4, got {kernel}")


class PoseResNet(ResNet):
    """ResNet backbone + ``len(deconv_filters)`` stride-2 deconvs + 1x1 head.

    Args:
        depth: ResNet depth (18, 34, 50, 101, 152).
        num_joints: output heatmap channels.
        deconv_filters: output channels of each deconv layer.
        deconv_kernels: kernel size of each deconv layer (2, 3 or 4).
        deconv_with_bias: bias on the deconvs (False in the released models).
        final_conv_kernel: kernel of ``final_layer`` (1 or 3).

    Shapes: ``(N, 3, H, W) -> (N, num_joints, H/4, W/4)`` with three deconvs,
    e.g. ``(N, 3, 256, 192) -> (N, 17, 64, 48)``.
    """

    def __init__(
        self,
        depth: int = 50,
        num_joints: int = 17,
        deconv_filters: Sequence[int] = (256, 256, 256),
        deconv_kernels: Sequence[int] = (4, 4, 4),
        deconv_with_bias: bool = False,
        final_conv_kernel: int = 1,
    ) -> None:
        super().__init__(depth)
        if len(deconv_filters) != len(deconv_kernels) or not deconv_filters:
            raise ValueError("deconv_filters and deconv_kernels must be non-empty and of equal length")
        layers: list[nn.Module] = []
        in_ch = self.out_channels
        for filters, kernel in zip(deconv_filters, deconv_kernels):
            padding, output_padding = deconv_padding(kernel)
            layers += [
                nn.ConvTranspose2d(
                    in_ch,
                    filters,
                    kernel_size=kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=deconv_with_bias,
                ),
                nn.BatchNorm2d(filters, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            in_ch = filters
        self.deconv_layers = nn.Sequential(*layers)
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        self.final_layer = nn.Conv2d(
            in_ch, num_joints, kernel_size=final_conv_kernel, stride=1, padding=final_conv_kernel // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised crops -> ``(N, num_joints, H/4, W/4)`` heatmaps."""
        features = super().forward(x)
        return self.final_layer(self.deconv_layers(features))
