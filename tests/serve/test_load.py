"""The server under load, over a real loopback connection (uvicorn in a subprocess).

``live_server`` has 1 worker and a queue of 2: a capacity of 3 requests at once. At 4x that (12
clients sending back to back) every answer is 200 or 503 with ``Retry-After``, never another 5xx,
and memory stays flat. Bounded: at most ``LOAD_SECONDS`` of load and ``LOAD_REQUESTS`` requests.
The figures of the closing note come from ``benchmarks/bench_serve.py``, not from here.
"""

from __future__ import annotations

import socket
import statistics
from pathlib import Path

import cv2
import pytest

httpx = pytest.importorskip("httpx")

from bench_serve import run_load  # noqa: E402  (benchmarks/, on sys.path through conftest.py)

pytestmark = pytest.mark.slow

CAPACITY = 3  # --workers 1 --queue 2 of the live_server fixture
LOAD_SECONDS = 15.0
LOAD_REQUESTS = 1000


@pytest.fixture(scope="module")
def small_jpeg(samples: Path) -> bytes:
    image = cv2.resize(cv2.imread(str(samples / "basketball1.png")), (320, 240), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_four_times_capacity_gives_only_200_or_503_with_retry_after(live_server, small_jpeg: bytes):
    single, _ = run_load(live_server.url, small_jpeg, clients=1, seconds=3, requests=20)
    assert {s.status for s in single} == {200}
    rss_before = live_server.rss_bytes()
    results, _ = run_load(live_server.url, small_jpeg, clients=4 * CAPACITY, seconds=LOAD_SECONDS,
                          requests=LOAD_REQUESTS)
    rss_after = live_server.rss_bytes()
    statuses = {s.status for s in results}
    assert statuses <= {200, 503}, sorted(statuses)
    busy = [s for s in results if s.status == 503]
    assert busy, "4x capacity never filled the queue"
    assert all(s.retry_after is not None and int(s.retry_after) >= 1 for s in busy)
    assert all(s.content_type.startswith("application/json") for s in results)
    ok_latency = sorted(s.seconds for s in results if s.status == 200)
    assert ok_latency
    # admitted requests wait for at most the queue ahead of them: far below the 30 s request timeout
    assert ok_latency[-1] < 10, ok_latency[-5:]
    assert statistics.median(s.seconds for s in busy) < 0.5  # refusals are immediate
    growth = rss_after - rss_before
    assert growth < 150 * 2**20, f"RSS grew by {growth / 2**20:.0f} MB under load"
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert 'posekit_rejected_total{reason="busy"}' in metrics


def test_upload_cut_off_over_a_real_connection(live_server):
    """A chunked upload larger than the 20 MB limit gets 413 before it has been sent whole."""
    host, port = live_server.url.rsplit("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /v1/pose HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"\x89PNG\r\n\x1a\n" + b"\x00" * (256 * 1024 - 8)
    sent, answer = 0, b""
    sock.settimeout(0.01)
    try:
        while sent < 100 * 2**20 and not answer:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
            try:
                answer = sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(10)
    while b"}" not in answer:  # the rest of the headers and the JSON body
        more = sock.recv(65536)
        if not more:
            break
        answer += more
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer
    assert sent < 40 * 2**20, f"sent {sent / 2**20:.0f} MB before the answer"
