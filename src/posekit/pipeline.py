"""``PoseEstimator``: the top-down pipeline.

detect -> crop -> network -> decode -> map back -> pose NMS. Each stage is a
function or object from its own module; this class only chains them and times
each stage (:attr:`PoseEstimator.timer`).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator

import numpy as np

from posekit import geometry
from posekit.detect.onnx_detectors import DetectorConfig
from posekit.factory import build_detector, build_pose_model
from posekit.io import read_image
from posekit.pose.crop import crop_people
from posekit.pose.decode import decode_outputs, merge_flipped
from posekit.posenms import PoseNMSParams, oks_nms, pose_nms, rescore_hrnet
from posekit.schema import get_schema
from posekit.structures import Poses
from posekit.timing import StageTimer

__all__ = ["PoseEstimator", "POSE_NMS_METHODS"]

log = logging.getLogger(__name__)

POSE_NMS_METHODS = ("parametric", "oks", "none")


class PoseEstimator:
    """Multi-person pose estimation on images.

    Args:
        detector: detector name (``"yolox_nano"``, ``"rtmdet_nano"``, ``"yolov3_spp"``),
            ONNX path, or callable ``image -> (boxes, scores)``.
        pose_model: pose model name (``"movenet_thunder"``, ``"movenet_lightning"``,
            a :func:`posekit.models.list_models` network with ``checkpoint``), an
            ``.onnx`` path, or an object with ``spec`` and ``run``.
        models_dir: folder with the model files (default: ``POSEKIT_MODELS`` or the user cache).
        checkpoint: weights of a PyTorch pose network.
        detector_checkpoint: weights of ``yolov3_spp``.
        runtime: ``"onnx"`` (default) or ``"torch"`` for PyTorch networks.
        decode: heatmap decoder (default: the model's, see :data:`posekit.codec.DECODERS`).
        output: ``"heatmaps"`` or ``"keypoints"`` for models with both (MoveNet).
        flip_test: also run mirrored crops and average (default on, as HRNet's test
            configs; dev-set AP 0.607 with, 0.597 without, at twice the network time).
        pose_nms: ``"oks"`` (HRNet OKS-NMS on rescored poses, the default: on the dev set
            it beat AlphaPose's parametric NMS with MoveNet, AP 0.590 vs 0.580),
            ``"parametric"`` (AlphaPose) or ``"none"``.
        nms_params: AlphaPose pose-NMS constants.
        oks_thresh: OKS-NMS threshold.
        detector_config: detector thresholds.
        batch_size: crops per network call.
        num_threads: ONNX Runtime threads (``None``: all cores).
    """

    def __init__(
        self,
        detector: Any = "yolox_nano",
        pose_model: Any = "movenet_thunder",
        *,
        models_dir: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        detector_checkpoint: str | os.PathLike | None = None,
        runtime: str = "onnx",
        decode: str | None = None,
        output: str | None = None,
        flip_test: bool = True,
        pose_nms: str = "oks",
        nms_params: PoseNMSParams = PoseNMSParams(),
        oks_thresh: float = 0.9,
        detector_config: DetectorConfig = DetectorConfig(),
        batch_size: int = 16,
        num_threads: int | None = None,
    ) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"pose_nms must be one of {POSE_NMS_METHODS}, got {pose_nms!r}")
        self.detector = build_detector(
            detector, models_dir=models_dir, checkpoint=detector_checkpoint, config=detector_config,
            runtime=runtime, num_threads=num_threads,
        )
        self.pose_model = build_pose_model(
            pose_model, models_dir=models_dir, checkpoint=checkpoint, runtime=runtime,
            num_threads=num_threads, output=output,
        )
        self.spec = self.pose_model.spec
        self.schema = get_schema(self.spec.schema)
        self.decode_method = decode or self.spec.decode
        self.flip_test = flip_test
        self.pose_nms = pose_nms
        self.nms_params = nms_params
        self.oks_thresh = oks_thresh
        self.batch_size = max(1, int(batch_size))
        self.timer = StageTimer()

    # ------------------------------------------------------------------ stages

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` xyxy and scores ``(N,)``."""
        with self.timer("detect"):
            return self.detector(image)

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Poses for given person boxes: crop -> network -> decode -> map back -> pose NMS."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        box_scores = np.asarray(box_scores, np.float64).reshape(-1)
        if len(boxes) == 0:
            return Poses.empty(self.schema)
        with self.timer("crop"):
            crops, matrices = crop_people(image, boxes, self.spec)
        with self.timer("network"):
            outputs = self._run_network(crops)
        with self.timer("decode"):
            decoded = decode_outputs(outputs, self.spec, self.decode_method)
        with self.timer("map_back"):
            keypoints = geometry.apply_affine(decoded.keypoints, geometry.invert_affine(matrices))
            keypoints = keypoints + decoded.image_offset
        with self.timer("pose_nms"):
            return self._suppress(boxes, box_scores, keypoints, decoded.scores)

    def __call__(self, image: np.ndarray | str | os.PathLike) -> Poses:
        """Poses of every person in a BGR image (or an image file)."""
        if isinstance(image, (str, os.PathLike)):
            with self.timer("read"):
                image = read_image(image)
        boxes, scores = self.detect(image)
        return self.estimate(image, boxes, scores)

    def stream(self, source: Any, **kwargs: Any) -> Iterator[tuple[int, float, Poses]]:
        """Frame-by-frame poses with track ids for a video, folder of frames, webcam or URL.

        See :func:`posekit.video.stream.stream_poses` for the options.
        """
        from posekit.video.stream import stream_poses

        return stream_poses(self, source, **kwargs)

    # ------------------------------------------------------------------ helpers

    def _run_network(self, crops: np.ndarray) -> np.ndarray:
        outs = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            out = self.pose_model.run(self.spec.preprocess(batch))
            if self.flip_test:
                flipped = self.pose_model.run(self.spec.preprocess(batch[:, :, ::-1]))
                out = merge_flipped(out, flipped, self.spec, self.schema.flip_index())
            outs.append(out)
        return np.concatenate(outs, axis=0)

    def _suppress(
        self, boxes: np.ndarray, box_scores: np.ndarray, keypoints: np.ndarray, kp_scores: np.ndarray
    ) -> Poses:
        if self.pose_nms == "parametric":
            r = pose_nms(boxes, box_scores, keypoints, kp_scores, self.nms_params)
            return Poses(r.boxes, r.box_scores, r.keypoints, r.keypoint_scores, r.proposal_scores, schema=self.schema)
        scores = rescore_hrnet(box_scores, kp_scores, self.spec.rescore_thresh)
        if self.pose_nms == "oks":
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            keep = oks_nms(keypoints, kp_scores, areas, scores, self.schema.sigmas_array(), self.oks_thresh)
        else:
            keep = np.argsort(-scores, kind="stable")
        return Poses(boxes[keep], box_scores[keep], keypoints[keep], kp_scores[keep], scores[keep], schema=self.schema)

    def __repr__(self) -> str:
        return (
            f"PoseEstimator(pose={type(self.pose_model).__name__} {self.spec.input_size}, decode={self.decode_method!r}, "
            f"flip_test={self.flip_test}, pose_nms={self.pose_nms!r})"
        )
