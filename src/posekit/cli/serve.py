"""``posekit serve``: an HTTP API and a web page for pose estimation (``pip install 'posekit[serve]'``)."""

from __future__ import annotations

import argparse
import logging
import os

from posekit.cli.predict import add_model_arguments
from posekit.cli.video import _non_negative_int, _positive_int

__all__ = ["register", "run", "settings_from_args"]

log = logging.getLogger("posekit.serve")

_EPILOG = """\
examples:
  posekit serve                                    # http://127.0.0.1:8000/  (page), /docs (API)
  posekit serve --preset fast --workers 2 --queue 16
  POSEKIT_API_KEY=secret posekit serve --host 0.0.0.0 --cors-origin https://app.example.org
  curl -F file=@photo.jpg http://127.0.0.1:8000/v1/pose
  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8000/v1/pose/render -o drawn.jpg

endpoints: POST /v1/pose, /v1/pose/render, /v1/video; GET /v1/jobs/{id}, /v1/jobs/{id}/results.jsonl,
/v1/jobs/{id}/video; GET /healthz, /readyz, /metrics; /openapi.json, /docs.
Errors are JSON {"error", "detail"}; a full queue answers 503 with Retry-After.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="HTTP API and web page (pip install 'posekit[serve]')", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    g.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="inference threads, each with its own models; ONNX Runtime threads per worker default to "
                        "CPUs // workers (--threads overrides) (default: one single-threaded worker per CPU, "
                        "the best throughput measured on 2 cores)")
    g.add_argument("--queue", type=_non_negative_int, default=8,
                   help="images waiting beyond the ones being processed; more get 503 + Retry-After (default 8)")
    g.add_argument("--timeout", type=float, default=30.0,
                   help="seconds per image request, upload and wait included (default 30)")
    g.add_argument("--api-key", default=None,
                   help="require this key on /v1/* (X-API-Key header or Authorization: Bearer); default: "
                        "$POSEKIT_API_KEY if set, else no key. Prefer the variable: options show in 'ps'")
    g.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow this browser origin (repeatable); default: no CORS")
    g.add_argument("--no-access-log", action="store_true", help="do not log each request")
    g = p.add_argument_group("limits")
    g.add_argument("--max-upload-mb", type=float, default=20.0, help="largest image upload in MB (default 20)")
    g.add_argument("--max-megapixels", type=float, default=50.0,
                   help="largest image by its header, in megapixels, checked before decoding (default 50)")
    g.add_argument("--max-video-mb", type=float, default=200.0, help="largest video upload in MB (default 200)")
    g.add_argument("--max-video-seconds", type=float, default=300.0, help="longest video in seconds (default 300)")
    g.add_argument("--job-queue", type=_non_negative_int, default=2,
                   help="video jobs waiting behind the running one; more get 503 (default 2)")
    g.add_argument("--job-timeout", type=float, default=1800.0,
                   help="seconds one video job may run (default 1800)")
    g.add_argument("--job-ttl", type=float, default=3600.0,
                   help="seconds a finished job's results are kept (default 3600)")
    g.add_argument("--jobs-dir", default=None,
                   help="folder for video jobs (default: a new temporary folder, removed at exit)")
    add_model_arguments(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The :class:`~posekit.serve.settings.ServeSettings` of the command-line options."""
    from posekit.serve.settings import API_KEY_ENV, MB, ServeSettings

    api_key = args.api_key if args.api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    return ServeSettings(
        host=args.host, port=args.port, preset=args.preset, models_dir=args.models_dir, workers=args.workers,
        threads_per_worker=args.threads, queue_size=args.queue, request_timeout=args.timeout,
        max_upload_bytes=int(args.max_upload_mb * MB), max_pixels=int(args.max_megapixels * 1e6),
        max_video_bytes=int(args.max_video_mb * MB), max_video_seconds=args.max_video_seconds,
        job_queue=args.job_queue, job_timeout=args.job_timeout, job_ttl=args.job_ttl, jobs_dir=args.jobs_dir,
        api_key=api_key, cors_origins=tuple(args.cors_origin),
    )


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        log.error("posekit serve needs the 'serve' extra: pip install 'posekit[serve]' (%s)", exc)
        return 2
    from posekit.cli.predict import check_device, default_workers, estimator_from_args
    from posekit.serve.server import run as serve

    try:
        check_device(args)
        args.workers = default_workers(args)  # one estimator owns an accelerator (each worker holds its networks)
        settings = settings_from_args(args)
    except (ValueError, ImportError) as exc:  # ImportError: a device that is not available (names what to install)
        log.error("%s", exc)
        return 2
    args.threads = settings.threads  # each worker's estimator gets its share of the cores

    def factory():
        return estimator_from_args(args)

    level = logging.getLogger().getEffectiveLevel()
    serve(settings, factory, log_level=logging.getLevelName(level).lower(), access_log=not args.no_access_log)
    return 0
