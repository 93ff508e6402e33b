"""The one place where inference sessions for ONNX files are made.

Every ONNX network posekit runs (detectors, pose models, in-memory exports)
gets its session from :func:`make_session`, so the backend, threads, thread
spinning and graph optimisation are chosen once.

Backends (:data:`BACKENDS`):

* ``"onnxruntime"`` (default): an ONNX Runtime CPU ``InferenceSession``.
* ``"openvino"``: an :class:`OpenVinoSession`, OpenVINO's CPU plugin behind
  the subset of the ``InferenceSession`` interface posekit uses
  (``get_inputs()``, ``get_outputs()``, ``get_modelmeta()``, ``run()``).
  Optional: ``pip install 'posekit[openvino]'``.
* ``"auto"`` (the default of ``posekit predict`` and :class:`~posekit.pipeline.PoseEstimator`):
  ONNX Runtime, or OpenVINO where it is installed and measured at least
  :data:`AUTO_MIN_SPEEDUP` times faster for this model on this machine
  (:func:`choose_backend`: a short interleaved measurement the first time, kept
  in ``~/.cache/posekit/runtime-choices.json`` by machine and model sha256).
  One choice per model whatever the thread count, so that the parallel engine
  (single-threaded sessions) and the serial path run the same backend and give
  the same numbers.

Defaults and where they come from:

* ``num_threads=None`` leaves the backend's default (one inference thread per
  physical core).
* ``spinning=False``: with ORT's default busy-wait spinning every model ran
  about 2x slower whenever another process used the machine (measured on the
  shared models, see ``../shared/models/MODELS.md``); turning it off costs
  little on an idle machine. ``spinning=True`` restores ORT's default.
  OpenVINO has no such switch; it ignores ``spinning``.
* ``optimization="all"``: ``ORT_ENABLE_ALL`` graph optimisations. OpenVINO
  always applies its own graph transformations; it ignores ``optimization``
  (the value is still checked).
* OpenVINO is compiled with ``PERFORMANCE_HINT=LATENCY`` (one stream: one
  call at a time uses all its threads, as ONNX Runtime does),
  ``INFERENCE_PRECISION_HINT=f32`` (on CPUs with AMX/AVX512-BF16 OpenVINO
  would otherwise run in bfloat16, which changes heatmaps by ~1e-2) and
  ``ENABLE_CPU_PINNING=False`` (pinned threads cannot move away from cores
  another process is using: the same trade as ``spinning=False``).
  A dynamic batch axis stays dynamic: the model is compiled once and serves
  every batch size.

Imports onnxruntime or openvino lazily, when a session is made, and of posekit only the
ground-floor :mod:`posekit.io` (the cache of :func:`choose_backend`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["make_session", "OpenVinoSession", "BACKENDS", "OPTIMIZATION_LEVELS", "default_batch_size", "choose_backend",
           "machine_key", "AUTO_MIN_SPEEDUP",
           "SINGLE_THREAD_BATCH_PIXELS", "MULTI_THREAD_BATCH"]

#: Input pixels per network call for a single-threaded session: PP-TinyPose on 1 thread costs
#: 11.6 / 12.7 / 14.5 / 15.9 / 18.4 / 19.6 ms per 256x192 crop at batch 1 / 2 / 4 / 8 / 16 / 32,
#: and 3.3 / 2.9 / 2.9 / 3.1 / 3.8 / 4.1 ms per 128x96 crop (``benchmarks/bench_onnx.py``,
#: 2-core machine): past about one 256x192 crop's worth of activations a batch
#: leaves the cache, so one thread runs 256x192 crops one at a time and 128x96 crops four at a time.
SINGLE_THREAD_BATCH_PIXELS = 256 * 192

#: Crops per call for sessions of several intra-op threads, which need the batch to share out:
#: 18.0 / 13.7 / 12.1 / 11.4 / 11.4 ms per 256x192 crop at batch 1 / 4 / 8 / 16 / 32 on 2 threads.
MULTI_THREAD_BATCH = 32


def default_batch_size(input_size: tuple[int, int], num_threads: int | None) -> int:
    """Crops per pose-network call for a network of ``input_size`` ``(W, H)`` on ``num_threads`` threads
    (``None``: all cores). Results do not depend on it (each crop's numbers are the same in any batch).

    >>> default_batch_size((192, 256), 1), default_batch_size((96, 128), 1), default_batch_size((192, 256), None)
    (1, 4, 32)
    """
    if num_threads != 1:
        return MULTI_THREAD_BATCH
    w, h = input_size
    return max(1, SINGLE_THREAD_BATCH_PIXELS // max(1, int(w) * int(h)))

#: Names of ONNX Runtime's graph optimisation levels.
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")

#: Inference backends :func:`make_session` can use.
BACKENDS = ("onnxruntime", "openvino", "auto")

#: ``backend="auto"`` takes OpenVINO only when it is at least this much faster than ONNX Runtime:
#: it costs 130-240 MB more memory per model (README, OpenVINO) and its outputs differ from ONNX
#: Runtime's by up to ~1e-3 (PicoDet boxes), so a gain within timing noise is not worth it.
AUTO_MIN_SPEEDUP = 1.10

#: File of :func:`choose_backend`'s measurements in :func:`posekit.io.user_cache_dir`.
CHOICES_FILE = "runtime-choices.json"


def make_session(
    source: str | os.PathLike | bytes,
    num_threads: int | None = None,
    *,
    spinning: bool = False,
    optimization: str = "all",
    backend: str = "onnxruntime",
) -> Any:
    """A CPU inference session for an ONNX model.

    Args:
        source: ``.onnx`` path, or the model's bytes.
        num_threads: inference threads (``None``: the backend's default, all cores).
        spinning: let idle intra-op threads busy-wait (ORT's default; off here,
            see the module docstring). Ignored by OpenVINO.
        optimization: one of :data:`OPTIMIZATION_LEVELS`. Ignored by OpenVINO.
        backend: one of :data:`BACKENDS` (``"auto"``: :func:`choose_backend`).

    Returns:
        an ``onnxruntime.InferenceSession``, or an :class:`OpenVinoSession`
        (same ``get_inputs``/``get_outputs``/``get_modelmeta``/``run``).

    Raises:
        ValueError: unknown ``optimization`` or ``backend``.
        ImportError: ``backend="openvino"`` without OpenVINO installed.
        RuntimeError: the file cannot be loaded (names the file and the backend's reason).
    """
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = choose_backend(source)
    if backend == "openvino":
        return OpenVinoSession(source, num_threads)

    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    opts = ort.SessionOptions()
    opts.graph_optimization_level = levels[optimization]
    if num_threads:
        opts.intra_op_num_threads = int(num_threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.log_severity_level = 3
    model = source if isinstance(source, bytes) else str(source)
    try:
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise RuntimeError(f"cannot load ONNX model {_where(source)}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def machine_key() -> str:
    """What a speed measurement depends on besides the model: CPU, core count, backend versions."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = []
    for name in ("onnxruntime", "openvino"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    return f"{platform.machine()} | {cpu} | {os.cpu_count()} cpus | " + " | ".join(versions)


def choose_backend(source: str | os.PathLike | bytes, *, cache_file: str | os.PathLike | None = None,
                   rounds: int = 7) -> str:
    """``"openvino"`` if it is installed and at least :data:`AUTO_MIN_SPEEDUP` times faster than ONNX
    Runtime for this model here, else ``"onnxruntime"``.

    The first call for a (machine, model sha256) times both backends, interleaved, on one
    thread and random input of batch 1 (the parallel engine's sessions and their batch for
    the shipped pose models, :func:`default_batch_size`), and keeps the figures in
    ``cache_file`` (default ``~/.cache/posekit/runtime-choices.json``), under a file lock so
    that processes starting together measure once; later calls read it (delete the file to
    measure again, e.g. after a measurement on a busy machine). The choice holds for every
    thread count: the serial path and the engine must run the same backend.
    """
    if importlib.util.find_spec("openvino") is None:
        return "onnxruntime"
    from posekit.io import atomic_write_json, file_sha256, user_cache_dir

    digest = hashlib.sha256(source).hexdigest() if isinstance(source, bytes) else file_sha256(source)
    key = digest
    path = Path(cache_file) if cache_file is not None else user_cache_dir() / CHOICES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path.with_name(path.name + ".lock")):
        choices = _read_choices(path)
        machine = choices.setdefault(machine_key(), {})
        if key not in machine:
            try:
                ms = _time_backends(source, rounds)
            except Exception as exc:  # e.g. OpenVINO cannot compile it, or its input size is not fixed
                log.info("runtime auto for %s: onnxruntime (no comparison: %s)", _where(source), exc)
                machine[key] = {"choice": "onnxruntime", "reason": f"not measured: {type(exc).__name__}: {exc}"}
            else:
                speedup = ms["onnxruntime"] / ms["openvino"]
                machine[key] = {**{k: round(v, 3) for k, v in ms.items()},
                                "choice": "openvino" if speedup >= AUTO_MIN_SPEEDUP else "onnxruntime"}
                log.info("runtime auto for %s (1 thread): onnxruntime %.2f ms, openvino %.2f ms -> %s",
                         _where(source), ms["onnxruntime"], ms["openvino"], machine[key]["choice"])
            atomic_write_json(path, choices, indent=1)
    return machine[key]["choice"]


def _read_choices(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # missing or damaged: measure again
        return {}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, at worst two processes measure
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _time_backends(source: str | os.PathLike | bytes, rounds: int) -> dict[str, float]:
    """Median ms per call of each backend, one thread, on random input of the model's shape (batch 1),
    interleaved. ``ValueError`` for an input whose size (beyond the batch axis) is not fixed."""
    sessions = {b: make_session(source, 1, backend=b) for b in ("onnxruntime", "openvino")}
    rng = np.random.default_rng(0)
    feed = {}
    for info in sessions["onnxruntime"].get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in info.shape]
        if any(not (isinstance(d, int) and d > 0) for d in info.shape[1:]):
            raise ValueError(f"input {info.name!r} has no fixed size {info.shape}")
        dtype = np.int32 if "int32" in info.type else np.float32
        feed[info.name] = (rng.random(shape) * 255).astype(dtype)
    times: dict[str, list[float]] = {b: [] for b in sessions}
    for session in sessions.values():
        session.run(None, feed)  # warm-up (OpenVINO compiles lazily for new shapes)
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            for _ in range(3):
                session.run(None, feed)
            times[name].append(1000 * (time.perf_counter() - start) / 3)
    return {name: float(np.median(t)) for name, t in times.items()}


def _where(source: str | os.PathLike | bytes) -> str:
    return "<in-memory model>" if isinstance(source, bytes) else str(source)


# ---------------------------------------------------------------------- OpenVINO


class TensorInfo(NamedTuple):
    """An input or output as ``InferenceSession.get_inputs()`` describes it.

    ``shape`` holds ints for fixed axes and ``None`` for dynamic ones (ONNX
    Runtime may give the axis' symbolic name instead); ``type`` is ONNX
    Runtime's spelling, e.g. ``"tensor(float)"``.
    """

    name: str
    shape: list
    type: str


class ModelMetadata(NamedTuple):
    """The part of ``InferenceSession.get_modelmeta()`` posekit reads."""

    custom_metadata_map: dict


#: numpy dtype name -> ONNX Runtime's type name, where they differ.
_ORT_TYPE_NAMES = {"float32": "float", "float64": "double"}


@functools.lru_cache(maxsize=1)
def _openvino_core() -> Any:
    """One ``openvino.Core`` per process (it is thread-safe and caches plugins)."""
    try:
        import openvino
    except ImportError as exc:
        raise ImportError(
            "the openvino backend needs OpenVINO, which is not installed: pip install 'posekit[openvino]'"
        ) from exc
    return openvino.Core()


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU, used like an ``InferenceSession``.

    Made by :func:`make_session` with ``backend="openvino"``; see its module
    docstring for the compile properties. Dynamic axes stay dynamic (one
    compiled model for every batch size). ``run`` is serialised by a lock, so
    a session may be shared between threads.

    Args:
        source: ``.onnx`` path, or the model's bytes.
        num_threads: ``INFERENCE_NUM_THREADS`` (``None``: OpenVINO's default).
    """

    def __init__(self, source: str | os.PathLike | bytes, num_threads: int | None = None) -> None:
        core = _openvino_core()
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False,
        }
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        try:
            # bytes: the ONNX frontend reads the model from memory (empty weights: they are inside).
            model = core.read_model(source, b"") if isinstance(source, bytes) else core.read_model(str(source))
            # Names come from the read model: compiling may add internal aliases to an output's names.
            self._inputs = [_tensor_info(port) for port in model.inputs]
            self._outputs = [_tensor_info(port) for port in model.outputs]
            self._metadata = _onnx_metadata(model)
            self._compiled = core.compile_model(model, "CPU", config)
            self._request = self._compiled.create_infer_request()
        except Exception as exc:  # openvino raises RuntimeError subclasses of its own
            raise RuntimeError(f"cannot load ONNX model {_where(source)} with OpenVINO: {exc}") from exc
        self._input_index = {info.name: i for i, info in enumerate(self._inputs)}
        self._output_index: dict[str, int] = {}
        for i, port in enumerate(model.outputs):
            for name in port.get_names():
                self._output_index.setdefault(name, i)
        self._input_dtypes = [np.dtype(port.get_element_type().to_dtype()) for port in model.inputs]
        self._lock = threading.Lock()

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def get_modelmeta(self) -> ModelMetadata:
        return ModelMetadata(dict(self._metadata))

    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs ``output_names`` (``None``: all, in model order) for ``input_feed``.

        Like ONNX Runtime, an unknown or missing input name or a wrong dtype is
        an error (no silent conversion). The arrays returned are the caller's
        (copies: OpenVINO reuses its output buffers).
        """
        unknown = sorted(set(input_feed) - set(self._input_index))
        missing = sorted(set(self._input_index) - set(input_feed))
        if unknown or missing:
            raise ValueError(
                f"input names {unknown} unknown, {missing} missing; the model takes {list(self._input_index)}"
            )
        feed: dict[int, np.ndarray] = {}
        for name, value in input_feed.items():
            i = self._input_index[name]
            array = np.asarray(value)
            if array.dtype != self._input_dtypes[i]:
                raise TypeError(f"input {name!r} must be {self._input_dtypes[i]}, got {array.dtype}")
            feed[i] = np.ascontiguousarray(array)
        if output_names is None:
            indices = list(range(len(self._outputs)))
        else:
            try:
                indices = [self._output_index[name] for name in output_names]
            except KeyError as exc:
                raise ValueError(
                    f"unknown output name {exc.args[0]!r}; outputs: {[o.name for o in self._outputs]}"
                ) from None
        with self._lock:
            # share_inputs: no copy of the (contiguous, right-dtype) input; share_outputs=False:
            # the results are fresh arrays, not views of buffers the next call overwrites.
            results = self._request.infer(feed, share_inputs=True, share_outputs=False)
            values = results.to_tuple()
            return [np.array(values[i], copy=True) if _is_view(values[i]) else values[i] for i in indices]

    def __repr__(self) -> str:
        return f"OpenVinoSession(inputs={[tuple(i[:2]) for i in self._inputs]}, outputs={[o.name for o in self._outputs]})"


def _is_view(array: np.ndarray) -> bool:
    """True if ``array`` does not own its memory (defensive: older OpenVINO may return views)."""
    return not array.flags.owndata


def _tensor_info(port: Any) -> TensorInfo:
    partial = port.get_partial_shape()
    shape = [] if partial.rank.is_dynamic else [dim.get_length() if dim.is_static else None for dim in partial]
    dtype = np.dtype(port.get_element_type().to_dtype()).name
    return TensorInfo(port.get_any_name(), shape, f"tensor({_ORT_TYPE_NAMES.get(dtype, dtype)})")


def _onnx_metadata(model: Any) -> dict[str, str]:
    """The ONNX file's ``metadata_props``, which OpenVINO's ONNX frontend keeps in rt_info["framework"]."""
    if not model.has_rt_info(["framework"]):
        return {}
    framework = model.get_rt_info()["framework"]
    items = framework.items() if isinstance(framework, dict) else framework.astype(dict).items()
    return {str(k): v.astype(str) if hasattr(v, "astype") else str(v) for k, v in items}
