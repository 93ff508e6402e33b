"""Where a job's images are processed: this machine (``local``) or a Ray cluster (``ray``).

An engine turns :class:`~posekit.batch.inputs.InputItem` objects into
:class:`~posekit.batch.process.Outcome` objects, in any order; the job
(:mod:`posekit.batch.job`) commits each one. Both engines run the same
:func:`~posekit.batch.process.process_items`, so their records are identical.

* :class:`LocalEngine` -- one :class:`~posekit.pipeline.PoseEstimator` in this
  process, images decoded ahead in a thread.
* :class:`RayEngine` -- Ray Data: a dataset of the items, ``map_batches`` with a
  callable class holding one estimator per actor (``actors`` actors of
  ``cpus_per_actor`` CPUs, ONNX Runtime threads = CPUs per actor). Ray restarts a
  lost actor and retries its batch; the job drops any outcome of a key already
  committed, so results stay exactly-once. The input files and the model files
  must be readable by every node (a shared file system); renderings come back to
  the driver, which writes every file.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from posekit.batch.inputs import InputItem
from posekit.batch.process import Outcome, RenderOptions, process_items

__all__ = ["Engine", "LocalEngine", "RayEngine", "ENGINES"]

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


class Engine(Protocol):
    name: str

    def run(self, items: list[InputItem], options: RenderOptions) -> Iterator[Outcome]: ...

    def stats(self) -> dict[str, Any]:
        """Figures of this run for ``summary.json`` (engine, per-stage timing, ...)."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """This process: the parallel engine of :mod:`posekit.engine` (``workers`` estimator replicas
    of ``threads`` intra-op threads each, default one single-threaded replica per CPU).

    Args:
        make_estimator: builds the :class:`~posekit.pipeline.PoseEstimator` (called once, on first use;
            built with ``num_threads`` = the plan's ``threads`` it serves as one of the replicas).
        prefetch: images decoded ahead with one worker.
        workers: estimator replicas (``None``: :func:`posekit.engine.plan_engine`).
        threads: intra-op threads per replica.
    """

    name = "local"

    def __init__(self, make_estimator: Callable[[], Any], prefetch: int = 4, *,
                 workers: int | None = None, threads: int | None = None) -> None:
        from posekit.engine import plan_engine

        self._make_estimator = make_estimator
        self.estimator: Any = None
        self.prefetch = prefetch
        self.plan = plan_engine(workers, threads)

    def run(self, items: list[InputItem], options: RenderOptions) -> Iterator[Outcome]:
        if self.estimator is None:
            from posekit.batching import device_line

            self.estimator = self._make_estimator()
            log.info("%s", device_line(self.estimator))
        return process_items(self.estimator, items, options, prefetch=self.prefetch,
                             workers=self.plan.workers, threads=self.plan.threads)

    def stats(self) -> dict[str, Any]:
        from posekit.batching import device_report, uses_batched_plan

        est = self.estimator
        plan = {"workers": self.plan.workers, "threads": self.plan.threads}
        if est is None:
            return {"engine": self.name, **plan}
        if uses_batched_plan(est):  # one estimator batches across images; workers and threads do not apply
            plan = {"workers": 1, "threads": est.num_threads}
        done = getattr(est, "images_run", 0) or 1  # images the estimator ran, each once (one-stage ones too)
        return {"engine": self.name, **plan, "device": device_report(est),
                "timing_ms_per_image": est.timer.mean_ms(per=done), "estimator": repr(est)}

    def close(self) -> None:
        pass


def _encode_paths(values: list[str]) -> np.ndarray:
    # Arrow strings must be UTF-8; file names need not be: carry them as bytes.
    return np.array([os.fsencode(v) for v in values], dtype=object)


class PoseActor:
    """Ray Data callable class: one estimator per actor, built once; a batch of items -> outcomes.

    Input batch columns: ``path``, ``key`` (bytes), ``size``, ``mtime_ns``, ``error`` (``""`` if none). Output columns: ``record`` (JSON text) and ``render`` (bytes,
    ``b""`` if none).
    """

    def __init__(self, estimator_kwargs: dict[str, Any], options: RenderOptions) -> None:
        from posekit.pipeline import PoseEstimator

        self.estimator = PoseEstimator(**estimator_kwargs)
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        items = [
            InputItem(os.fsdecode(bytes(p)), os.fsdecode(bytes(k)), int(s), int(m), e or None)
            for p, k, s, m, e in zip(batch["path"], batch["key"], batch["size"], batch["mtime_ns"], batch["error"])
        ]
        # One worker: the actor's CPUs are its sessions' threads (RayEngine sets num_threads).
        outcomes = list(process_items(self.estimator, items, self.options, prefetch=2, workers=1))
        return {
            "record": np.array([json.dumps(o.record, separators=(",", ":")) for o in outcomes], dtype=object),
            "render": np.array([o.render or b"" for o in outcomes], dtype=object),
        }


class RayEngine:
    """Ray Data over ``actors`` actors of ``cpus_per_actor`` CPUs each.

    Args:
        estimator_kwargs: :class:`~posekit.pipeline.PoseEstimator` keyword arguments
            (picklable; ``num_threads`` is set to ``cpus_per_actor``).
        actors: number of actors (estimators).
        cpus_per_actor: CPUs reserved per actor.
        address: an existing cluster (``"auto"``, ``"ray://host:10001"``); None starts a local one.
        batch_size: images per ``map_batches`` call (a block of work, retried as a whole).
    """

    name = "ray"

    def __init__(self, estimator_kwargs: dict[str, Any], *, actors: int = 1, cpus_per_actor: float = 1.0,
                 address: str | None = None, batch_size: int = 8) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ImportError("--engine ray needs Ray Data: pip install 'posekit[ray]'") from exc
        self.estimator_kwargs = {**estimator_kwargs, "num_threads": max(1, math.ceil(cpus_per_actor))}
        self.actors = max(1, int(actors))
        self.cpus_per_actor = cpus_per_actor
        self.address = address
        self.batch_size = max(1, int(batch_size))
        self._started = False

    def _init(self) -> None:
        import ray

        if ray.is_initialized():
            return
        env = {k: v for k, v in os.environ.items() if k.startswith("POSEKIT_")}
        # ray.init(address=None) would join any cluster a previous `ray start` left running;
        # without --ray-address (or RAY_ADDRESS) this job gets a local cluster of its own.
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, runtime_env={"env_vars": env} if env else None)
        self._started = True
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False

    def run(self, items: list[InputItem], options: RenderOptions) -> Iterator[Outcome]:
        import json

        import ray.data

        if not items:
            return
        self._init()
        rows = {
            "path": _encode_paths([it.path for it in items]),
            "key": _encode_paths([it.key for it in items]),
            "size": np.array([it.size for it in items], np.int64),
            "mtime_ns": np.array([it.mtime_ns for it in items], np.int64),
            "error": np.array([it.error or "" for it in items], dtype=object),
        }
        blocks = max(self.actors, math.ceil(len(items) / self.batch_size))  # work for every actor
        ds = ray.data.from_items(
            [{name: col[i] for name, col in rows.items()} for i in range(len(items))],
            override_num_blocks=blocks,
        ).map_batches(
            PoseActor, fn_constructor_kwargs={"estimator_kwargs": self.estimator_kwargs, "options": options},
            batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self.cpus_per_actor, batch_format="numpy",
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for text, render in zip(batch["record"], batch["render"]):
                yield Outcome(json.loads(text), bytes(render) or None)

    def stats(self) -> dict[str, Any]:
        return {"engine": self.name, "actors": self.actors, "cpus_per_actor": self.cpus_per_actor,
                "ray_address": self.address, "device": {"requested": str(self.estimator_kwargs.get("device", "auto"))}}

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
