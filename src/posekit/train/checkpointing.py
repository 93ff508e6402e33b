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

from posekit.io import atomic_open

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
    """Write ``payload`` atomically (:func:`posekit.io.atomic_open`: temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        torch.save(dict(payload), f)
    return path


def load_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint safely (``weights_only=True``); see
    :func:`posekit.models.trained.read_trained_checkpoint`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a posekit training checkpoint.
    """
    from posekit.models.trained import read_trained_checkpoint

    return read_trained_checkpoint(path)


def load_trained_model(path: str | os.PathLike[str]) -> tuple[nn.Module, "PoseModelSpec"]:
    """The network of a posekit training checkpoint (eval mode) and its pose contract.

    See :func:`posekit.models.trained.load_trained_model`; the checkpoint also
    works directly as ``posekit predict --pose-model FILE`` and ``posekit export FILE``.
    """
    from posekit.models.trained import load_trained_model as load

    return load(path)
