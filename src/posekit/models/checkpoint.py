"""Loading official checkpoints into posekit networks.

Accepted file layouts (all read with ``torch.load(..., weights_only=True)``,
so a checkpoint can never run code; numpy arrays and scalars are allowed besides
tensors, because MMPose / mmengine files keep ``meta["dataset_meta"]`` as numpy
arrays — :func:`_numpy_safe_globals`; this needs torch >= 2.5 and numpy >= 1.25, the
lower bounds ``pyproject.toml`` sets):

* a plain state_dict (HRNet / SimpleBaseline / AlphaPose releases);
* a training dict wrapping it under ``"state_dict"`` or ``"model"``
  (HRNet's resumable ``checkpoint.pth``);
* keys prefixed with ``"module."`` (saved from ``nn.DataParallel``);
* MMPose files (``{"state_dict": ..., "meta": ...}``, keys under ``backbone.`` / ``neck.`` / ``head.``, or
  ``keypoint_head.`` before MMPose 1.0): ``data_preprocessor.mean`` / ``.std`` (older 1.x files) are
  dropped and ``keypoint_head.`` becomes ``head.``, as MMPose's own loader does; for a network with the
  official un-prefixed names (HRNet) ``backbone.`` and ``head.`` are stripped (:func:`convert_mmpose_state`).

Missing ``*.num_batches_tracked`` entries (files saved by PyTorch 0.4.0, e.g.
AlphaPose ``duc_se.pth``) are filled with zeros; they do not affect inference.
Anything else that does not match (missing / unexpected keys, shape
mismatches) raises :class:`CheckpointError` naming the file and the first
offending keys.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
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
    "convert_mmpose_state",
    "read_model_state",
    "load_checkpoint",
]

logger = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict", "model")
_PREFIXES = ("module.",)
_SHOW = 5  # offending keys listed per category in error messages
#: top-level parts of an MMPose model's state_dict (``keypoint_head``: MMPose 0.x)
_MMPOSE_PARTS = ("backbone.", "neck.", "head.", "keypoint_head.")
#: buffers of MMPose's data preprocessor found in older 1.x files; MMPose drops them on load
_MMPOSE_DROPPED = ("data_preprocessor.mean", "data_preprocessor.std")


@functools.cache
def _numpy_safe_globals() -> tuple:
    """What unpickling plain numpy arrays, dtypes and scalars needs, under numpy 2's and numpy 1's module names
    (files written with numpy 1 name ``numpy.core.multiarray``), for ``torch.serialization.safe_globals``.
    Object arrays still need other globals, which stay forbidden, so nothing here can run code. Built once, on
    first use (``numpy.dtypes``: numpy >= 1.25)."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    allowed: list = [np.ndarray, np.dtype]
    for name in ("_reconstruct", "scalar"):
        obj = getattr(multiarray, name)
        allowed += [(obj, f"numpy._core.multiarray.{name}"), (obj, f"numpy.core.multiarray.{name}")]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return tuple(allowed)


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
        with torch.serialization.safe_globals(list(_numpy_safe_globals())):  # torch >= 2.5
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from exc
    return extract_state_dict(obj, source=str(path))


def convert_mmpose_state(
    state: Mapping[str, torch.Tensor], model_keys: Iterable[str]
) -> "tuple[OrderedDict[str, torch.Tensor], str | None]":
    """Map an MMPose checkpoint's keys onto a model's, recognised from the keys alone.

    A state is in the MMPose layout when, apart from ``data_preprocessor.mean`` / ``.std``, every key lies
    under ``backbone.``, ``neck.``, ``head.`` or ``keypoint_head.``. Then the two ``data_preprocessor``
    buffers are dropped (unless the model has them) and every key the model does not have is renamed:
    ``keypoint_head.`` (MMPose 0.x) becomes ``head.``, and if the model uses un-prefixed names (no key under
    ``backbone.``/``neck.``/``head.``, e.g. HRNet's official layout) ``backbone.`` and ``head.`` are removed.
    The order of the entries is kept; any other state is returned unchanged. Whatever still does not fit
    is left for the strict check of :func:`load_checkpoint`.

    Returns:
        ``(state, layout)``: the converted state and ``"MMPose 0.x"`` / ``"MMPose 1.x"``, or ``None`` when
        nothing was changed.
    """
    wanted = set(model_keys)
    dropped = [k for k in state if k in _MMPOSE_DROPPED and k not in wanted]
    rest = [k for k in state if k not in dropped]
    if not rest or not all(k.startswith(_MMPOSE_PARTS) for k in rest):
        return OrderedDict(state), None
    legacy = any(k.startswith("keypoint_head.") for k in rest)
    keep_prefixes = any(k.startswith(_MMPOSE_PARTS) for k in wanted)
    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key in rest:
        new = key
        if key not in wanted:
            if new.startswith("keypoint_head."):
                new = "head." + new[len("keypoint_head."):]
            if not keep_prefixes:
                for prefix in ("backbone.", "head."):
                    if new.startswith(prefix):
                        new = new[len(prefix):]
                        break
        if new in converted:
            raise CheckpointError(f"MMPose checkpoint: two entries map to {new!r} (one of them is {key!r})")
        converted[new] = state[key]
    if not dropped and list(converted) == rest:
        return converted, None
    return converted, "MMPose 0.x" if legacy else "MMPose 1.x"


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


def read_model_state(
    model: nn.Module,
    checkpoint: str | Path | Mapping[str, torch.Tensor],
    sha256: str | None = None,
) -> "tuple[OrderedDict[str, torch.Tensor], str]":
    """The state_dict of ``checkpoint`` (a file path or a state_dict) under ``model``'s key names.

    Reads the file safely (:func:`read_state_dict`) or unwraps the dict (:func:`extract_state_dict`) and
    converts an MMPose layout (:func:`convert_mmpose_state`); nothing is checked against the model's keys or
    shapes. :func:`load_checkpoint` and training's partial initialisation
    (:func:`posekit.train.modeling.load_partial_weights`) both read checkpoints through here.

    Returns:
        ``(state, source)``: the state and a label for messages (the file name, with the converted layout).
    """
    if isinstance(checkpoint, Mapping):
        source = "state_dict"
        state = extract_state_dict(checkpoint, source)
    else:
        source = str(checkpoint)
        state = read_state_dict(checkpoint, sha256=sha256)
    state, layout = convert_mmpose_state(state, model.state_dict().keys())
    if layout is not None:
        logger.debug("%s: converted the %s layout (%d entries)", source, layout, len(state))
        source = f"{source} ({layout} layout)"
    return state, source


def load_checkpoint(
    model: nn.Module,
    checkpoint: str | Path | Mapping[str, torch.Tensor],
    sha256: str | None = None,
) -> nn.Module:
    """Load ``checkpoint`` (a file path or a state_dict) into ``model`` strictly (:func:`read_model_state`).

    Returns ``model`` (in place). Raises :class:`CheckpointError` with the file
    name and the first missing / unexpected keys and shape mismatches.
    """
    state, source = read_model_state(model, checkpoint, sha256)
    state = _match(model, state, source)
    model.load_state_dict(state, strict=True)
    logger.info("loaded %d tensors from %s into %s", len(state), source, type(model).__name__)
    return model
