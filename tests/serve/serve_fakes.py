"""The fake estimator of the ``posekit serve`` tests (a module of its own: test modules import it too)."""

from __future__ import annotations

import threading
import time

import numpy as np

from posekit.schema import COCO17
from posekit.structures import Poses


class FakeEstimator:
    """One standing person in the middle of any image; optionally waits for ``gate`` or raises.

    Has what the pool (``__call__``) and the video jobs (``detect``, ``estimate``, ``schema``) use.
    """

    schema = COCO17
    preset = "fake"

    def __init__(self, gate: threading.Event | None = None, error: BaseException | None = None,
                 delay: float = 0.0) -> None:
        self.gate = gate
        self.error = error
        self.delay = delay
        self.calls = 0

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        return np.array([[0.3 * w, 0.1 * h, 0.7 * w, 0.9 * h]]), np.array([0.9])

    def estimate(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        ys = np.linspace(0, 1, 17)
        kp = np.stack([np.stack([np.full(17, c), boxes[i, 1] + ys * (boxes[i, 3] - boxes[i, 1])], axis=1)
                       for i, c in enumerate(cx)]) if n else np.zeros((0, 17, 2))
        return Poses(boxes, box_scores, kp, np.full((n, 17), 0.8), np.full(n, 0.75), schema=COCO17)

    def __call__(self, image: np.ndarray) -> Poses:
        return self.estimate(image, *self.detect(image))
