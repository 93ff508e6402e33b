"""The one place where ONNX Runtime sessions are made.

Every ONNX network posekit runs (detectors, pose models, in-memory exports)
gets its session from :func:`make_session`, so threads, thread spinning and
graph optimisation are chosen once.

Defaults and where they come from:

* ``num_threads=None`` leaves ONNX Runtime's default (one intra-op thread per
  physical core).
* ``spinning=False``: with ORT's default busy-wait spinning every model ran
  about 2x slower whenever another process used the machine (measured on the
  shared models, see ``../shared/models/MODELS.md``); turning it off costs
  little on an idle machine. ``spinning=True`` restores ORT's default.
* ``optimization="all"``: ``ORT_ENABLE_ALL`` graph optimisations.

Imports only onnxruntime (lazily, when a session is made).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["make_session", "OPTIMIZATION_LEVELS"]

#: Names of ONNX Runtime's graph optimisation levels.
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def make_session(
    source: str | os.PathLike | bytes,
    num_threads: int | None = None,
    *,
    spinning: bool = False,
    optimization: str = "all",
) -> Any:
    """An ONNX Runtime CPU ``InferenceSession``.

    Args:
        source: ``.onnx`` path, or the model's bytes.
        num_threads: intra-op threads (``None``: ORT's default, all cores).
        spinning: let idle intra-op threads busy-wait (ORT's default; off here,
            see the module docstring).
        optimization: one of :data:`OPTIMIZATION_LEVELS`.

    Raises:
        RuntimeError: the file cannot be loaded (names the file and ORT's reason).
    """
    import onnxruntime as ort

    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
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
        where = "<in-memory model>" if isinstance(source, bytes) else str(source)
        raise RuntimeError(f"cannot load ONNX model {where}: {exc}") from exc
