"""Loading official checkpoints into posekit networks.

Accepted file layouts (all read with ``torch.load(..., weights_only=True)``,
so a checkpoint can never run code):

* a plain state_dict (HRNet / SimpleBaseline / AlphaPose releases);
* a training dict wrapping it under ``"state_dict"`` or ``"model"``
  (HRNet's resumable ``checkpoint.pth``);
* keys prefixed with ``"module."`` (saved from ``nn.DataParallel``).

Missing ``*.num_batches_tracked`` entries (files saved by PyTorch 0.4.0, e.g.
AlphaPose ``duc_se.pth``) are filled with zeros; they do not affect inference.
Anything else that does not match (missing / unexpected keys, shape
mismatches) raises :class:`CheckpointError` naming the file and the first
offending keys.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from posekit.io import sha256_file  # re-exported: the one sha256 helper lives in posekit.io

__all__ = [
    "CheckpointError",
    "sha256_file",
    "verify_sha256",
    "extract_state_dict",
    "read_state_dict",
    "load_checkpoint",
]

logger = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict", "model")
_PREFIXES = ("module.",)
_SHOW = 5  # offending keys listed per category in error messages


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not fit the model."""


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise :class:`CheckpointError` if ``path`` does not hash to ``expected``."""
    actual = sha256_file(path)
    if actual.lower() != expected.strip().lower():
        raise CheckpointError(f"{path}: sha256 mismatch: expected {expected}, got {actual}")


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def extract_state_dict(obj: object, source: str = "checkpoint") -> "OrderedDict[str, torch.Tensor]":
    """The tensor state_dict inside a loaded checkpoint object.

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` and strips a
    ``"module."`` prefix shared by all keys.
    """
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        for key in _WRAPPER_KEYS:
            if key in obj and _is_tensor_dict(obj[key]):
                logger.debug("%s: using the %r entry of the checkpoint dict", source, key)
                obj = obj[key]
                break
    if not _is_tensor_dict(obj):
        keys = list(obj.keys())[:_SHOW] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{source}: no state_dict found (expected a name->tensor dict, optionally under "
            f"{' or '.join(repr(k) for k in _WRAPPER_KEYS)}); got {keys}"
        )
    state = OrderedDict(obj)  # type: ignore[arg-type]
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = OrderedDict((k[len(prefix):], v) for k, v in state.items())
    return state


def read_state_dict(path: str | Path, sha256: str | None = None) -> "OrderedDict[str, torch.Tensor]":
    """Read a checkpoint file safely (``weights_only=True``) and return its state_dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if sha256:
        verify_sha256(path, sha256)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from exc
    return extract_state_dict(obj, source=str(path))


def _list(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOW else "")


def _match(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> "OrderedDict[str, torch.Tensor]":
    """Check ``state`` against ``model`` and fill missing BN counters; raise on mismatch."""
    expected = model.state_dict()
    filled = OrderedDict(state)
    missing = [k for k in expected if k not in state]
    counters = [k for k in missing if k.endswith("num_batches_tracked")]
    for key in counters:
        filled[key] = torch.zeros_like(expected[key])
    if counters:
        logger.debug("%s: filled %d missing num_batches_tracked entries", source, len(counters))
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = [f"{source} does not fit {type(model).__name__} ({len(state)} checkpoint vs {len(expected)} model entries)"]
        if missing:
            parts.append(f"missing keys: {_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_list(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches: {_list(mismatched)}")
        raise CheckpointError("; ".join(parts))
    return filled


def load_checkpoint(
    model: nn.Module,
    checkpoint: str | Path | Mapping[str, torch.Tensor],
    sha256: str | None = None,
) -> nn.Module:
    """Load ``checkpoint`` (a file path or a state_dict) into ``model`` strictly.

    Returns ``model`` (in place). Raises :class:`CheckpointError` with the file
    name and the first missing / unexpected keys and shape mismatches.
    """
    if isinstance(checkpoint, Mapping):
        source = "state_dict"
        state = extract_state_dict(checkpoint, source)
    else:
        source = str(checkpoint)
        state = read_state_dict(checkpoint, sha256=sha256)
    state = _match(model, state, source)
    model.load_state_dict(state, strict=True)
    logger.info("loaded %d tensors from %s into %s", len(state), source, type(model).__name__)
    return model
