"""All image geometry in posekit: boxes, crops, affine maps and letterboxing.

Pixel convention (the only one in posekit)
-----------------------------------------
Points are continuous ``(x, y)`` in pixels. The centre of the pixel in column
``j``, row ``i`` is at ``(j, i)``; an image of width ``W`` spans
``[-0.5, W - 0.5]``. This is the convention of ``cv2.warpAffine`` and
``cv2.resize``'s matrix form, of COCO keypoints, and of HRNet and AlphaPose,
which treat boxes, keypoints and heatmap maxima all in this one frame. Boxes
are ``xyxy`` (COCO ``xywh`` converts by ``x2 = x + w``).

Crop convention
---------------
A crop is described by a *centre* ``(cx, cy)`` and a *scale* ``(sw, sh)``: the
size in image pixels of the region that fills the crop (HRNet's
``scale * 200``; posekit keeps scale in pixels). The affine map sends the
centre to ``(W_out / 2, H_out / 2)`` and ``sw`` image pixels to ``W_out``
output pixels, rotated by ``rot`` degrees (counter-clockwise in the image,
as HRNet's ``get_affine_transform``). Heatmaps at stride ``s`` relate to the
crop by ``x_crop = s * x_heatmap`` exactly (for crop sizes divisible by ``s``),
so a single matrix per person maps both back to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "cxcywh_to_xyxy",
    "box_to_center_scale",
    "center_scale_to_box",
    "enlarge_box_alphapose_legacy",
    "legacy_crop_matrices",
    "mask_outside_box",
    "affine_matrix",
    "invert_affine",
    "apply_affine",
    "warp_crops",
    "keypoints_to_boxes",
    "Letterbox",
    "LETTERBOX_PLACEMENTS",
    "letterbox",
    "unletterbox_points",
    "unletterbox_boxes",
    "clip_boxes",
    "as_boxes",
    "box_iou",
]


# ----------------------------------------------------------------------------- boxes


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``[x1, y1, x2, y2]`` -> ``[x, y, w, h]``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:4] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``[cx, cy, w, h]`` -> ``[x1, y1, x2, y2]``."""
    b = np.asarray(boxes, dtype=np.float64)
    half = b[..., 2:4] / 2.0
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def box_to_center_scale(
    boxes: np.ndarray, aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """HRNet's box -> (centre, scale) with the aspect-ratio fix.

    The box is widened or heightened (never shrunk) to ``w / h == aspect_ratio``
    around its centre, then both sides are multiplied by ``padding``.

    Args:
        boxes: ``(N, 4)`` xyxy.
        aspect_ratio: crop width / height (0.75 for a 192x256 input).
        padding: enlargement factor (HRNet and AlphaPose: 1.25).

    Returns:
        centers ``(N, 2)`` and scales ``(N, 2)`` (width, height in pixels).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    centers = np.stack([b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h], axis=1)
    wide = w > aspect_ratio * h
    h = np.where(wide, w / aspect_ratio, h)
    w = np.where(~wide & (w < aspect_ratio * h), h * aspect_ratio, w)
    scales = np.stack([w, h], axis=1) * padding
    return centers, scales


def center_scale_to_box(centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Inverse of the unpadded box: ``(N, 2), (N, 2)`` -> ``(N, 4)`` xyxy."""
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    s = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([c - s / 2.0, c + s / 2.0], axis=1)


def enlarge_box_alphapose_legacy(
    boxes: np.ndarray, image_shape: tuple[int, int], scale_rate: float = 0.3
) -> np.ndarray:
    """The 2018 AlphaPose SPPE box enlargement (``crop_from_dets``).

    Each side grows by ``scale_rate / 2`` of the box size, the box is clipped
    to ``[0, W - 1] x [0, H - 1]``, and kept at least 5 pixels wide and high.

    Args:
        boxes: ``(N, 4)`` xyxy.
        image_shape: ``(H, W)``.

    Returns:
        ``(N, 4)`` xyxy.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    h_img, w_img = image_shape[:2]
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    x1 = np.maximum(0.0, b[:, 0] - w * scale_rate / 2)
    y1 = np.maximum(0.0, b[:, 1] - h * scale_rate / 2)
    x2 = np.maximum(np.minimum(w_img - 1.0, b[:, 2] + w * scale_rate / 2), x1 + 5)
    y2 = np.maximum(np.minimum(h_img - 1.0, b[:, 3] + h * scale_rate / 2), y1 + 5)
    return np.stack([x1, y1, x2, y2], axis=1)


def legacy_crop_matrices(boxes: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Image -> crop maps of the 2018 AlphaPose keep-ratio crop (``cropBox``).

    The integer box from ``ul = int(x1, y1)`` to ``br = int(x2 - 1, y2 - 1)`` is
    padded symmetrically (``(len - size) // 2`` per side) to the input aspect
    ratio, and the padded corners go to ``(0, 0)`` and ``(W_in - 1, H_in - 1)``.
    Pixels outside the box are zeroed by the caller (:func:`mask_outside_boxes`).

    Args:
        boxes: ``(N, 4)`` xyxy, already enlarged (:func:`enlarge_box_alphapose_legacy`).
        input_size: ``(W_in, H_in)``.

    Returns:
        ``(N, 2, 3)`` axis-aligned affine matrices.
    """
    w_in, h_in = input_size
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ul = np.trunc(b[:, :2])
    br = np.trunc(b[:, 2:] - 1)
    box_w = br[:, 0] - ul[:, 0]
    box_h = br[:, 1] - ul[:, 1]
    len_h = np.maximum(box_h, box_w * h_in / w_in)
    len_w = len_h * w_in / h_in
    pad_x = np.floor((len_w - box_w) / 2)
    pad_y = np.floor((len_h - box_h) / 2)
    src0 = np.stack([ul[:, 0] - pad_x, ul[:, 1] - pad_y], axis=1)
    src1 = np.stack([br[:, 0] + pad_x, br[:, 1] + pad_y], axis=1)
    k = np.array([w_in - 1.0, h_in - 1.0]) / np.maximum(src1 - src0, 1e-6)
    mats = np.zeros((len(b), 2, 3))
    mats[:, 0, 0] = k[:, 0]
    mats[:, 1, 1] = k[:, 1]
    mats[:, :, 2] = -k * src0
    return mats


def mask_outside_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with pixels outside the integer box zeroed (legacy AlphaPose crop)."""
    x1, y1 = int(box[0]), int(box[1])
    x2, y2 = int(box[2] - 1), int(box[3] - 1)
    out = np.zeros_like(image)
    out[max(y1, 0) : max(y2 + 1, 0), max(x1, 0) : max(x2 + 1, 0)] = image[
        max(y1, 0) : max(y2 + 1, 0), max(x1, 0) : max(x2 + 1, 0)
    ]
    return out


def clip_boxes(boxes: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Clamp ``(N, 4)`` xyxy boxes to ``[0, W] x [0, H]`` for ``image_shape = (H, W)``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    h, w = image_shape[:2]
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return b


def keypoints_to_boxes(keypoints: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Tight boxes around keypoints.

    Args:
        keypoints: ``(N, K, 2)``.
        valid: ``(N, K)`` bool; invalid keypoints are ignored (all-invalid -> zeros).

    Returns:
        ``(N, 4)`` xyxy.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if valid is None:
        valid = np.ones(kp.shape[:2], dtype=bool)
    lo = np.where(valid[..., None], kp, np.inf).min(axis=1)
    hi = np.where(valid[..., None], kp, -np.inf).max(axis=1)
    boxes = np.concatenate([lo, hi], axis=1)
    boxes[~valid.any(axis=1)] = 0.0
    return boxes


# ----------------------------------------------------------------------------- affine


def affine_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    output_size: tuple[int, int],
    rot: float | np.ndarray = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """The crop's similarity transform (HRNet's ``get_affine_transform``).

    ``x_out = s * R(-rot) @ (x - center) + (W_out / 2, H_out / 2)`` with
    ``s = W_out / scale_w``. Only the scale's width sets the zoom; the height
    follows from the output aspect ratio (the box was fixed to it beforehand).

    Args:
        center: ``(2,)`` or ``(N, 2)``.
        scale: ``(2,)`` or ``(N, 2)``, region size in pixels.
        output_size: ``(W_out, H_out)``.
        rot: degrees, scalar or ``(N,)``.
        inverse: return the output -> image map instead.

    Returns:
        ``(2, 3)`` or ``(N, 2, 3)`` float64 matrices.
    """
    c = np.asarray(center, dtype=np.float64)
    single = c.ndim == 1
    c = c.reshape(-1, 2)
    s = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
    n = max(len(c), len(s))
    r = np.broadcast_to(np.deg2rad(np.asarray(rot, dtype=np.float64)), (n,))
    w_out, h_out = output_size
    k = w_out / s[:, 0]
    cos, sin = np.cos(r), np.sin(r)
    half = np.array([w_out / 2.0, h_out / 2.0])
    mats = np.empty((n, 2, 3))
    if not inverse:
        # s * R(-rot) = s * [[cos, sin], [-sin, cos]]
        mats[:, 0, 0] = k * cos
        mats[:, 0, 1] = k * sin
        mats[:, 1, 0] = -k * sin
        mats[:, 1, 1] = k * cos
        mats[:, :, 2] = half - np.einsum("nij,nj->ni", mats[:, :, :2], np.broadcast_to(c, (n, 2)))
    else:
        # x = R(rot) @ (x_out - half) / s + center
        inv_k = 1.0 / k
        mats[:, 0, 0] = inv_k * cos
        mats[:, 0, 1] = -inv_k * sin
        mats[:, 1, 0] = inv_k * sin
        mats[:, 1, 1] = inv_k * cos
        mats[:, :, 2] = np.broadcast_to(c, (n, 2)) - np.einsum("nij,j->ni", mats[:, :, :2], half)
    return mats[0] if single else mats


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of ``(2, 3)`` or ``(N, 2, 3)`` affine matrices."""
    m = np.asarray(matrix, dtype=np.float64)
    single = m.ndim == 2
    m = m.reshape(-1, 2, 3)
    a_inv = np.linalg.inv(m[:, :, :2])
    t = -np.einsum("nij,nj->ni", a_inv, m[:, :, 2])
    out = np.concatenate([a_inv, t[:, :, None]], axis=2)
    return out[0] if single else out


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map points through affine matrices.

    Args:
        points: ``(..., 2)``; with ``(N, 2, 3)`` matrices, ``(N, K, 2)``.
        matrix: ``(2, 3)`` or ``(N, 2, 3)``.

    Returns:
        mapped points, same shape as ``points``.
    """
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2:
        return p @ m[:, :2].T + m[:, 2]
    return np.einsum("nij,nkj->nki", m[:, :, :2], p) + m[:, None, :, 2]


def warp_crops(
    image: np.ndarray,
    matrices: np.ndarray,
    output_size: tuple[int, int],
    border_value: float = 0.0,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Cut affine crops out of one image.

    Args:
        image: ``(H, W, C)`` or ``(H, W)``.
        matrices: ``(N, 2, 3)`` image -> crop maps.
        output_size: ``(W_out, H_out)``.

    Returns:
        ``(N, H_out, W_out, C)`` (or ``(N, H_out, W_out)``), the image's dtype.
    """
    w_out, h_out = output_size
    mats = np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3)
    out = np.empty((len(mats), h_out, w_out) + image.shape[2:], dtype=image.dtype)
    border = (border_value,) * 4
    for i, m in enumerate(mats):
        out[i] = cv2.warpAffine(image, m, (w_out, h_out), flags=interpolation, borderValue=border)
    return out


