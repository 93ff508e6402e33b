"""Export PyTorch networks to ONNX: the one exporter of posekit.

Pose networks get their :class:`~posekit.spec.PoseModelSpec` stored as ONNX
metadata :data:`~posekit.spec.SPEC_METADATA_KEY` (JSON), which
:class:`~posekit.pose.onnx_model.OnnxPoseModel` reads back, so an exported file
is self-describing. Uses the TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``), which needs only ``onnx``.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posekit.io import atomic_write_bytes
from posekit.spec import SPEC_METADATA_KEY, PoseModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["onnx_bytes", "export_onnx"]

logger = logging.getLogger(__name__)


def onnx_bytes(
    model: "nn.Module",
    input_size: tuple[int, int],
    spec: PoseModelSpec | None = None,
    opset: int = 17,
    dynamic_batch: bool = True,
    *,
    input_name: str = "input",
    output_name: str | None = None,
    output_names: str | Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise ``model`` as an ONNX model.

    Args:
        model: network taking ``(N, 3, H, W)`` float32 and returning a tensor or,
            with ``output_names``, a tuple of tensors (exported in ``eval()``
            mode; its training flag is restored afterwards).
        input_size: ``(width, height)`` of the traced input.
        spec: pose contract to store as ``posekit.spec`` metadata (``None`` for detectors).
        opset: ONNX opset version.
        dynamic_batch: make the batch axis symbolic (``N``); otherwise batch 1 is fixed.
        input_name: graph input name.
        output_name: one graph output name: the same as ``output_names=output_name`` (kept for callers
            that name one output).
        output_names: the graph outputs' names, one per output of the network (a ``str`` for one).
            Default: ``"heatmaps"`` with a spec, else ``"output"``; a SimCC spec defaults to the
            official RTMPose contract, ``("simcc_x", "simcc_y")``. Give this or ``output_name``, not both.
        metadata: extra string metadata entries.
    """
    import onnx
    import torch

    if spec is not None and tuple(spec.input_size) != tuple(input_size):
        raise ValueError(f"input_size {tuple(input_size)} differs from spec.input_size {spec.input_size}")
    width, height = (int(v) for v in input_size)
    if output_name is not None and output_names is not None:
        raise ValueError("give output_name or output_names, not both")
    outputs = _output_names(output_names if output_names is not None else output_name or None, spec)
    dynamic_axes = {name: {0: "N"} for name in (input_name, *outputs)} if dynamic_batch else None

    was_training = model.training
    model.eval()
    dummy = torch.zeros(1, 3, height, width, dtype=torch.float32)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript);
            # tracing warns about static shapes.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model, (dummy,), buffer, dynamo=False, opset_version=int(opset), input_names=[input_name],
                output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True,
            )
    finally:
        model.train(was_training)

    proto = onnx.load_model_from_string(buffer.getvalue())
    if len(proto.graph.output) != len(outputs):
        raise ValueError(f"the network has {len(proto.graph.output)} outputs, {len(outputs)} names given: {outputs}")
    entries = dict(metadata or {})
    if spec is not None:
        entries[SPEC_METADATA_KEY] = spec.to_json()
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = str(key), str(value)
    proto.producer_name = "posekit"
    logger.info("exported %s (%dx%d, opset %d) to ONNX", type(model).__name__, width, height, opset)
    return proto.SerializeToString()


def _output_names(names: str | Sequence[str] | None, spec: PoseModelSpec | None) -> list[str]:
    """The graph output names: ``names`` (one ``str`` or several, distinct), else the spec's default."""
    if names is None:
        if spec is not None and spec.output == "simcc":
            return ["simcc_x", "simcc_y"]
        return ["heatmaps" if spec is not None else "output"]
    outputs = [names] if isinstance(names, str) else [str(name) for name in names]
    if not outputs or len(set(outputs)) != len(outputs):
        raise ValueError(f"output_names must be distinct and non-empty, got {names}")
    return outputs


def export_onnx(
    model: "nn.Module",
    out_path: str | Path,
    input_size: tuple[int, int] | None = None,
    spec: PoseModelSpec | None = None,
    *args: Any,
    **kwargs: Any,
) -> Path:
    """Write ``model`` as an ONNX file (atomically); ``input_size=None`` takes ``spec.input_size``.

    The other arguments are those of :func:`onnx_bytes`. Returns the written path.
    """
    if input_size is None:
        if spec is None:
            raise ValueError("give input_size or a spec")
        input_size = spec.input_size
    data = onnx_bytes(model, input_size, spec, *args, **kwargs)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_path, data)
    return out_path
