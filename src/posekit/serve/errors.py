"""Every error the server sends is JSON ``{"error": code, "detail": reason}``; no traceback ever leaves it.

:class:`ApiError` is what the server's own code raises; :func:`install_error_handlers`
registers handlers that turn it, Starlette's / FastAPI's ``HTTPException`` (unknown
route: 404, wrong method: 405, ...), request validation errors (422) and any other
exception (500, logged here with its traceback) into that shape.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "error_response", "install_error_handlers", "ERROR_CODES"]

log = logging.getLogger("posekit.serve")

#: The ``error`` code of each status when nothing more specific is known.
ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer: HTTP ``status``, a short ``error`` code, a ``detail`` naming the problem.

    Args:
        status: the HTTP status.
        error: short machine-readable code (``"payload_too_large"``); default from :data:`ERROR_CODES`.
        detail: one sentence for a person: what was wrong and, where useful, what to send instead.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, detail: str, error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = int(status)
        self.error = error or ERROR_CODES.get(self.status, "error")
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer ``{"error": error, "detail": detail}``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allowed_methods(request: Request) -> list[str]:
    """The methods the app's OpenAPI document gives this path (Starlette's own 405 names one route's only)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the JSON shape of this module."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if status == 404 and detail == "Not Found":
            detail = f"no such path: {request.url.path}"
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            allowed = _allowed_methods(request)
            detail = f"method {request.method} is not allowed on {request.url.path}" + (
                f" (allowed: {', '.join(allowed)})" if allowed else "")
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return error_response(status, ERROR_CODES.get(status, "error"), detail, headers or None)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "validation_error", _validation_detail(exc))

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "the server failed on this request; it has been logged")

    handlers: dict[Any, Any] = {
        ApiError: api_error,
        StarletteHTTPException: http_error,
        RequestValidationError: validation_error,
        Exception: internal_error,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
