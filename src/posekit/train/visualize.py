"""Pictures of training samples: augmented crop, labels and targets, side by side.

Heatmap targets are drawn as they are (maximum over joints); SimCC targets
(RTMPose, ``(K, W r + H r)``) as the 2-D map each keypoint's x and y vectors
span, ``max_k ty[k][:, None] * tx[k][None, :]``, at ``1 / r`` crop pixels per bin.
"""

from __future__ import annotations

import cv2
import numpy as np

from posekit import geometry
from posekit.codec import SimCCCodec
from posekit.draw import draw_poses
from posekit.schema import KeypointSchema
from posekit.spec import PoseModelSpec
from posekit.structures import Poses
from posekit.train.dataset import TrainingSample

__all__ = ["heatmap_overlay", "target_maps", "render_sample"]


def heatmap_overlay(crop: np.ndarray, heatmaps: np.ndarray, stride: float, alpha: float = 0.6) -> np.ndarray:
    """The crop dimmed, with the maximum over joints of ``heatmaps`` as a colour map on top.

    Heatmap pixel ``(u, v)`` is drawn at crop point ``(stride u, stride v)``
    (posekit's pixel convention, via an affine warp, not ``cv2.resize``).

    Args:
        crop: ``(H, W, 3)`` BGR uint8.
        heatmaps: ``(K, H / stride, W / stride)``.
        stride: crop pixels per heatmap pixel (SimCC maps: ``1 / r``, see :func:`target_maps`).
        alpha: weight of the colour map where the heatmap is 1.

    Returns:
        ``(H, W, 3)`` BGR uint8.
    """
    h, w = crop.shape[:2]
    peak = np.clip(heatmaps.max(axis=0), 0.0, 1.0).astype(np.float32)
    up = geometry.warp_crops(peak, np.array([[[stride, 0.0, 0.0], [0.0, stride, 0.0]]]), (w, h))[0]
    colour = cv2.applyColorMap((up * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    a = (alpha * up)[..., None]
    base = crop.astype(np.float32) * 0.5
    return np.clip(base * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def target_maps(target: np.ndarray, spec: PoseModelSpec | float) -> tuple[np.ndarray, float]:
    """A training target as 2-D maps for :func:`heatmap_overlay`, with their stride in crop pixels.

    Args:
        target: heatmaps ``(K, h, w)``, or for a SimCC spec the packed ``(K, W r + H r)`` vectors
            (:meth:`posekit.codec.SimCCCodec.encode`).
        spec: the model contract, or a heatmap stride (heatmap targets).

    Returns:
        heatmaps ``(K, h, w)`` and ``spec.heatmap_stride``; for SimCC one map ``(1, H r, W r)``, the maximum
        over keypoints of ``ty[k][:, None] * tx[k][None, :]``, and ``1 / r``.
    """
    if not isinstance(spec, PoseModelSpec):
        return target, float(spec)
    if spec.output != "simcc":
        return target, float(spec.heatmap_stride)
    codec = SimCCCodec.from_spec(spec)
    tx, ty = codec.split(np.asarray(target, np.float32)[None])
    peak = np.zeros((ty.shape[-1], tx.shape[-1]), np.float32)
    for x, y in zip(tx[0], ty[0]):  # one keypoint's (H r, W r) map at a time (133 at once would be ~100 MB)
        np.maximum(peak, y[:, None] * x[None, :], out=peak)
    return peak[None], 1.0 / codec.split_ratio


def _caption(sample: TrainingSample) -> str:
    p = sample.augmented.params
    parts = [f"img {sample.record.image_id}"]
    if p.flip:
        parts.append("flip")
    if p.rotation:
        parts.append(f"rot {p.rotation:+.0f}")
    if p.half_body:
        parts.append("half-body")
    parts.append(f"{int(sample.target_weight.astype(bool).sum())} kp")
    return " ".join(parts)


def render_sample(
    sample: TrainingSample, schema: KeypointSchema, spec: PoseModelSpec | float, zoom: int = 2
) -> np.ndarray:
    """A labelled picture of one training sample.

    Left: the augmented crop with the keypoint labels and skeleton (only
    joints with a non-zero target weight). Right: the targets (:func:`target_maps`:
    heatmaps, max over joints; SimCC, the maps the x and y vectors span) over
    the dimmed crop, with the labels as small dots, which should sit on the
    peaks. A caption names the drawn augmentation.

    Args:
        sample: from :meth:`posekit.train.dataset.KeypointDataset.sample`.
        schema: keypoint layout (skeleton, colours).
        spec: the model contract (heatmap or SimCC targets), or a heatmap stride.
        zoom: integer magnification of the output.

    Returns:
        ``(zoom * (H + 16), zoom * (2 W + 4), 3)`` BGR uint8.
    """
    crop = sample.crop
    h, w = crop.shape[:2]
    kp = sample.augmented.keypoints
    shown = (sample.target_weight > 0).astype(np.float32)
    poses = Poses(
        boxes=np.zeros((1, 4)), box_scores=np.ones(1), keypoints=kp[None], keypoint_scores=shown[None],
        scores=np.ones(1), schema=schema,
    )
    left = draw_poses(crop, poses, keypoint_thresh=0.5, draw_boxes=False, draw_ids=False, thickness=1)
    right = heatmap_overlay(crop, *target_maps(sample.target, spec))
    for (x, y), s in zip(kp, shown):
        if s > 0:
            cv2.circle(right, (int(round(x)), int(round(y))), 1, (255, 255, 255), -1)
    canvas = np.full((h + 16, 2 * w + 4, 3), 32, np.uint8)
    canvas[16:, :w] = left
    canvas[16:, w + 4 :] = right
    canvas = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    cv2.putText(
        canvas, _caption(sample), (4, 12 * zoom), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * zoom, (255, 255, 255), 1, cv2.LINE_AA
    )
    return canvas
