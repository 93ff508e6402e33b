"""Pose codecs: Gaussian targets (encode) and keypoint decoding (decode) of heatmaps, SimCC vectors and keypoints.

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

Codec objects
-------------
As in mmpose, the parameters of one heatmap convention travel together:
:class:`HeatmapCodec` holds the crop size, stride, Gaussian sigma, decoder,
DARK kernel and the crop position of heatmap cell 0 (``cell_offset``: 0 for
HRNet-style maps, ``stride / 2 - 0.5`` for MoveNet's centred cells), and is
used both for training targets (:meth:`HeatmapCodec.encode`) and for decoding
(:meth:`HeatmapCodec.decode`, :meth:`HeatmapCodec.merge_flipped`).
:class:`SimCCCodec` is RTMPose's coordinate classification (MMPose's
``SimCCLabel``): one vector of ``W * r`` bins for x and one of ``H * r`` for y
per keypoint. :class:`KeypointCodec` decodes outputs that are keypoints already
(MoveNet's normalised ``(y, x, score)``). :func:`make_codec` builds the right one
from a :class:`posekit.spec.PoseModelSpec`.

Every sub-pixel convention of a decoder lives here: the quarter-pixel shifts,
the legacy AlphaPose ``+0.2`` heatmap / ``-0.3`` image offsets, MoveNet's cell
offset and its ``-0.5`` pixel-centre shift. A decoder's result
(:class:`Decoded`) goes back to the image with exactly one call,
:meth:`Decoded.to_image`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np

from posekit import geometry
from posekit.spec import simcc_bins

if TYPE_CHECKING:  # pragma: no cover
    from posekit.spec import PoseModelSpec

__all__ = [
    "DECODERS",
    "Decoded",
    "HeatmapCodec",
    "KeypointCodec",
    "SimCCCodec",
    "PoseCodec",
    "make_codec",
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

    def to_image(self, matrices: np.ndarray) -> np.ndarray:
        """Keypoints in image pixels: the inverse of each crop's map, then :attr:`image_offset`.

        Args:
            matrices: ``(N, 2, 3)`` image -> crop affine maps (one per crop).

        Returns:
            ``(N, K, 2)`` float64 image coordinates.
        """
        inverse = geometry.invert_affine(np.asarray(matrices, dtype=np.float64))
        return geometry.apply_affine(self.keypoints, inverse) + self.image_offset


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


# ----------------------------------------------------------------------------- codec objects


def _flip_lag(stride: float, cell_offset: float) -> float:
    """Cells by which a mirrored crop's heatmap lags after the index flip.

    Mirroring a crop of width ``W = stride * w`` sends crop pixel ``x`` to
    ``W - 1 - x``; with cells at ``x = stride * u + cell_offset`` that is cell
    ``w - 1 - u + lag`` with ``lag = 1 - (1 + 2 * cell_offset) / stride``:
    ``0.75`` for HRNet-style cells (offset 0, stride 4), which HRNet's one-cell
    shift corrects, and exactly 0 for centred cells (MoveNet, offset
    ``stride / 2 - 0.5``), which must not be shifted.
    """
    return 1.0 - (1.0 + 2.0 * cell_offset) / stride


@dataclass(frozen=True)
class HeatmapCodec:
    """One heatmap convention: Gaussian targets and their decoding, with all parameters together.

    Crop pixel ``x`` and heatmap cell ``u`` relate by ``x = stride * u + cell_offset``.

    Attributes:
        input_size: ``(W, H)`` of the network input (crop) in pixels.
        stride: crop pixels per heatmap cell.
        sigma: Gaussian standard deviation of the targets, in heatmap cells.
        decoder: one of :data:`DECODERS`.
        dark_kernel: odd Gaussian kernel of the ``"dark"`` decoder (11 for 64x48 maps).
        cell_offset: crop pixel of heatmap cell 0 (0 HRNet-style; MoveNet ``stride / 2 - 0.5``).
        num_keypoints: keypoint channels kept by :meth:`decode` and
            :meth:`merge_flipped` (extra channels dropped); ``None`` keeps all.
    """

    input_size: tuple[int, int]
    stride: int = 4
    sigma: float = 2.0
    decoder: str = "hrnet"
    dark_kernel: int = 11
    cell_offset: float = 0.0
    num_keypoints: int | None = None

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choices: {DECODERS}")
        if self.stride <= 0 or self.sigma <= 0:
            raise ValueError(f"stride and sigma must be positive, got {self.stride} and {self.sigma}")
        if self.dark_kernel < 1 or self.dark_kernel % 2 == 0:
            raise ValueError(f"dark_kernel must be a positive odd number, got {self.dark_kernel}")

    @classmethod
    def from_spec(
        cls, spec: "PoseModelSpec", decoder: str | None = None, *, sigma: float = 2.0, dark_kernel: int = 11
    ) -> "HeatmapCodec":
        """The codec of a heatmap model: stride, cell offset and ``num_keypoints`` from its spec.

        Args:
            spec: a :class:`posekit.spec.PoseModelSpec` with ``output == "heatmaps"``.
            decoder: overrides ``spec.decode``.
            sigma: target sigma (training; decoding does not use it).
            dark_kernel: DARK kernel size.
        """
        return cls(
            input_size=tuple(spec.input_size),  # type: ignore[arg-type]
            stride=spec.heatmap_stride,
            sigma=sigma,
            decoder=decoder or spec.decode,
            dark_kernel=dark_kernel,
            cell_offset=float(spec.heatmap_offset),
            num_keypoints=spec.num_keypoints,
        )

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(w, h)`` of the heatmaps."""
        return (self.input_size[0] // self.stride, self.input_size[1] // self.stride)

    @property
    def flip_shift(self) -> bool:
        """Whether mirrored heatmaps need HRNet's one-cell shift (see :func:`flip_heatmaps_back`)."""
        return _flip_lag(self.stride, self.cell_offset) >= 0.5

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian targets of one person (:func:`encode_heatmaps`).

        Args:
            keypoints: ``(K, 2)`` crop pixels.
            visible: ``(K,)``; ``> 0`` is labelled.

        Returns:
            heatmaps ``(K, h, w)`` float32 and target weights ``(K,)`` float32.
        """
        kp = np.asarray(keypoints, dtype=np.float64)
        if self.cell_offset:
            kp = kp - self.cell_offset
        return encode_heatmaps(kp, visible, self.heatmap_size, stride=self.stride, sigma=self.sigma)

    def decode(self, heatmaps: np.ndarray) -> Decoded:
        """Heatmaps ``(N, C, h, w)`` -> :class:`Decoded` ``(N, K, 2)`` crop pixels.

        Channels beyond ``num_keypoints`` are dropped; the decoder's sub-pixel
        rule and the cell offset are applied here, the decoder's image offset
        is carried in :attr:`Decoded.image_offset`.
        """
        hm = np.asarray(heatmaps)[:, : self.num_keypoints]
        decoded = decode_heatmaps(hm, stride=self.stride, method=self.decoder, dark_kernel=self.dark_kernel)
        if self.cell_offset:
            decoded = Decoded(decoded.keypoints + self.cell_offset, decoded.scores, decoded.image_offset)
        return decoded

    def flip_back(self, flipped: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Heatmaps ``(N, C, h, w)`` of mirrored crops -> ``(N, K, h, w)`` aligned with the crops."""
        hm = np.asarray(flipped)[:, : self.num_keypoints]
        return flip_heatmaps_back(hm, flip_index, shift=self.flip_shift)

    def merge_flipped(self, outputs: np.ndarray, flipped: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Flip test: the mean of the crops' heatmaps and their mirrors' heatmaps flipped back.

        Args:
            outputs: ``(N, C, h, w)`` of the crops.
            flipped: ``(N, C', h, w)`` of the horizontally mirrored crops.
            flip_index: ``(K,)`` left/right permutation of the keypoint schema.

        Returns:
            ``(N, K, h, w)``.
        """
        return (np.asarray(outputs)[:, : self.num_keypoints] + self.flip_back(flipped, flip_index)) / 2.0


@dataclass(frozen=True)
class KeypointCodec:
    """Outputs that are keypoints already: normalised ``(y, x, score)`` per keypoint (MoveNet).

    Normalised coordinates span the crop's edges ``[0, 1]``; in posekit's
    pixel convention (pixel centres at integers) that is ``x = nx * W - 0.5``.

    Attributes:
        input_size: ``(W, H)`` of the network input (crop) in pixels.
        num_keypoints: keypoints kept; ``None`` keeps all.
    """

    input_size: tuple[int, int]
    num_keypoints: int | None = None

    @classmethod
    def from_spec(cls, spec: "PoseModelSpec") -> "KeypointCodec":
        """The codec of a keypoint-output model (``spec.output == "keypoints"``)."""
        return cls(input_size=tuple(spec.input_size), num_keypoints=spec.num_keypoints)  # type: ignore[arg-type]

    def decode(self, outputs: np.ndarray) -> Decoded:
        """``(N, K, 3)`` normalised ``(y, x, score)`` -> :class:`Decoded` crop pixels."""
        out = np.asarray(outputs)[:, : self.num_keypoints]
        w, h = self.input_size
        kp = np.stack([out[..., 1] * w - 0.5, out[..., 0] * h - 0.5], axis=-1).astype(np.float64)
        return Decoded(keypoints=kp, scores=out[..., 2].astype(np.float64))

    def merge_flipped(self, outputs: np.ndarray, flipped: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Flip test on keypoints: mirrored ``x -> 1 - x`` with the channel swap.

        Coordinates are averaged weighted by the two views' keypoint scores
        (plain mean where both are 0), scores averaged (on the dev set this
        beat a plain mean, 0.598 vs 0.595 AP).

        Returns:
            ``(N, K, 3)``.
        """
        out = np.asarray(outputs)[:, : self.num_keypoints]
        back = np.asarray(flipped)[:, flip_index].copy()
        back[..., 1] = 1.0 - back[..., 1]
        w_a, w_b = np.clip(out[..., 2:3], 0, None), np.clip(back[..., 2:3], 0, None)
        unscored = (w_a + w_b) <= 0
        w_a, w_b = np.where(unscored, 1.0, w_a), np.where(unscored, 1.0, w_b)
        merged = (out * w_a + back * w_b) / (w_a + w_b)
        merged[..., 2] = (out[..., 2] + back[..., 2]) / 2.0
        return merged


@dataclass(frozen=True)
class SimCCCodec:
    """RTMPose's SimCC coordinate classification (MMPose ``SimCCLabel``, ``normalize=False``, no DARK).

    Per keypoint the network gives an x vector of ``W * r`` bins and a y vector of ``H * r`` bins
    (``r = split_ratio``). posekit carries both as one array, the x bins then the y bins along the last
    axis: ``(N, K, W * r + H * r)`` (:meth:`pack` / :meth:`split`), so that batching, concatenation and the
    flip test treat SimCC outputs like any other single array.

    Bin ``i`` is crop coordinate ``i / r`` in posekit's pixel convention (pixel centres at integers, the
    convention of the crop's ``cv2.warpAffine``): MMPose's bin coordinates need no shift. Decoding
    (``get_simcc_maximum``): the argmax of each vector (first maximum on ties), score = the **smaller** of
    the two maxima of the raw logits; where that score is ``<= 0`` both bins become ``-1`` (MMPose's invalid
    point, ``(-1 / r, -1 / r)``), the score is kept.

    Attributes:
        input_size: ``(W, H)`` of the network input (crop) in pixels.
        split_ratio: bins per pixel (RTMPose: 2.0).
        sigma: ``(sigma_x, sigma_y)`` of the 1-D Gaussian targets, in bins (training only).
        num_keypoints: keypoints kept; ``None`` keeps all.
    """

    input_size: tuple[int, int]
    split_ratio: float = 2.0
    sigma: tuple[float, float] = (4.9, 5.66)
    num_keypoints: int | None = None

    @classmethod
    def from_spec(cls, spec: "PoseModelSpec") -> "SimCCCodec":
        """The codec of a SimCC model (``spec.output == "simcc"``); sigma from ``spec.simcc_sigma``."""
        return cls(
            input_size=tuple(spec.input_size), split_ratio=float(spec.simcc_split_ratio),  # type: ignore[arg-type]
            sigma=tuple(spec.simcc_sigma) if spec.simcc_sigma else cls.sigma,  # type: ignore[arg-type]
            num_keypoints=spec.num_keypoints,
        )

    @property
    def bins(self) -> tuple[int, int]:
        """``(W * r, H * r)`` as the network's head sizes them (:func:`posekit.spec.simcc_bins`)."""
        return simcc_bins(self.input_size, self.split_ratio)

    def pack(self, simcc_x: np.ndarray, simcc_y: np.ndarray) -> np.ndarray:
        """``(N, K, W r)`` and ``(N, K, H r)`` -> ``(N, K, W r + H r)``."""
        x, y = np.asarray(simcc_x), np.asarray(simcc_y)
        if x.shape[-1] != self.bins[0] or y.shape[-1] != self.bins[1] or x.shape[:-1] != y.shape[:-1]:
            raise ValueError(f"SimCC vectors of shapes {x.shape} and {y.shape} do not match bins {self.bins}")
        return np.concatenate([x, y], axis=-1)

    def split(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, K, W r + H r)`` -> ``simcc_x (N, K, W r)``, ``simcc_y (N, K, H r)`` (the first ``num_keypoints``)."""
        out = np.asarray(outputs)[:, : self.num_keypoints]
        wx, hy = self.bins
        if out.shape[-1] != wx + hy:
            raise ValueError(f"SimCC outputs have {out.shape[-1]} bins, expected {wx} + {hy} for input {self.input_size}")
        return out[..., :wx], out[..., wx:]

    def decode(self, outputs: np.ndarray) -> Decoded:
        """Packed SimCC outputs ``(N, K, W r + H r)`` -> :class:`Decoded` crop pixels ``(N, K, 2)``."""
        x, y = self.split(outputs)
        bin_x, bin_y = x.argmax(axis=-1), y.argmax(axis=-1)
        max_x = np.take_along_axis(x, bin_x[..., None], axis=-1)[..., 0]
        max_y = np.take_along_axis(y, bin_y[..., None], axis=-1)[..., 0]
        scores = np.minimum(max_x, max_y)
        bins = np.stack([bin_x, bin_y], axis=-1).astype(np.float64)
        bins[scores <= 0] = -1.0
        return Decoded(keypoints=bins / self.split_ratio, scores=scores.astype(np.float64))

    def merge_flipped(self, outputs: np.ndarray, flipped: np.ndarray, flip_index: np.ndarray) -> np.ndarray:
        """Flip test (MMPose ``flip_vectors``): the mirrored crop's vectors re-indexed by ``flip_index``, its x
        bins reversed (bin ``j`` -> ``W r - 1 - j``, no shift), then the mean with the plain outputs.

        Returns:
            packed ``(N, K, W r + H r)``.
        """
        x, y = self.split(outputs)
        fx, fy = self.split(flipped)
        fx, fy = fx[:, flip_index, ::-1], fy[:, flip_index]
        return self.pack((x + fx) * 0.5, (y + fy) * 0.5)

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MMPose's SimCC targets of one person, packed as the network's outputs: a 1-D Gaussian per axis
        around the keypoint's bin. The same interface as :meth:`HeatmapCodec.encode`.

        The centre bin is ``round(kp * r)`` (numpy rounding, half to even, as MMPose's ``np.around``); the
        Gaussians ``exp(-(i - mu)^2 / (2 sigma^2))`` (peak 1, not normalised, computed in float64 and stored
        as float32) fill the whole vector. Unlabelled keypoints (``visible <= 0``) get zero vectors and
        weight 0; a keypoint whose 3-sigma window ``[mu - 3 sigma, mu + 3 sigma + 1]`` misses the vector on
        either axis gets zero vectors and weight 0 too; the others weight 1.

        Args:
            keypoints: ``(K, 2)`` crop pixels.
            visible: ``(K,)``; ``> 0`` is labelled.

        Returns:
            targets ``(K, W r + H r)`` float32 (the x bins then the y bins, :meth:`pack`) and target weights
            ``(K,)`` float32.
        """
        kp = np.asarray(keypoints, np.float64).reshape(-1, 2)
        weights = (np.asarray(visible).reshape(-1) > 0).astype(np.float32)
        wx, hy = self.bins
        sigma = np.asarray(self.sigma, np.float64)
        mu = np.around(kp * self.split_ratio).astype(np.int64)  # (K, 2)
        low, high = mu - 3 * sigma, mu + 3 * sigma + 1
        outside = (low[:, 0] >= wx) | (low[:, 1] >= hy) | (high[:, 0] < 0) | (high[:, 1] < 0)
        weights[outside] = 0.0
        drawn = (weights > 0)[:, None]
        gx, gy = np.arange(wx, dtype=np.float32), np.arange(hy, dtype=np.float32)
        target_x = np.where(drawn, np.exp(-((gx[None] - mu[:, :1]) ** 2) / (2 * sigma[0] ** 2)), 0.0)
        target_y = np.where(drawn, np.exp(-((gy[None] - mu[:, 1:]) ** 2) / (2 * sigma[1] ** 2)), 0.0)
        return self.pack(target_x.astype(np.float32), target_y.astype(np.float32)), weights


#: Any codec: each has ``decode(outputs) -> Decoded`` and ``merge_flipped(outputs, flipped, flip_index)``.
PoseCodec = Union[HeatmapCodec, SimCCCodec, KeypointCodec]


def make_codec(
    spec: "PoseModelSpec", decoder: str | None = None, *, sigma: float = 2.0, dark_kernel: int = 11
) -> PoseCodec:
    """The codec of a pose model from its spec (``spec.output`` picks the heatmap, SimCC or keypoint codec).

    Args:
        spec: the model contract.
        decoder: heatmap decoder overriding ``spec.decode`` (ignored for SimCC and keypoint outputs).
        sigma: heatmap target sigma (training).
        dark_kernel: DARK kernel size.
    """
    if spec.output == "keypoints":
        return KeypointCodec.from_spec(spec)
    if spec.output == "simcc":
        return SimCCCodec.from_spec(spec)
    return HeatmapCodec.from_spec(spec, decoder, sigma=sigma, dark_kernel=dark_kernel)
