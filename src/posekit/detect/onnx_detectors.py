"""Person detectors in ONNX Runtime: YOLOX-nano and RTMDet-nano.

A detector is any callable ``image_bgr (H, W, 3) -> (boxes (N, 4) xyxy, scores (N,))``
with boxes in image pixels, clamped to the image, sorted by score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from posekit import geometry
from posekit.detect.postprocess import yolo_postprocess
from posekit.pose.onnx_model import make_session

__all__ = ["DetectorConfig", "YoloxDetector", "RtmdetDetector", "yolox_grid_decode"]


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds shared by the person detectors.

    Attributes:
        conf_thresh: keep boxes with confidence above this.
        nms_thresh: greedy NMS IoU threshold (YOLOX); RTMDet does NMS inside the graph.
        max_boxes: NMS retry trigger (see :func:`posekit.detect.postprocess.yolo_postprocess`).
        min_size: drop boxes narrower or lower than this many image pixels.
    """

    conf_thresh: float = 0.05
    nms_thresh: float = 0.6
    max_boxes: int = 100
    min_size: float = 2.0


def _finish(boxes: np.ndarray, scores: np.ndarray, lb: geometry.Letterbox, image_shape, cfg: DetectorConfig):
    boxes = geometry.unletterbox_boxes(boxes, lb, image_shape[:2])
    keep = ((boxes[:, 2] - boxes[:, 0]) >= cfg.min_size) & ((boxes[:, 3] - boxes[:, 1]) >= cfg.min_size)
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return boxes[order].astype(np.float32), scores[order].astype(np.float32)


def yolox_grid_decode(raw: np.ndarray, input_size: tuple[int, int], strides=(8, 16, 32)) -> np.ndarray:
    """YOLOX head output ``(M, 5 + C)`` in grid units -> ``[cx, cy, w, h, obj, cls…]`` in input pixels.

    Rows are the cells of each stride in turn, row-major (``y * W_s + x``).
    """
    w_in, h_in = input_size
    grids, mults = [], []
    for s in strides:
        ws, hs = w_in // s, h_in // s
        yv, xv = np.meshgrid(np.arange(hs), np.arange(ws), indexing="ij")
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        mults.append(np.full((ws * hs, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(mults).astype(np.float32)
    if len(grid) != len(raw):
        raise ValueError(f"YOLOX output has {len(raw)} rows, expected {len(grid)} for input {input_size}")
    out = raw.astype(np.float32).copy()
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    return out


class _OnnxDetector:
    """An ONNX detector session with a fixed input size and thresholds."""

    default_input_size: tuple[int, int] = (416, 416)

    def __init__(self, path: str | os.PathLike, input_size: tuple[int, int] | None = None,
                 config: DetectorConfig = DetectorConfig(), num_threads: int | None = None) -> None:
        self.session = make_session(path, num_threads)
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = tuple(input_size or self.default_input_size)
        self.config = config


class YoloxDetector(_OnnxDetector):
    """YOLOX (COCO-80) person detector: top-left letterbox pad 114, BGR 0..255 input.

    Args:
        path: ONNX file whose output is the raw ``(1, M, 85)`` head (obj and class
            scores already sigmoid-ed).
        input_size: ``(W, H)`` of the ONNX input (default 416x416).
    """

    default_input_size = (416, 416)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inp, lb = geometry.letterbox(image, self.input_size, placement="topleft", pad_value=114)
        x = inp.transpose(2, 0, 1)[None].astype(np.float32)
        raw = self.session.run(None, {self.input_name: x})[0][0]
        pred = yolox_grid_decode(raw, self.input_size)
        cfg = self.config
        boxes, scores = yolo_postprocess(
            pred, conf_thresh=cfg.conf_thresh, nms_thresh=cfg.nms_thresh, max_boxes=cfg.max_boxes, score_mode="obj_cls"
        )
        return _finish(boxes, scores, lb, image.shape, cfg)


class RtmdetDetector(_OnnxDetector):
    """RTMDet-nano person detector (mmdeploy end2end export, NMS inside the graph).

    Input: top-left letterbox pad 114, BGR, normalised with mmdet's mean/std (default 320x320).
    """

    default_input_size = (320, 320)
    MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    STD = np.array([57.375, 57.12, 58.395], np.float32)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inp, lb = geometry.letterbox(image, self.input_size, placement="topleft", pad_value=114)
        x = ((inp.astype(np.float32) - self.MEAN) / self.STD).transpose(2, 0, 1)[None]
        dets, labels = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})
        dets, labels = dets[0], labels[0]
        keep = (labels == 0) & (dets[:, 4] > self.config.conf_thresh)
        return _finish(dets[keep, :4], dets[keep, 4], lb, image.shape, self.config)
