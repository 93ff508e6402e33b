"""Temporal keypoint smoothing with the One-Euro filter.

The One-Euro filter (Casiez, Roussel and Vogel, "1€ Filter: A Simple
Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012)
is a first-order low-pass filter whose cutoff frequency grows with the speed of
the signal: strong smoothing when a keypoint is still (less jitter), little
when it moves fast (less lag). For a sample ``x_i`` at time ``t_i``, with
``T_e = t_i - t_{i-1}``:

    alpha(f_c) = 1 / (1 + tau / T_e),   tau = 1 / (2 pi f_c)
    dx_i      = (x_i - x̂_{i-1}) / T_e
    dx̂_i      = alpha(d_cutoff) * dx_i + (1 - alpha(d_cutoff)) * dx̂_{i-1}
    f_c       = min_cutoff + beta * |dx̂_i|
    x̂_i       = alpha(f_c) * x_i + (1 - alpha(f_c)) * x̂_{i-1}

The first sample passes through unchanged (``x̂_0 = x_0``, ``dx̂_0 = 0``).
Every coordinate is filtered independently.

:class:`OneEuroFilter` filters one array-valued signal; :class:`PoseSmoother`
keeps one filter per track (all keypoints and both coordinates at once) and
drops a track's state as soon as the tracker forgets the track.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from posekit.structures import Poses

__all__ = ["OneEuroConfig", "OneEuroFilter", "PoseSmoother", "smoothing_factor"]


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter parameters (units: seconds and pixels).

    Attributes:
        min_cutoff: minimum cutoff frequency in Hz (lower: smoother when still, more lag).
        beta: speed coefficient in 1/pixel (higher: less lag when moving fast).
        d_cutoff: cutoff frequency in Hz of the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0:
            raise ValueError("min_cutoff and d_cutoff must be positive")
        if self.beta < 0:
            raise ValueError("beta must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)`` (Casiez et al. 2012)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array-valued signal (each element independently).

    Args:
        config: filter parameters.
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` (any shape, constant across calls) taken at time ``t`` seconds."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or self._t is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        if dt <= 0:  # repeated or out-of-order timestamp: keep the state, return the estimate
            return self._x.copy()
        cfg = self.config
        dx = (x - self._x) / dt
        a_d = smoothing_factor(cfg.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(dx_hat)
        a = smoothing_factor(cutoff, dt)
        x_hat = a * x + (1.0 - a) * self._x
        self._x, self._dx, self._t = x_hat, dx_hat, float(t)
        return x_hat.copy()


class PoseSmoother:
    """One-Euro smoothing of keypoints, one filter per track.

    Poses without a track id (``-1``) pass through unchanged. Call
    :meth:`retain` with the tracker's live ids to free the state of tracks that
    ended (the stream does this every frame), so memory follows the number of
    live tracks, not the length of the video.

    Args:
        config: filter parameters shared by all tracks.
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self._filters: dict[int, OneEuroFilter] = {}

    def __len__(self) -> int:
        return len(self._filters)

    def __call__(self, poses: Poses, t: float) -> Poses:
        """Smoothed copy of ``poses`` (frame time ``t`` in seconds); keypoints ``(N, K, 2)`` are filtered."""
        if len(poses) == 0 or not (poses.track_ids >= 0).any():
            return poses
        keypoints = poses.keypoints.astype(np.float64)
        for i, tid in enumerate(poses.track_ids.tolist()):
            if tid < 0:
                continue
            filt = self._filters.get(tid)
            if filt is None:
                filt = self._filters[tid] = OneEuroFilter(self.config)
            keypoints[i] = filt(keypoints[i], t)
        return poses.replace(keypoints=keypoints)

    def retain(self, track_ids: Iterable[int]) -> None:
        """Drop the state of every track not in ``track_ids``."""
        keep = set(int(i) for i in track_ids)
        for tid in [t for t in self._filters if t not in keep]:
            del self._filters[tid]

    def reset(self) -> None:
        self._filters.clear()
