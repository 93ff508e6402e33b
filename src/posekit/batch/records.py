"""The job log: one JSON line per finished image, committed as it completes.

``OUT/records/part-NNNNN.jsonl`` holds a record per image (its key, size, mtime,
image id, and its poses or the reason it failed). Each process appends to a shard
of its own, a whole line per ``write`` call, flushed to the OS at once (a
``kill -9`` or an out-of-memory kill loses only images still in flight) and
fsynced at most every ``fsync_interval`` seconds and on close (a power cut loses
at most that long). A line cut short by a crash has no newline, or does not
parse, or lacks the required fields: it is detected, logged and ignored, never
read as data. Later records of a key supersede earlier ones (a changed file
redone by ``--resume``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

__all__ = ["RECORDS_DIR", "RecordLog", "RecordRef", "RecordIndex", "scan_records"]

log = logging.getLogger(__name__)

RECORDS_DIR = "records"
_REQUIRED = ("key", "size", "mtime_ns", "status")
_STATUSES = ("ok", "error")


def _valid(record: Any) -> bool:
    return (isinstance(record, dict) and all(k in record for k in _REQUIRED)
            and record["status"] in _STATUSES and isinstance(record["key"], str))


class RecordLog:
    """Appends records to a new shard under ``OUT/records/``.

    Args:
        out: the job's output folder.
        fsync_interval: seconds between fsyncs (records are flushed to the OS at once).
    """

    def __init__(self, out: str | os.PathLike[str], fsync_interval: float = 1.0) -> None:
        self.folder = Path(out) / RECORDS_DIR
        self.path: Path | None = None  # the shard, created by the first append
        self._fd = -1
        self._fsync_interval = fsync_interval
        self._last_sync = time.monotonic()
        self.count = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            number = 1 + max((int(p.stem.split("-")[1]) for p in self.folder.glob("part-*.jsonl")
                              if p.stem.split("-")[1].isdigit()), default=0)
            self.path = self.folder / f"part-{number:05d}.jsonl"
            try:  # O_EXCL: two processes on one folder never share a shard
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                return
            except FileExistsError:
                continue

    def append(self, record: dict[str, Any]) -> None:
        """Commit one record: one line, one ``write`` call, in the OS before this returns."""
        if self._fd < 0:
            self._open()
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # a regular file takes it in one call; loop for the partial-write case
            written = os.write(self._fd, view)
            view = view[written:]
        self.count += 1
        now = time.monotonic()
        if now - self._last_sync >= self._fsync_interval:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "RecordLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RecordRef:
    """Where a record lies, with the fields a resume decision needs."""

    shard: Path
    offset: int
    length: int
    size: int
    mtime_ns: int
    status: str


class RecordIndex:
    """The latest valid record of each key over all shards of ``OUT/records``."""

    def __init__(self, refs: dict[str, RecordRef], torn: int = 0) -> None:
        self.refs = refs
        #: Lines ignored because they were cut short or corrupt.
        self.torn = torn

    def __len__(self) -> int:
        return len(self.refs)

    def __contains__(self, key: str) -> bool:
        return key in self.refs

    def is_done(self, key: str, size: int, mtime_ns: int) -> bool:
        """True when ``key`` has a record made from a file of this size and mtime."""
        ref = self.refs.get(key)
        return ref is not None and ref.size == size and ref.mtime_ns == mtime_ns

    def keys(self) -> list[str]:
        return list(self.refs)

    def load(self, key: str) -> dict[str, Any]:
        """The record of ``key``, read back from its shard."""
        ref = self.refs[key]
        with open(ref.shard, "rb") as f:
            f.seek(ref.offset)
            return json.loads(f.read(ref.length))

    def iter_records(self, keys: list[str]) -> Iterator[dict[str, Any]]:
        """Records of ``keys`` in that order, read one at a time (memory stays flat)."""
        handles: dict[Path, Any] = {}
        try:
            for key in keys:
                ref = self.refs[key]
                f = handles.get(ref.shard)
                if f is None:
                    f = handles[ref.shard] = open(ref.shard, "rb")
                f.seek(ref.offset)
                yield json.loads(f.read(ref.length))
        finally:
            for f in handles.values():
                f.close()


def _shards(out: Path) -> list[Path]:
    folder = out / RECORDS_DIR
    if not folder.is_dir():
        return []
    return sorted(folder.glob("part-*.jsonl"), key=lambda p: (len(p.name), p.name))  # part-100000 after part-99999


def scan_records(out: str | os.PathLike[str]) -> RecordIndex:
    """Index every valid record under ``OUT/records`` (later shards and lines win)."""
    refs: dict[str, RecordRef] = {}
    torn = 0
    for shard in _shards(Path(out)):
        offset = 0
        with open(shard, "rb") as f:
            for line in f:
                length = len(line)
                record = None
                if line.endswith(b"\n"):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None
                if _valid(record):
                    refs[record["key"]] = RecordRef(shard, offset, length, int(record["size"]),
                                                    int(record["mtime_ns"]), record["status"])
                elif line.strip():
                    torn += 1
                    log.warning("%s: ignored a cut-short or corrupt record at byte %d (%d bytes)",
                                shard, offset, length)
                offset += length
    return RecordIndex(refs, torn)


def has_records(out: str | os.PathLike[str]) -> bool:
    """True when ``OUT`` holds records of a job."""
    return bool(_shards(Path(out)))
