"""One-stage pose networks: a whole image in, people (boxes and keypoints) out.

Two contracts (:data:`posekit.spec.ONE_STAGE_DECODERS`), each read by a small pure function:

* ``"yolo_pose"`` — Ultralytics' ONNX export of a pose model (``yolo11n-pose.onnx`` …): input ``images``
  float32 ``[1, 3, 640, 640]`` (or the exported size), RGB ``/ 255``, Ultralytics' centred letterbox with
  padding 114; output ``[1, 4 + 1 + 3K, N]``: per candidate ``cx, cy, w, h`` in input pixels, the person
  score, then ``x, y, visibility`` per keypoint (scores already sigmoid-ed). NMS is not inside: posekit
  runs Ultralytics' (greedy box NMS at IoU 0.7, at most 300 people, class-agnostic) after a score
  threshold (0.001, their COCO-evaluation value; drawings apply their own display threshold).
* ``"rtmo"`` — OpenMMLab's RTMO through mmdeploy (the zips rtmlib downloads): input ``input`` float32
  ``[N, 3, 640, 640]``, BGR 0..255 without normalisation, MMPose's ``BottomupResize`` (aspect kept, image
  centred by an affine warp, padding 114); outputs ``dets [N, M, 5]`` (``x1, y1, x2, y2, score``) and
  ``keypoints [N, M, K, 3]`` (``x, y, visibility``), in input pixels, NMS inside the graph.

:class:`OneStageModel` runs such a file: :meth:`~OneStageModel.resize` (letterbox), :meth:`~OneStageModel.run`
(the network) and :meth:`~OneStageModel.decode` (thresholds, NMS, back to image pixels), which
:class:`posekit.pipeline.PoseEstimator` chains and times like its top-down stages. Which contract a file
has is read from its inputs and outputs (:func:`recognise_contract`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from posekit import geometry
from posekit.detect.onnx_detectors import detector_input
from posekit.detect.postprocess import nms
from posekit.runtime import Device, make_session, session_device
from posekit.schema import schema_for_keypoints
from posekit.spec import RTMO_SPEC, SPEC_METADATA_KEY, YOLO_POSE_SPEC, OneStageSpec

__all__ = [
    "People",
    "OneStageModel",
    "OneStageContractError",
    "recognise_contract",
    "one_stage_spec",
    "decode_yolo_pose",
    "decode_rtmo",
]

log = logging.getLogger(__name__)

class OneStageContractError(ValueError):
    """An ONNX file's inputs / outputs are not those of a one-stage contract it was taken for."""


@dataclass(frozen=True)
class People:
    """People found by a one-stage network, best first, in image pixels.

    Attributes:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)`` person scores.
        keypoints: ``(N, K, 2)``.
        keypoint_scores: ``(N, K)``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray


def _finite(name: str, arrays: Sequence[np.ndarray]) -> None:
    for a in arrays:
        if not np.isfinite(a).all():
            raise ValueError(f"one-stage model {name}: the network output holds NaN or infinite values")


def decode_yolo_pose(output: np.ndarray, spec: OneStageSpec) -> People:
    """Ultralytics' pose head output of one image -> people in **input** pixels.

    Args:
        output: ``(4 + 1 + 3K, N)`` (the batch dimension removed).
        spec: thresholds, NMS and ``K``.

    Returns:
        :class:`People` after the score threshold, the greedy box NMS and the ``max_people`` cut.
    """
    rows = np.asarray(output, np.float32).T  # (N, 5 + 3K)
    k = spec.num_keypoints
    if rows.ndim != 2 or rows.shape[1] != 5 + 3 * k:
        raise OneStageContractError(f"YOLO-pose output needs 5 + 3 x {k} rows per candidate, got {output.shape}")
    rows = rows[rows[:, 4] > spec.score_thresh]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][:30000]  # Ultralytics' max_nms cut before NMS
    boxes = geometry.cxcywh_to_xyxy(rows[:, :4])
    keep = nms(boxes, rows[:, 4], spec.nms_iou) if spec.nms_iou is not None else np.arange(len(rows))
    keep = keep[: spec.max_people]
    kp = rows[keep, 5:].reshape(-1, k, 3)
    return People(boxes[keep], rows[keep, 4].astype(np.float64), kp[..., :2].astype(np.float64),
                  kp[..., 2].astype(np.float64))


def decode_rtmo(dets: np.ndarray, keypoints: np.ndarray, spec: OneStageSpec) -> People:
    """mmdeploy RTMO outputs of one image (``dets (M, 5)``, ``keypoints (M, K, 3)``) -> people in **input**
    pixels, above the score threshold, best first (the graph ran NMS)."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[0] != len(dets) or kp.shape[2] != 3:
        raise OneStageContractError(f"RTMO outputs dets {dets.shape} and keypoints {kp.shape} do not match")
    keep = np.flatnonzero(dets[:, 4] > spec.score_thresh)
    keep = keep[np.argsort(-dets[keep, 4], kind="stable")][: spec.max_people]
    return People(dets[keep, :4], dets[keep, 4], kp[keep, :, :2], kp[keep, :, 2])


