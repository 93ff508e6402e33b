"""Prometheus metrics of one app, in the app's own registry (never the process-global one).

* ``posekit_http_requests_total{method, route, status}`` -- answers by route template
  (``/v1/jobs/{job_id}``, so ids do not make new series) and status.
* ``posekit_http_request_duration_seconds{route}`` -- latency histogram.
* ``posekit_inference_queue_depth`` / ``posekit_inference_busy_workers`` /
  ``posekit_inference_slots_in_use`` -- the pool right now.
* ``posekit_images_processed_total`` -- images run through the estimator.
* ``posekit_rejected_total{reason}`` -- requests refused by the limits (``busy``,
  ``timeout``, ``not_ready``, ``jobs_busy``).
* ``posekit_jobs{status}`` / ``posekit_video_frames_processed_total`` -- video jobs.

:class:`MetricsMiddleware` counts every HTTP answer, errors included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "MetricsMiddleware", "CONTENT_TYPE_LATEST"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Latency buckets in seconds (inference is tens of ms to seconds on a CPU).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The metrics of one app (see the module docstring); ``render()`` is the ``/metrics`` text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("posekit_http_requests", "HTTP answers by method, route and status",
                                ("method", "route", "status"), registry=r)
        self.latency = Histogram("posekit_http_request_duration_seconds", "HTTP request latency by route",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("posekit_images_processed", "Images run through the pose estimator", registry=r)
        self.rejected = Counter("posekit_rejected", "Requests refused by the server's limits", ("reason",),
                                registry=r)
        self.frames = Counter("posekit_video_frames_processed", "Video frames processed by jobs", registry=r)
        self.queue_depth = Gauge("posekit_inference_queue_depth", "Images waiting for an inference worker",
                                 registry=r)
        self.busy = Gauge("posekit_inference_busy_workers", "Inference workers running now", registry=r)
        self.slots = Gauge("posekit_inference_slots_in_use", "Image requests admitted (reading, queued, running)",
                           registry=r)
        self.jobs = Gauge("posekit_jobs", "Video jobs by status", ("status",), registry=r)
        self.ready = Gauge("posekit_ready", "1 when the models are loaded", registry=r)

    def bind(self, *, queue_depth: Callable[[], float], busy: Callable[[], float], slots: Callable[[], float],
             ready: Callable[[], float], jobs: Callable[[], dict[str, int]]) -> None:
        """Read the pool and job gauges from these functions at each scrape."""
        self.queue_depth.set_function(queue_depth)
        self.busy.set_function(busy)
        self.slots.set_function(slots)
        self.ready.set_function(ready)
        self._jobs = jobs

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's registry."""
        jobs = getattr(self, "_jobs", None)
        if jobs is not None:
            for status, count in jobs().items():
                self.jobs.labels(status=status).set(count)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts each HTTP answer by route template and status, and times it.

    An exception that escapes the app counts as a 500 (the server's catch-all answers it).
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"  # clients choose methods: bound the series
            self.metrics.requests.labels(method=method, route=template, status=str(status)).inc()
            self.metrics.latency.labels(route=template).observe(time.perf_counter() - start)
