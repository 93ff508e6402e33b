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

Devices (:class:`Device`, :func:`plan_session` -- the one place that turns a device into a session's
backend and execution providers):

* ``"cpu"`` (``device=None`` too): today's sessions exactly (the backends above, ORT's CPU provider).
* ``"cuda[:N]"``, ``"tensorrt[:N]"``: ONNX Runtime's CUDA / TensorRT providers (``onnxruntime-gpu``:
  see the README, "GPUs and other devices"; never a core dependency). ``"directml[:N]"``: ORT's
  DirectML provider (``onnxruntime-directml``, Windows). ``"coreml"``: ORT's CoreML provider (macOS).
  Each keeps ORT's CPU provider behind it for the operators the accelerator lacks.
* ``"openvino[:CPU|GPU|NPU|AUTO]"``: the OpenVINO backend on that OpenVINO device (default CPU).
* ``"auto"``: :data:`AUTO_ORDER` -- CUDA where ORT offers it, else DirectML where ORT offers it,
  else the CPU (and on the CPU, the backend choice above). TensorRT, CoreML and OpenVINO's GPU/NPU
  are never chosen by ``auto``: TensorRT builds an engine per model and input shape (minutes on a
  first run, again for a crop batch outside the built range), CoreML ships in every macOS wheel of
  ORT (so having it says nothing of the user's wish) and runs only the subgraphs it supports, and
  neither they nor OpenVINO's GPU/NPU were measured against the CPU here.

An explicit device that is not available is an error (:class:`DeviceUnavailableError`) naming
what to install -- never a silent CPU run. ONNX Runtime itself falls back to its CPU provider when an
accelerator's libraries fail to load (e.g. no cuDNN); :func:`make_session` checks the providers the
session got and turns that into the same error (``auto``: a warning, and a session of the CPU plan, made
again from the original file: no float16 graph of ``half`` is left running on the CPU).

``half=True``: float16 where the device supports it -- TensorRT's ``trt_fp16_enable``; for CUDA and
DirectML the graph converted to float16 with float32 inputs and outputs (:func:`float16_graph`);
OpenVINO's ``INFERENCE_PRECISION_HINT=f16``. On the CPU it is an error (``auto`` that chose the CPU:
ignored, with a log line).

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
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["make_session", "OpenVinoSession", "BACKENDS", "OPTIMIZATION_LEVELS", "default_batch_size", "choose_backend",
           "machine_key", "AUTO_MIN_SPEEDUP",
           "SINGLE_THREAD_BATCH_PIXELS", "MULTI_THREAD_BATCH", "ACCELERATOR_BATCH_PIXELS",
           "Device", "DEVICE_KINDS", "PROVIDERS", "AUTO_ORDER", "DeviceUnavailableError", "SessionPlan",
           "resolve_device", "plan_session", "available_providers", "available_devices", "session_device",
           "stage_device", "stages_device", "torch_device", "half_precision", "float16_graph"]

#: Input pixels per network call for a single-threaded session: PP-TinyPose on 1 thread costs
#: 11.6 / 12.7 / 14.5 / 15.9 / 18.4 / 19.6 ms per 256x192 crop at batch 1 / 2 / 4 / 8 / 16 / 32,
#: and 3.3 / 2.9 / 2.9 / 3.1 / 3.8 / 4.1 ms per 128x96 crop (``benchmarks/bench_onnx.py``,
#: 2-core machine): past about one 256x192 crop's worth of activations a batch
#: leaves the cache, so one thread runs 256x192 crops one at a time and 128x96 crops four at a time.
SINGLE_THREAD_BATCH_PIXELS = 256 * 192

#: Crops per call for sessions of several intra-op threads, which need the batch to share out:
#: 18.0 / 13.7 / 12.1 / 11.4 / 11.4 ms per 256x192 crop at batch 1 / 4 / 8 / 16 / 32 on 2 threads.
MULTI_THREAD_BATCH = 32


