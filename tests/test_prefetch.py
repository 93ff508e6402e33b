"""BackgroundIterator: order, bounded buffer, error propagation, clean shutdown."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from posekit.prefetch import BackgroundIterator, prefetch


def test_yields_all_items_in_order() -> None:
    with BackgroundIterator(range(100), maxsize=4) as it:
        assert list(it) == list(range(100))
    assert not it.alive


def test_buffer_is_bounded() -> None:
    produced = []

    def gen() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    it = BackgroundIterator(gen(), maxsize=3)
    try:
        time.sleep(0.3)
        # 3 queued + 1 waiting to be put, at most.
        assert len(produced) <= 4
        assert next(it) == 0
    finally:
        it.close()


class Boom(RuntimeError):
    pass


def test_error_is_raised_in_consumer_after_earlier_items() -> None:
    def gen() -> Iterator[int]:
        yield 1
        yield 2
        raise Boom("decoder failed")

    it = BackgroundIterator(gen(), maxsize=8)
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(Boom, match="decoder failed"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert not it.alive


def test_error_while_creating_iterator() -> None:
    class Bad:
        def __iter__(self) -> Iterator[int]:
            raise OSError("cannot open")

    with pytest.raises(OSError, match="cannot open"):
        list(BackgroundIterator(Bad()))


def test_close_stops_infinite_producer_and_runs_its_finally() -> None:
    state = {"closed_in": None}

    def gen() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            state["closed_in"] = threading.current_thread().name

    it = BackgroundIterator(gen(), maxsize=2, name="test-prefetch")
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    assert not it.alive
    assert state["closed_in"] == "test-prefetch"  # the generator was closed in the worker
    with pytest.raises(StopIteration):
        next(it)
    it.close()  # idempotent


def test_break_out_of_with_block() -> None:
    with BackgroundIterator(iter(range(10**9)), maxsize=2) as it:
        for i in it:
            if i == 3:
                break
    assert not it.alive


def test_keyboard_interrupt_in_consumer_leaves_no_thread() -> None:
    it = BackgroundIterator(iter(range(10**9)), maxsize=2)
    with pytest.raises(KeyboardInterrupt):
        try:
            for i in it:
                if i == 2:
                    raise KeyboardInterrupt
        finally:
            it.close()
    assert not it.alive


def test_prefetch_zero_is_plain_iterator() -> None:
    it = prefetch([1, 2, 3], 0)
    assert not isinstance(it, BackgroundIterator)
    assert list(it) == [1, 2, 3]
    with pytest.raises(ValueError):
        BackgroundIterator([], maxsize=0)
