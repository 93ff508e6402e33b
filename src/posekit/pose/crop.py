"""Crop stage: person boxes -> network input crops plus their affine maps."""

from __future__ import annotations

import numpy as np

from posekit import geometry
from posekit.pose.spec import PoseModelSpec

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
    return geometry.warp_crops(image, mats, spec.input_size, spec.crop.border_value), mats
