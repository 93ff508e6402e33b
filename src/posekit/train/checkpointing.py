"""Training checkpoints: model weights that ``create_model`` loads, plus everything to resume.

File layout (one ``torch.save`` dict, readable with ``weights_only=True``)::

    state_dict      plain model state_dict (no "module." prefix)  <- create_model(name, checkpoint=FILE)
    optimizer       optimizer.state_dict()
    scheduler       lr_scheduler.state_dict()
    epoch           epoch in progress (0-based)
    batch_in_epoch  batches of that epoch already trained (0: at its start)
    step            optimiser steps so far
    best_ap         best validation AP so far (-1 before any validation)
    rng             python / numpy / torch (/ cuda) generator states
    config          the TrainConfig as plain data
    model           {"name", "args", "spec" (PoseModelSpec JSON)}
    stats           last validation stats (or {})
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from posekit.spec import PoseModelSpec

__all__ = [
    "unwrap_model",
    "capture_rng_state",
    "restore_rng_state",
    "save_checkpoint",
    "load_checkpoint_file",
    "load_trained_model",
]

log = logging.getLogger(__name__)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper."""
    return getattr(model, "module", model)


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (and CUDA) RNG states as weights-only-safe data."""
    algo, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "algo": str(algo),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["algo"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint safely (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a posekit training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise ValueError(f"{path} is not a posekit training checkpoint (no 'state_dict' entry)")
    return dict(data)


def load_trained_model(path: str | os.PathLike[str]) -> tuple[nn.Module, "PoseModelSpec"]:
    """The network of a posekit training checkpoint (eval mode) and its pose contract.

    Uses the model name, constructor arguments and ``PoseModelSpec`` stored in
    the file, and :func:`posekit.models.create_model` to load the weights.
    ``posekit.export.export_onnx(model, "model.onnx", None, spec)`` then gives
    a file for ``posekit predict --pose-model``.
    """
    from posekit.models.registry import create_model
    from posekit.spec import PoseModelSpec

    info = load_checkpoint_file(path).get("model")
    if not isinstance(info, Mapping) or "name" not in info:
        raise ValueError(f"{path} does not record its model (not written by posekit train)")
    model = create_model(str(info["name"]), checkpoint=path, **dict(info.get("args", {})))
    return model, PoseModelSpec.from_json(str(info["spec"]))
