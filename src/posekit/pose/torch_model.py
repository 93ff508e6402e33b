"""Run a PyTorch pose network behind the same interface as :class:`~posekit.pose.onnx_model.OnnxPoseModel`.

``TorchPoseModel(module, spec).run(x)`` takes inputs already prepared by
``spec.preprocess`` and returns the raw heatmaps ``(N, C, h, w)`` as float32
numpy (all ``C`` output channels; the pipeline keeps ``spec.num_keypoints``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from posekit.spec import PoseModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["TorchPoseModel"]

log = logging.getLogger(__name__)


class TorchPoseModel:
    """A pose network in PyTorch (CPU, eval mode, no autograd).

    Args:
        module: the network, ``(N, 3, H, W) -> (N, C, H/4, W/4)``.
        spec: its input/output contract.
        num_threads: torch intra-op threads while running (``None``: leave as is).
    """

    def __init__(self, module: "nn.Module", spec: PoseModelSpec, num_threads: int | None = None) -> None:
        if spec.output != "heatmaps":
            raise ValueError(f"TorchPoseModel runs heatmap networks, spec.output is {spec.output!r}")
        self.module = module.eval()
        self.spec = spec
        self.num_threads = num_threads
        self.name = type(module).__name__

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Preprocessed crops ``(N, 3, H, W)`` float32 -> heatmaps ``(N, C, H/4, W/4)`` float32."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        if self.spec.layout == "NHWC":
            x = x.permute(0, 3, 1, 2).contiguous()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        try:
            with torch.no_grad():
                out = self.module(x)
        finally:
            if self.num_threads:
                torch.set_num_threads(previous)
        return out.detach().cpu().numpy().astype(np.float32, copy=False)
