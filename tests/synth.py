"""Synthetic weights and inputs of the parity fixtures (``tests/data/fixtures``), bit for bit.

The rule is specified in ``tests/data/fixtures/README-shared.md`` ("Weight rule"); this is our own
implementation of it, checked against the ``synth_state_dict_sha256`` / ``input_sha256`` that each
``fixture.json`` records (:func:`check_state` / :func:`check_input`). Every manifest entry is drawn
on its own: ``g = torch.Generator().manual_seed(crc32(name))``, ``u = torch.rand(shape, generator=g)``
(float32; ``torch.rand`` gives the same bits on every CPU, unlike ``randn``), ``z = 2u - 1``, then

* integer tensors: zeros;
* ``*running_var``: ``0.5 + u``;  ``*running_mean``: ``z * 0.1 * sqrt(3)``;
* tensors of two or more dimensions: ``z * sqrt(3 * gain / fan_in)``, ``fan_in = prod(shape[1:])``;
* other tensors whose last name part is ``weight``: ``1 + z * 0.1 * sqrt(3)``; the rest ``z * 0.1 * sqrt(3)``.

Inputs: ``synth_input(shape, seed) = (2 * rand(shape, Generator().manual_seed(seed)) - 1) * sqrt(3)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Manifest",
    "load_manifest",
    "synth_tensor",
    "synth_state_dict",
    "synth_input",
    "state_sha256",
    "array_sha256",
    "check_state",
    "check_input",
    "fixture_state",
    "fixture_input",
    "write_darknet_weights",
]

Manifest = list[tuple[str, tuple[int, ...], str]]

_SQRT3 = math.sqrt(3.0)


def load_manifest(path: Path) -> Manifest:
    """``manifest.json``: ``[[name, shape, dtype], ...]`` in the official ``state_dict`` order."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(str(name), tuple(int(s) for s in shape), str(dtype)) for name, shape, dtype in raw]


def _uniform(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(shape, generator=generator, dtype=torch.float32)


def synth_tensor(name: str, shape: tuple[int, ...], dtype: str = "float32", gain: float = 2.0) -> torch.Tensor:
    """The synthetic value of one ``state_dict`` entry (module docstring)."""
    torch_dtype = getattr(torch, dtype.removeprefix("torch."))
    if not torch_dtype.is_floating_point:
        return torch.zeros(shape, dtype=torch_dtype)
    u = _uniform(shape, zlib.crc32(name.encode("utf-8")))
    if name.endswith("running_var"):
        return (0.5 + u).to(torch_dtype)
    z = 2.0 * u - 1.0
    if name.endswith("running_mean"):
        value = z * (0.1 * _SQRT3)
    elif len(shape) >= 2:
        value = z * math.sqrt(3.0 * float(gain) / math.prod(shape[1:]))
    elif name.rsplit(".", 1)[-1] == "weight":
        value = 1.0 + z * (0.1 * _SQRT3)
    else:
        value = z * (0.1 * _SQRT3)
    return value.to(torch_dtype)


def synth_state_dict(manifest: Manifest, gain: float = 2.0) -> "OrderedDict[str, torch.Tensor]":
    """``name -> tensor`` for every manifest entry, in manifest order."""
    return OrderedDict((name, synth_tensor(name, shape, dtype, gain)) for name, shape, dtype in manifest)


def synth_input(shape: tuple[int, ...] | list[int], seed: int = 0) -> np.ndarray:
    """The fixtures' ``input.npy``: zero-mean, unit-variance float32 of ``shape``."""
    return ((2.0 * _uniform(tuple(int(s) for s in shape), seed) - 1.0) * _SQRT3).numpy()


def state_sha256(state: "OrderedDict[str, torch.Tensor]") -> str:
    """sha256 over ``name.encode()`` then the tensor's raw little-endian C-order bytes, entry by entry."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode("utf-8"))
        digest.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).tobytes())
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """sha256 of an array's raw bytes (what ``fixture.json`` records for inputs and outputs)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _info(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "fixture.json").read_text())


def check_state(folder: Path, state: "OrderedDict[str, torch.Tensor]") -> None:
    """Assert that ``state`` is the fixture's recorded synthetic weights (its sha256)."""
    expected = _info(folder)["synth_state_dict_sha256"]
    actual = state_sha256(state)
    assert actual == expected, f"{Path(folder).name}: synthetic weights sha256 {actual} != {expected}"


def check_input(folder: Path, array: np.ndarray) -> None:
    """Assert that ``array`` is the fixture's recorded ``input.npy`` (its sha256)."""
    expected = _info(folder)["input_sha256"]
    actual = array_sha256(array)
    assert actual == expected, f"{Path(folder).name}: input sha256 {actual} != {expected}"


def fixture_state(folder: Path) -> "OrderedDict[str, torch.Tensor]":
    """The fixture's synthetic weights (manifest + ``synth_gain``), checked against their sha256."""
    state = synth_state_dict(load_manifest(Path(folder) / "manifest.json"), gain=_info(folder)["synth_gain"])
    check_state(folder, state)
    return state


def fixture_input(folder: Path) -> np.ndarray:
    """The fixture's ``input.npy`` (``synth_input(input_shape, seed=0)``), checked against its sha256."""
    array = synth_input(_info(folder)["input_shape"], seed=0)
    check_input(folder, array)
    return array


def write_darknet_weights(state: "OrderedDict[str, torch.Tensor]", layout: dict[str, Any], path: Path) -> None:
    """A darknet ``.weights`` file: the int32 header of ``layout``, then per layer the tensors named in its
    ``read_order`` as little-endian float32 (``weights_layout.json`` of the YOLOv3 fixture)."""
    with open(path, "wb") as f:
        f.write(np.asarray(layout["header_int32"], dtype="<i4").tobytes())
        for layer in layout["layers"]:
            for name in layer["read_order"]:
                f.write(state[name].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
