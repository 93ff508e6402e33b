"""A large, resumable job: every image committed as it finishes, outputs assembled at the end.

::

    OUT/
      job.json              what the job is (model options), checked by --resume
      records/part-*.jsonl  one committed record per image (the job's truth)
      results.json          COCO results, rebuilt from the records
      summary.json          counts and the failed images, once each
      vis/KEY               renderings (--save-img), KEY = path relative to the input root
      ...                   other formats (posekit.batch.outputs)

``run_job`` skips every image whose record matches its current size and mtime
(``resume=True``), runs the rest on an engine, commits each outcome (rendering
first, then the record, so a committed record always has its rendering), and
writes the outputs from all committed records, also after Ctrl-C. An outcome of
a key already committed in this run (a batch Ray retried) is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from posekit.batch.engines import Engine
from posekit.batch.inputs import InputItem
from posekit.batch.outputs import OUTPUT_NAMES, write_outputs
from posekit.batch.process import RenderOptions, render_name
from posekit.batch.records import RecordLog, has_records, scan_records
from posekit.io import atomic_write_bytes, atomic_write_json

__all__ = ["JobError", "JobReport", "run_job", "prepare_output", "JOB_FILE"]

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
_JOB_VERSION = 1


class JobError(RuntimeError):
    """The output folder cannot take this job (a previous run without --resume, other options)."""


@dataclass(frozen=True)
class JobReport:
    """What a job did.

    Attributes:
        images: images in the job (all runs).
        skipped: images already committed by an earlier run (``--resume``).
        committed: images committed by this run.
        summary: the ``summary.json`` written.
        interrupted: stopped by Ctrl-C (outputs hold what was committed).
    """

    images: int
    skipped: int
    committed: int
    summary: dict[str, Any]
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0: all images processed; 1: some failed (named in summary.json); 130: interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.summary["failed"] else 0


def _holds_job(out: Path) -> bool:
    return has_records(out) or (out / JOB_FILE).exists() or (out / "results.json").exists()


def prepare_output(out: str | os.PathLike[str], config: dict[str, Any], *, resume: bool, overwrite: bool) -> None:
    """Make ``out`` ready: refuse a previous run unless ``resume`` / ``overwrite``, check the options
    of a resumed job, and write ``job.json``.

    Raises:
        JobError: ``out`` holds a previous run and neither flag is given, or ``resume`` with
            other model options than the run being resumed.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if _holds_job(out):
        if overwrite:
            for name in OUTPUT_NAMES:
                target = out / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
        elif not resume:
            raise JobError(f"{out} holds a previous run: add --resume to continue it, --overwrite to start "
                           f"again, or choose another --out")
        elif (out / JOB_FILE).exists():
            import json

            previous = json.loads((out / JOB_FILE).read_text(encoding="utf-8")).get("config", {})
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            if changed:
                detail = ", ".join(f"{k}: {previous.get(k)!r} -> {config.get(k)!r}" for k in changed)
                raise JobError(f"{out} was made with other options ({detail}); resume with the same options, "
                               f"or use --overwrite or another --out")
    _remove_temporaries(out)
    atomic_write_json(out / JOB_FILE, {"version": _JOB_VERSION, "config": config}, indent=1)


_TEMPORARY = re.compile(r"\.[0-9a-f]{8}\.tmp$")  # posekit.io.atomic_open's temporary files


def _remove_temporaries(out: Path) -> None:
    """Delete temporary files a killed run left behind (never the files they were to replace)."""
    folders = [out] + [out / name for name in OUTPUT_NAMES if (out / name).is_dir() and name != "records"]
    for folder in folders:
        walk = os.walk(folder) if folder != out else [(str(out), [], os.listdir(out))]
        for parent, _, names in walk:
            for name in names:
                if _TEMPORARY.search(name):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(parent, name))


def _save_render(out: Path, key: str, data: bytes) -> str | None:
    target = out / "vis" / render_name(key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data, fsync=False)
    except OSError as exc:
        log.warning("could not write the rendering of %s: %s", key, exc)
        return None
    return render_name(key)


def run_job(
    items: Sequence[InputItem], out: str | os.PathLike[str], engine: Engine, *,
    options: RenderOptions = RenderOptions(), formats: Sequence[str] = ("coco",), progress: bool = True,
    extra_summary: dict[str, Any] | None = None,
) -> JobReport:
    """Process every item not yet committed in ``out`` and write the outputs.

    Call :func:`prepare_output` first.

    Args:
        items: the job's images (:func:`posekit.batch.inputs.collect_inputs`).
        out: the output folder.
        engine: where the images are processed.
        options: rendering and reading options.
        formats: output formats (:data:`posekit.batch.outputs.FORMATS`).
        progress: show a progress bar (images/s and ETA) on stderr.
        extra_summary: more fields for ``summary.json``.
    """
    from tqdm import tqdm

    out = Path(out)
    index = scan_records(out)
    todo = [it for it in items if not index.is_done(it.key, it.size, it.mtime_ns)]
    skipped = len(items) - len(todo)
    if skipped:
        log.info("resuming: %d of %d images already committed, %d to go", skipped, len(items), len(todo))
    committed: set[str] = set()
    interrupted = False
    bar = tqdm(total=len(items), initial=skipped, desc=f"predict ({engine.name})", unit="img",
               disable=not progress, file=sys.stderr, smoothing=0.1)
    records = RecordLog(out)
    outcomes = engine.run(todo, options)
    try:
        for outcome in outcomes:
            record = outcome.record
            key = record["key"]
            if key in committed:  # a batch retried after a lost worker: already committed once
                continue
            if outcome.render is not None:
                record["render"] = _save_render(out, key, outcome.render)
            records.append(record)
            committed.add(key)
            if record["status"] == "error":
                log.warning("failed: %s: %s", key, record["error"])
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: writing the outputs of the %d images committed so far",
                    skipped + len(committed))
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:  # stops the engine's read-ahead / Ray execution
            close()
        records.close()
        bar.close()
        engine.close()
    summary = write_outputs(out, scan_records(out), formats, {**(extra_summary or {}), **engine.stats()})
    return JobReport(len(items), skipped, len(committed), summary, interrupted)
