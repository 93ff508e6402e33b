"""Shared test fixtures.

``../shared`` (beside the checkout) holds the models, data and parity fixtures the
project cannot download. ``POSEKIT_SHARED`` overrides its location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    return Path(os.environ.get("POSEKIT_SHARED", REPO.parent / "shared")).resolve()


# The suite's models folder is the shared one, as in CI (.ci/run), so that `python -m pytest -q` needs no
# variable; tests of the lookup order unset it with monkeypatch.
os.environ.setdefault("POSEKIT_MODELS", str(shared_path() / "models"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.fail(f"shared directory {path} is missing (set POSEKIT_SHARED)")
    return path


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def coco_dev(shared_dir: Path) -> Path:
    return shared_dir / "data" / "coco-val-dev"


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures"
