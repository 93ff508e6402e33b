"""Load benchmark of ``posekit serve`` on the loopback: images/s, p50/p99 latency, share of 503s, memory.

    python benchmarks/bench_serve.py [--preset balanced] [--workers 1] [--queue 8] [--image PATH]
                                     [--seconds 60] [--json out.json]

Starts ``python -m posekit serve`` on a free 127.0.0.1 port (or uses ``--url`` of a server already
running on this machine: loopback addresses only), then runs three phases of clients that send
``POST /v1/pose`` back to back (each client waits for its answer before sending again):

1. ``1 client`` -- the latency of one request alone, and the images/s one client gets;
2. ``capacity`` -- ``workers + queue`` clients: every request is admitted, the workers never idle;
3. ``4x capacity`` -- four times that: the excess is refused with 503 + ``Retry-After`` (refused
   clients send again at once -- the worst case -- or, with ``--honor-retry-after``, when told). Counts
   every status (any 5xx other than 503, or a 503 without ``Retry-After``, is reported as a failure)
   and the server's resident memory (``/proc/PID/status``) before and after ``--requests`` (1,000)
   requests.

Images/s and latencies count the 200 answers only; images/s is over the time the load lasted (until
the last request was sent), not the drain after it. The load generator shares the machine's cores
with the server. Every phase is bounded by its request count and
its share of ``--seconds`` (60 in all by default), so the benchmark always stops by itself. The
load test of the suite (``tests/serve/test_load.py``) uses the same client and server functions.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("POSEKIT_SHARED", HERE.parent.parent / "shared"))


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """A ``posekit serve`` subprocess on 127.0.0.1 (``url``, ``process``); :meth:`stop` ends it."""

    def __init__(self, url: str, process: subprocess.Popen | None) -> None:
        self.url = url
        self.process = process

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process (Linux), None for a server not started here."""
        if self.process is None:
            return None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_server(*serve_args: str, models_dir: str | os.PathLike | None = None, timeout: float = 90.0) -> Server:
    """``python -m posekit serve SERVE_ARGS`` on a free 127.0.0.1 port, once ``/readyz`` answers 200.

    The server logs only warnings (``-q --no-access-log``) to a temporary file, shown if it fails to
    start; ``POSEKIT_API_KEY`` is not passed on.
    """
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "posekit", "-q", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", *serve_args]
    if models_dir is not None:
        cmd += ["--models-dir", str(models_dir)]
    env = {k: v for k, v in os.environ.items() if k != "POSEKIT_API_KEY"}
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server can never block on it
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise RuntimeError(f"posekit serve exited with {process.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"posekit serve was not ready within {timeout:g} s")


# ----------------------------------------------------------------------------- the clients


@dataclass(frozen=True)
class Sample:
    """One answer: status, seconds from send to complete answer, ``Retry-After``, ``Content-Type``,
    and when it completed (seconds since the phase started)."""

    status: int
    seconds: float
    retry_after: str | None
    content_type: str
    done_at: float = 0.0


def run_load(url: str, data: bytes, *, clients: int, seconds: float, requests: int,
             content_type: str = "image/jpeg", path: str = "/v1/pose",
             honor_retry_after: bool = False) -> tuple[list[Sample], float]:
    """``clients`` clients posting ``data`` back to back until ``requests`` in all or ``seconds`` have passed.

    A client that gets 503 sends again at once, or after ``Retry-After`` seconds with
    ``honor_retry_after``. Returns the samples and the *loaded* time: until the last request was
    sent (the request budget ran out) or ``seconds``, whichever came first -- the answers still
    arriving after that come from a server no longer under full load. Refuses any URL that is not
    on the loopback.
    """
    import httpx

    if not is_loopback(url):
        raise ValueError(f"load is only sent to this machine's loopback, not to {url}")
    samples: list[Sample] = []
    budget = [int(requests)]
    t0 = time.perf_counter()
    last_sent = [0.0]

    async def client(stop_at: float) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.monotonic() < stop_at and budget[0] > 0:
                budget[0] -= 1
                start = time.perf_counter()
                last_sent[0] = start - t0
                r = await http.post(path, content=data, headers={"Content-Type": content_type})
                end = time.perf_counter()
                retry = r.headers.get("retry-after")
                samples.append(Sample(r.status_code, end - start, retry, r.headers.get("content-type", ""), end - t0))
                if honor_retry_after and r.status_code == 503 and retry:
                    await asyncio.sleep(min(float(retry), max(0.0, stop_at - time.monotonic())))

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(client(stop_at) for _ in range(clients)))

    asyncio.run(main())
    return samples, max(1e-9, min(seconds, last_sent[0]) if budget[0] <= 0 else seconds)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize(name: str, samples: list[Sample], elapsed: float) -> dict[str, Any]:
    """Images/s (200s completed within the loaded time ``elapsed``) and p50/p99 of the 200s, share of
    503s, failures (other 5xx, 503 without Retry-After)."""
    ok = [s.seconds for s in samples if s.status == 200]
    ok_in_time = sum(1 for s in samples if s.status == 200 and s.done_at <= elapsed)
    busy = [s for s in samples if s.status == 503]
    failures = [s for s in samples if (s.status >= 500 and s.status != 503) or (s.status == 503 and not s.retry_after)]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    return {
        "phase": name,
        "requests": len(samples),
        "ok": len(ok),
        "images_per_s": ok_in_time / elapsed if elapsed > 0 else 0.0,
        "p50_ms": 1000 * percentile(ok, 50),
        "p99_ms": 1000 * percentile(ok, 99),
        "share_503": len(busy) / len(samples) if samples else 0.0,
        "failures": len(failures),
        "statuses": statuses,
        "seconds": elapsed,
    }


