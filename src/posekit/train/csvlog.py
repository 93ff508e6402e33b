"""Per-epoch CSV log of a training run."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posekit.evaluation import STAT_NAMES

__all__ = ["CSV_COLUMNS", "CsvLog", "read_csv_log"]

#: Columns of ``log.csv``; the stats are empty for epochs without validation.
CSV_COLUMNS = ("epoch", "step", "loss", "lr", "seconds", *STAT_NAMES)


class CsvLog:
    """Appends one row per epoch to ``path`` (header written when the file is new).

    Args:
        path: the CSV file (created with its parent folder).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write ``row`` (missing columns empty, unknown ones rejected)."""
        unknown = set(row) - set(CSV_COLUMNS)
        if unknown:
            raise KeyError(f"unknown CSV columns {sorted(unknown)}; columns: {CSV_COLUMNS}")
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k)) for k in CSV_COLUMNS})


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_csv_log(path: str | os.PathLike[str]) -> list[dict[str, float | None]]:
    """Rows of a ``log.csv`` as dicts of floats (``None`` for empty cells)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(f)]
