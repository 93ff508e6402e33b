"""``PoseEstimator``: the top-down pipeline.

detect -> crop -> network -> decode -> map back -> pose NMS. Each stage is a
function or object from its own module; this class only chains them and times
each stage (:attr:`PoseEstimator.timer`). Everything after the network is the
top-down tail of :mod:`posekit.pose.topdown`, shared with training validation.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator

import numpy as np

from posekit.detect.onnx_detectors import DetectorConfig
from posekit.factory import build_detector, build_pose_model
from posekit.io import read_image
from posekit.pose.crop import crop_people
from posekit.pose import topdown
from posekit.pose.topdown import POSE_NMS_METHODS, TopDownConfig
from posekit.posenms import PoseNMSParams
from posekit.schema import get_schema
from posekit.structures import Poses
from posekit.timing import StageTimer

__all__ = ["PoseEstimator", "POSE_NMS_METHODS"]

log = logging.getLogger(__name__)


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
            configs; dev-set AP 0.608 with, 0.597 without, at twice the network time).
        pose_nms: ``"oks"`` (HRNet OKS-NMS on rescored poses, areas of the padded crop
            regions, the default: on the dev set it beat AlphaPose's parametric NMS with
            MoveNet Thunder, AP 0.6079 vs 0.6045; see :mod:`posekit.pose.topdown`),
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

    @property
    def tail_config(self) -> TopDownConfig:
        """The settings of the top-down tail (:mod:`posekit.pose.topdown`) from this estimator's options."""
        return TopDownConfig(
            decoder=self.decode_method if self.spec.output == "heatmaps" else None,
            pose_nms=self.pose_nms, oks_thresh=self.oks_thresh, nms_params=self.nms_params,
        )

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Poses for given person boxes: crop -> network -> decode -> map back -> pose NMS.

        Args:
            image: ``(H, W, 3)`` BGR uint8.
            boxes: ``(N, 4)`` xyxy person boxes.
            box_scores: ``(N,)``.

        Returns:
            the poses after pose NMS (:func:`posekit.pose.topdown.suppress`), best first.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        box_scores = np.asarray(box_scores, np.float64).reshape(-1)
        if len(boxes) == 0:
            return Poses.empty(self.schema)
        config = self.tail_config
        with self.timer("crop"):
            crops, matrices = crop_people(image, boxes, self.spec)
        with self.timer("network"):
            outputs, flipped = self._run_network(crops)
        with self.timer("decode"):
            decoded = topdown.decode_crops(outputs, config.codec(self.spec), flipped=flipped,
                                           flip_index=self.schema.flip_index())
        with self.timer("map_back"):
            keypoints = decoded.to_image(matrices)
        with self.timer("pose_nms"):
            return topdown.suppress(boxes, box_scores, keypoints, decoded.scores, self.spec, self.schema, config)

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

    def _run_network(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Crops ``(N, H, W, 3)`` BGR -> network outputs and, with flip test, the mirrored crops' outputs."""
        outs, flips = [], []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            outs.append(self.pose_model.run(self.spec.preprocess(batch)))
            if self.flip_test:
                flips.append(self.pose_model.run(self.spec.preprocess(batch[:, :, ::-1])))
        return np.concatenate(outs, axis=0), np.concatenate(flips, axis=0) if flips else None

    def __repr__(self) -> str:
        return (
            f"PoseEstimator(pose={type(self.pose_model).__name__} {self.spec.input_size}, decode={self.decode_method!r}, "
            f"flip_test={self.flip_test}, pose_nms={self.pose_nms!r})"
        )
