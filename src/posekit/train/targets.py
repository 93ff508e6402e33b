"""Training targets: codec Gaussians plus target weights (visibility x optional joint weights).

The targets come from the same codec (:func:`posekit.codec.make_codec`: the
:class:`~posekit.codec.HeatmapCodec`'s stride, sigma and cell offset, or the
:class:`~posekit.codec.SimCCCodec`'s bins and sigmas) that decodes the
network's output at inference.
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
    """The training targets of one crop: ``encode`` of the model's codec (:func:`posekit.codec.make_codec`).

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

    Raises:
        ValueError: the model's outputs have no training targets (decoded keypoints, MoveNet).
    """
    model_codec = codec.make_codec(spec, sigma=sigma)
    if not isinstance(model_codec, (codec.HeatmapCodec, codec.SimCCCodec)):
        raise ValueError(f"no training targets for {spec.output!r} outputs; posekit trains heatmap and SimCC models")
    target, weight = model_codec.encode(keypoints, visible)
    if joint_weights is not None:
        jw = np.asarray(joint_weights, dtype=np.float32).reshape(-1)
        if jw.shape[0] != weight.shape[0]:
            raise ValueError(f"joint_weights has {jw.shape[0]} entries for {weight.shape[0]} keypoints")
        weight = weight * jw
    return target, weight.astype(np.float32)
