"""Export posekit networks to ONNX: catalogue networks with their weights, and training checkpoints.

The exporter itself is :func:`posekit.models.onnx_export.export_onnx`; pose
networks carry their :class:`~posekit.spec.PoseModelSpec` as ONNX metadata
:data:`~posekit.spec.SPEC_METADATA_KEY`, so an exported file is
self-describing for ``posekit predict --pose-model FILE.onnx``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from posekit.models.onnx_export import export_onnx
from posekit.spec import SPEC_METADATA_KEY

__all__ = ["SPEC_METADATA_KEY", "export_onnx", "export_registered", "export_trained"]

logger = logging.getLogger(__name__)


def export_registered(
    name: str,
    checkpoint: str | Path | None,
    out_path: str | Path,
    opset: int = 17,
    dynamic_batch: bool = True,
    **kwargs: Any,
) -> Path:
    """Build a catalogue network (see :func:`posekit.models.create_model`), load weights, export it.

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
    spec = config.spec if config.task == "pose" else None
    metadata = {"posekit.model": name, "posekit.license": config.license}
    return export_onnx(model, out_path, input_size, spec, opset, dynamic_batch, metadata=metadata)


def export_trained(
    checkpoint: str | Path, out_path: str | Path, opset: int = 17, dynamic_batch: bool = True
) -> Path:
    """Export the network of a ``posekit train`` checkpoint with the spec stored in it."""
    from posekit.models.trained import load_trained_model, read_trained_checkpoint

    model, spec = load_trained_model(checkpoint)
    name = str(read_trained_checkpoint(checkpoint)["model"]["name"])
    metadata = {"posekit.model": name, "posekit.checkpoint": Path(checkpoint).name}
    return export_onnx(model, out_path, None, spec, opset, dynamic_batch, metadata=metadata)