# ----------------------------------------------------------------------------- main


def _jpeg(path: Path) -> bytes:
    """The image re-encoded as JPEG (what a browser or a camera sends)."""
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="balanced")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--queue", type=int, default=8)
    p.add_argument("--models-dir", default=str(SHARED / "models"))
    p.add_argument("--image", default=str(SHARED / "data" / "samples" / "basketball1.png"))
    p.add_argument("--url", default=None, help="a server already running on this machine (loopback only)")
    p.add_argument("--seconds", type=float, default=60.0, help="time budget of all phases together (default 60)")
    p.add_argument("--requests", type=int, default=1000, help="requests of the 4x-capacity phase (default 1000)")
    p.add_argument("--single", type=int, default=100, help="requests of the 1-client phase (default 100)")
    p.add_argument("--honor-retry-after", action="store_true",
                   help="clients refused with 503 wait Retry-After seconds (default: they send again at once)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args()
    if args.url and not is_loopback(args.url):
        raise SystemExit(f"--url must be on this machine's loopback (127.0.0.0/8, ::1, localhost), not {args.url}")

    data = _jpeg(Path(args.image))
    capacity = args.workers + args.queue
    server = Server(args.url, None) if args.url else start_server(
        "--preset", args.preset, "--workers", str(args.workers), "--queue", str(args.queue),
        models_dir=args.models_dir)
    try:
        run_load(server.url, data, clients=1, seconds=5, requests=3)  # warm-up
        phases = []
        samples, elapsed = run_load(server.url, data, clients=1, seconds=0.2 * args.seconds, requests=args.single)
        phases.append(summarize("1 client", samples, elapsed))
        samples, elapsed = run_load(server.url, data, clients=capacity, seconds=0.2 * args.seconds,
                                    requests=max(args.single, 4 * capacity))
        phases.append(summarize(f"capacity ({capacity})", samples, elapsed))
        rss_before = server.rss_bytes()
        samples, elapsed = run_load(server.url, data, clients=4 * capacity, seconds=0.6 * args.seconds,
                                    requests=args.requests, honor_retry_after=args.honor_retry_after)
        rss_after = server.rss_bytes()
        phases.append(summarize(f"4x capacity ({4 * capacity})", samples, elapsed))
    finally:
        if args.url is None:
            server.stop()

    sys.path.insert(0, str(HERE))
    from _table import format_table

    print(f"server     posekit serve --preset {args.preset} --workers {args.workers} --queue {args.queue} "
          f"(capacity {capacity}); {os.cpu_count()} cores; image {Path(args.image).name} "
          f"({len(data) / 1024:.0f} KB JPEG)")
    print(format_table(phases, [("phase", "phase", 22, ""), ("requests", "requests", 10, "d"), ("ok", "200", 7, "d"),
                                ("images_per_s", "images/s", 10, ".2f"), ("p50_ms", "p50 ms", 9, ".0f"),
                                ("p99_ms", "p99 ms", 9, ".0f"), ("share_503", "503 share", 11, ".1%"),
                                ("failures", "failures", 10, "d")]))
    if rss_before is not None and rss_after is not None:
        print(f"server RSS before / after the {phases[-1]['requests']} requests of the last phase: "
              f"{rss_before / 2**20:.0f} MB / {rss_after / 2**20:.0f} MB ({(rss_after - rss_before) / 2**20:+.0f} MB)")
    print("statuses (4x capacity):", phases[-1]["statuses"])
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": phases, "rss_before": rss_before, "rss_after": rss_after,
                                               "preset": args.preset, "workers": args.workers,
                                               "queue": args.queue}, indent=2))


if __name__ == "__main__":
    main()