# ----------------------------------------------------------------------------- letterbox


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into a detector input.

    ``x_input = scale * x_image + pad``; boxes map back by the inverse.

    Attributes:
        scale: resize factor (of x; of both axes unless ``scale_y`` is set).
        pad: ``(pad_x, pad_y)`` offset of the resized image in the input.
        input_size: ``(W, H)`` of the detector input.
        scale_y: resize factor of y for a plain stretch (aspect ratio not kept).
    """

    scale: float
    pad: tuple[float, float]
    input_size: tuple[int, int]
    scale_y: float | None = None

    @property
    def scales(self) -> tuple[float, float]:
        """``(scale_x, scale_y)``."""
        return (self.scale, self.scale if self.scale_y is None else self.scale_y)


#: Placements of :func:`letterbox`.
LETTERBOX_PLACEMENTS = ("center", "topleft", "stretch", "yolo", "warp")


def letterbox(
    image: np.ndarray,
    size: tuple[int, int],
    placement: str = "center",
    pad_value: float = 114.0,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio and pad to ``size``.

    ``placement="center"`` is YOLOv3/darknet (AlphaPose pads with 128,
    resizes with cubic interpolation); ``"topleft"`` is YOLOX / RTMDet (pad 114);
    ``"stretch"`` resizes to ``size`` without keeping the aspect ratio and
    without padding (PP-PicoDet); ``"yolo"`` is Ultralytics' ``LetterBox``
    (resized to ``round(w r), round(h r)``, centred with pads ``round(d - 0.1)``
    before and ``round(d + 0.1)`` after, ``d`` half the spare pixels);
    ``"warp"`` is MMPose's ``BottomupResize``: one affine warp that scales by
    ``r = min(W_in / w, H_in / h)`` and puts the image centre at the input's
    centre, sub-pixel offset kept (``cv2.warpAffine``, constant border).

    Args:
        image: ``(H, W, 3)``.
        size: ``(W_in, H_in)``.

    Returns:
        the ``(H_in, W_in, 3)`` input image and its :class:`Letterbox`.
    """
    if placement not in LETTERBOX_PLACEMENTS:
        raise ValueError(f"placement must be one of {LETTERBOX_PLACEMENTS}, got {placement!r}")
    w_in, h_in = size
    h, w = image.shape[:2]
    if placement == "stretch":
        resized = cv2.resize(image, (w_in, h_in), interpolation=interpolation)
        return resized, Letterbox(scale=w_in / w, pad=(0.0, 0.0), input_size=(w_in, h_in), scale_y=h_in / h)
    scale = min(w_in / w, h_in / h)
    border = (pad_value,) * 4
    if placement == "warp":
        px, py = w_in / 2 - scale * w / 2, h_in / 2 - scale * h / 2
        matrix = np.array([[scale, 0.0, px], [0.0, scale, py]])
        canvas = warp_crops(image, matrix[None], (w_in, h_in), pad_value, interpolation)[0]
        return canvas, Letterbox(scale=scale, pad=(px, py), input_size=(w_in, h_in))
    if placement == "yolo":
        new_w, new_h = int(round(w * scale)), int(round(h * scale))
        dw, dh = (w_in - new_w) / 2, (h_in - new_h) / 2
        left, top = int(round(dw - 0.1)), int(round(dh - 0.1))
        right, bottom = int(round(dw + 0.1)), int(round(dh + 0.1))
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation) if (new_w, new_h) != (w, h) else image
        canvas = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=border)
        return canvas, Letterbox(scale=scale, pad=(float(left), float(top)), input_size=(w_in, h_in))
    new_w, new_h = max(1, int(w * scale)), max(1, int(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((h_in, w_in) + image.shape[2:], pad_value, dtype=image.dtype)
    if placement == "center":
        px, py = (w_in - new_w) // 2, (h_in - new_h) // 2
    else:
        px, py = 0, 0
    canvas[py : py + new_h, px : px + new_w] = resized
    return canvas, Letterbox(scale=scale, pad=(float(px), float(py)), input_size=(w_in, h_in))


def unletterbox_points(points: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Map ``(..., 2)`` points from a letterboxed input back to the image (the inverse of :func:`letterbox`)."""
    p = np.asarray(points, dtype=np.float64).copy()
    sx, sy = lb.scales
    p[..., 0] = (p[..., 0] - lb.pad[0]) / sx
    p[..., 1] = (p[..., 1] - lb.pad[1]) / sy
    return p


def unletterbox_boxes(
    boxes: np.ndarray, lb: Letterbox, image_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Map ``(N, 4)`` xyxy boxes from the detector input back to the image (their two corners by
    :func:`unletterbox_points`).

    With ``image_shape = (H, W)`` the boxes are also clamped to the image.
    """
    b = unletterbox_points(np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2), lb).reshape(-1, 4)
    if image_shape is not None:
        b = clip_boxes(b, image_shape)
    return b


# ----------------------------------------------------------------------------- box overlap


def as_boxes(boxes: np.ndarray, name: str = "boxes") -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array (an empty 1-D input gives ``(0, 4)``).

    Raises:
        ValueError: any other shape (``name`` is used in the message).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    return arr


def box_iou(a: np.ndarray, b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """Pairwise IoU of two sets of ``xyxy`` boxes.

    Args:
        a: boxes ``(N, 4)`` ``[x1, y1, x2, y2]``.
        b: boxes ``(M, 4)``.
        plus_one: inclusive-pixel convention (areas ``(x2-x1+1)(y2-y1+1)``),
            as darknet / AlphaPose ``bbox_iou``; False is the continuous
            convention of this module (torchvision, YOLOX).

    Returns:
        ``(N, M)`` float64 IoU. Pairs whose union is not positive (degenerate
        boxes) get IoU 0.
    """
    a = as_boxes(a, "a")
    b = as_boxes(b, "b")
    off = 1.0 if plus_one else 0.0
    area_a = (a[:, 2] - a[:, 0] + off) * (a[:, 3] - a[:, 1] + off)
    area_b = (b[:, 2] - b[:, 0] + off) * (b[:, 3] - b[:, 1] + off)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + off
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + off
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out