def recognise_contract(session: Any) -> str | None:
    """``"yolo_pose"``, ``"rtmo"`` or ``None`` (not a one-stage contract) from a session's inputs and outputs.

    A file carrying posekit's spec (:data:`posekit.spec.SPEC_METADATA_KEY`, written by ``posekit export``) is
    a top-down model, never recognised. YOLO-pose is one output ``(1, 5 + 3K, N)`` with the ``N`` candidates
    (8400 at 640x640) along the last axis, more than the ``5 + 3K`` values of each: a top-down keypoints
    output ``(N, K, 3)`` (e.g. ``(1, 17, 3)``, which ``5 + 3K`` rows alone would take for ``K = 4``) is not it.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        return None
    if SPEC_METADATA_KEY in session.get_modelmeta().custom_metadata_map:
        return None
    names = [o.name for o in outputs]
    if len(outputs) == 2 and names == ["dets", "keypoints"] and len(outputs[1].shape) == 4:
        return "rtmo"
    if len(outputs) == 1 and len(outputs[0].shape) == 3:
        _, values, candidates = outputs[0].shape
        layout = isinstance(values, int) and values > 5 and (values - 5) % 3 == 0
        if layout and (not isinstance(candidates, int) or candidates > values):  # a dynamic axis: the candidates
            return "yolo_pose"
    return None


def one_stage_spec(kind: str, session: Any) -> OneStageSpec:
    """The spec of a file of contract ``kind``: that contract's defaults with the file's input size and ``K``."""
    shape = session.get_inputs()[0].shape
    if not all(isinstance(d, int) for d in shape[2:]):
        raise OneStageContractError(f"the input's spatial size is not fixed: {shape}")
    size = (int(shape[3]), int(shape[2]))
    if kind == "yolo_pose":
        k, base = (int(session.get_outputs()[0].shape[1]) - 5) // 3, YOLO_POSE_SPEC
    elif kind == "rtmo":
        k, base = session.get_outputs()[1].shape[2], RTMO_SPEC
    else:
        raise ValueError(f"unknown one-stage contract {kind!r}")
    if not isinstance(k, int):
        raise OneStageContractError(f"the number of keypoints per person is not fixed: {k!r}")
    try:
        schema = schema_for_keypoints(k)
    except KeyError as e:
        raise OneStageContractError(f"{k} keypoints per person: {e.args[0]}") from None
    return base.with_(input_size=size, num_keypoints=k, schema=schema.name)


class OneStageModel:
    """A one-stage pose network in ONNX Runtime (or OpenVINO).

    Args:
        path: ``.onnx`` file (or its bytes).
        spec: the contract; ``None`` recognises it from the file (:func:`recognise_contract`).
        kind: force a contract (``"yolo_pose"`` / ``"rtmo"``) when ``spec`` is ``None``.
        num_threads, backend, spinning: see :func:`posekit.runtime.make_session`.
        device: where it runs (``None``: the CPU; see :func:`posekit.runtime.make_session`).
        half: float16 where ``device`` supports it (:func:`posekit.runtime.plan_session`).
        session: an open session of ``path`` to use instead of making one.

    Raises:
        OneStageContractError: the file does not have the contract (names the file).
    """

    one_stage = True

    def __init__(
        self,
        path: str | os.PathLike | bytes,
        spec: OneStageSpec | None = None,
        *,
        kind: str | None = None,
        num_threads: int | None = None,
        backend: str = "onnxruntime",
        spinning: bool = False,
        device: "str | Device | None" = None,
        half: bool = False,
        session: Any = None,
    ) -> None:
        self.name = "<in-memory>" if isinstance(path, bytes) else Path(path).name
        self.session = session or make_session(path, num_threads, backend=backend, spinning=spinning, device=device,
                                               half=half)
        #: The device the session runs on (ONNX Runtime may have fallen back to the CPU for ``device="auto"``).
        self.device = session_device(self.session)
        try:
            found = recognise_contract(self.session)
            wanted = spec.decoder if spec is not None else kind
            if wanted is None:
                wanted = found
            if wanted is None or found != wanted:
                shapes = [(o.name, o.shape) for o in self.session.get_outputs()]
                raise OneStageContractError(
                    f"not a {wanted or 'one-stage'} contract (inputs {[i.shape for i in self.session.get_inputs()]}, "
                    f"outputs {shapes})"
                )
            self.spec = spec or one_stage_spec(wanted, self.session)
        except OneStageContractError as exc:
            raise OneStageContractError(f"pose model {self.name}: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name

    def resize(self, image: np.ndarray) -> tuple[np.ndarray, geometry.Letterbox]:
        """BGR image ``(H, W, 3)`` -> network input ``(1, 3, H_in, W_in)`` and its letterbox."""
        return detector_input(image, self.spec)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The network's raw outputs for one input ``(1, 3, H_in, W_in)``."""
        return self.session.run(None, {self.input_name: x})

    def decode(self, outputs: Sequence[np.ndarray], lb: geometry.Letterbox, image_shape: tuple[int, int]) -> People:
        """Raw outputs of one image -> :class:`People` in image pixels (boxes clamped to the image).

        Raises:
            ValueError: the outputs hold NaN / inf (names the file).
        """
        _finite(self.name, outputs)
        if self.spec.decoder == "yolo_pose":
            people = decode_yolo_pose(outputs[0][0], self.spec)
        else:
            people = decode_rtmo(outputs[0][0], outputs[1][0], self.spec)
        return People(
            geometry.unletterbox_boxes(people.boxes, lb, image_shape[:2]), people.scores,
            geometry.unletterbox_points(people.keypoints, lb), people.keypoint_scores,
        )

    def __call__(self, image: np.ndarray) -> People:
        """People in a BGR image: resize -> run -> decode."""
        x, lb = self.resize(image)
        return self.decode(self.run(x), lb, image.shape[:2])

    def __repr__(self) -> str:
        return f"OneStageModel({self.name}, {self.spec.decoder}, input {self.spec.input_size})"