#: Input pixels per pose-network call on an accelerator (:attr:`Device.accelerator`): 64 crops of 256x192,
#: 256 of 128x96. A GPU wants large batches (one call's launch and copy overheads shared out), but one
#: call's memory grows with its pixels: this call's float32 input is 36 MiB, and on ONNX Runtime's CPU
#: provider (a proxy only: the CUDA arena and cuDNN workspaces differ) it raised the process' peak memory
#: by 250-490 MB over a one-crop call for PP-TinyPose 256x192 and 128x96, HRNet-W32 and RTMPose-m
#: (README, "GPUs and other devices") -- small beside any GPU that runs them. Not tuned on a GPU
#: (none was available): ``--batch-size`` overrides it.
ACCELERATOR_BATCH_PIXELS = 64 * 256 * 192


def default_batch_size(input_size: tuple[int, int], num_threads: int | None,
                       device: "Device | str | None" = None) -> int:
    """Crops per pose-network call for a network of ``input_size`` ``(W, H)`` on ``num_threads`` threads
    (``None``: all cores), or on ``device`` when it is an accelerator (:data:`ACCELERATOR_BATCH_PIXELS`).
    Results do not depend on it (each crop's numbers are the same in any batch).

    >>> default_batch_size((192, 256), 1), default_batch_size((96, 128), 1), default_batch_size((192, 256), None)
    (1, 4, 32)
    >>> default_batch_size((192, 256), 1, "cuda"), default_batch_size((96, 128), None, Device("cuda"))
    (64, 256)
    """
    w, h = input_size
    if device is not None and Device.parse(device).accelerator:
        return max(1, ACCELERATOR_BATCH_PIXELS // max(1, int(w) * int(h)))
    if num_threads != 1:
        return MULTI_THREAD_BATCH
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


# ---------------------------------------------------------------------- devices

#: What :class:`Device` can name (``auto``: :func:`resolve_device`).
DEVICE_KINDS = ("auto", "cpu", "cuda", "tensorrt", "openvino", "coreml", "directml")

#: ONNX Runtime's execution provider of each device kind it runs.
PROVIDERS: Mapping[str, str] = MappingProxyType({
    "cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider", "directml": "DmlExecutionProvider",
})

#: ``device="auto"`` takes the first of these whose provider ONNX Runtime offers, else the CPU (see the
#: module docstring for why TensorRT, CoreML and OpenVINO's GPU/NPU are not among them).
AUTO_ORDER = ("cuda", "directml")

#: What to install for each ONNX Runtime accelerator (:class:`DeviceUnavailableError`).
_INSTALL = MappingProxyType({
    "cuda": "the GPU build of ONNX Runtime (NVIDIA GPUs, Linux/Windows; its cuda and cudnn extras bring the "
            "CUDA and cuDNN libraries it was built for): "
            "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]' "
            "(the gpu extra, pip install 'posekit[gpu]', brings onnxruntime-gpu beside onnxruntime, which "
            "must then be removed: see the README, 'GPUs and other devices')",
    "tensorrt": "the GPU build of ONNX Runtime and NVIDIA TensorRT's libraries for the same CUDA: "
                "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]' tensorrt",
    "directml": "ONNX Runtime's DirectML build (Windows): pip uninstall -y onnxruntime && "
                "pip install onnxruntime-directml",
    "coreml": "ONNX Runtime for macOS (its wheels include the CoreML provider); CoreML runs on macOS only",
})

_OPENVINO_TARGET = re.compile(r"^[A-Z]+(\.\d+)?$")


class DeviceUnavailableError(ImportError):
    """An explicitly requested device cannot run here; the message says what to install (or choose instead)."""


@dataclass(frozen=True)
class Device:
    """Where networks run: a kind of :data:`DEVICE_KINDS` and, for some, which one.

    Parsed from ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"tensorrt[:N]"``, ``"directml[:N]"``,
    ``"coreml"``, ``"openvino[:CPU|GPU|NPU|AUTO|GPU.1|...]"`` (:meth:`parse`); ``str()`` gives it back.

    Attributes:
        kind: one of :data:`DEVICE_KINDS`.
        index: device id of ``cuda`` / ``tensorrt`` / ``directml`` (``None``: 0).
        target: OpenVINO's device name for ``openvino`` (``None``: ``"CPU"``).
        auto: chosen by ``"auto"`` (:func:`resolve_device`): may fall back to the CPU instead of failing.
            Not part of equality.

    >>> Device.parse("cuda:1"), str(Device.parse("openvino:gpu")), Device.parse("cpu").accelerator
    (Device(kind='cuda', index=1, target=None, auto=False), 'openvino:GPU', False)
    """

    kind: str = "cpu"
    index: int | None = None
    target: str | None = None
    auto: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS:
            raise ValueError(f"device must be one of {DEVICE_KINDS} (with :N for cuda, tensorrt, directml, "
                             f"or :CPU/GPU/NPU/AUTO for openvino), got {self.kind!r}")
        if self.index is not None and (self.kind not in ("cuda", "tensorrt", "directml") or self.index < 0):
            raise ValueError(f"device {self.kind!r} takes no index {self.index!r}")
        if self.target is not None and (self.kind != "openvino" or not _OPENVINO_TARGET.match(self.target)):
            raise ValueError(f"device {self.kind!r} takes no target {self.target!r} (openvino: CPU, GPU, NPU, AUTO)")

    @classmethod
    def parse(cls, value: "str | Device | None") -> "Device":
        """A :class:`Device` from its text (``None``: the CPU; a :class:`Device`: itself)."""
        if isinstance(value, Device):
            return value
        if value is None:
            return cls("cpu")
        text = str(value).strip()
        kind, _, rest = text.partition(":")
        kind = kind.lower()
        if kind not in DEVICE_KINDS:
            raise ValueError(f"unknown device {text!r}; choices: auto, cpu, cuda[:N], tensorrt[:N], directml[:N], "
                             f"coreml, openvino[:CPU|GPU|NPU|AUTO]")
        if not rest:
            return cls(kind)
        if kind == "openvino":
            return cls(kind, target=rest.upper())
        if kind in ("cuda", "tensorrt", "directml") and rest.isdigit():
            return cls(kind, index=int(rest))
        raise ValueError(f"bad device {text!r}: cuda, tensorrt and directml take :N (a device number), "
                         f"openvino takes :CPU, :GPU, :NPU or :AUTO, the others nothing")

    def __str__(self) -> str:
        if self.index is not None:
            return f"{self.kind}:{self.index}"
        if self.target is not None:
            return f"{self.kind}:{self.target}"
        return self.kind

    @property
    def accelerator(self) -> bool:
        """True for devices other than the CPU (OpenVINO on ``CPU`` is the CPU); ``auto`` is not resolved."""
        if self.kind == "openvino":
            return (self.target or "CPU") != "CPU"
        return self.kind not in ("cpu", "auto")

    @property
    def provider(self) -> str | None:
        """ONNX Runtime's execution provider for this device (``None``: OpenVINO, ``auto``)."""
        return PROVIDERS.get(self.kind)


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers in this installation (``onnxruntime.get_available_providers()``).

    A provider listed may still fail to start (its libraries missing): :func:`make_session` checks."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _onnxruntime_builds() -> list[str]:
    """The ONNX Runtime distributions installed (``onnxruntime``, ``onnxruntime-gpu``, ...)."""
    names = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _unavailable(device: Device, providers: Sequence[str]) -> DeviceUnavailableError:
    builds = _onnxruntime_builds()
    message = (f"device {device} needs ONNX Runtime's {device.provider}, which this installation "
               f"({', '.join(builds) or 'onnxruntime'}) does not offer (it has: {', '.join(providers)}). "
               f"Install {_INSTALL[device.kind]}. Or choose another device: --device cpu, or --device auto "
               f"(the best available).")
    if len(builds) > 1:
        message += (f" Note: {' and '.join(b.split()[0] for b in builds)} are installed together; they share the "
                    f"one 'onnxruntime' folder and break each other: pip uninstall -y "
                    f"{' '.join(b.split()[0] for b in builds)}, then pip install only the one you want.")
    return DeviceUnavailableError(message)


def resolve_device(device: "str | Device | None" = "auto", backend: str = "onnxruntime") -> Device:
    """The device ``device`` names, checked: ``auto`` becomes the first of :data:`AUTO_ORDER` that ONNX
    Runtime offers (``auto=True``), else the CPU; an explicit device must be available.

    ``auto`` picks among the devices ``backend`` runs: for ``"openvino"`` that is the CPU (OpenVINO's
    GPU/NPU are never chosen by ``auto``, and ONNX Runtime's accelerators are not OpenVINO's), whatever
    providers ONNX Runtime lists.

    Raises:
        ValueError: not a device name.
        DeviceUnavailableError: an explicit accelerator that ONNX Runtime (or OpenVINO) does not offer here;
            the message names what to install.
    """
    d = Device.parse(device)
    if d.kind == "auto" and backend == "openvino":
        return Device("cpu", auto=True)
    if d.kind == "auto":
        providers = available_providers()
        for kind in AUTO_ORDER:
            if PROVIDERS[kind] in providers:
                return Device(kind, auto=True)
        return Device("cpu", auto=True)
    if d.provider is not None and d.kind != "cpu":
        providers = available_providers()
        if d.provider not in providers:
            raise _unavailable(d, providers)
    elif d.kind == "openvino" and d.accelerator:
        try:
            present = list(_openvino_core().available_devices)
        except ImportError as exc:
            raise DeviceUnavailableError(f"device {d} needs OpenVINO: pip install 'posekit[openvino]'") from exc
        target = d.target or "CPU"
        if target not in ("AUTO", "MULTI", "HETERO") and not any(p == target or p.startswith(target + ".")
                                                                   for p in present):
            raise DeviceUnavailableError(
                f"OpenVINO has no device {target} here (it has: {', '.join(present)}); GPU needs Intel's GPU "
                f"driver (OpenCL/Level Zero), NPU the NPU driver: see OpenVINO's install guide")
    return d


class SessionPlan(NamedTuple):
    """How :func:`make_session` builds a session for a device (:func:`plan_session`).

    Attributes:
        device: the resolved device.
        backend: ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (the CPU measurement, :func:`choose_backend`).
        providers: ONNX Runtime's providers, best first, each a name or ``(name, options)``.
        openvino_device: OpenVINO's device name.
        precision: ``"f32"`` or ``"f16"`` (OpenVINO's ``INFERENCE_PRECISION_HINT``).
        float16_graph: load the graph converted to float16 (:func:`float16_graph`).
    """

    device: Device
    backend: str
    providers: list
    openvino_device: str
    precision: str
    float16_graph: bool


def plan_session(device: "str | Device | None", backend: str = "onnxruntime", half: bool = False) -> SessionPlan:
    """The one place that turns a device (and ``backend``, ``half``) into a session's backend and providers.

    ``device=None`` or ``"cpu"``: ``backend`` as given, ORT's CPU provider -- today's sessions exactly.
    ``"auto"`` chooses among the devices ``backend`` runs (:func:`resolve_device`): with ``"openvino"``,
    the CPU plan, even where ONNX Runtime offers CUDA.

    Raises:
        ValueError: a device and backend that contradict each other (an ORT provider with
            ``backend="openvino"``, an OpenVINO device with ``"onnxruntime"``), or ``half`` on the CPU
            or CoreML.
        DeviceUnavailableError: see :func:`resolve_device`.
    """
    d = resolve_device(device, backend) if device is not None else Device("cpu")
    half = half_precision(half, d)
    if d.kind == "cpu":
        return SessionPlan(d, backend, ["CPUExecutionProvider"], "CPU", "f32", False)
    if d.kind == "openvino":
        if backend == "onnxruntime":
            raise ValueError(f"device {d} runs on OpenVINO, not ONNX Runtime: use --runtime auto or openvino")
        return SessionPlan(d, "openvino", [], d.target or "CPU", "f16" if half else "f32", False)
    if backend == "openvino":
        raise ValueError(f"device {d} is ONNX Runtime's {d.provider}; OpenVINO's devices are "
                         f"--device openvino:CPU/GPU/NPU (with --runtime openvino or auto)")
    if half and d.kind == "coreml":
        raise ValueError("half precision (--half) is not supported on coreml here (not measured): leave it out")
    index = str(d.index or 0)
    cuda = ("CUDAExecutionProvider", {"device_id": index})
    if d.kind == "cuda":
        providers = [cuda, "CPUExecutionProvider"]
    elif d.kind == "tensorrt":
        from posekit.io import user_cache_dir

        trt = {"device_id": index, "trt_fp16_enable": "True" if half else "False",
               "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(user_cache_dir() / "tensorrt")}
        providers = [("TensorrtExecutionProvider", trt), cuda, "CPUExecutionProvider"]
    elif d.kind == "directml":
        providers = [("DmlExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    else:  # coreml
        providers = ["CoreMLExecutionProvider", "CPUExecutionProvider"]
    return SessionPlan(d, "onnxruntime", providers, "CPU", "f32", half and d.kind in ("cuda", "directml"))


def half_precision(half: bool, device: Device, requested: "str | Device | None" = None, *,
                   needs: str = "is for accelerators") -> bool:
    """Whether networks on ``device`` run in float16 when ``half`` is asked for: the one rule of ``--half`` on the
    CPU, for ONNX sessions (:func:`plan_session`) and PyTorch networks alike.

    ``half`` on an accelerator; on the CPU an error when the CPU was asked for, and when ``auto`` chose it
    (``device.auto``, or ``requested`` is ``"auto"``) ``False`` with a log line.

    Args:
        half: float16 asked for.
        device: where the networks run (resolved).
        requested: the device as asked for, when ``device`` does not carry the ``auto`` flag (e.g.
            ``Device.parse(torch_device(requested))``).
        needs: what half precision needs, for the error (``"is for accelerators"``).

    Raises:
        ValueError: ``half`` on a CPU that was asked for.
    """
    if not half or device.accelerator:
        return half
    if not (device.auto or (requested is not None and Device.parse(requested).kind == "auto")):
        raise ValueError(f"half precision (--half) {needs}, and device {device} is the CPU: float16 kernels are "
                         f"few and slow there; choose an accelerator (--device cuda, ...) or leave --half out")
    log.info("half precision ignored: device auto chose the CPU")
    return False


def float16_graph(source: str | os.PathLike | bytes) -> bytes:
    """The model converted to float16 weights and arithmetic, its inputs and outputs kept float32
    (ONNX Runtime's converter, ``onnxruntime.transformers.float16``; needs the ``onnx`` package)."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ImportError(f"half precision on this device converts the graph, which needs onnx: "
                          f"pip install 'posekit[gpu]' ({exc})") from exc
    model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    return convert_float_to_float16(model, keep_io_types=True).SerializeToString()


def session_device(session: Any) -> Device:
    """The device a session actually runs on, from its providers (ONNX Runtime may have fallen back to the CPU)."""
    providers = session.get_providers() if hasattr(session, "get_providers") else ["CPUExecutionProvider"]
    first = providers[0] if providers else "CPUExecutionProvider"
    if first.startswith("OpenVINO:"):
        return Device("openvino", target=first.split(":", 1)[1])
    kind = next((k for k, p in PROVIDERS.items() if p == first), "cpu")
    index = None
    if kind in ("cuda", "tensorrt", "directml") and hasattr(session, "get_provider_options"):
        value = session.get_provider_options().get(first, {}).get("device_id")
        index = int(value) if value is not None and str(value).isdigit() else None
    return Device(kind, index=index)


def stage_device(stage: Any) -> Device:
    """The device a pipeline stage runs on: its ``device`` attribute (every posekit detector and pose model
    has one), else the CPU (a plain callable, or an object given ready-made that does not say)."""
    device = getattr(stage, "device", None)
    return device if isinstance(device, Device) else Device("cpu")


def stages_device(*stages: Any) -> Device:
    """The accelerator any of ``stages`` runs on (:func:`stage_device`), else the CPU."""
    for stage in stages:
        device = stage_device(stage)
        if device.accelerator:
            return device
    return Device("cpu")


def torch_device(device: "str | Device | None") -> str:
    """The torch device of a PyTorch network for ``device``: ``"cpu"`` or ``"cuda:N"`` (``auto``: CUDA when this
    torch has it).

    Raises:
        DeviceUnavailableError: ``cuda`` without a CUDA build of torch and a GPU, or a device torch does not run.
    """
    d = Device.parse(device)
    if d.kind == "cpu" or (d.kind == "openvino" and not d.accelerator):
        return "cpu"
    import torch

    has_cuda = torch.cuda.is_available()
    if d.kind == "auto":
        return "cuda:0" if has_cuda else "cpu"
    if d.kind != "cuda":
        raise DeviceUnavailableError(f"PyTorch networks (--runtime torch) run on cpu or cuda, not {d}: "
                                     f"use --runtime onnx (or auto) to run them on {d}")
    if not has_cuda:
        raise DeviceUnavailableError(
            f"device {d}: this torch ({torch.__version__}) sees no CUDA GPU: install a CUDA build of torch "
            f"(https://pytorch.org/get-started) on a machine with an NVIDIA GPU, or use --runtime onnx with "
            f"onnxruntime-gpu, or --device cpu")
    return f"cuda:{d.index or 0}"


def available_devices() -> list[Device]:
    """The devices this machine offers: the CPU, each ONNX Runtime accelerator provider listed (a listed
    provider may still fail to start), and OpenVINO's non-CPU devices where OpenVINO is installed."""
    devices = [Device("cpu")]
    providers = available_providers()
    devices += [Device(kind) for kind in ("cuda", "tensorrt", "directml", "coreml") if PROVIDERS[kind] in providers]
    if importlib.util.find_spec("openvino") is not None:
        try:
            present = list(_openvino_core().available_devices)
        except Exception as exc:  # a broken plugin: no OpenVINO devices
            log.info("OpenVINO devices not listed: %s", exc)
            present = []
        devices += [Device("openvino", target=name) for name in present if not name.startswith("CPU")]
    return devices


def make_session(
    source: str | os.PathLike | bytes,
    num_threads: int | None = None,
    *,
    spinning: bool = False,
    optimization: str = "all",
    backend: str = "onnxruntime",
    device: "str | Device | None" = None,
    half: bool = False,
) -> Any:
    """An inference session for an ONNX model, on the CPU (default) or ``device``.

    Args:
        source: ``.onnx`` path, or the model's bytes.
        num_threads: inference threads (``None``: the backend's default, all cores).
        spinning: let idle intra-op threads busy-wait (ORT's default; off here,
            see the module docstring). Ignored by OpenVINO.
        optimization: one of :data:`OPTIMIZATION_LEVELS`. Ignored by OpenVINO.
        backend: one of :data:`BACKENDS` (``"auto"``: :func:`choose_backend` on the CPU).
        device: a :class:`Device` or its name (``None``: the CPU); :func:`plan_session` turns it into
            the backend and providers.
        half: float16 where the device supports it (see the module docstring).

    Returns:
        an ``onnxruntime.InferenceSession``, or an :class:`OpenVinoSession`
        (same ``get_inputs``/``get_outputs``/``get_modelmeta``/``run``/``get_providers``).

    Raises:
        ValueError: unknown ``optimization``, ``backend`` or device, or a device the backend does not run.
        ImportError: ``backend="openvino"`` without OpenVINO installed.
        DeviceUnavailableError: an explicit device that cannot run here (names what to install), also
            when ONNX Runtime fell back to its CPU provider because the device's libraries did not load.
        RuntimeError: the file cannot be loaded (names the file and the backend's reason).
    """
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    plan = plan_session(device, backend, half)
    chosen = choose_backend(source) if plan.backend == "auto" else plan.backend
    if chosen == "openvino":
        return OpenVinoSession(source, num_threads, device=plan.openvino_device, precision=plan.precision)

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
    if plan.float16_graph:
        model = float16_graph(source)
    try:
        session = ort.InferenceSession(model, sess_options=opts, providers=plan.providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        where = f"{_where(source)} on {plan.device}" if plan.device.accelerator else _where(source)
        raise RuntimeError(f"cannot load ONNX model {where}: {exc}") from exc
    if not _check_providers(session, plan.device, source):
        # auto fell back to the CPU: the CPU plan from the original source (no float16 graph left on the CPU,
        # the CPU backend choice), as if auto had chosen the CPU in the first place
        return make_session(source, num_threads, spinning=spinning, optimization=optimization, backend=backend)
    return session


def _check_providers(session: Any, device: Device, source: str | os.PathLike | bytes) -> bool:
    """ONNX Runtime falls back to its CPU provider, with a log line only, when an accelerator's libraries do
    not load: an error for an explicit device; for ``auto`` (which may run on the CPU) a warning and ``False``
    (the caller makes the CPU plan's session instead). ``True``: the session runs where it should."""
    if not device.accelerator:
        return True
    got = session.get_providers()
    if got and got[0] == device.provider:
        return True
    message = (f"ONNX Runtime could not start its {device.provider} for {_where(source)} (the session got "
               f"{', '.join(got)}): the libraries it needs did not load. For CUDA: an NVIDIA driver and the CUDA "
               f"and cuDNN versions this onnxruntime-gpu was built for (pip install 'onnxruntime-gpu[cuda,cudnn]' "
               f"brings them); for TensorRT also its libraries (pip install tensorrt). "
               f"onnxruntime.print_debug_info() or ORT's log (log_severity_level=0) tells which one is missing")
    if device.auto:
        log.warning("%s; device auto runs on the CPU", message)
        return False
    raise DeviceUnavailableError(message)


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
        num_threads: ``INFERENCE_NUM_THREADS`` (``None``: OpenVINO's default; CPU only).
        device: OpenVINO's device (``"CPU"``, ``"GPU"``, ``"NPU"``, ``"AUTO"``, ...); the CPU-only
            properties (threads, pinning) are set on ``"CPU"`` alone.
        precision: ``INFERENCE_PRECISION_HINT`` (``"f32"``; ``"f16"`` for ``half``).
    """

    def __init__(self, source: str | os.PathLike | bytes, num_threads: int | None = None, *,
                 device: str = "CPU", precision: str = "f32") -> None:
        core = _openvino_core()
        self.device = device
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
        }
        if device == "CPU":
            config["ENABLE_CPU_PINNING"] = False
            if num_threads:
                config["INFERENCE_NUM_THREADS"] = int(num_threads)
        try:
            # bytes: the ONNX frontend reads the model from memory (empty weights: they are inside).
            model = core.read_model(source, b"") if isinstance(source, bytes) else core.read_model(str(source))
            # Names come from the read model: compiling may add internal aliases to an output's names.
            self._inputs = [_tensor_info(port) for port in model.inputs]
            self._outputs = [_tensor_info(port) for port in model.outputs]
            self._metadata = _onnx_metadata(model)
            self._compiled = core.compile_model(model, device, config)
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

    def get_providers(self) -> list[str]:
        """What runs the model, in the spelling of ``InferenceSession.get_providers()``: ``["OpenVINO:CPU"]``."""
        return [f"OpenVINO:{self.device}"]

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
