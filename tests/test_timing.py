"""Tests for posekit.timing.StageTimer."""

from __future__ import annotations

import time

import pytest

from posekit.timing import StageTimer


def test_stage_timer_accumulates_and_counts():
    t = StageTimer()
    for _ in range(3):
        with t("a"):
            time.sleep(0.002)
    with t("b"):
        pass
    assert t.counts == {"a": 3, "b": 1}
    assert t.totals["a"] >= 0.006 and t.totals["b"] >= 0
    ms = t.mean_ms()
    assert ms["a"] == pytest.approx(1000 * t.totals["a"] / 3)
    assert t.mean_ms(per=2)["a"] == pytest.approx(1000 * t.totals["a"] / 2)
    assert list(t.mean_ms()) == ["a", "b"]
    assert t.summary().startswith("a ") and "ms" in t.summary()
    t.reset()
    assert t.totals == {} and t.counts == {}


def test_stage_timer_records_on_exception():
    t = StageTimer()
    with pytest.raises(RuntimeError):
        with t("boom"):
            raise RuntimeError("x")
    assert t.counts["boom"] == 1
