"""Crop stage: person boxes -> network input crops plus their affine maps."""

from __future__ import annotations

import numpy as np

from posekit import geometry
from posekit.spec import PoseModelSpec

__all__ = ["crop_matrices", "crop_people"]


def crop_matrices(boxes: np.ndarray, spec: PoseModelSpec, image_shape: tuple[int, int]) -> np.ndarray:
    """Image -> crop affine maps for person boxes under the model's crop convention.

    Args:
        boxes: ``(N, 4)`` xyxy.
        spec: the pose model's contract (crop mode, padding, input size).
        image_shape: ``(H, W)`` of the image (the legacy AlphaPose crop clips to it).

    Returns:
        ``(N, 2, 3)`` matrices.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    crop = spec.crop
    if crop.mode == "alphapose_legacy":
        enlarged = geometry.enlarge_box_alphapose_legacy(boxes, image_shape, crop.legacy_scale_rate)
        return geometry.legacy_crop_matrices(enlarged, spec.input_size)
    centers, scales = geometry.box_to_center_scale(boxes, spec.aspect_ratio, crop.padding)
    return geometry.affine_matrix(centers, scales, spec.input_size).reshape(-1, 2, 3)


def crop_people(
    image: np.ndarray, boxes: np.ndarray, spec: PoseModelSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one crop per person box.

    Args:
        image: ``(H, W, 3)`` BGR uint8.
        boxes: ``(N, 4)`` xyxy.

    Returns:
        crops ``(N, H_in, W_in, 3)`` uint8 and image -> crop matrices ``(N, 2, 3)``.
    """
    mats = crop_matrices(boxes, spec, image.shape[:2])
    if spec.crop.mode == "alphapose_legacy":
        enlarged = geometry.enlarge_box_alphapose_legacy(boxes, image.shape[:2], spec.crop.legacy_scale_rate)
        w_in, h_in = spec.input_size
        crops = np.empty((len(mats), h_in, w_in, 3), dtype=image.dtype)
        for i, (m, box) in enumerate(zip(mats, enlarged)):
            masked = geometry.mask_outside_box(image, box)
            crops[i] = geometry.warp_crops(masked, m[None], spec.input_size, spec.crop.border_value)[0]
        return crops, mats
    crops = geometry.warp_crops(image, mats, spec.input_size, spec.crop.border_value)
    if spec.crop.mask_margin is not None:
        crops = mask_outside_boxes(crops, boxes, mats, spec.crop.mask_margin)
    return crops, mats


def mask_outside_boxes(crops: np.ndarray, boxes: np.ndarray, matrices: np.ndarray, margin: float) -> np.ndarray:
    """Zero crop pixels outside each person box enlarged by ``margin`` about its centre.

    Args:
        crops: ``(N, H, W, 3)``.
        boxes: ``(N, 4)`` xyxy image boxes.
        matrices: ``(N, 2, 3)`` image -> crop maps.

    Returns:
        the crops, masked in place.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    center = (b[:, :2] + b[:, 2:]) / 2
    half = (b[:, 2:] - b[:, :2]) / 2 * margin
    corners = np.stack([center - half, np.stack([center[:, 0] + half[:, 0], center[:, 1] - half[:, 1]], 1),
                        center + half, np.stack([center[:, 0] - half[:, 0], center[:, 1] + half[:, 1]], 1)], axis=1)
    mapped = geometry.apply_affine(corners, matrices)  # (N, 4, 2) in crop pixels
    h, w = crops.shape[1:3]
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    for i in range(len(crops)):
        x1, y1 = mapped[i].min(axis=0)
        x2, y2 = mapped[i].max(axis=0)
        outside = (xs < x1) | (xs > x2) | (ys < y1) | (ys > y2)
        crops[i][outside] = 0
    return crops
