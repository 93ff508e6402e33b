"""Run a PyTorch pose network behind the same interface as :class:`~posekit.pose.onnx_model.OnnxPoseModel`.

``TorchPoseModel(module, spec).run(x)`` takes inputs already prepared by
``spec.preprocess`` and returns the raw outputs as float32 numpy: heatmaps
``(N, C, h, w)`` (all ``C`` output channels; the pipeline keeps
``spec.num_keypoints``), or for SimCC networks (which return ``(simcc_x,
simcc_y)``) the two vectors packed as ``(N, K, W r + H r)``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

from posekit.runtime import Device, half_precision, torch_device
from posekit.spec import PoseModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["TorchPoseModel", "pack_outputs"]


def pack_outputs(output):
    """A network's output as one tensor: heatmaps as they are, SimCC's ``(simcc_x, simcc_y)`` concatenated along
    the bins, ``(N, K, W r + H r)`` (the layout of :class:`posekit.codec.SimCCCodec`)."""
    import torch

    if isinstance(output, (tuple, list)):
        return torch.cat(list(output), dim=-1)
    return output


class TorchPoseModel:
    """A pose network in PyTorch (eval mode, no autograd), on the CPU or a CUDA GPU.

    Args:
        module: the network, ``(N, 3, H, W) -> (N, C, H/4, W/4)``, or ``-> (simcc_x, simcc_y)`` for
            ``spec.output == "simcc"``.
        spec: its input/output contract.
        num_threads: torch intra-op threads while running (``None``: leave as is).
        device: ``None``/``"cpu"``, ``"cuda[:N]"`` or ``"auto"`` (CUDA when this torch has it;
            :func:`posekit.runtime.torch_device`). The module is moved there; inputs go there per call.
        half: run under ``torch.autocast`` in float16 (CUDA only; outputs come back float32).
    """

    def __init__(self, module: "nn.Module", spec: PoseModelSpec, num_threads: int | None = None, *,
                 device: "str | Device | None" = None, half: bool = False) -> None:
        if spec.output not in ("heatmaps", "simcc"):
            raise ValueError(f"TorchPoseModel runs heatmap and SimCC networks, spec.output is {spec.output!r}")
        #: torch's name of the device the network runs on (``"cpu"``, ``"cuda:0"``).
        self.torch_device = torch_device(device)
        #: The same as a :class:`posekit.runtime.Device`.
        self.device = Device.parse(self.torch_device)
        #: Run under float16 autocast (``half`` on CUDA; :func:`posekit.runtime.half_precision`).
        self.half = half_precision(half, self.device, device, needs="runs PyTorch networks on CUDA only")
        self.module = module.eval() if self.torch_device == "cpu" else module.eval().to(self.torch_device)
        self.spec = spec
        self.num_threads = num_threads
        self.name = type(module).__name__

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Preprocessed crops ``(N, 3, H, W)`` float32 -> heatmaps ``(N, C, H/4, W/4)`` or packed SimCC vectors
        ``(N, K, W r + H r)``, float32."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        if self.spec.layout == "NHWC":
            x = x.permute(0, 3, 1, 2).contiguous()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        if self.torch_device != "cpu":
            x = x.to(self.torch_device, non_blocking=True)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.half else contextlib.nullcontext()
        try:
            with torch.no_grad(), autocast:
                out = self.module(x)
        finally:
            if self.num_threads:
                torch.set_num_threads(previous)
        return pack_outputs(out).detach().float().cpu().numpy().astype(np.float32, copy=False)
