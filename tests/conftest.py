"""Shared test fixtures.

Everything the suite needs is in the repository: ``tests/data`` (COCO images with their keypoint
annotations, a sample image, two short videos, the official-network parity fixtures; see its README),
the PP-PicoDet / PP-TinyPose files that ship inside posekit, and small synthetic ONNX networks with the
contracts of the models posekit does not ship (:mod:`contract_models`, built once per session).

The team's ``../shared`` folder (``POSEKIT_SHARED`` overrides where) holds the real models, the 300-image
COCO dev set and full-length videos. Only tests that measure real models on that data need it: they carry
``@pytest.mark.shared_data`` and are skipped, with one reason, where it is missing. ``POSEKIT_REQUIRE_SHARED=1``
(set by ``.ci/run``) turns that skip into a failure, so CI runs every test. A test that asks for one of the
shared fixtures without the marker is a collection error.

Each session runs offline, with its own empty user cache and no ``POSEKIT_MODELS`` / ``POSEKIT_MODELS_URL``
from the environment: a fresh clone and CI see the same model lookup.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import testdata

REPO = testdata.REPO

#: Fixtures that read ``../shared``; a test that uses one must be marked ``shared_data``.
SHARED_FIXTURES = frozenset({"shared_dir", "models_dir", "coco_dev"})
REQUIRE_ENV = "POSEKIT_REQUIRE_SHARED"
SKIP_REASON = (
    "needs the team's ../shared folder (real models, the 300-image COCO dev set, full videos); "
    "set POSEKIT_SHARED to its path"
)

_ISOLATED_ENV = ("POSEKIT_MODELS", "POSEKIT_MODELS_URL", "XDG_CACHE_HOME", "POSEKIT_OFFLINE")


def shared_path() -> Path:
    return Path(os.environ.get("POSEKIT_SHARED", REPO.parent / "shared")).resolve()


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config: pytest.Config) -> None:
    config._posekit_env = {k: os.environ.get(k) for k in _ISOLATED_ENV}  # type: ignore[attr-defined]
    config._posekit_cache = tempfile.mkdtemp(prefix="posekit-test-cache-")  # type: ignore[attr-defined]
    os.environ.pop("POSEKIT_MODELS", None)
    os.environ.pop("POSEKIT_MODELS_URL", None)
    os.environ["XDG_CACHE_HOME"] = config._posekit_cache  # type: ignore[attr-defined]
    os.environ["POSEKIT_OFFLINE"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = getattr(config, "_posekit_env", None)
    if saved is None:
        return
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(config._posekit_cache, ignore_errors=True)  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid for item in items
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("shared_data") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that use ../shared fixtures must be marked @pytest.mark.shared_data: " + ", ".join(unmarked)
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_data") is None or shared_path().is_dir():
        return
    if _required():
        pytest.fail(f"{REQUIRE_ENV} is set but {shared_path()} is missing: {SKIP_REASON}", pytrace=False)
    pytest.skip(SKIP_REASON)


# ----------------------------------------------------------------------------- repository data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data``."""
    return testdata.DATA


@pytest.fixture(scope="session")
def coco_subset() -> Path:
    """``tests/data/coco``: ``images/`` and ``person_keypoints.json`` (23 COCO val2017 images, CC BY / BY-SA)."""
    return testdata.COCO


@pytest.fixture(scope="session")
def coco_gt() -> dict[str, Any]:
    """The person keypoint annotations of ``tests/data/coco`` (one dict for the session: copy before changing)."""
    return testdata.coco_gt()


@pytest.fixture(scope="session")
def mixed_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """COCO images with bad files interleaved (corrupt JPEG, text, empty, missing): the engine-equality inputs."""
    return testdata.mixed_files(tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/data/fixtures``: the official-network parity fixtures (no weights, no inputs: both regenerated)."""
    return testdata.FIXTURES


@pytest.fixture(scope="session")
def contract_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder of synthetic networks under the catalogue's file names (:func:`testdata.build_contract_models`)."""
    return testdata.build_contract_models(tmp_path_factory.mktemp("contract-models"))


@pytest.fixture
def contract_catalog(contract_models: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The catalogue with its unshipped ONNX entries pointing at the synthetic files' sha256; yields their folder.

    Models looked up by name with ``models_dir=contract_models`` then load the synthetic networks through the
    catalogue's own checks (sha256 included).
    """
    from posekit import catalog

    monkeypatch.setattr(catalog, "CATALOG", testdata.contract_catalog(contract_models))
    yield contract_models


# ----------------------------------------------------------------------------- ../shared (marked tests only)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (``POSEKIT_SHARED``); only for tests marked ``shared_data``."""
    return shared_path()


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    """The team's real model files."""
    return shared_dir / "models"


@pytest.fixture(scope="session")
def coco_dev(shared_dir: Path) -> Path:
    """The 300-image COCO val2017 dev set (``images/``, ``person_keypoints.json``)."""
    return shared_dir / "data" / "coco-val-dev"
