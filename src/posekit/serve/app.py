"""The FastAPI app of ``posekit serve``: :func:`create_app` builds it; nothing happens at import.

Everything an app needs lives on ``app.state``: ``settings``
(:class:`~posekit.serve.settings.ServeSettings`), ``metrics``
(:class:`~posekit.serve.metrics.Metrics`), and -- made anew each time the app
starts (its lifespan) and stopped when it stops -- ``pool``
(:class:`~posekit.serve.pool.InferencePool`) and ``jobs``
(:class:`~posekit.serve.jobs.JobManager`). The models load in the worker
threads after the start; ``/readyz`` answers 200 once they have.

Routes: ``GET /`` (the web page) and ``/static/*``; ``GET /healthz``,
``/readyz``, ``/metrics``; ``POST /v1/pose``, ``/v1/pose/render``, ``/v1/video``;
``GET /v1/jobs/{id}``, ``/v1/jobs/{id}/results.jsonl``, ``/v1/jobs/{id}/video``
and ``DELETE /v1/jobs/{id}``. ``/openapi.json`` comes from FastAPI; ``/docs`` is its Swagger UI
served from the ``fastapi-offline`` package's files, so it works with no internet.

The order of checks of an upload: API key (401), ``Content-Type`` (415),
``Content-Length`` (413), a free slot (503 + ``Retry-After``, before the body is
read), the body as it streams in (413 past the limit; 408 past the request
timeout), the image header's pixel count (413), then the image goes to a worker
(503 + ``Retry-After`` if the answer is not ready within the request timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from posekit.draw import DEFAULT_KEYPOINT_THRESH, DEFAULT_POSE_THRESH
from posekit.io import ImageReadError
from posekit.serve import api_models as M
from posekit.serve.errors import ApiError, install_error_handlers
from posekit.serve.inference import RENDER_FORMATS, ImageResult, image_error, pose_payload, pose_task, render_task
from posekit.serve.jobs import Job, JobManager, max_frames_for, probe_video, remove_folder
from posekit.serve.metrics import CONTENT_TYPE_LATEST, Metrics, MetricsMiddleware
from posekit.serve.pool import InferencePool, PoolFull, PoolNotReady, Ticket
from posekit.serve.settings import ServeSettings
from posekit.serve.uploads import check_upload_headers, read_image_upload, save_video_upload

__all__ = ["create_app", "default_estimator_factory", "STATIC_DIR"]

log = logging.getLogger("posekit.serve")

#: The web page's files (installed with the package).
STATIC_DIR = Path(__file__).resolve().parent / "static"

_IMAGE_TYPES = ("image/", "application/octet-stream")
_VIDEO_TYPES = ("video/", "application/octet-stream")

#: Content-Security-Policy of the web page: nothing but this server.
_PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
             "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def default_estimator_factory(settings: ServeSettings) -> Callable[[], Any]:
    """A function that builds one :class:`~posekit.pipeline.PoseEstimator` of ``settings.preset``
    with ``settings.threads`` intra-op threads (called once per worker)."""

    def build() -> Any:
        from posekit.pipeline import PoseEstimator

        return PoseEstimator(preset=settings.preset, models_dir=settings.models_dir, num_threads=settings.threads)

    return build


class _HeadersMiddleware:
    """Pure ASGI: ``nosniff`` on every answer, and the page's Content-Security-Policy on ``/`` and ``/static``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope.get("path", "") == "/" or scope.get("path", "").startswith("/static/")

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if page:
                    headers.append((b"content-security-policy", _PAGE_CSP.encode()))
                    headers.append((b"referrer-policy", b"no-referrer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _api_key_dependency(key: str) -> Callable[..., Any]:
    """A dependency that requires ``key`` in ``X-API-Key`` or ``Authorization: Bearer`` (constant-time compare)."""
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's API key")
    bearer = HTTPBearer(auto_error=False, description="the server's API key as a bearer token")
    expected = key.encode("utf-8")

    async def require_key(api_key: str | None = Depends(header),
                          credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = api_key if api_key is not None else (credentials.credentials if credentials else None)
        challenge = {"WWW-Authenticate": 'Bearer realm="posekit"'}
        if not given:
            raise ApiError(401, "missing API key: send it in the X-API-Key header or as 'Authorization: Bearer "
                                "<key>'", "unauthorized", challenge)
        if not hmac.compare_digest(given.encode("utf-8"), expected):
            raise ApiError(401, "wrong API key", "unauthorized", challenge)

    return require_key


def create_app(settings: ServeSettings | None = None,
               estimator_factory: Callable[[], Any] | None = None) -> FastAPI:
    """The server's app.

    Args:
        settings: limits and models (default :class:`ServeSettings()`).
        estimator_factory: builds one estimator (anything called on a BGR image ``(H, W, 3)``
            returning :class:`~posekit.structures.Poses`, with ``detect``/``estimate``/``schema``
            for video jobs); called once per inference worker and once for the video job worker.
            Default: :func:`default_estimator_factory`.

    Returns:
        the FastAPI app; its lifespan starts the workers (models load) and stops them.
    """
    settings = settings or ServeSettings()
    factory = estimator_factory or default_estimator_factory(settings)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A new pool and job manager for each run of the app (tests may start one app several times).
        log.info("loading models (preset %s, %d worker(s) x %d thread(s), 1 video job worker)",
                 settings.preset, settings.workers, settings.threads)
        pool: InferencePool[Any] = InferencePool(factory, workers=settings.workers, queue_size=settings.queue_size)
        jobs = JobManager(settings, factory, on_frames=metrics.frames.inc)
        app.state.pool, app.state.jobs = pool, jobs
        pool.start()
        jobs.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(pool.stop)
            await anyio.to_thread.run_sync(jobs.stop)

    # FastAPIOffline: FastAPI whose /docs loads Swagger UI from its package's files (no CDN, works offline).
    app = FastAPIOffline(
        title="posekit",
        version=_version(),
        description="Multi-person 2D pose estimation on the CPU: images in, keypoints (or drawn skeletons) out; "
                    "videos as background jobs. Every error is JSON `{\"error\", \"detail\"}`.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.pool = None  # InferencePool, made at startup
    app.state.jobs = None  # JobManager, made at startup
    app.state.metrics = metrics
    metrics.bind(
        queue_depth=lambda: app.state.pool.queue_depth if app.state.pool else 0,
        busy=lambda: app.state.pool.busy if app.state.pool else 0,
        slots=lambda: app.state.pool.slots.in_use if app.state.pool else 0,
        ready=lambda: float(_ready(app)),
        jobs=lambda: app.state.jobs.counts() if app.state.jobs else {},
    )
    install_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type"])
    app.add_middleware(_HeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    _add_service_routes(app, settings, metrics)
    dependencies = [Depends(_api_key_dependency(settings.api_key))] if settings.api_key else []
    v1 = APIRouter(prefix="/v1", dependencies=dependencies)
    _add_image_routes(v1, settings, metrics)
    _add_job_routes(v1, settings, metrics)
    app.include_router(v1)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _ready(app: Any) -> bool:
    pool, jobs = app.state.pool, app.state.jobs
    return bool(pool is not None and jobs is not None and pool.ready and jobs.ready)


def _pool(request: Request) -> InferencePool[Any]:
    pool = request.app.state.pool
    if pool is None:
        raise ApiError(503, "not ready: the server is starting", "not_ready", {"Retry-After": "1"})
    return pool


def _jobs(request: Request) -> JobManager:
    jobs = request.app.state.jobs
    if jobs is None:
        raise ApiError(503, "not ready: the server is starting", "not_ready", {"Retry-After": "1"})
    return jobs


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("posekit")
    except Exception:  # not installed (source tree on sys.path)
        return "0"


def _unavailable(exc: Exception, metrics: Metrics, what: str) -> ApiError:
    """503 + ``Retry-After`` for a full pool / job queue or models not loaded."""
    if isinstance(exc, PoolFull):
        metrics.rejected.labels(reason="busy" if what == "image" else "jobs_busy").inc()
        detail = (f"the server is busy: all {what} slots are taken; retry after {exc.retry_after} s")
        return ApiError(503, detail, "busy", {"Retry-After": str(exc.retry_after)})
    metrics.rejected.labels(reason="not_ready").inc()
    return ApiError(503, f"not ready: {exc}", "not_ready", {"Retry-After": "5"})


# ----------------------------------------------------------------------------- service routes


def _add_service_routes(app: FastAPI, settings: ServeSettings, metrics: Metrics) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/healthz", response_model=M.Health, tags=["service"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=M.Readiness, tags=["service"], summary="The models are loaded",
             responses={503: {"model": M.Readiness, "description": "models loading, or loading failed"}})
    async def readyz() -> JSONResponse:
        pool, jobs = app.state.pool, app.state.jobs
        ready = _ready(app)
        load = pool.load_seconds if pool is not None else None
        body: dict[str, Any] = {
            "ready": ready, "preset": settings.preset, "workers": settings.workers,
            "api_key_required": settings.api_key is not None, "limits": settings.public_limits(),
            "load_seconds": None if load is None else round(load, 3),
        }
        if not ready:
            error = (pool.error if pool else None) or (jobs.error if jobs else None)
            body.update(error="not_ready", detail=error or ("models are loading" if pool else "the server is starting"))
        return JSONResponse(body, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "1"})

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics",
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


# ----------------------------------------------------------------------------- images


async def _infer(request: Request, settings: ServeSettings, metrics: Metrics,
                 make_task: Callable[[bytes], Callable[[Any], ImageResult]]) -> tuple[ImageResult, dict[str, float]]:
    """Admit, read, queue and wait for one image; returns the result and the request's timing (ms)."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + settings.request_timeout
    check_upload_headers(request, limit=settings.max_upload_bytes, accepted=_IMAGE_TYPES, what="image")
    pool = _pool(request)
    try:
        ticket: Ticket = pool.admit()
    except (PoolFull, PoolNotReady) as exc:
        raise _unavailable(exc, metrics, "image") from None
    submitted = False
    try:
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                data = await read_image_upload(request, limit=settings.max_upload_bytes,
                                               max_pixels=settings.max_pixels)
        except TimeoutError:
            raise ApiError(408, f"the image did not arrive within the request timeout of "
                                f"{settings.request_timeout:g} s", "request_timeout") from None
        t_read = time.perf_counter()
        future = pool.submit(make_task(data), ticket)
        submitted = True
        del data
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                result = await asyncio.wrap_future(future)
        except TimeoutError:
            future.cancel()
            metrics.rejected.labels(reason="timeout").inc()
            retry = pool.retry_after()
            raise ApiError(503, f"timeout: no answer within the request timeout of {settings.request_timeout:g} s "
                                f"(the server is overloaded); retry after {retry} s", "timeout",
                           {"Retry-After": str(retry)}) from None
        except ImageReadError as exc:
            raise image_error(exc) from None
    finally:
        if not submitted:
            ticket.release()
    metrics.images.inc()
    done = time.perf_counter()
    timing = {"total": 1000 * (done - t0), "upload": 1000 * (t_read - t0),
              "queue": 1000 * max(0.0, result.started - t_read), **result.timing_ms}
    return result, timing


def _add_image_routes(router: APIRouter, settings: ServeSettings, metrics: Metrics) -> None:
    image_types = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")

    @router.post(
        "/pose", tags=["images"], summary="Poses of every person in an image",
        response_model=M.PoseResponse,
        responses=M.error_responses(400, 401, 408, 413, 415, 422, 503),
        openapi_extra=M.upload_body("image", image_types),
    )
    async def pose(request: Request) -> JSONResponse:
        """An image as multipart field `file` or as a raw `image/*` body → image size, people
        (box, score, box score, keypoints `[[x, y, score], …]`), keypoint names, skeleton and timing."""
        result, timing = await _infer(request, settings, metrics, lambda data: pose_task(data, settings.max_pixels))
        return JSONResponse(pose_payload(result, timing))

    @router.post(
        "/pose/render", tags=["images"], summary="The image with the skeletons drawn",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the rendered image"},
                   **M.error_responses(400, 401, 408, 413, 415, 422, 503)},
        openapi_extra=M.upload_body("image", image_types),
    )
    async def pose_render(
        request: Request,
        format: Literal["jpeg", "png"] = Query("jpeg", description="output image format"),
        pose_thresh: float = Query(DEFAULT_POSE_THRESH, ge=0.0, le=1.0,
                                   description="draw people whose score is at least this"),
        keypoint_thresh: float = Query(DEFAULT_KEYPOINT_THRESH, ge=0.0, le=1.0,
                                       description="draw keypoints scoring at least this"),
    ) -> Response:
        """Same input as `POST /v1/pose`; answers the picture with skeletons and boxes drawn
        (`X-People` header: people found; `X-Timing-Ms`: total milliseconds)."""
        result, timing = await _infer(
            request, settings, metrics,
            lambda data: render_task(data, settings.max_pixels, fmt=format, pose_thresh=pose_thresh,
                                     keypoint_thresh=keypoint_thresh, quality=settings.render_quality))
        assert result.encoded is not None
        return Response(result.encoded, media_type=RENDER_FORMATS[format][1],
                        headers={"X-People": str(len(result.poses)), "X-Timing-Ms": f"{timing['total']:.1f}"})


# ----------------------------------------------------------------------------- video jobs


def _add_job_routes(router: APIRouter, settings: ServeSettings, metrics: Metrics) -> None:
    def find(request: Request, job_id: str) -> Job:
        job = _jobs(request).get(job_id)
        if job is None:
            raise ApiError(404, f"no job with id {job_id[:80]!r} (unknown, or deleted after its "
                                f"{settings.job_ttl:g} s TTL)", "job_not_found")
        return job

    def finished(job: Job) -> None:
        if job.status in ("queued", "running"):
            raise ApiError(409, f"the job is {job.status} ({job.frames_done} frames done): its files are ready "
                                f"when its status is done", "job_not_finished")

    @router.post(
        "/video", status_code=202, tags=["videos"], summary="Start a video job",
        response_model=M.JobStatus,
        responses=M.error_responses(400, 401, 408, 413, 415, 422, 503),
        openapi_extra=M.upload_body("video", ("video/mp4", "video/x-msvideo", "video/webm",
                                              "application/octet-stream")),
    )
    async def submit_video(
        request: Request,
        detect_every: int = Query(1, ge=1, le=30, description="run the person detector every N frames "
                                                               "(people are followed in between)"),
    ) -> JSONResponse:
        """A video (multipart field `file` or a raw `video/*` body) → 202 and the job (its `id`,
        `links`). Poll `GET /v1/jobs/{id}`; when `status` is `done`, fetch `results.jsonl` and `video`."""
        deadline = time.monotonic() + settings.video_upload_timeout
        check_upload_headers(request, limit=settings.max_video_bytes, accepted=_VIDEO_TYPES, what="video")
        jobs = _jobs(request)
        try:
            ticket = jobs.admit()
        except (PoolFull, PoolNotReady) as exc:
            raise _unavailable(exc, metrics, "video job") from None
        folder: Path | None = None
        try:
            job_id, folder = jobs.new_folder()
            upload = folder / "upload.part"
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    _, suffix = await save_video_upload(request, upload, limit=settings.max_video_bytes)
            except TimeoutError:
                raise ApiError(408, f"the video did not arrive within {settings.video_upload_timeout:g} s",
                               "request_timeout") from None
            input_path = folder / f"input{suffix}"
            os.replace(upload, input_path)
            info = await anyio.to_thread.run_sync(probe_video, input_path, settings)
            job = Job(id=job_id, folder=folder, input_path=input_path, info=info, detect_every=detect_every,
                      max_frames=max_frames_for(info, settings), ticket=ticket)
            jobs.submit(job)
        except BaseException as exc:
            if folder is not None:
                remove_folder(folder)
            ticket.release()
            if isinstance(exc, PoolFull):
                raise _unavailable(exc, metrics, "video job") from None
            raise
        return JSONResponse(job.to_dict(settings.job_ttl), status_code=202,
                            headers={"Location": f"/v1/jobs/{job.id}"})

    @router.get("/jobs/{job_id}", response_model=M.JobStatus, tags=["videos"], summary="A job's status and progress",
                responses=M.error_responses(401, 404))
    async def job_status(request: Request, job_id: str) -> JSONResponse:
        return JSONResponse(find(request, job_id).to_dict(settings.job_ttl))

    @router.get("/jobs/{job_id}/results.jsonl", tags=["videos"], summary="Per-frame poses of a finished job",
                response_class=FileResponse,
                responses={200: {"content": {"application/x-ndjson": {}},
                                 "description": 'one JSON object per frame: {"frame", "time", "poses": '
                                                '[{"track_id", "box", "keypoints", "score"}]}'},
                           **M.error_responses(401, 404, 409)})
    async def job_results(request: Request, job_id: str) -> FileResponse:
        job = find(request, job_id)
        finished(job)
        if job.results_path is None or not job.results_path.is_file():
            raise ApiError(404, "this job wrote no results", "no_results")
        return FileResponse(job.results_path, media_type="application/x-ndjson", filename=f"{job.id}.jsonl")

    @router.get("/jobs/{job_id}/video", tags=["videos"], summary="The rendered video of a finished job",
                response_class=FileResponse,
                responses={200: {"content": {"video/webm": {}}, "description": "skeletons and track ids drawn"},
                           **M.error_responses(401, 404, 409)})
    async def job_video(request: Request, job_id: str) -> FileResponse:
        job = find(request, job_id)
        finished(job)
        if job.video_path is None or not job.video_path.is_file():
            raise ApiError(404, "this job rendered no video (no frame was processed)", "no_video")
        return FileResponse(job.video_path, media_type=job.video_type,
                            filename=f"{job.id}{job.video_path.suffix}", content_disposition_type="inline")

    @router.delete("/jobs/{job_id}", status_code=204, tags=["videos"], summary="Cancel and delete a job",
                   response_class=Response, responses=M.error_responses(401, 404))
    async def job_delete(request: Request, job_id: str) -> Response:
        _jobs(request).delete(find(request, job_id))
        return Response(status_code=204)
