"""Heatmap codec: Gaussian targets (encode) and keypoint decoding (decode).

Pure numpy, shared by training (targets) and inference (decoding). All
coordinates here are in *crop* pixels of the network input (see
:mod:`posekit.geometry`); heatmap pixel ``(u, v)`` corresponds to crop point
``(stride * u, stride * v)``.

Decoders (:data:`DECODERS`):

``"argmax"``
    HRNet's ``get_max_preds``: per-channel argmax; keypoints whose maximum is
    ``<= 0`` are set to ``(0, 0)``.
``"hrnet"``
    argmax plus HRNet's quarter-pixel shift: ``+-0.25`` toward the higher
    neighbour on each axis when ``1 < px < W - 1`` and ``1 < py < H - 1``
    (``px = floor(x + 0.5)``).
``"alphapose"``
    the 2018 AlphaPose SPPE rule: ``+-0.25`` when ``0 < px < W - 1`` and
    ``0 < py < H - 1`` (``px = round(x)``), then ``+0.2`` on every heatmap
    coordinate; the pipeline also subtracts 0.3 from the final image
    keypoints (:attr:`Decoded.image_offset`).
``"dark"``
    DARK (Zhang et al., CVPR 2020): heatmaps smoothed with a Gaussian, then a
    second-order Taylor expansion of the log-heatmap around the argmax gives
    the sub-pixel offset ``-H^{-1} g``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "DECODERS",
    "Decoded",
    "encode_heatmaps",
    "get_max_preds",
    "quarter_shift_hrnet",
    "quarter_shift_alphapose",
    "dark_refine",
    "decode_heatmaps",
    "flip_heatmaps_back",
]

DECODERS = ("argmax", "hrnet", "alphapose", "dark")


def encode_heatmaps(
    keypoints: np.ndarray,
    visible: np.ndarray,
    heatmap_size: tuple[int, int],
    stride: float = 4.0,
    sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """HRNet Gaussian heatmap targets for one person.

    The Gaussian of keypoint ``k`` is centred on the integer heatmap pixel
    ``mu = int(kp / stride + 0.5)`` (truncation, as HRNet), drawn within a
    ``(6 sigma + 1)``-wide window (radius ``3 sigma``), peak 1. A keypoint whose
    window lies wholly outside the map gets target weight 0 and an empty map;
    unlabelled keypoints (``visible <= 0``) get weight 0 and an empty map.

    Args:
        keypoints: ``(K, 2)`` crop-pixel coordinates.
        visible: ``(K,)`` visibility; ``> 0`` counts as labelled.
        heatmap_size: ``(W, H)``.
        stride: crop pixels per heatmap pixel.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        heatmaps ``(K, H, W)`` float32 and target weights ``(K,)`` float32.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    vis = np.asarray(visible).reshape(-1)
    w, h = heatmap_size
    k = len(kp)
    target = np.zeros((k, h, w), dtype=np.float32)
    weight = (vis > 0).astype(np.float32)
    radius = sigma * 3
    size = int(2 * radius + 1)
    grid = np.arange(size, dtype=np.float32)
    c0 = size // 2
    g = np.exp(-((grid[None, :] - c0) ** 2 + (grid[:, None] - c0) ** 2) / (2 * sigma**2))
    for j in range(k):
        mu_x = int(kp[j, 0] / stride + 0.5)
        mu_y = int(kp[j, 1] / stride + 0.5)
        x0, y0 = int(mu_x - radius), int(mu_y - radius)
        x1, y1 = int(mu_x + radius + 1), int(mu_y + radius + 1)
        # HRNet tests ``br < 0``, which at ``br == 0`` leaves an empty map with
        # weight 1; posekit zeroes the weight whenever no Gaussian pixel lands.
        if x0 >= w or y0 >= h or x1 <= 0 or y1 <= 0:
            weight[j] = 0.0
            continue
        if weight[j] <= 0.5:
            continue
        gx0, gx1 = max(0, -x0), min(x1, w) - x0
        gy0, gy1 = max(0, -y0), min(y1, h) - y0
        target[j, max(0, y0) : min(y1, h), max(0, x0) : min(x1, w)] = g[gy0:gy1, gx0:gx1]
    return target, weight


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each heatmap.

    Args:
        heatmaps: ``(N, K, H, W)``.

    Returns:
        coords ``(N, K, 2)`` float64 heatmap pixels (``(0, 0)`` where the max
        is ``<= 0``) and maxvals ``(N, K)``.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
    coords *= (maxvals > 0)[..., None]
    return coords, maxvals.astype(np.float64)


