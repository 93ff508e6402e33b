"""run_job / prepare_output with a scripted engine: refusal, overwrite, option checks, duplicates
from retried batches, Ctrl-C, leftover temporaries (posekit.batch.job)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.batch import InputItem, JobError, RenderOptions, prepare_output, run_job, scan_records
from posekit.batch.process import Outcome
from posekit.structures import Poses

CONFIG = {"pose_model": "m", "preset.det_conf": 0.05}


def _poses(n: int) -> Poses:
    rng = np.random.default_rng(n)
    return Poses(rng.random((n, 4)) * 10, rng.random(n), rng.random((n, 17, 2)) * 100, rng.random((n, 17)),
                 rng.random(n))


def _items(n: int) -> list[InputItem]:
    return [InputItem(f"/data/{i:012d}.jpg", f"{i:012d}.jpg", 100 + i, 7) for i in range(1, n + 1)]


class ScriptedEngine:
    """Yields a record per item (item 3 fails); ``repeat`` yields some outcomes twice (a retried
    batch); ``interrupt_after`` raises KeyboardInterrupt like Ctrl-C."""

    name = "scripted"

    def __init__(self, repeat: bool = False, interrupt_after: int | None = None) -> None:
        self.repeat, self.interrupt_after, self.seen = repeat, interrupt_after, []

    def run(self, items, options):
        for n, it in enumerate(items):
            if self.interrupt_after is not None and n == self.interrupt_after:
                raise KeyboardInterrupt
            self.seen.append(it.key)
            base = {"key": it.key, "size": it.size, "mtime_ns": it.mtime_ns}
            if it.key.startswith("000000000003"):
                outcome = Outcome({**base, "status": "error", "error": "truncated JPEG file"})
            else:
                outcome = Outcome({**base, "status": "ok", "width": 64, "height": 48,
                                   "poses": _poses(int(it.key[:12]) % 3).to_record()})
            yield outcome
            if self.repeat and n % 2 == 0:
                yield outcome

    def stats(self):
        return {"engine": self.name}

    def close(self):
        pass


def test_duplicates_of_a_retried_batch_are_committed_once(tmp_path):
    prepare_output(tmp_path, CONFIG, resume=False, overwrite=False)
    report = run_job(_items(6), tmp_path, ScriptedEngine(repeat=True), progress=False)
    assert report.committed == 6 and report.exit_code == 1
    lines = [json.loads(ln) for p in (tmp_path / "records").glob("*.jsonl") for ln in p.read_text().splitlines()]
    assert sorted(r["key"] for r in lines) == [f"{i:012d}.jpg" for i in range(1, 7)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"] == [{"file": "000000000003.jpg", "reason": "truncated JPEG file"}]
    assert summary["image_ids"]["000000000005.jpg"] == 5


def test_interrupt_keeps_committed_work_and_resume_finishes_it(tmp_path):
    prepare_output(tmp_path, CONFIG, resume=False, overwrite=False)
    report = run_job(_items(6), tmp_path, ScriptedEngine(interrupt_after=4), progress=False)
    assert report.interrupted and report.exit_code == 130 and report.committed == 4
    assert json.loads((tmp_path / "summary.json").read_text())["images"] == 4

    with pytest.raises(JobError, match="--resume"):
        prepare_output(tmp_path, CONFIG, resume=False, overwrite=False)
    with pytest.raises(JobError, match="pose_model"):
        prepare_output(tmp_path, {**CONFIG, "pose_model": "other"}, resume=True, overwrite=False)
    prepare_output(tmp_path, CONFIG, resume=True, overwrite=False)
    engine = ScriptedEngine()
    report = run_job(_items(6), tmp_path, engine, progress=False)
    assert engine.seen == ["000000000005.jpg", "000000000006.jpg"] and report.skipped == 4

    reference = tmp_path / "reference"
    prepare_output(reference, CONFIG, resume=False, overwrite=False)
    run_job(_items(6), reference, ScriptedEngine(), progress=False)
    assert (tmp_path / "results.json").read_text() == (reference / "results.json").read_text()
    ours, theirs = (json.loads((d / "summary.json").read_text()) for d in (tmp_path, reference))
    assert ours == theirs


def test_a_changed_file_is_done_again(tmp_path):
    prepare_output(tmp_path, CONFIG, resume=False, overwrite=False)
    run_job(_items(3), tmp_path, ScriptedEngine(), progress=False)
    changed = [InputItem(it.path, it.key, it.size + (it.key.startswith("000000000002")), it.mtime_ns)
               for it in _items(3)]
    engine = ScriptedEngine()
    run_job(changed, tmp_path, engine, progress=False)
    assert engine.seen == ["000000000002.jpg"]
    assert scan_records(tmp_path).is_done("000000000002.jpg", 103, 7)


def test_overwrite_removes_the_previous_run_and_leftover_temporaries(tmp_path):
    prepare_output(tmp_path, CONFIG, resume=False, overwrite=False)
    run_job(_items(2), tmp_path, ScriptedEngine(), progress=False, options=RenderOptions())
    (tmp_path / "vis").mkdir()
    leftover = tmp_path / "vis" / "a.jpg.0123abcd.tmp"
    leftover.write_bytes(b"half a rendering")
    keep = tmp_path / "notes.tmp"
    keep.write_text("not ours")
    prepare_output(tmp_path, CONFIG, resume=True, overwrite=False)
    assert not leftover.exists() and keep.exists()
    prepare_output(tmp_path, CONFIG, resume=False, overwrite=True)
    assert not (tmp_path / "records").exists() and not (tmp_path / "results.json").exists()
    assert keep.exists() and (tmp_path / "job.json").exists()
