"""Per-stage wall-clock timing, owned by whoever times (no global state)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

__all__ = ["StageTimer"]


class StageTimer:
    """Accumulates seconds and call counts per named stage.

    >>> timer = StageTimer()
    >>> with timer("detect"):
    ...     pass
    >>> sorted(timer.totals)
    ['detect']
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.charge(stage, time.perf_counter() - start)

    def charge(self, stage: str, seconds: float, count: int = 1) -> None:
        """Add ``seconds`` and ``count`` calls to ``stage`` (e.g. one batched call that served ``count`` images
        counts as ``count``, so that per-image figures stay comparable with one call per image).

        >>> timer = StageTimer()
        >>> timer.charge("network", 0.5, count=4)
        >>> timer.counts, timer.mean_ms()
        ({'network': 4}, {'network': 125.0})
        """
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds
        self.counts[stage] = self.counts.get(stage, 0) + count

    def add(self, other: "StageTimer") -> None:
        """Add ``other``'s seconds and counts to this timer's (e.g. a worker's timer into its owner's)."""
        for stage, seconds in other.totals.items():
            self.charge(stage, seconds, other.counts.get(stage, 0))

    def reset(self) -> None:
        self.totals.clear()
        self.counts.clear()

    def mean_ms(self, per: int | None = None) -> dict[str, float]:
        """Milliseconds per stage, divided by ``per`` (e.g. images) or by each stage's call count."""
        return {k: 1000.0 * v / (per or self.counts[k] or 1) for k, v in self.totals.items()}

    def summary(self, per: int | None = None) -> str:
        return ", ".join(f"{k} {v:.1f} ms" for k, v in self.mean_ms(per).items())
