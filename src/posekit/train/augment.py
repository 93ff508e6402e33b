"""HRNet training augmentation, expressed as one image -> crop affine map per person.

HRNet's ``JointsDataset.__getitem__`` draws, in this order:

1. **half-body** (probability ``half_body_prob``, only when more than
   ``half_body_num_joints`` joints are labelled): the labelled joints are split
   into upper body (``schema.upper_body``) and lower body; the upper set is
   taken when ``randn() < 0.5`` (sic: HRNet compares a *normal* draw, so the
   upper body is chosen with probability ~0.69) and it has more than 2 joints,
   else the lower set if it has more than 2 joints, else the upper set. With
   at least 2 selected joints the crop centre becomes their mean and the scale
   their bounding box, fixed to the input aspect ratio and enlarged by
   ``half_body_scale`` (1.5).
2. **scale**: ``s *= clip(randn * sf + 1, 1 - sf, 1 + sf)`` (sf = 0.35).
3. **rotation** with probability ``rotation_prob`` (0.6):
   ``r = clip(randn * rf, -2 rf, 2 rf)`` degrees (rf = 45), else 0.
4. **flip** with probability ``flip_prob`` (0.5): the image is mirrored
   (``x -> W - 1 - x`` in posekit's pixel convention), the crop centre too,
   and left/right joints swap (``schema.flip_index()``).

posekit never flips the image array: the mirror is composed into the crop's
affine map (``M = A(c', s, r) @ F``), so a single
:func:`posekit.geometry.warp_crops` produces exactly the crop HRNet gets from
flipping first, and the same ``M`` maps the keypoints. All randomness comes
from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit import geometry
from posekit.schema import KeypointSchema
from posekit.train.config import AugmentConfig

__all__ = [
    "AugmentParams",
    "AugmentedCrop",
    "half_body_center_scale",
    "sample_augmentation",
    "flip_matrix",
    "augmentation_matrix",
    "augment_person",
]


@dataclass(frozen=True)
class AugmentParams:
    """One person's drawn augmentation.

    Attributes:
        center: ``(2,)`` crop centre in the (unflipped) image, pixels.
        scale: ``(2,)`` region size in pixels (width, height).
        rotation: degrees, counter-clockwise (HRNet's sign).
        flip: horizontal mirror.
        half_body: the half-body crop replaced the box.
    """

    center: np.ndarray
    scale: np.ndarray
    rotation: float = 0.0
    flip: bool = False
    half_body: bool = False


@dataclass(frozen=True)
class AugmentedCrop:
    """An augmented person crop and its labels.

    Attributes:
        crop: ``(H_in, W_in, 3)`` image crop (input dtype).
        keypoints: ``(K, 2)`` crop pixels; index ``j`` is joint ``j`` of the
            *crop* (after a flip, the image's mirror joint).
        visible: ``(K,)`` float32, 1 where labelled.
        matrix: ``(2, 3)`` image -> crop map (flip included).
        params: what was drawn.
    """

    crop: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    matrix: np.ndarray
    params: AugmentParams


def half_body_center_scale(
    keypoints: np.ndarray,
    visible: np.ndarray,
    upper_body: tuple[int, ...] | np.ndarray,
    aspect_ratio: float,
    rng: np.random.Generator,
    enlarge: float = 1.5,
) -> tuple[np.ndarray, np.ndarray] | None:
    """HRNet's ``half_body_transform``: crop on the upper or the lower body.

    Args:
        keypoints: ``(K, 2)`` image pixels.
        visible: ``(K,)``; ``> 0`` counts as labelled.
        upper_body: indices of upper-body joints (``schema.upper_body``).
        aspect_ratio: input width / height.
        rng: source of the ``randn() < 0.5`` upper/lower draw.
        enlarge: scale factor of the joints' box (HRNet: 1.5).

    Returns:
        ``(center (2,), scale (2,))`` in pixels, or ``None`` when fewer than 2
        joints are selected.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    labelled = np.asarray(visible).reshape(-1) > 0
    is_upper = np.zeros(len(kp), dtype=bool)
    is_upper[list(upper_body)] = True
    upper = kp[labelled & is_upper]
    lower = kp[labelled & ~is_upper]
    if rng.standard_normal() < 0.5 and len(upper) > 2:
        selected = upper
    else:
        selected = lower if len(lower) > 2 else upper
    if len(selected) < 2:
        return None
    center = selected.mean(axis=0)
    w, h = selected.max(axis=0) - selected.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center, np.array([w, h], dtype=np.float64) * enlarge


def sample_augmentation(
    rng: np.random.Generator,
    cfg: AugmentConfig,
    keypoints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    aspect_ratio: float,
    schema: KeypointSchema,
) -> AugmentParams:
    """Draw one person's augmentation in HRNet's order (see the module docstring).

    Args:
        rng: random source (one per sample, see :class:`posekit.train.dataset.KeypointDataset`).
        cfg: probabilities and ranges; ``cfg.enabled = False`` returns the input box unchanged.
        keypoints: ``(K, 2)`` image pixels.
        visible: ``(K,)``.
        center, scale: ``(2,)`` the box's crop centre and size (pixels).
        aspect_ratio: input width / height.
        schema: supplies ``upper_body``.
    """
    c = np.asarray(center, dtype=np.float64).reshape(2).copy()
    s = np.asarray(scale, dtype=np.float64).reshape(2).copy()
    if not cfg.enabled:
        return AugmentParams(center=c, scale=s)
    half_body = False
    labelled = int((np.asarray(visible) > 0).sum())
    if labelled > cfg.half_body_num_joints and rng.random() < cfg.half_body_prob:
        found = half_body_center_scale(
            keypoints, visible, schema.upper_body, aspect_ratio, rng, cfg.half_body_scale
        )
        if found is not None:
            c, s = found
            half_body = True
    sf = cfg.scale_factor
    s = s * float(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rf = cfg.rotation_factor
    rotation = 0.0
    if rng.random() < cfg.rotation_prob:
        rotation = float(np.clip(rng.standard_normal() * rf, -2.0 * rf, 2.0 * rf))
    flip = bool(rng.random() < cfg.flip_prob)
    return AugmentParams(center=c, scale=s, rotation=rotation, flip=flip, half_body=half_body)


def flip_matrix(image_width: int) -> np.ndarray:
    """``(2, 3)`` horizontal mirror of an image ``image_width`` pixels wide: ``x -> W - 1 - x``."""
    return np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0]])


