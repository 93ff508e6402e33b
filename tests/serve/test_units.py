"""Units of posekit.serve without HTTP: the pool, slots, settings, the command line."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest

from posekit.engine import available_cpus
from posekit.serve.pool import InferencePool, PoolFull, PoolNotReady, Slots
from posekit.serve.settings import MB, ServeSettings


def test_slots_and_tickets():
    slots = Slots(2)
    assert slots.try_acquire() and slots.try_acquire() and not slots.try_acquire()
    slots.release()
    assert slots.in_use == 1 and slots.try_acquire()
    slots.release()
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()


def test_pool_runs_tasks_each_worker_with_its_own_estimator():
    built = []

    def factory():
        est = object()
        built.append(est)
        return est

    pool = InferencePool(factory, workers=2, queue_size=2)
    pool.start()
    assert pool.wait_ready(10)
    seen = set()
    futures = []
    for _ in range(4):
        ticket = pool.admit()
        futures.append(pool.submit(lambda est: (seen.add(id(est)), time.sleep(0.05)), ticket))
    with pytest.raises(PoolFull) as info:
        pool.admit()
    assert info.value.retry_after >= 1
    for f in futures:
        f.result(10)
    assert len(built) == 2 and seen <= {id(e) for e in built}
    assert pool.slots.in_use == 0 and pool.completed == 4
    pool.stop()
    with pytest.raises(PoolNotReady, match="shutting down"):
        pool.admit()


def test_pool_cancelled_task_never_runs_and_frees_its_slot():
    gate = threading.Event()
    pool = InferencePool(lambda: None, workers=1, queue_size=1)
    pool.start()
    assert pool.wait_ready(10)
    ran = []
    first = pool.submit(lambda est: gate.wait(10), pool.admit())
    second = pool.submit(lambda est: ran.append(1), pool.admit())
    assert second.cancel()
    assert pool.slots.in_use == 1  # the cancelled task's slot is back at once
    gate.set()
    first.result(10)
    with pytest.raises(CancelledError):
        second.result(1)
    time.sleep(0.05)
    assert not ran and pool.slots.in_use == 0
    pool.stop()


def test_pool_task_errors_reach_the_caller_and_workers_survive():
    pool = InferencePool(lambda: None, workers=1, queue_size=0)
    pool.start()
    assert pool.wait_ready(10)
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda est: 1 / 0, pool.admit()).result(10)
    assert pool.submit(lambda est: 42, pool.admit()).result(10) == 42
    assert pool.failed == 1
    pool.stop()


def test_pool_factory_failure():
    def broken():
        raise FileNotFoundError("no model")

    pool = InferencePool(broken, workers=2, queue_size=0)
    pool.start()
    assert not pool.wait_ready(10)
    assert "no model" in pool.error
    with pytest.raises(PoolNotReady, match="no model"):
        pool.admit()


def test_settings_defaults_and_validation():
    s = ServeSettings()
    # workers: one single-threaded worker per CPU (the parallel engine's plan)
    assert (s.host, s.port, s.preset, s.workers, s.queue_size) == ("127.0.0.1", 8000, "balanced", available_cpus(), 8)
    assert s.threads == 1 and ServeSettings(workers=1).threads == available_cpus()
    assert s.max_upload_bytes == 20 * MB and s.max_pixels == 50_000_000 and s.max_video_bytes == 200 * MB
    assert s.capacity == available_cpus() + 8 and ServeSettings(workers=1).capacity == 9
    assert ServeSettings(threads_per_worker=3).threads == 3
    for bad in ({"workers": 0}, {"queue_size": -1}, {"max_upload_bytes": 0}, {"request_timeout": 0},
                {"api_key": " "}, {"render_quality": 101}, {"job_ttl": -1}):
        with pytest.raises(ValueError):
            ServeSettings(**bad)
    assert "api_key" not in s.public_limits()


def test_cli_options(monkeypatch):
    from posekit.cli import build_parser
    from posekit.cli.serve import settings_from_args

    parser = build_parser()
    monkeypatch.delenv("POSEKIT_API_KEY", raising=False)
    args = parser.parse_args(["serve"])
    s = settings_from_args(args)
    assert s.host == "127.0.0.1" and s.port == 8000 and s.api_key is None and s.cors_origins == ()
    assert s == ServeSettings(models_dir=args.models_dir)
    monkeypatch.setenv("POSEKIT_API_KEY", "from-env")
    args = parser.parse_args(["serve", "--preset", "fast", "--workers", "2", "--queue", "3", "--max-upload-mb", "5",
                              "--max-megapixels", "12", "--cors-origin", "https://a.example", "--cors-origin",
                              "https://b.example", "--job-ttl", "60", "--timeout", "10"])
    s = settings_from_args(args)
    assert (s.preset, s.workers, s.queue_size, s.max_upload_bytes, s.max_pixels) == ("fast", 2, 3, 5 * MB, 12_000_000)
    assert s.api_key == "from-env" and s.cors_origins == ("https://a.example", "https://b.example")
    assert s.job_ttl == 60 and s.request_timeout == 10
    assert settings_from_args(parser.parse_args(["serve", "--api-key", "given"])).api_key == "given"
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--workers", "0"])


def test_package_import_is_light():
    import subprocess
    import sys

    # posekit --help and posekit serve --help must work without loading the web stack
    code = ("import sys, posekit.serve, posekit.serve.settings, posekit.cli.serve; "
            "print([m for m in ('fastapi', 'starlette', 'uvicorn', 'prometheus_client') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
