"""Parity-test helpers shared by the model tests (``import parity``; ``conftest.py`` puts it on the path).

A parity fixture is a folder of ``tests/data/fixtures`` holding

* ``manifest.json``: the official network's ``state_dict()`` as ordered ``(name, shape, dtype)`` entries,
* ``fixture.json``: facts about the fixture, among them the ``synth_gain`` of its weights and the sha256 of
  those weights and of the input,
* ``output.npy`` (``output_*.npy``): the official network's output, with the synthetic weights, on the
  fixture's input ``synth_input(input_shape, seed=0)``.

``synth`` arguments are :mod:`synth` (``tests/synth.py``, the ``synth`` fixture of ``conftest.py``), which
turns a manifest and a gain into those weights and regenerates the input, both checked against their sha256.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

__all__ = [
    "TOLERANCE",
    "fixture_input",
    "fixture_info",
    "manifest_layout",
    "state_layout",
    "synth_state",
    "torch_threads",
    "forward",
    "forward_single_thread",
    "rel_err",
    "assert_close_to",
    "assert_fixture_parity",
    "batch2",
    "ort_session",
]

#: parity bound: max|out - ref| <= TOLERANCE * max|ref|
TOLERANCE = 1e-4

Layout = list[tuple[str, tuple[int, ...]]]


def fixture_info(folder: Path) -> dict[str, Any]:
    """The fixture's ``fixture.json``."""
    return json.loads((folder / "fixture.json").read_text())


def manifest_layout(synth: ModuleType, folder: Path) -> Layout:
    """``(name, shape)`` of every entry of the fixture's manifest, in the official order."""
    return [(name, tuple(shape)) for name, shape, _ in synth.load_manifest(folder / "manifest.json")]


def state_layout(model: torch.nn.Module) -> Layout:
    """``(name, shape)`` of every entry of ``model.state_dict()``, in order (works on the meta device)."""
    return [(name, tuple(value.shape)) for name, value in model.state_dict().items()]


def synth_state(synth: ModuleType, folder: Path) -> dict[str, torch.Tensor]:
    """The fixture's synthetic weights: its manifest synthesised with its ``synth_gain`` (sha256 checked)."""
    return synth.fixture_state(folder)


def fixture_input(synth: ModuleType, folder: Path) -> np.ndarray:
    """The fixture's input, ``synth_input(input_shape, seed=0)`` (sha256 checked)."""
    return synth.fixture_input(folder)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the ``with`` block on ``count`` torch threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """``model(x)`` without autograd, as it is (call ``.eval()`` first); ``(N, 3, H, W)`` float32 in."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def forward_single_thread(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """:func:`forward` on one torch thread (the previous thread count is restored)."""
    with torch_threads(1):
        return forward(model, x)


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """``max|out - ref| / max|ref|``; the two arrays must have the same shape."""
    assert out.shape == ref.shape
    return float(np.abs(out - ref).max() / np.abs(ref).max())


def assert_close_to(out: np.ndarray, ref: np.ndarray, label: str = "") -> float:
    """Check ``max|out - ref| <= TOLERANCE * max|ref|`` (same shapes); returns the relative error."""
    err = rel_err(out, ref)
    assert err <= TOLERANCE, f"{label}{': ' if label else ''}max|Δ|/max|ref| = {err:.3g}"
    return err


def assert_fixture_parity(model: torch.nn.Module, folder: Path, synth: ModuleType, label: str = "") -> float:
    """Check ``model`` with the fixture's weights against its ``output.npy``; returns the relative error.

    Loads the synthetic weights strictly, runs the fixture's input in eval mode and applies :func:`assert_close_to`.
    """
    model.load_state_dict(synth_state(synth, folder), strict=True)
    out = forward(model.eval(), fixture_input(synth, folder))
    return assert_close_to(out, np.load(folder / "output.npy"), label)


def batch2(x: np.ndarray) -> np.ndarray:
    """A batch of 2 distinct inputs ``(2, 3, H, W)`` float32 from one ``(1, 3, H, W)`` array."""
    return np.concatenate([x, -0.5 * x[..., ::-1]], axis=0).astype(np.float32)


def ort_session(source: Path | bytes) -> Any:
    """A single-threaded ONNX Runtime CPU session of an ONNX file or its bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                providers=["CPUExecutionProvider"])
