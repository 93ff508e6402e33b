"""``posekit predict --engine ray``: the same results as ``--engine local``, exactly once, also when an actor dies.

Each job runs in a subprocess that starts (``ray.init``) and shuts down its own
local Ray instance. While it runs, the test records every process descending
from it (raylet, GCS, workers, actors); once it exits, all of them must be gone
(any left over is killed, by pid, and fails the test). ``RAY_ADDRESS=local``
keeps the job off any other Ray cluster on this machine.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import testdata

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

TIMEOUT = 180  # seconds for any one job (a Ray job of 40 images takes ~15 s)
_REQUIRED = ("key", "size", "mtime_ns", "status")


# ----------------------------------------------------------------------------- processes


def _proc_table() -> dict[tuple[int, int], int]:
    """(pid, start time) -> parent pid of every live (not zombie) process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        table[(int(name), int(fields[19]))] = int(fields[1])
    return table


def _descendants(root: int) -> set[tuple[int, int]]:
    table = _proc_table()
    children = collections.defaultdict(list)
    for ident, ppid in table.items():
        children[ppid].append(ident)
    found, todo = set(), [root]
    while todo:
        for ident in children.get(todo.pop(), ()):
            found.add(ident)
            todo.append(ident[0])
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(ident: tuple[int, int]) -> bool:
    return ident in _proc_table()


class Job:
    """A ``posekit`` subprocess, watched: its descendants are recorded at every :meth:`poll`."""

    def __init__(self, args: list[str], log: Path) -> None:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "local"}
        self.log = log
        self._stderr = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "posekit", *args], stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, env=env)
        self.seen: set[tuple[int, int]] = set()
        self.deadline = time.monotonic() + TIMEOUT

    def poll(self) -> bool:
        """Record the descendants; True while the job runs."""
        if self.proc.poll() is not None:
            return False
        self.seen |= _descendants(self.proc.pid)
        if time.monotonic() > self.deadline:
            pytest.fail(f"the job did not end within {TIMEOUT} s: {self.stderr()}")
        return True

    def actors(self) -> list[int]:
        """Pids of the job's live pose-estimator actors."""
        return [pid for pid, _ in _descendants(self.proc.pid)
                if "PoseActor" in _cmdline(pid) or "MapWorker" in _cmdline(pid)]

    def wait(self) -> int:
        while self.poll():
            time.sleep(0.02)
        return self.proc.returncode

    def stderr(self) -> str:
        self._stderr.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def close(self) -> list[str]:
        """Stop the job if needed; kill and name its processes still alive (a few seconds' grace)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._stderr.close()
        end = time.monotonic() + 20
        while any(_alive(i) for i in self.seen) and time.monotonic() < end:
            time.sleep(0.2)
        left = [i for i in self.seen if _alive(i)]
        names = [f"{pid} {_cmdline(pid)[:80]}" for pid, _ in left]
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return names


@pytest.fixture
def job(tmp_path):
    """``job(args)`` -> a running :class:`Job`; at the end every process it started must be gone."""
    jobs: list[Job] = []

    def start(args: list[str]) -> Job:
        j = Job(args, tmp_path / f"stderr-{len(jobs)}.txt")
        jobs.append(j)
        return j

    yield start
    leftovers = [name for j in jobs for name in j.close()]
    assert leftovers == [], f"processes left running after the job ended (killed now): {leftovers}"


# ----------------------------------------------------------------------------- data and helpers


def _folder(root: Path, good: int) -> Path:
    """``good`` COCO images (``testdata.image_folder``) and a non-image ``x.jpg``."""
    folder = root / f"images{good}"
    testdata.image_folder(folder, good)
    (folder / "x.jpg").write_text("not an image\n")
    return folder


def _args(images: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", str(images), "--out", str(out), "--preset", "fast", "-q", *extra]


def _ray(*extra: str) -> list[str]:
    return ["--engine", "ray", "--actors", "2", "--cpus-per-actor", "1", *extra]


def _records(out: Path) -> list[dict]:
    """The valid records over every shard (a torn line is none)."""
    found = []
    for shard in sorted((out / "records").glob("part-*.jsonl")):
        for line in shard.read_bytes().splitlines(keepends=True):
            try:
                record = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                record = None
            if isinstance(record, dict) and all(k in record for k in _REQUIRED):
                found.append(record)
    return found


def _committed(out: Path) -> int:
    shards = list((out / "records").glob("part-*.jsonl")) if (out / "records").is_dir() else []
    return sum(p.read_bytes().count(b"\n") for p in shards)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """``local_run(good)`` -> (images folder, OUT of ``--engine local``), made once per size."""
    root = tmp_path_factory.mktemp("ray_engine")
    done: dict[int, tuple[Path, Path]] = {}

    def run(good: int) -> tuple[Path, Path]:
        if good not in done:
            images = _folder(root, good)
            out = root / f"local{good}"
            proc = subprocess.run([sys.executable, "-m", "posekit", *_args(images, out)],
                                  capture_output=True, text=True, timeout=TIMEOUT)
            assert proc.returncode == 1, proc.stderr[-2000:]
            done[good] = images, out
        return done[good]

    return run


def _assert_same_as_local(out: Path, local: Path, images: Path) -> None:
    assert json.loads((out / "results.json").read_text()) == json.loads((local / "results.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((local / "summary.json").read_text())
    for field in ("images", "processed", "failed", "poses", "errors", "image_ids"):
        assert summary[field] == reference[field], field
    assert summary["engine"] == "ray" and summary["actors"] == 2
    assert sorted(summary["image_ids"]) == sorted(os.listdir(images))  # every image, once
    assert [e["file"] for e in summary["errors"]] == ["x.jpg"]
    keys = collections.Counter(r["key"] for r in _records(out))
    assert sorted(keys) == sorted(os.listdir(images)) and set(keys.values()) == {1}  # committed exactly once


# ----------------------------------------------------------------------------- tests


def test_ray_engine_gives_the_local_results(job, local_run, tmp_path):
    images, local = local_run(11)
    out = tmp_path / "ray"
    j = job(_args(images, out, *_ray()))
    assert j.wait() == 1, j.stderr()
    assert j.seen, "the job started no processes: was Ray used?"
    _assert_same_as_local(out, local, images)


def test_a_killed_actor_is_replaced_and_every_image_committed_once(job, local_run, tmp_path):
    images, local = local_run(39)
    total = len(os.listdir(images))
    out = tmp_path / "ray"
    j = job(_args(images, out, *_ray("--ray-batch-size", "2")))
    killed = at = None
    before: set[int] = set()
    replaced: set[int] = set()
    while j.poll():
        if killed is None and _committed(out) >= 4:
            actors = j.actors()  # both, normally; the second may still be starting on a loaded machine
            assert actors, "no PoseActor process found"
            killed, at, before = actors[0], _committed(out), set(actors)
            os.kill(killed, signal.SIGKILL)
        elif killed is not None:
            replaced |= set(j.actors()) - before  # Ray restarts the lost actor (max_restarts=-1)
        time.sleep(0.02)
    assert killed is not None, f"the job ended before an actor could be killed: {j.stderr()}"
    assert at < total, "the actor was killed after the work was done"
    assert replaced, "no actor replaced the killed one"
    assert j.proc.returncode == 1, j.stderr()
    _assert_same_as_local(out, local, images)
    assert len(list((out / "records").glob("part-*.jsonl"))) == 1
