"""Run single-person pose networks with ONNX Runtime.

:class:`OnnxPoseModel` runs any ONNX pose network whose contract a
:class:`~posekit.spec.PoseModelSpec` describes. The spec comes from, in
order: the ``spec`` argument, the file's ``posekit.spec`` metadata (written by
``posekit export``), or the HRNet default (NCHW float32 RGB, ImageNet mean/std,
heatmaps at stride 4, input size read from the file).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from posekit.runtime import Device, make_session, session_device
from posekit.spec import SPEC_METADATA_KEY, PoseModelSpec

__all__ = ["OnnxPoseModel"]

log = logging.getLogger(__name__)

class OnnxPoseModel:
    """A pose network in ONNX Runtime.

    Args:
        path: ``.onnx`` file (or its bytes).
        spec: the model contract; ``None`` reads it from the file (see module doc).
        output_name: which output to return; ``None`` picks the first output
            matching ``spec.output`` (4-D heatmaps with ``>= num_keypoints``
            channels, or a ``(..., K, 3)`` keypoint tensor). SimCC models return
            two outputs, found by name (``simcc_x``, ``simcc_y``) or else by their
            bin counts (:attr:`output_names`).
        num_threads: intra-op threads (``None``: all cores).
        backend: ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (see :func:`posekit.runtime.make_session`).
        spinning: let idle intra-op threads busy-wait (see :func:`posekit.runtime.make_session`).
        session: an open session of ``path`` to use instead of making one.
        device: where it runs (``None``: the CPU; see :func:`posekit.runtime.make_session`).
        half: float16 where ``device`` supports it (:func:`posekit.runtime.plan_session`).
    """

    def __init__(
        self,
        path: str | os.PathLike | bytes,
        spec: PoseModelSpec | None = None,
        output_name: str | None = None,
        num_threads: int | None = None,
        backend: str = "onnxruntime",
        spinning: bool = False,
        session=None,
        device: "str | Device | None" = None,
        half: bool = False,
    ) -> None:
        self.session = session or make_session(path, num_threads, backend=backend, spinning=spinning, device=device,
                                               half=half)
        #: The device the session runs on (ONNX Runtime may have fallen back to the CPU for ``device="auto"``).
        self.device = session_device(self.session)
        self.name = "<in-memory>" if isinstance(path, bytes) else Path(path).name
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.spec = spec or self._spec_from_file(inp.shape)
        self.fixed_batch = isinstance(inp.shape[0], int)
        #: ONNX Runtime runs concurrent calls of one session in parallel (OpenVINO's are serialised).
        self.concurrent_runs = type(self.session).__module__.startswith("onnxruntime")
        #: The outputs :meth:`run` reads: one, or SimCC's x and y vectors.
        self.output_names = [output_name] if output_name else self._pick_outputs()
        self.output_name = self.output_names[0]

    def _spec_from_file(self, input_shape: list) -> PoseModelSpec:
        meta = self.session.get_modelmeta().custom_metadata_map
        if SPEC_METADATA_KEY in meta:
            return PoseModelSpec.from_json(meta[SPEC_METADATA_KEY])
        if len(input_shape) != 4 or not all(isinstance(d, int) for d in input_shape[1:]):
            raise ValueError(
                f"ONNX model {self.name}: cannot infer the input size from input shape {input_shape}; pass a spec"
            )
        if input_shape[1] == 3:
            size, layout = (input_shape[3], input_shape[2]), "NCHW"
        elif input_shape[3] == 3:
            size, layout = (input_shape[2], input_shape[1]), "NHWC"
        else:
            raise ValueError(f"ONNX model {self.name}: input shape {input_shape} has no 3-channel axis; pass a spec")
        log.info("ONNX model %s has no posekit.spec metadata; assuming the HRNet contract at %sx%s", self.name, *size)
        return PoseModelSpec(input_size=size, layout=layout)

    def _pick_outputs(self) -> list[str]:
        if self.spec.output == "simcc":
            return self._pick_simcc_outputs()
        k = self.spec.num_keypoints
        for out in self.session.get_outputs():
            shape = out.shape
            if self.spec.output == "heatmaps" and len(shape) == 4 and isinstance(shape[1], int) and shape[1] >= k:
                return [out.name]
            if self.spec.output == "keypoints" and len(shape) >= 2 and shape[-1] == 3 and shape[-2] == k:
                return [out.name]
        shapes = [(o.name, o.shape) for o in self.session.get_outputs()]
        raise ValueError(f"ONNX model {self.name}: no output looks like {self.spec.output} for {k} keypoints: {shapes}")

    def _pick_simcc_outputs(self) -> list[str]:
        """``[x, y]``: the outputs named ``simcc_x`` / ``simcc_y``, else the 3-D outputs of ``W r`` and ``H r`` bins."""
        outputs = self.session.get_outputs()
        names = [o.name for o in outputs]
        if "simcc_x" in names and "simcc_y" in names:
            return ["simcc_x", "simcc_y"]
        wx, hy = self.spec.simcc_bins
        by_bins = {o.shape[-1]: o.name for o in outputs if len(o.shape) == 3 and isinstance(o.shape[-1], int)}
        if wx != hy and wx in by_bins and hy in by_bins:
            return [by_bins[wx], by_bins[hy]]
        shapes = [(o.name, o.shape) for o in outputs]
        raise ValueError(f"ONNX model {self.name}: no SimCC outputs of {wx} and {hy} bins: {shapes}")

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Run preprocessed inputs (``spec.preprocess``) through the network.

        Returns:
            heatmaps ``(N, C, h, w)`` float32, SimCC vectors packed as ``(N, K, W r + H r)``
            (:class:`posekit.codec.SimCCCodec`), or keypoints ``(N, K, 3)`` for
            ``spec.output == "keypoints"`` (MoveNet's normalised ``(y, x, score)``).
        """
        if len(inputs) == 0:
            return np.zeros((0,), np.float32)
        if self.fixed_batch:
            parts = [self._run_once(inputs[i : i + 1]) for i in range(len(inputs))]
            out = np.concatenate(parts, axis=0)
        else:
            out = self._run_once(inputs)
        if self.spec.output == "keypoints":
            out = out.reshape(len(inputs), -1, 3)
        return out.astype(np.float32, copy=False)

    def _run_once(self, inputs: np.ndarray) -> np.ndarray:
        """One session call; SimCC's two outputs concatenated along the bins."""
        outs = self.session.run(self.output_names, {self.input_name: inputs})
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
