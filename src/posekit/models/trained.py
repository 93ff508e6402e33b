"""Networks trained by ``posekit train``: a checkpoint that carries its own model name and spec.

A training checkpoint (see :mod:`posekit.train.checkpointing`) stores
``model = {"name", "args", "spec"}`` next to the ``state_dict``, so it is a
complete model: ``posekit predict --pose-model run/best.pth`` and
``posekit export run/best.pth`` use it directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posekit.spec import PoseModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["TRAINED_SUFFIXES", "read_trained_checkpoint", "load_trained_model"]

#: File suffixes treated as posekit training checkpoints.
TRAINED_SUFFIXES = (".pth", ".pt")


def read_trained_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole checkpoint dict, read safely (``torch.load(..., weights_only=True)``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a posekit training checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a damaged or foreign file
        raise ValueError(f"{path} cannot be read as a PyTorch checkpoint: {type(exc).__name__}: {exc}") from exc
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise ValueError(f"{path} is not a posekit training checkpoint (no 'state_dict' entry)")
    return dict(data)


def load_trained_model(path: str | os.PathLike[str]) -> tuple["nn.Module", PoseModelSpec]:
    """The network of a posekit training checkpoint (eval mode) and its pose contract.

    Uses the model name, constructor arguments and ``PoseModelSpec`` stored in
    the file, and :func:`posekit.models.create_model` to load the weights.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_trained_checkpoint`; also
            when the file does not record its model.
    """
    from .registry import create_model

    data = read_trained_checkpoint(path)
    info = data.get("model")
    if not isinstance(info, Mapping) or "name" not in info or "spec" not in info:
        raise ValueError(f"{path} does not record its model (not written by posekit train)")
    model = create_model(str(info["name"]), checkpoint=data["state_dict"], **dict(info.get("args", {})))
    return model, PoseModelSpec.from_json(str(info["spec"]))
