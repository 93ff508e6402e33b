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
    """The training targets of one crop, by the model's codec.

    Heatmap models: :meth:`posekit.codec.HeatmapCodec.encode` (HRNet: peak 1 at ``int(kp / stride + 0.5)``,
    radius ``3 sigma``). SimCC models (RTMPose): :meth:`posekit.codec.SimCCCodec.encode` with the spec's
    ``simcc_sigma`` (MMPose's ``SimCCLabel``), the x and y vectors packed as the network's outputs are.
    The weight of joint ``k`` is 1 when it is labelled and its Gaussian lands on the map / vectors, else 0,
    times ``joint_weights[k]`` when given (HRNet ``USE_DIFFERENT_JOINTS_WEIGHT``).

    Args:
        keypoints: ``(K, 2)`` crop pixels.
        visible: ``(K,)``; ``> 0`` is labelled.
        spec: the model contract (heatmap size and stride, or SimCC bins and sigmas).
        sigma: Gaussian sigma in heatmap pixels (heatmap models).
        joint_weights: ``(K,)`` or ``None``.

    Returns:
        target ``(K, H/stride, W/stride)`` (heatmaps) or ``(K, W r + H r)`` (SimCC) float32, and
        weight ``(K,)`` float32.
    """
    if spec.output == "simcc":
        simcc = codec.SimCCCodec.from_spec(spec)
        target_x, target_y, weight = simcc.encode(keypoints, np.asarray(visible) > 0)
        target = np.concatenate([target_x, target_y], axis=-1)
    else:
        target, weight = codec.HeatmapCodec.from_spec(spec, sigma=sigma).encode(keypoints, visible)
    if joint_weights is not None:
        jw = np.asarray(joint_weights, dtype=np.float32).reshape(-1)
        if jw.shape[0] != weight.shape[0]:
            raise ValueError(f"joint_weights has {jw.shape[0]} entries for {weight.shape[0]} keypoints")
        weight = weight * jw
    return target, weight.astype(np.float32)
