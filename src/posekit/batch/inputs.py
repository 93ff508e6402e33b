"""Which images a job covers: folders, globs, ``@list.txt`` files and CSV / Parquet manifests.

Each image becomes an :class:`InputItem` keyed by its path relative to the job's
input root (the common folder of everything named), plus its size and
modification time, so that ``--resume`` recognises finished work and redoes a
file that changed. Keys are ``/``-separated ``str`` exactly as the OS named the
file (undecodable bytes kept as surrogate escapes): they round-trip through JSON
and back to the same file; :func:`display_name` is the readable form written
where a valid UTF-8 string is required (Parquet, AlphaPose JSON).
"""

from __future__ import annotations

import csv
import glob
import logging
import os
from dataclasses import dataclass
from typing import Iterable

from posekit.io import natural_path_key, walk_images

__all__ = ["InputItem", "collect_inputs", "display_name", "MANIFEST_SUFFIXES"]

log = logging.getLogger(__name__)

#: File suffixes read as manifests (a table with a ``path`` column) rather than as images.
MANIFEST_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class InputItem:
    """One image of a job.

    Attributes:
        path: the file, as found (``str``; may hold surrogate escapes).
        key: its path relative to the input root, ``/``-separated: the job's name for it.
        size: bytes (-1 if it could not be examined).
        mtime_ns: modification time in ns (-1 if it could not be examined).
        error: why it cannot be processed, when known before reading (else None).
    """

    path: str
    key: str
    size: int
    mtime_ns: int
    error: str | None = None


def display_name(key: str) -> str:
    """``key`` as valid UTF-8 text: undecodable bytes shown as ``\\xe9`` escapes."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _read_list(list_file: str) -> list[str]:
    """Paths of a ``@list.txt`` (one per line; blank lines and ``#`` comments skipped),
    relative ones taken from the list's folder."""
    base = os.path.dirname(list_file)
    with open(list_file, encoding="utf-8", errors="surrogateescape") as f:
        lines = [ln.strip() for ln in f]
    return [os.path.join(base, ln) for ln in lines if ln and not ln.startswith("#")]


def _read_manifest(manifest: str) -> list[str]:
    """The ``path`` column of a CSV or Parquet manifest (relative paths from its folder)."""
    base = os.path.dirname(manifest)
    if manifest.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError("reading a Parquet manifest needs pyarrow: pip install 'posekit[ray]' or pyarrow") from exc
        table = pq.read_table(manifest, columns=None)
        if "path" not in table.column_names:
            raise ValueError(f"{manifest}: no 'path' column (columns: {table.column_names})")
        values = table.column("path").to_pylist()
    else:
        with open(manifest, newline="", encoding="utf-8", errors="surrogateescape") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise ValueError(f"{manifest}: no 'path' column (header: {reader.fieldnames})")
            values = [row["path"] for row in reader]
    return [os.path.join(base, v) for v in values if v]


def _expand(spec: str, recursive: bool, skipped: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``(files, roots)`` named by one input."""
    if spec.startswith("@"):
        files = _read_list(spec[1:])
        return files, [os.path.dirname(f) for f in files]
    if os.path.isfile(spec) and spec.lower().endswith(MANIFEST_SUFFIXES):
        files = _read_manifest(spec)
        return files, [os.path.dirname(f) for f in files]
    if os.path.isdir(spec):
        return list(walk_images(spec, recursive, on_skip=lambda p, r: skipped.append((p, r)))), [spec]
    if os.path.lexists(spec):  # a file, or a dangling / looping symlink: reading it says which
        return [spec], [os.path.dirname(spec)]
    if glob.has_magic(spec):
        files = [q for q in glob.glob(spec, recursive=recursive) if not os.path.isdir(q)]
        return files, [os.path.dirname(f) for f in files]
    raise FileNotFoundError(f"input {spec!r} does not exist")


def _stat(path: str) -> tuple[int, int, str | None]:
    try:
        st = os.stat(path)
    except OSError as exc:
        return -1, -1, f"cannot read file ({exc.strerror or exc})"
    return st.st_size, st.st_mtime_ns, None


def collect_inputs(inputs: Iterable[str | os.PathLike[str]], recursive: bool = False) -> list[InputItem]:
    """Every image the inputs name, once, sorted by key (:func:`posekit.io.natural_path_key`).

    Inputs: image files, folders (``recursive``: sub-folders too, symlink loops cut,
    see :func:`posekit.io.walk_images`), glob patterns, ``@list.txt`` and ``.csv`` /
    ``.parquet`` manifests with a ``path`` column. A folder that could not be entered
    (a symlink loop) becomes an item with ``error`` set, so the job names it once.

    Raises:
        FileNotFoundError: an input names nothing that exists.
        ValueError: a manifest has no ``path`` column.
    """
    files: list[str] = []
    roots: list[str] = []
    skipped: list[tuple[str, str]] = []
    for spec in inputs:
        f, r = _expand(os.fspath(spec), recursive, skipped)
        files.extend(f)
        roots.extend(r)
    if not files and not skipped:
        return []
    absolute_roots = [os.path.abspath(r or ".") for r in roots] or [os.path.abspath(os.path.dirname(skipped[0][0]))]
    root = os.path.commonpath(absolute_roots)

    def key_of(path: str) -> str:
        rel = os.path.relpath(os.path.abspath(path), root)
        return rel.replace(os.sep, "/")

    items: dict[str, InputItem] = {}
    for path in files:
        key = key_of(path)
        if key not in items:
            size, mtime, error = _stat(path)
            items[key] = InputItem(path, key, size, mtime, error)
    for path, reason in skipped:
        key = key_of(path)
        items.setdefault(key, InputItem(path, key, 0, 0, f"folder not searched: {reason}"))
    return sorted(items.values(), key=lambda it: natural_path_key(it.key))
