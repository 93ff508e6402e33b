"""``posekit serve``: an HTTP API and a web page for pose estimation (``pip install 'posekit[serve]'``).

* :func:`create_app` -- the FastAPI app (:mod:`posekit.serve.app`); all its state
  lives on the app, nothing runs at import.
* :class:`ServeSettings` -- models, workers and every limit (:mod:`posekit.serve.settings`).
* :func:`run` -- build the app and serve it with uvicorn (what ``posekit serve`` calls).

Modules: :mod:`~posekit.serve.pool` (bounded inference threads, each with its own
estimator), :mod:`~posekit.serve.jobs` (video jobs), :mod:`~posekit.serve.uploads`
(bodies read as streams with the size limit), :mod:`~posekit.serve.inference`
(what a worker does with an image, the JSON answer), :mod:`~posekit.serve.metrics`
(Prometheus), :mod:`~posekit.serve.errors` (JSON errors), ``static/`` (the page).

Names are imported lazily: ``import posekit.serve`` does not import FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "app",
    "default_estimator_factory": "app",
    "ServeSettings": "settings",
    "run": "server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'posekit.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(f"posekit.serve.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
