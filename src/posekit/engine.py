"""The parallel engine: a stream of work through several estimator replicas at once, results in order.

Two single-threaded inference sessions keep two cores busier than one session
with two intra-op threads: most of a pose network's operators are small
(Lite-HRNet's 1x1 convolutions and channel shuffles on 64x48 maps), and an
intra-op thread pool waits at every operator boundary, while two independent
sessions never wait for each other. Measured on 2 cores (``benchmarks/bench_presets.py``,
serial vs engine, interleaved; figures in the README), and earlier with two Ray actors of one
thread each: 1.34x one session of two threads.

So the engine runs ``workers`` replicas of an estimator -- each with its own
sessions of ``threads`` intra-op threads (default: one per CPU, one thread
each) -- over a stream of items. Each replica runs the whole per-image work
(decode, detect, crop, network, tail), so the detector of one image runs
while the other replica's pose network works on another image's crops.
Results come back in input order, and since a session computes the same
numbers whatever its thread count (checked by ``tests/test_engine.py``, image by image),
they are identical to the serial path.

Memory stays bounded: at most ``max_in_flight`` items are submitted and not
yet handed to the consumer (default ``2 * workers``).

This module knows nothing about poses: :meth:`posekit.pipeline.PoseEstimator.predict_files`
and the video stream use it. It is the CPU plan: when an estimator's networks run on an
accelerator, ``predict_files`` runs :mod:`posekit.batching` instead (one estimator, images
batched into few network calls).
"""

from __future__ import annotations

import logging
import os
import queue
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, Sequence, TypeVar

__all__ = ["EnginePlan", "available_cpus", "plan_engine", "ReplicaPool"]

log = logging.getLogger(__name__)

E = TypeVar("E")
T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count()`` where that is missing)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class EnginePlan:
    """How many estimator replicas run at once and how many intra-op threads each session gets.

    Attributes:
        workers: replicas (threads of the engine), >= 1.
        threads: intra-op threads per session, >= 1.
    """

    workers: int
    threads: int

    @property
    def parallel(self) -> bool:
        """True if more than one replica runs (False: the serial path)."""
        return self.workers > 1


def plan_engine(workers: int | None = None, threads: int | None = None, cpus: int | None = None) -> EnginePlan:
    """Workers and threads per worker for ``cpus`` CPUs (default :func:`available_cpus`).

    Neither given: one single-threaded worker per CPU (the measured best on 2 cores).
    One given: the other fills the CPUs (at least 1). Both given: as given.

    >>> plan_engine(cpus=2)
    EnginePlan(workers=2, threads=1)
    >>> plan_engine(threads=2, cpus=2)
    EnginePlan(workers=1, threads=2)
    >>> plan_engine(workers=1, cpus=4)
    EnginePlan(workers=1, threads=4)
    """
    cpus = available_cpus() if cpus is None else max(1, int(cpus))
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if workers is None and threads is None:
        return EnginePlan(cpus, 1)
    if workers is None:
        return EnginePlan(max(1, cpus // int(threads)), int(threads))
    if threads is None:
        return EnginePlan(int(workers), max(1, cpus // int(workers)))
    return EnginePlan(int(workers), int(threads))


class ReplicaPool(Generic[E]):
    """Runs ``fn(replica, item)`` over a stream of items on ``len(replicas)`` threads, in order.

    Each replica is used by one task at a time (a replica is not assumed to be
    thread-safe: an estimator has its own timer). Use as a context manager, or
    call :meth:`close`.

    Args:
        replicas: the objects the tasks run on (e.g. estimators with their own sessions).
        max_in_flight: items submitted and not yet yielded, at most (default ``2 * len(replicas)``).
        name: thread name prefix.
    """

    def __init__(self, replicas: Sequence[E], max_in_flight: int | None = None, *, name: str = "posekit-engine") -> None:
        if not replicas:
            raise ValueError("ReplicaPool needs at least one replica")
        self.replicas = list(replicas)
        self.max_in_flight = max(1, int(max_in_flight or 2 * len(self.replicas)))
        self._free: queue.SimpleQueue[E] = queue.SimpleQueue()
        for replica in self.replicas:
            self._free.put(replica)
        self._executor = ThreadPoolExecutor(max_workers=len(self.replicas), thread_name_prefix=name)

    def _run(self, fn: Callable[[E, T], R], item: T) -> R:
        replica = self._free.get()  # never waits long: as many threads as replicas
        try:
            return fn(replica, item)
        finally:
            self._free.put(replica)

    def submit(self, fn: Callable[[E, T], R], item: T) -> "Future[R]":
        """Run ``fn(replica, item)`` on the next free replica; its future."""
        return self._executor.submit(self._run, fn, item)

    def map(self, fn: Callable[[E, T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(replica, item)`` for each item, yielded in input order.

        Items are pulled from ``items`` in the calling thread, at most
        :attr:`max_in_flight` ahead of the consumer. An exception raised by
        ``fn`` is re-raised here at its item's position (earlier results are
        delivered first). Closing the generator early cancels the tasks not
        yet started and waits for the running ones.
        """
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(self.submit(fn, item))
                while len(pending) >= self.max_in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled():
                    try:
                        future.result()
                    except BaseException:  # already abandoned by the consumer
                        pass

    def close(self) -> None:
        """Stop the threads (after the running tasks)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ReplicaPool[E]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
