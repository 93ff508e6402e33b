"""Exactly-once results after ``kill -9``: a killed ``posekit predict`` job, resumed, equals an uninterrupted one.

A folder of 34 COCO images (the repository's and some mirrored, ``testdata.image_folder``) and 4 bad files is processed once without
interruption (the reference), then by runs killed with SIGKILL

* ``early``  -- right after the first record is committed;
* ``mid``    -- once half of the images are committed, and the resume killed again early;
* ``commit`` -- inside a commit: a harness writes half of the Nth record line and kills
  its own process (twice: in the first run and in a resumed one), leaving torn lines;

each followed by ``--resume`` until a run completes. The final outputs must equal
the reference's; every image must be committed exactly once over all shards
(a torn line does not count); a re-run without ``--resume`` is refused,
``--overwrite`` starts again and ``posekit merge`` rebuilds ``results.json``
byte for byte.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import testdata

pytestmark = pytest.mark.slow

N_GOOD = 34
#: Bad files (name -> how it is made); two sort among the good images, two after them.
BAD = ("truncated", "corrupt", "x.jpg", "empty.png")
TIMEOUT = 180  # seconds for any one subprocess (a run takes ~3 s)
_REQUIRED = ("key", "size", "mtime_ns", "status")

#: Runs the job with ``RecordLog.append`` patched: the Nth record of this process is
#: written half-way (one os.write of half its bytes) and the process SIGKILLs itself.
HARNESS = r"""
import json, os, signal, sys
from posekit.batch.records import RecordLog

N = int(sys.argv[1])
_append = RecordLog.append

