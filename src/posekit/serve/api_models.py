"""The shapes of the API's answers (pydantic models), for ``/openapi.json`` and ``/docs``.

The handlers build plain dicts of exactly these shapes (no validation pass on
the hot path); the API tests and the schemathesis run check that they match.
Also the request-body descriptions of the upload endpoints, which read their
bodies as streams and so cannot declare them as parameters.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field

__all__ = [
    "ErrorBody", "ImageSize", "Person", "PoseResponse", "JobProgress", "JobVideo", "JobStatus", "Health",
    "Readiness", "upload_body", "error_responses",
]


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="short code, e.g. payload_too_large, unsupported_media_type, busy")
    detail: str = Field(description="what was wrong, in one sentence")


class ImageSize(BaseModel):
    width: int
    height: int


class Person(BaseModel):
    box: list[float] = Field(description="[x1, y1, x2, y2] in image pixels")
    score: float = Field(description="pose score (what results.json of posekit predict calls score)")
    box_score: float = Field(description="person detector confidence")
    keypoints: list[list[float]] = Field(description="K entries [x, y, score], in keypoint_names order")


class PoseResponse(BaseModel):
    image: ImageSize
    people: list[Person] = Field(description="best first")
    keypoint_names: list[str]
    skeleton: list[list[int]] = Field(description="pairs of keypoint indices joined by a limb")
    timing_ms: dict[str, float] = Field(description="total, queue, decode, inference and the pipeline's stages")
    model: dict[str, Any]


class JobProgress(BaseModel):
    frames_done: int
    frames_total: Optional[int] = Field(description="None when the container does not say")
    fraction: float


class JobVideo(BaseModel):
    width: int
    height: int
    fps: float
    frames: Optional[int]
    duration_s: Optional[float]


class JobStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    progress: JobProgress
    video: JobVideo
    detect_every: int
    truncated: bool = Field(description="the video was cut at the server's duration limit")
    error: Optional[str]
    created_at: Optional[str]
    started_at: Optional[str]
    finished_at: Optional[str]
    expires_at: Optional[str] = Field(description="when a finished job is deleted")
    links: dict[str, str]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    preset: str
    workers: int
    api_key_required: bool
    limits: dict[str, Any]
    load_seconds: Optional[float] = None
    error: Optional[str] = None
    detail: Optional[str] = None


def upload_body(what: str, media_types: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` describing an upload: multipart field ``file`` or a raw body of ``media_types``."""
    binary = {"type": "string", "format": "binary"}
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {**binary, "description": f"the {what}"}},
                       "required": ["file"]},
        },
    }
    content.update({m: {"schema": binary} for m in media_types})
    return {"requestBody": {"required": True, "description": f"the {what}", "content": content}}


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}

_ERRORS = {
    400: "bad request: empty body, malformed multipart, truncated or corrupt file",
    401: "missing or wrong API key (when the server has one)",
    404: "unknown job (or deleted after its TTL)",
    408: "the body did not arrive within the request timeout",
    409: "the job has not finished",
    413: "upload larger than the limit, or an image/video too large by its header",
    415: "wrong Content-Type, or the content is not an image / video",
    422: "invalid query parameter",
    503: "busy (queue full), timed out, or models not loaded yet; retry after Retry-After seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error statuses (all with :class:`ErrorBody`)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _ERRORS[status]}
        if status == 503:
            entry["headers"] = _RETRY_AFTER
        out[status] = entry
    return out
