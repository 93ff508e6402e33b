"""Training targets: codec Gaussians plus target weights (visibility x optional joint weights).

The heatmaps come from the same :class:`posekit.codec.HeatmapCodec` (stride,
sigma, cell offset) that decodes the network's output at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit import codec
from posekit.spec import PoseModelSpec

__all__ = ["make_targets"]


def make_targets(
    keypoints: np.ndarray,
    visible: np.ndarray,
    spec: PoseModelSpec,
    sigma: float = 2.0,
    joint_weights: Sequence[float] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HRNet heatmap targets of one crop.

    The heatmaps are :meth:`posekit.codec.HeatmapCodec.encode` of the spec's
    codec (peak 1 at ``int(kp / stride + 0.5)``, radius ``3 sigma``). The weight of joint ``k``
    is 1 when it is labelled and its Gaussian lands on the map, else 0, times
    ``joint_weights[k]`` when given (HRNet ``USE_DIFFERENT_JOINTS_WEIGHT``).

    Args:
        keypoints: ``(K, 2)`` crop pixels.
        visible: ``(K,)``; ``> 0`` is labelled.
        spec: gives the heatmap size ``(W/stride, H/stride)`` and stride.
        sigma: Gaussian sigma in heatmap pixels.
        joint_weights: ``(K,)`` or ``None``.

    Returns:
        target ``(K, H/stride, W/stride)`` float32 and weight ``(K,)`` float32.
    """
    target, weight = codec.HeatmapCodec.from_spec(spec, sigma=sigma).encode(keypoints, visible)
    if joint_weights is not None:
        jw = np.asarray(joint_weights, dtype=np.float32).reshape(-1)
        if jw.shape[0] != weight.shape[0]:
            raise ValueError(f"joint_weights has {jw.shape[0]} entries for {weight.shape[0]} keypoints")
        weight = weight * jw
    return target, weight.astype(np.float32)