def append(self, record):
    if self.count + 1 == N:
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
        os.write(self._fd, line[: len(line) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    _append(self, record)

RecordLog.append = append
from posekit.cli import main
sys.exit(main(sys.argv[2:]))
"""


# ----------------------------------------------------------------------------- helpers


def _shards(out: Path) -> list[Path]:
    return sorted((out / "records").glob("part-*.jsonl"))


def _lines(out: Path) -> list[bytes]:
    return [line for shard in _shards(out) for line in shard.read_bytes().splitlines(keepends=True)]


def _parse(line: bytes) -> dict | None:
    """The record of a committed line, None for a torn or corrupt one."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    ok = isinstance(record, dict) and all(k in record for k in _REQUIRED) and record["status"] in ("ok", "error")
    return record if ok else None


def _committed_keys(out: Path) -> collections.Counter:
    """How many valid lines each key has, over every shard."""
    return collections.Counter(r["key"] for r in map(_parse, _lines(out)) if r is not None)


def _torn_lines(out: Path) -> int:
    return sum(1 for line in _lines(out) if line.strip() and _parse(line) is None)


def _new_lines(out: Path, before: set[Path]) -> int:
    """Newline-terminated lines in the shards that were not there before (this run's shard)."""
    return sum(p.read_bytes().count(b"\n") for p in _shards(out) if p not in before)


def _predict_args(images: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", str(images), "--out", str(out), "--preset", "fast", "-q", *extra]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit", *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


def _run_killed_when(args: list[str], out: Path, committed: int) -> None:
    """Start the job and SIGKILL it once its own shard holds ``committed`` lines."""
    before = set(_shards(out))
    stderr = tempfile.TemporaryFile()  # a file, not a pipe: nothing blocks on a full pipe
    proc = subprocess.Popen([sys.executable, "-m", "posekit", *args], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + TIMEOUT
        while _new_lines(out, before) < committed:
            if proc.poll() is not None:
                stderr.seek(0)
                pytest.fail(f"the run ended (exit {proc.returncode}) before {committed} records were committed: "
                            f"{stderr.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {committed} records committed within {TIMEOUT} s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        stderr.close()
    assert proc.returncode == -signal.SIGKILL, proc.returncode


def _run_torn_at(args: list[str], n: int) -> None:
    """Run the job in the harness that tears its ``n``-th record and kills itself."""
    proc = subprocess.run([sys.executable, "-c", HARNESS, str(n), *args], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """34 COCO images under their names, a truncated and a corrupt JPEG among them, then x.jpg (text)
    and an empty .png."""
    folder = tmp_path_factory.mktemp("kill_resume") / "images"
    good = testdata.image_folder(folder, N_GOOD)
    data = good[0].read_bytes()
    (folder / f"{good[2].stem}_truncated.jpg").write_bytes(data[: len(data) // 2])
    noise = random.Random(11).randbytes(20_000)
    (folder / f"{good[15].stem}_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + noise + b"\xff\xd9")
    (folder / "x.jpg").write_text("this is not an image\n")
    (folder / "empty.png").write_bytes(b"")
    assert len(os.listdir(folder)) == N_GOOD + len(BAD)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, images: Path) -> dict:
    out = tmp_path_factory.mktemp("reference")
    proc = _run(_predict_args(images, out))
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == N_GOOD + len(BAD) and summary["failed"] == len(BAD), summary
    assert summary["poses"] > 0
    return {"out": out, "results": json.loads((out / "results.json").read_text()), "summary": summary}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, images: Path):
    """``scenario(name)`` -> the OUT of that scenario after its final, completed ``--resume`` (run once)."""
    done: dict[str, tuple[Path, int, str]] = {}
    total = N_GOOD + len(BAD)

    def run(name: str) -> tuple[Path, int, str]:
        if name in done:
            return done[name]
        out = tmp_path_factory.mktemp(f"scenario_{name}")
        args = _predict_args(images, out)
        resume = [*args, "--resume"]
        if name == "early":
            _run_killed_when(args, out, 1)
        elif name == "mid":
            _run_killed_when(args, out, (total + 1) // 2)
            assert len(_committed_keys(out)) < total
            _run_killed_when(resume, out, 1)  # killed again, early in the resumed run
        elif name == "commit":
            _run_torn_at(args, 6)
            _run_torn_at(resume, 10)
            for shard in _shards(out):  # each run left a half line at the end of its shard
                data = shard.read_bytes()
                assert data and not data.endswith(b"\n"), shard
            assert len(_shards(out)) == 2 and _torn_lines(out) == 2
            assert len(_committed_keys(out)) == 5 + 9
        else:
            raise ValueError(name)
        assert len(_committed_keys(out)) < total, "the run was killed too late to test anything"
        proc = _run(resume)
        done[name] = (out, proc.returncode, proc.stderr)
        return done[name]

    return run


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", ["early", "mid", "commit"])
def test_killed_job_resumes_to_the_uninterrupted_results(name, scenario, reference, images):
    out, code, stderr = scenario(name)
    assert code == 1, stderr[-2000:]  # the bad files failed; everything else processed

    results = json.loads((out / "results.json").read_text())
    assert results == reference["results"]  # same list, same order

    summary = json.loads((out / "summary.json").read_text())
    for field in ("images", "processed", "failed", "poses", "errors", "image_ids"):
        assert summary[field] == reference["summary"][field], field
    failed = collections.Counter(e["file"] for e in summary["errors"])
    bad_names = sorted(n for n in os.listdir(images) if any(b in n for b in BAD))
    assert sorted(failed) == bad_names and set(failed.values()) == {1}

    # every image committed exactly once over all runs; torn lines never count
    counts = _committed_keys(out)
    assert sorted(counts) == sorted(os.listdir(images))
    assert [k for k, c in counts.items() if c > 1] == []
    torn = _torn_lines(out)
    assert summary["ignored_torn_records"] == torn
    if name == "commit":
        assert summary["ignored_torn_records"] >= 1
    assert len(_shards(out)) >= 2


def test_rerun_without_resume_is_refused_and_overwrite_starts_again(scenario, reference, images, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scenario("early")[0], out)
    shards = {p.name: p.read_bytes() for p in _shards(out)}

    proc = _run(_predict_args(images, out))
    assert proc.returncode == 2
    assert "previous run" in proc.stderr and "--resume" in proc.stderr and "--overwrite" in proc.stderr
    assert {p.name: p.read_bytes() for p in _shards(out)} == shards  # untouched

    proc = _run(_predict_args(images, out, "--overwrite"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert [p.name for p in _shards(out)] == ["part-00001.jsonl"]  # the old records are gone
    counts = _committed_keys(out)
    assert sorted(counts) == sorted(os.listdir(images)) and set(counts.values()) == {1}
    assert json.loads((out / "results.json").read_text()) == reference["results"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == reference["summary"]["errors"] and summary["ignored_torn_records"] == 0


def test_merge_rebuilds_results_byte_identically(scenario, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scenario("commit")[0], out)  # several shards, torn lines
    results = (out / "results.json").read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    (out / "results.json").unlink()
    (out / "summary.json").unlink()

    proc = _run(["merge", str(out), "-q"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.json").read_bytes() == results
    assert results == (reference["out"] / "results.json").read_bytes()
    merged = json.loads((out / "summary.json").read_text())
    for field in ("images", "processed", "failed", "poses", "errors", "image_ids", "ignored_torn_records"):
        assert merged[field] == summary[field], field