def augmentation_matrix(params: AugmentParams, image_width: int, output_size: tuple[int, int]) -> np.ndarray:
    """The ``(2, 3)`` image -> crop map of ``params`` (the mirror composed in when flipping).

    Args:
        params: drawn augmentation.
        image_width: width of the source image (the mirror axis).
        output_size: crop ``(W_in, H_in)``.
    """
    center = params.center
    if params.flip:
        center = np.array([image_width - 1.0 - center[0], center[1]])
    crop = geometry.affine_matrix(center, params.scale, output_size, rot=params.rotation)
    if not params.flip:
        return crop
    f = flip_matrix(image_width)
    return np.concatenate([crop[:, :2] @ f[:, :2], (crop[:, :2] @ f[:, 2] + crop[:, 2])[:, None]], axis=1)


def augment_person(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    schema: KeypointSchema,
    output_size: tuple[int, int],
    border_value: float = 0.0,
) -> AugmentedCrop:
    """Draw an augmentation, warp the crop and move the keypoints with the same map.

    Args:
        image: ``(H, W, 3)`` (any dtype ``cv2.warpAffine`` takes).
        keypoints: ``(K, 2)`` image pixels.
        visible: ``(K,)``.
        center, scale: ``(2,)`` un-augmented crop centre and size in pixels.
        rng: random source.
        cfg: augmentation settings.
        schema: keypoint layout (flip pairs, upper body).
        output_size: crop ``(W_in, H_in)``.
        border_value: fill for crop pixels outside the image.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    vis = np.asarray(visible, dtype=np.float32).reshape(-1)
    aspect = output_size[0] / output_size[1]
    params = sample_augmentation(rng, cfg, kp, vis, center, scale, aspect, schema)
    matrix = augmentation_matrix(params, image.shape[1], output_size)
    crop = geometry.warp_crops(image, matrix[None], output_size, border_value)[0]
    if params.flip:
        order = schema.flip_index()
        kp, vis = kp[order], vis[order]
    kp_crop = geometry.apply_affine(kp, matrix)
    kp_crop[vis <= 0] = 0.0
    return AugmentedCrop(crop=crop, keypoints=kp_crop, visible=vis.copy(), matrix=matrix, params=params)
