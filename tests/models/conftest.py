"""Fixtures of the model tests.

The plain helpers live in ``parity.py`` beside this file; this folder goes on ``sys.path`` so
test modules can ``import parity`` (and pytest rewrites its asserts). Nothing here imports
torch at collection time, so the tests that need no torch still run without it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import torch

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
pytest.register_assert_rewrite("parity")


@pytest.fixture(scope="session")
def synth() -> ModuleType:
    """``tests/synth.py``: the fixtures' synthetic weights and inputs from their manifests (needs torch)."""
    pytest.importorskip("torch")
    import synth

    return synth


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread for a whole test module (``pytestmark = pytest.mark.usefixtures("single_thread")``)."""
    import parity

    with parity.torch_threads(1):
        yield


# ------------------------------------------------------------------ YOLOv3-SPP fixture (darknet, yolov3)


@pytest.fixture(scope="module")
def yolo_dir(fixtures_dir: Path) -> Path:
    """``tests/data/fixtures/yolov3_spp_320``: official AlphaPose ``Darknet``, synthetic weights, input 320."""
    return fixtures_dir / "yolov3_spp_320"


@pytest.fixture(scope="module")
def yolo_info(yolo_dir: Path) -> dict[str, Any]:
    """The YOLOv3-SPP fixture's ``fixture.json``."""
    import parity

    return parity.fixture_info(yolo_dir)


@pytest.fixture(scope="module")
def yolo_state(synth: ModuleType, yolo_dir: Path) -> dict[str, torch.Tensor]:
    """The YOLOv3-SPP synthetic state_dict (``synth_gain`` 0.5), in manifest order."""
    import parity

    return parity.synth_state(synth, yolo_dir)
