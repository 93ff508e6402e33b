"""The contract of a single-person pose model.

A :class:`PoseModelSpec` says everything the pipeline needs to feed a pose
network and read its output, independent of the runtime (ONNX Runtime or
torch): crop convention, input size and layout, pixel normalisation, and what
comes out (heatmaps at a stride, or keypoints already decoded).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = ["CropConfig", "PoseModelSpec", "IMAGENET_MEAN", "IMAGENET_STD", "ALPHAPOSE_MEAN"]

#: ImageNet statistics in 0..255 units, RGB order.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: AlphaPose subtracts (0.406, 0.457, 0.480) from RGB/255 and does not divide.
ALPHAPOSE_MEAN = (0.406 * 255.0, 0.457 * 255.0, 0.480 * 255.0)
ALPHAPOSE_STD = (255.0, 255.0, 255.0)


@dataclass(frozen=True)
class CropConfig:
    """How a person box becomes the network's input crop.

    Attributes:
        mode: ``"affine"`` (HRNet / current AlphaPose: centre + size with the
            aspect-ratio fix, then an affine warp), or ``"alphapose_legacy"``
            (the 2018 AlphaPose SPPE: box enlarged by ``legacy_scale_rate``,
            clipped to the image, pixels outside the box zeroed, keep-ratio
            resize with zero padding).
        padding: box enlargement factor for ``"affine"`` (HRNet uses 1.25).
        border_value: value of crop pixels that fall outside the image.
        legacy_scale_rate: AlphaPose legacy enlargement (0.3 of width/height).
        mask_margin: if set, crop pixels outside the person box enlarged by this
            factor (about its centre) are zeroed, so that neighbours in a crowd do
            not pull the single-person network away (the idea of AlphaPose's
            legacy crop, which zeroes everything outside its box).
    """

    mode: str = "affine"
    padding: float = 1.25
    border_value: float = 0.0
    legacy_scale_rate: float = 0.3
    mask_margin: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("affine", "alphapose_legacy"):
            raise ValueError(f"unknown crop mode {self.mode!r}; choices: 'affine', 'alphapose_legacy'")
        if self.padding <= 0:
            raise ValueError(f"crop padding must be > 0, got {self.padding}")
        if self.mask_margin is not None and self.mask_margin <= 0:
            raise ValueError(f"crop mask_margin must be > 0 or None, got {self.mask_margin}")


@dataclass(frozen=True)
class PoseModelSpec:
    """Input/output contract of a single-person pose network.

    Attributes:
        input_size: ``(width, height)`` of the network input in pixels.
        layout: ``"NCHW"`` or ``"NHWC"``.
        dtype: numpy dtype name of the input tensor (``"float32"``, ``"int32"``, ``"uint8"``).
        channel_order: ``"RGB"`` or ``"BGR"``.
        mean, std: per-channel normalisation in 0..255 units, in ``channel_order``:
            ``x = (pixel - mean) / std``. ``None`` feeds raw pixel values.
        output: ``"heatmaps"`` (``(N, C, H/stride, W/stride)``) or ``"keypoints"``
            (already decoded, normalised ``(y, x, score)`` as MoveNet gives them).
        heatmap_stride: input pixels per heatmap pixel (4 for every model here).
        heatmap_offset: crop pixel of heatmap cell 0: ``x_crop = stride * u + offset``.
            0 for HRNet-style heatmaps (cell ``u`` at ``stride * u``); MoveNet's cells
            are centred, ``stride / 2 - 0.5`` in posekit's pixel convention.
        num_keypoints: keypoints posekit keeps; extra output channels are dropped
            (the legacy AlphaPose SPPE emits 33 channels, the first 17 are COCO).
        schema: keypoint schema name (see :mod:`posekit.schema`).
        crop: how boxes become crops.
        decode: default heatmap decoder, one of :data:`posekit.codec.DECODERS`.
        rescore_thresh: HRNet pose rescoring counts keypoint scores above this
            (HRNet's ``IN_VIS_THRE`` 0.2 suits heatmap maxima; models whose
            scores are calibrated differently set their own).
    """

    input_size: tuple[int, int]
    layout: str = "NCHW"
    dtype: str = "float32"
    channel_order: str = "RGB"
    mean: tuple[float, float, float] | None = IMAGENET_MEAN
    std: tuple[float, float, float] | None = IMAGENET_STD
    output: str = "heatmaps"
    heatmap_stride: int = 4
    heatmap_offset: float = 0.0
    num_keypoints: int = 17
    schema: str = "coco17"
    crop: CropConfig = field(default_factory=CropConfig)
    decode: str = "hrnet"
    rescore_thresh: float = 0.2

    def __post_init__(self) -> None:
        if self.layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {self.layout!r}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if self.output not in ("heatmaps", "keypoints"):
            raise ValueError(f"output must be 'heatmaps' or 'keypoints', got {self.output!r}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must both be given or both be None")

    @property
    def aspect_ratio(self) -> float:
        """Input width / height (0.75 for 192x256)."""
        return self.input_size[0] / self.input_size[1]

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(width, height)`` of the heatmaps."""
        return (self.input_size[0] // self.heatmap_stride, self.input_size[1] // self.heatmap_stride)

    def with_(self, **changes) -> "PoseModelSpec":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_json(self) -> str:
        """Serialise (stored in exported ONNX files as metadata ``posekit.spec``)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PoseModelSpec":
        """Inverse of :meth:`to_json`."""
        raw = json.loads(text)
        raw["crop"] = CropConfig(**raw.get("crop", {}))
        for key in ("input_size", "mean", "std"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        return cls(**raw)

    def preprocess(self, crops_bgr: np.ndarray) -> np.ndarray:
        """Turn BGR uint8 crops ``(N, H, W, 3)`` into the network input tensor.

        Returns ``(N, 3, H, W)`` or ``(N, H, W, 3)`` in ``self.dtype``.
        """
        x = crops_bgr
        if self.channel_order == "RGB":
            x = x[..., ::-1]
        if self.mean is not None:
            x = (x.astype(np.float32) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.dtype(self.dtype))
