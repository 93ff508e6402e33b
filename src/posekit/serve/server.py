"""Run the app with uvicorn: what ``posekit serve`` calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from posekit.serve.settings import ServeSettings

__all__ = ["run", "LOOPBACK_HOSTS"]

log = logging.getLogger("posekit.serve")

#: Addresses that only this machine reaches.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def run(settings: ServeSettings, estimator_factory: Callable[[], Any] | None = None, *,
        log_level: str = "info", access_log: bool = True) -> None:
    """Serve :func:`posekit.serve.app.create_app` on ``settings.host:settings.port`` until interrupted.

    Warns when binding beyond the loopback without an API key.
    """
    import uvicorn

    from posekit.serve.app import create_app

    if settings.host not in LOOPBACK_HOSTS and settings.api_key is None:
        log.warning("listening on %s without an API key: anyone who reaches this address can use the server "
                    "(set --api-key or POSEKIT_API_KEY)", settings.host)
    app = create_app(settings, estimator_factory)
    log.info("posekit serve on http://%s:%d/ (API docs at /docs)",
             f"[{settings.host}]" if ":" in settings.host else settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log,
                timeout_keep_alive=5, server_header=False)
