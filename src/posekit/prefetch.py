"""Iterate in a background thread: a bounded read-ahead buffer.

:class:`BackgroundIterator` runs any iterable in a worker thread and hands its
items to the consuming thread through a bounded queue, so frame decoding
(which releases the GIL inside OpenCV) overlaps with inference. It knows
nothing about frames, poses or tracking.

Guarantees:

* at most ``maxsize`` items are buffered (memory stays bounded; the worker
  blocks when the consumer is slower);
* an exception raised by the wrapped iterable is re-raised in the consumer, at
  the position in the sequence where it happened (items before it are still
  delivered);
* :meth:`BackgroundIterator.close` (also called by ``with`` and when the
  consumer stops early) asks the worker to stop, drops buffered items, closes
  the wrapped iterator *in the worker thread* (so e.g. a generator's
  ``finally`` releases its video capture) and joins the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Generic, Iterable, Iterator, TypeVar

__all__ = ["BackgroundIterator", "prefetch"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_POLL_SECONDS = 0.05


class _End:
    """Marks the end of the wrapped iterable."""


class _Failure:
    """Carries an exception raised by the wrapped iterable."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BackgroundIterator(Generic[T], Iterator[T]):
    """Iterate ``iterable`` in a daemon thread, buffering up to ``maxsize`` items.

    Args:
        iterable: anything iterable; ``iter()`` is called in the worker thread.
        maxsize: queue length (>= 1).
        name: thread name (for debugging).
        join_timeout: seconds :meth:`close` waits for the worker to finish
            (a worker stuck in a blocking read is left behind as a daemon).
    """

    def __init__(self, iterable: Iterable[T], maxsize: int = 8, *, name: str = "posekit-prefetch",
                 join_timeout: float = 5.0) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._iterable = iterable
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._done = False
        self._join_timeout = float(join_timeout)
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ worker side

    def _put(self, item: Any) -> bool:
        """Put ``item``, waiting while the queue is full; False if asked to stop."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(self._iterable)
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.exception("closing the prefetched iterator failed")

    # ------------------------------------------------------------------ consumer side

    def __iter__(self) -> "BackgroundIterator[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    # The worker exited without a marker (only after close()).
                    self._done = True
                    raise StopIteration from None
        if isinstance(item, _End):
            self._done = True
            self._thread.join(self._join_timeout)
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            self._thread.join(self._join_timeout)
            raise item.error
        return item

    def close(self) -> None:
        """Stop the worker, drop buffered items and join the thread (idempotent)."""
        self._done = True
        self._stop.set()
        self._drain()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(self._join_timeout)
            if self._thread.is_alive():
                log.warning("prefetch thread %r did not stop within %.1f s (blocked in a read?)",
                            self._thread.name, self._join_timeout)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread.is_alive()

    def __enter__(self) -> "BackgroundIterator[T]":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Never join here (may run in any thread during GC); just let the worker stop.
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


def prefetch(iterable: Iterable[T], size: int = 8) -> Iterator[T]:
    """``BackgroundIterator(iterable, size)``, or a plain iterator when ``size <= 0``."""
    if size <= 0:
        return iter(iterable)
    return BackgroundIterator(iterable, maxsize=size)
