"""Settings of ``posekit serve``: models, pool size and every limit, in one frozen dataclass.

Each default below is what ``posekit serve`` uses when the matching option is
not given (``posekit serve --help`` lists them). The limits keep one server
alive on a small machine: memory is bounded by ``(workers + queue) *
max_upload_bytes`` of request bodies plus ``workers`` decoded images, disk by
``(job_queue + 1) * max_video_bytes`` of uploads plus the results of at most
``max_finished_jobs`` finished jobs, which are deleted ``job_ttl`` seconds
after they finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from posekit.engine import plan_engine

__all__ = ["ServeSettings", "MB", "API_KEY_ENV"]

#: One megabyte as the limits count it (2**20 bytes: "20 MB" is 20 MiB).
MB = 1 << 20

#: Environment variable read for the API key when ``--api-key`` is not given.
API_KEY_ENV = "POSEKIT_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """Everything the server needs to know; see the module docstring for the memory bounds.

    Attributes:
        host: address to bind (loopback by default: nothing outside the machine reaches it).
        port: TCP port.
        preset: the :mod:`posekit.presets` configuration each worker builds.
        models_dir: folder with the model files (None: ``POSEKIT_MODELS`` or the user cache).
        workers: inference threads, each with its own :class:`~posekit.pipeline.PoseEstimator`
            (its own ONNX Runtime sessions). None: the parallel engine's plan
            (:func:`posekit.engine.plan_engine`: one single-threaded worker per CPU, the measured
            best throughput on 2 cores), resolved when the settings are made.
        threads_per_worker: intra-op threads of each worker's sessions (None: CPUs // workers, at least 1).
        queue_size: images admitted beyond the ``workers`` being processed; one more is refused
            with 503 and ``Retry-After`` before its body is read.
        request_timeout: seconds a request may take from its first byte to its answer:
            reading the body (408 when exceeded) and waiting for inference (503 + ``Retry-After``).
        max_upload_bytes: largest image body (413 while reading, and from ``Content-Length``).
        max_pixels: largest image (width x height) from its header, checked before decoding (413).
        max_video_bytes: largest video upload (413 while writing it to disk).
        max_video_seconds: longest video (frames / fps from the container); longer ones get 413,
            and a video whose container does not tell is cut at this length.
        video_upload_timeout: seconds a video upload may take (408 beyond).
        job_queue: video jobs waiting behind the one being processed (503 + ``Retry-After`` beyond).
        job_timeout: wall-clock seconds one job may run; then it stops as ``failed`` (its results so far stay).
        job_ttl: seconds a finished job (results, rendered video) is kept before it is deleted.
        max_finished_jobs: finished jobs kept at most; the oldest is deleted first beyond this.
        jobs_dir: where job folders go (None: a new temporary folder, removed at shutdown).
        api_key: when set, every ``/v1/*`` request must carry it (``X-API-Key`` or ``Authorization: Bearer``).
        cors_origins: origins allowed by CORS (empty: no CORS headers at all).
        render_quality: JPEG quality of ``/v1/pose/render``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    preset: str = "balanced"
    models_dir: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    queue_size: int = 8
    request_timeout: float = 30.0
    max_upload_bytes: int = 20 * MB
    max_pixels: int = 50_000_000
    max_video_bytes: int = 200 * MB
    max_video_seconds: float = 300.0
    video_upload_timeout: float = 600.0
    job_queue: int = 2
    job_timeout: float = 1800.0
    job_ttl: float = 3600.0
    max_finished_jobs: int = 50
    jobs_dir: str | None = None
    api_key: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    render_quality: int = 90

    def __post_init__(self) -> None:
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1, got {self.threads_per_worker}")
        if self.workers is None:  # frozen: the plan is resolved once, here
            object.__setattr__(self, "workers", plan_engine(None, self.threads_per_worker).workers)
        positive = ("workers", "max_upload_bytes", "max_pixels", "max_video_bytes", "max_finished_jobs")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("queue_size", "job_queue"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("request_timeout", "max_video_seconds", "video_upload_timeout", "job_timeout", "job_ttl"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 1 <= self.render_quality <= 100:
            raise ValueError(f"render_quality must be in 1..100, got {self.render_quality}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (leave it unset for no key)")

    @property
    def threads(self) -> int:
        """Intra-op threads per worker: ``threads_per_worker`` or CPUs // workers (at least 1)."""
        return plan_engine(self.workers, self.threads_per_worker).threads

    @property
    def capacity(self) -> int:
        """Image requests admitted at once: the ``workers`` being served plus the ``queue_size`` waiting."""
        return self.workers + self.queue_size

    def with_(self, **changes: Any) -> "ServeSettings":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def public_limits(self) -> dict[str, Any]:
        """The limits a client may want to know (``/readyz``, the web page); no secrets."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_video_bytes": self.max_video_bytes,
            "max_video_seconds": self.max_video_seconds,
            "request_timeout_s": self.request_timeout,
            "workers": self.workers,
            "queue_size": self.queue_size,
            "job_queue": self.job_queue,
            "job_ttl_s": self.job_ttl,
        }
