"""Fixtures of the ``posekit serve`` tests: apps with the real ``fast`` preset or a fake estimator, a live server.

* ``real_client`` -- a TestClient of an app with the ``fast`` preset (models load once per session).
* ``make_client`` -- builds TestClients of apps with a :class:`FakeEstimator` and any settings
  (error paths, limits, jobs): instant, deterministic, and able to block or fail on demand.
* ``live_server`` -- ``python -m posekit serve`` (uvicorn) in a subprocess on a free loopback port,
  for the browser and load tests (started by ``benchmarks/bench_serve.py``'s ``start_server``).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="posekit serve needs the 'serve' extra")
pytest.importorskip("prometheus_client", reason="posekit serve needs the 'serve' extra")

with warnings.catch_warnings():  # newer Starlette asks for httpx2 instead of httpx; both work
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient")
    from fastapi.testclient import TestClient  # noqa: E402

from posekit.serve import ServeSettings, create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# The server and load-client helpers are the load benchmark's (benchmarks/bench_serve.py).
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))
from bench_serve import Server, start_server  # noqa: E402
from serve_fakes import FakeEstimator  # noqa: E402

import testdata  # noqa: E402


def _wait_ready(app: Any, timeout: float = 60.0) -> None:
    assert app.state.pool.wait_ready(timeout), app.state.pool.error
    assert app.state.jobs.wait_ready(timeout), app.state.jobs.error


@pytest.fixture(scope="session")
def fake() -> type[FakeEstimator]:
    """The :class:`FakeEstimator` class."""
    return FakeEstimator


@pytest.fixture(scope="session")
def real_settings() -> ServeSettings:
    """The real ``fast`` preset (its files ship in the package)."""
    return ServeSettings(preset="fast", workers=1)


@pytest.fixture(scope="session")
def real_client(real_settings: ServeSettings) -> Iterator[TestClient]:
    """A TestClient of an app with the real ``fast`` preset (started, models loaded)."""
    app = create_app(real_settings)
    with TestClient(app) as client:
        _wait_ready(app)
        yield client


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """``make_client(estimator=FakeEstimator(), **settings)`` -> a started TestClient of a fake-estimator app.

    Every client made is closed (app stopped) at the end of the test.
    """
    stack = contextlib.ExitStack()

    def make(estimator: Any = None, *, wait: bool = True, raise_server_exceptions: bool = False,
             factory: Callable[[], Any] | None = None, **changes: Any) -> TestClient:
        settings = ServeSettings(**changes)
        est = estimator if estimator is not None else FakeEstimator()
        app = create_app(settings, factory or (lambda: est))
        client = stack.enter_context(TestClient(app, raise_server_exceptions=raise_server_exceptions))
        if wait:
            _wait_ready(app)
        return client

    with stack:
        yield make


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``basketball1.png`` (two players, 640x480) and ``person.jpg`` (one skier, a COCO JPEG)."""
    folder = tmp_path_factory.mktemp("samples")
    shutil.copyfile(testdata.BASKETBALL, folder / "basketball1.png")
    shutil.copyfile(testdata.PERSON_IMAGE, folder / "person.jpg")
    return folder


@pytest.fixture(scope="session")
def videos() -> Path:
    """``mmpose-demo.mp4``: 5 frames, 960x540, 5 fps."""
    return testdata.DEMO_VIDEO.parent


@pytest.fixture(scope="session")
def live_server() -> Iterator[Server]:
    """``posekit serve --preset fast --workers 1 --queue 2`` on a free loopback port (one per session)."""
    server = start_server("--preset", "fast", "--workers", "1", "--queue", "2")
    try:
        yield server
    finally:
        server.stop()
