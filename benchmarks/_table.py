"""Fixed-width text tables for the benchmark scripts' summaries."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

#: A column: (row key, header, width, format spec); the first column is left-aligned.
Column = tuple[str, str, int, str]


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """``rows`` as a header line, a rule and one line per row."""
    def line(values: Sequence[str]) -> str:
        cells = [f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, (_, _, w, _)) in enumerate(zip(values, columns))]
        return "".join(cells)

    header = line([title for _, title, _, _ in columns])
    body = [line([format(row[key], spec) for key, _, _, spec in columns]) for row in rows]
    return "\n".join([header, "-" * len(header), *body])
