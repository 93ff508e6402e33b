"""A bounded pool of inference threads, each with its own estimator.

Each of the ``workers`` threads builds its own estimator (its own ONNX Runtime
sessions: nothing is shared between threads) when the pool starts, then runs
tasks ``fn(estimator)`` from one queue. ONNX Runtime and OpenCV release the GIL,
so the threads run in parallel.

Admission is bounded: a request takes a *slot* (:meth:`InferencePool.admit`)
before its body is read, and at most ``workers + queue_size`` slots exist. A
request that finds none gets :class:`PoolFull` (the server answers 503 with a
``Retry-After`` estimated from the measured service time) without reading its
body, so the memory held by waiting requests is bounded. A slot is released when
its task is finished or cancelled -- not when the client stops waiting -- so a
timed-out request whose image is still being processed keeps its slot until the
worker is done.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["InferencePool", "Slots", "Ticket", "PoolFull", "PoolNotReady", "take_slot"]

log = logging.getLogger("posekit.serve")

E = TypeVar("E")
R = TypeVar("R")


class PoolFull(RuntimeError):
    """Every slot is taken; ``retry_after`` is the suggested wait in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


class PoolNotReady(RuntimeError):
    """The workers have not finished loading their models (or failed to)."""


class Slots:
    """A non-blocking counter of at most ``capacity`` holders."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._used = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._used >= self.capacity:
                return False
            self._used += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._used <= 0:
                raise RuntimeError("Slots.release() without a matching acquire")
            self._used -= 1

    @property
    def in_use(self) -> int:
        return self._used


class Ticket:
    """One admitted request's slot; :meth:`release` is idempotent (and thread-safe)."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._slots.release()

    @property
    def held(self) -> bool:
        return self._held


def take_slot(slots: Slots, *, stopping: bool, ready: bool, error: str | None,
              retry_after: Callable[[], int]) -> Ticket:
    """A :class:`Ticket` for one of ``slots``, without waiting: the admission rule of the pool and the jobs.

    Raises:
        PoolNotReady: shutting down, or the models are not loaded (yet, or ``error``).
        PoolFull: every slot is taken (``retry_after()`` seconds suggested).
    """
    if stopping:
        raise PoolNotReady("the server is shutting down")
    if not ready:
        raise PoolNotReady(error or "models are loading")
    if not slots.try_acquire():
        raise PoolFull(retry_after())
    return Ticket(slots)


class InferencePool(Generic[E]):
    """``workers`` threads, each with the estimator ``factory()`` builds, and a bounded queue.

    Args:
        factory: builds one estimator; called once in each worker thread.
        workers: number of threads (and estimators).
        queue_size: tasks admitted beyond the ``workers`` running ones.
        name: thread name prefix.
    """

    def __init__(self, factory: Callable[[], E], *, workers: int, queue_size: int,
                 name: str = "posekit-infer") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {queue_size}")
        self.workers = int(workers)
        self.queue_size = int(queue_size)
        self.slots = Slots(self.workers + self.queue_size)
        self._factory = factory
        self._name = name
        # Room for every admitted task plus one stop sentinel per worker: put_nowait never fails.
        self._queue: queue.Queue[tuple[Future[Any], Callable[[E], Any]] | None] = queue.Queue(
            maxsize=self.slots.capacity + self.workers)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._loaded = 0
        self._busy = 0
        self._ready = threading.Event()
        self._settled = threading.Event()  # every worker has loaded or failed
        self.error: str | None = None
        self.completed = 0
        self.failed = 0
        self._service_s = 0.1  # moving average of the time a task takes (Retry-After)
        self._started = False
        self._stopped = False
        self.load_seconds: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the worker threads; each builds its estimator (``ready`` when all have)."""
        if self._started:
            return
        self._started = True
        self._t0 = time.perf_counter()
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, args=(i,), name=f"{self._name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until every worker has loaded its models or one failed; True when ready."""
        self._settled.wait(timeout)
        return self._ready.is_set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """Refuse new requests, cancel waiting tasks, let running ones finish (up to ``timeout``), end the threads."""
        self._stopped = True
        self._ready.clear()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in self._threads:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                break
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("inference threads still busy at shutdown: %s", ", ".join(alive))

    # ------------------------------------------------------------------ requests

    def admit(self) -> Ticket:
        """A slot for one request, taken without waiting.

        Raises:
            PoolNotReady: models not loaded (yet, or loading failed).
            PoolFull: every slot is taken.
        """
        return take_slot(self.slots, stopping=self._stopped, ready=self.ready, error=self.error,
                         retry_after=self.retry_after)

    def submit(self, fn: Callable[[E], R], ticket: Ticket) -> Future[R]:
        """Queue ``fn(estimator)``; the ticket's slot is released when the task ends or is cancelled."""
        if not ticket.held:
            raise RuntimeError("submit() needs a held ticket")
        future: Future[R] = Future()
        future.add_done_callback(lambda _: ticket.release())
        try:
            self._queue.put_nowait((future, fn))
        except queue.Full:  # cannot happen while tickets bound the tasks; refuse rather than block
            future.cancel()
            raise PoolFull(self.retry_after()) from None
        return future

    def retry_after(self) -> int:
        """Suggested seconds before retrying: the time the queued work takes, 1..60."""
        waiting = self._queue.qsize() + 1
        return int(min(60, max(1, math.ceil(self._service_s * waiting / self.workers))))

    @property
    def queue_depth(self) -> int:
        """Tasks waiting for a worker."""
        return self._queue.qsize()

    @property
    def busy(self) -> int:
        """Workers running a task now."""
        return self._busy

    # ------------------------------------------------------------------ worker

    def _run(self, index: int) -> None:
        try:
            estimator = self._factory()
        except BaseException as exc:  # reported by /readyz; the thread ends
            log.error("inference worker %d could not load its models: %s", index, exc,
                      exc_info=not isinstance(exc, (FileNotFoundError, ValueError)))
            with self._lock:
                self.error = self.error or f"model loading failed: {type(exc).__name__}: {exc}"
            self._settled.set()
            return
        with self._lock:
            self._loaded += 1
            if self._loaded == self.workers and self.error is None:
                self.load_seconds = time.perf_counter() - self._t0
                self._ready.set()
                self._settled.set()
                log.info("%d inference worker(s) ready in %.1f s", self.workers, self.load_seconds)
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if not future.set_running_or_notify_cancel():
                continue  # its client stopped waiting before it started
            with self._lock:
                self._busy += 1
            start = time.perf_counter()
            try:
                result = fn(estimator)
            except BaseException as exc:
                future.set_exception(exc)
                ok = False
            else:
                future.set_result(result)
                ok = True
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    self._busy -= 1
                    self._service_s = 0.8 * self._service_s + 0.2 * elapsed
            with self._lock:
                if ok:
                    self.completed += 1
                else:
                    self.failed += 1
