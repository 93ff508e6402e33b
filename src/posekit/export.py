"""Export posekit networks to ONNX.

Pose networks get their :class:`~posekit.spec.PoseModelSpec` stored as
ONNX metadata ``posekit.spec`` (JSON), which
:class:`~posekit.pose.onnx_model.OnnxPoseModel` reads back, so an exported
file is self-describing. Uses the TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``), which needs only ``onnx``.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posekit.spec import PoseModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["SPEC_METADATA_KEY", "export_onnx", "export_registered"]

logger = logging.getLogger(__name__)

#: ONNX metadata key holding ``PoseModelSpec.to_json()``.
SPEC_METADATA_KEY = "posekit.spec"


def export_onnx(
    model: "nn.Module",
    out_path: str | Path,
    input_size: tuple[int, int] | None,
    spec: PoseModelSpec | None = None,
    opset: int = 17,
    dynamic_batch: bool = True,
    *,
    input_name: str = "input",
    output_name: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``model`` as an ONNX file.

    Args:
        model: network taking ``(N, 3, H, W)`` float32 (put in ``eval()`` here).
        out_path: destination ``.onnx``.
        input_size: ``(width, height)``; ``None`` takes ``spec.input_size``.
        spec: pose contract to store as ``posekit.spec`` metadata (``None`` for detectors).
        opset: ONNX opset version.
        dynamic_batch: make the batch axis symbolic (``N``); otherwise batch 1 is fixed.
        input_name: graph input name.
        output_name: graph output name (default ``"heatmaps"`` with a spec, else ``"output"``).
        metadata: extra string metadata entries.

    Returns:
        The written path.
    """
    import onnx
    import torch

    if input_size is None:
        if spec is None:
            raise ValueError("give input_size or a spec")
        input_size = spec.input_size
    if spec is not None and tuple(spec.input_size) != tuple(input_size):
        raise ValueError(f"input_size {tuple(input_size)} differs from spec.input_size {spec.input_size}")
    width, height = (int(v) for v in input_size)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    output_name = output_name or ("heatmaps" if spec is not None else "output")
    dynamic_axes = {input_name: {0: "N"}, output_name: {0: "N"}} if dynamic_batch else None

    model.eval()
    dummy = torch.zeros(1, 3, height, width, dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=int(opset),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )

    proto = onnx.load_model_from_string(buffer.getvalue())
    del buffer
    entries = dict(metadata or {})
    if spec is not None:
        entries[SPEC_METADATA_KEY] = spec.to_json()
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = str(key), str(value)
    proto.producer_name = "posekit"
    onnx.save(proto, str(out_path))
    logger.info("exported %s (%dx%d, opset %d) to %s", type(model).__name__, width, height, opset, out_path)
    return out_path


def export_registered(
    name: str,
    checkpoint: str | Path | None,
    out_path: str | Path,
    opset: int = 17,
    dynamic_batch: bool = True,
    **kwargs: Any,
) -> Path:
    """Build a registered network (see :func:`posekit.models.create_model`), load weights, export it.

    ``kwargs`` are constructor overrides. The file carries ``posekit.spec``
    (pose networks), ``posekit.model`` and ``posekit.license`` metadata.
    A detector's square size can be changed with ``input_size=S``.
    """
    from posekit.models.registry import create_model, get_pretrained_config

    config = get_pretrained_config(name)
    if checkpoint is None:
        logger.warning("exporting %s with random weights (no checkpoint given)", name)
    model = create_model(name, checkpoint=checkpoint, **kwargs)
    input_size = config.input_size
    if config.task == "detection" and "input_size" in kwargs:
        input_size = (int(kwargs["input_size"]), int(kwargs["input_size"]))
    metadata = {"posekit.model": name, "posekit.license": config.license}
    return export_onnx(model, out_path, input_size, config.spec, opset, dynamic_batch, metadata=metadata)