def _neighbour_diffs(heatmaps: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` differences right-left and down-up at integer ``(px, py)`` (clipped)."""
    n, k, h, w = heatmaps.shape
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    xm, xp = np.clip(px - 1, 0, w - 1), np.clip(px + 1, 0, w - 1)
    ym, yp = np.clip(py - 1, 0, h - 1), np.clip(py + 1, 0, h - 1)
    pyc, pxc = np.clip(py, 0, h - 1), np.clip(px, 0, w - 1)
    dx = heatmaps[ni, ki, pyc, xp] - heatmaps[ni, ki, pyc, xm]
    dy = heatmaps[ni, ki, yp, pxc] - heatmaps[ni, ki, ym, pxc]
    return np.stack([dx, dy], axis=-1).astype(np.float64)


def _quarter_shift(coords: np.ndarray, heatmaps: np.ndarray, low: int) -> np.ndarray:
    """``+-0.25`` toward the higher neighbour on each axis where ``low < p < size - 1``.

    ``p`` is the coordinate rounded half up; for argmax coordinates (integers)
    HRNet's ``floor(x + 0.5)`` and AlphaPose's ``round(x)`` agree.
    """
    h, w = heatmaps.shape[2:]
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    inside = (px > low) & (px < w - 1) & (py > low) & (py < h - 1)
    diff = _neighbour_diffs(heatmaps, px, py)
    return coords + np.sign(diff) * 0.25 * inside[..., None]


def quarter_shift_hrnet(coords: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """HRNet's shift: ``+-0.25`` toward the higher neighbour where ``1 < px < W-1, 1 < py < H-1``.

    Args:
        coords: ``(N, K, 2)`` argmax coordinates.
        heatmaps: ``(N, K, H, W)``.

    Returns:
        shifted coords ``(N, K, 2)``.
    """
    return _quarter_shift(coords, heatmaps, low=1)


def quarter_shift_alphapose(coords: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """The legacy AlphaPose shift: ``+-0.25`` where ``0 < pX < W-1, 0 < pY < H-1``, then ``+0.2``.

    Args:
        coords: ``(N, K, 2)`` argmax coordinates.
        heatmaps: ``(N, K, H, W)``.

    Returns:
        shifted coords ``(N, K, 2)``.
    """
    return _quarter_shift(coords, heatmaps, low=0) + 0.2


def dark_refine(coords: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK sub-pixel refinement (distribution-aware coordinate representation).

    Each heatmap is smoothed with a Gaussian of size ``kernel`` (zero padding
    outside the map, as DarkPose; rescaled to
    its original maximum), clipped to ``>= 1e-10`` and log-transformed; at the
    argmax the gradient ``g`` and Hessian ``H`` (central differences) give the
    offset ``-H^{-1} g``. Points within one pixel of the border, and points
    whose Hessian is singular, are left unchanged.

    Args:
        coords: ``(N, K, 2)`` argmax coordinates (heatmap pixels).
        heatmaps: ``(N, K, H, W)``.
        kernel: odd Gaussian kernel size (11 for 64x48 heatmaps, as in the paper's code).

    Returns:
        refined coords ``(N, K, 2)``.
    """
    n, k, h, w = heatmaps.shape
    hm = heatmaps.astype(np.float32).reshape(n * k, h, w).copy()
    for i in range(n * k):
        peak = hm[i].max()
        # DarkPose zero-pads the map before blurring (no reflection at the border)
        hm[i] = cv2.GaussianBlur(hm[i], (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
        new_peak = hm[i].max()
        if new_peak > 0:
            hm[i] *= peak / new_peak
    logh = np.log(np.maximum(hm, 1e-10)).astype(np.float64)
    c = coords.reshape(n * k, 2)
    px = c[:, 0].astype(np.int64)
    py = c[:, 1].astype(np.int64)
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    out = c.copy()
    idx = np.nonzero(ok)[0]
    if len(idx):
        L = logh[idx]
        x, y = px[idx], py[idx]
        r = np.arange(len(idx))

        def at(dy: int, dx: int) -> np.ndarray:
            return L[r, y + dy, x + dx]

        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
        dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy * dxy
        good = np.abs(det) > 1e-12
        safe = np.where(good, det, 1.0)
        ox = -(dyy * dx - dxy * dy) / safe
        oy = -(dxx * dy - dxy * dx) / safe
        out[idx, 0] += np.where(good, ox, 0.0)
        out[idx, 1] += np.where(good, oy, 0.0)
    return out.reshape(n, k, 2)


@dataclass(frozen=True)
class Decoded:
    """Decoded keypoints of a batch of crops.

    Attributes:
        keypoints: ``(N, K, 2)`` in crop (network input) pixels.
        scores: ``(N, K)`` heatmap maxima.
        image_offset: constant to add after mapping back to the image
            (-0.3 for the legacy AlphaPose decoder, else 0).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    image_offset: float = 0.0


def decode_heatmaps(
    heatmaps: np.ndarray, stride: float = 4.0, method: str = "hrnet", dark_kernel: int = 11
) -> Decoded:
    """Decode ``(N, K, H, W)`` heatmaps to crop-pixel keypoints with one of :data:`DECODERS`."""
    if method not in DECODERS:
        raise ValueError(f"unknown decoder {method!r}; choices: {DECODERS}")
    heatmaps = np.asarray(heatmaps)
    coords, maxvals = get_max_preds(heatmaps)
    offset = 0.0
    if method == "hrnet":
        coords = quarter_shift_hrnet(coords, heatmaps)
    elif method == "alphapose":
        coords = quarter_shift_alphapose(coords, heatmaps)
        offset = -0.3
    elif method == "dark":
        coords = dark_refine(coords, heatmaps, dark_kernel)
    return Decoded(keypoints=coords * stride, scores=maxvals, image_offset=offset)


def flip_heatmaps_back(heatmaps: np.ndarray, flip_index: np.ndarray, shift: bool = True) -> np.ndarray:
    """Undo a horizontal input flip on heatmaps (HRNet ``flip_back`` + ``SHIFT_HEATMAP``).

    Channels are permuted by ``flip_index`` (from the keypoint schema) and
    mirrored along W; with ``shift`` the result moves one pixel right, which
    HRNet does to align the flipped argmax with the unflipped one.

    Args:
        heatmaps: ``(N, K, H, W)`` from the flipped input.
        flip_index: ``(K,)`` permutation.

    Returns:
        ``(N, K, H, W)`` aligned with the unflipped input.
    """
    out = heatmaps[:, flip_index, :, ::-1]
    if shift:
        shifted = np.empty_like(out)
        shifted[..., 1:] = out[..., :-1]
        shifted[..., 0] = out[..., 0]
        out = shifted
    return np.ascontiguousarray(out)
