"""The contracts of the networks: what goes in, what comes out.

A model's preprocessing travels with its weights: every catalogue entry (see
:mod:`posekit.catalog`), every exported ONNX file (metadata
:data:`SPEC_METADATA_KEY`) and every training checkpoint carries its spec, and
networks never read configuration.

* :class:`PoseModelSpec` says everything the pipeline needs to feed a
  single-person pose network and read its output, independent of the runtime
  (ONNX Runtime or torch): crop convention, input size and layout, pixel
  normalisation, and what comes out (heatmaps at a stride, or keypoints already
  decoded).
* :class:`DetectorSpec` does the same for a person detector: resize mode, pad
  value, colour order, normalisation and which output decoder reads its tensors.

Pure data and numpy; imports nothing else from posekit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = [
    "CropConfig",
    "PoseModelSpec",
    "DetectorSpec",
    "SPEC_METADATA_KEY",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ALPHAPOSE_MEAN",
    "ALPHAPOSE_STD",
]

#: ONNX metadata key holding ``PoseModelSpec.to_json()`` in files written by ``posekit export``.
SPEC_METADATA_KEY = "posekit.spec"

#: ImageNet statistics in 0..255 units, RGB order.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: AlphaPose subtracts (0.406, 0.457, 0.480) from RGB/255 and does not divide.
ALPHAPOSE_MEAN = (0.406 * 255.0, 0.457 * 255.0, 0.480 * 255.0)
ALPHAPOSE_STD = (255.0, 255.0, 255.0)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_pixels(channel_order: str, mean, std) -> None:
    _check_choice("channel_order", channel_order, ("RGB", "BGR"))
    if (mean is None) != (std is None):
        raise ValueError("mean and std must both be given or both be None")


def normalise_pixels(pixels_bgr: np.ndarray, channel_order: str, mean, std) -> np.ndarray:
    """BGR pixels ``(..., 3)`` -> ``channel_order``, then ``(x - mean) / std`` in float32 if ``mean`` is set.

    Without ``mean`` the pixels keep their dtype (a network may take raw uint8 / int32 values).
    """
    x = pixels_bgr[..., ::-1] if channel_order == "RGB" else pixels_bgr
    if mean is not None:
        x = (x.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x


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
        _check_choice("layout", self.layout, ("NCHW", "NHWC"))
        _check_choice("output", self.output, ("heatmaps", "keypoints"))
        _check_pixels(self.channel_order, self.mean, self.std)

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
        x = normalise_pixels(crops_bgr, self.channel_order, self.mean, self.std)
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.dtype(self.dtype))


#: Detector resize modes: keep-ratio letterbox with the image in the top-left corner
#: (YOLOX, RTMDet), centred (YOLOv3 / darknet), or a plain stretch to the input size (PP-PicoDet).
RESIZE_MODES = ("letterbox_topleft", "letterbox_center", "stretch")
#: Detector output decoders: the raw YOLOX head (grid units, obj and class scores), YOLO rows
#: already in input pixels (``[cx, cy, w, h, obj, cls...]``, YOLOv3 / darknet), decoded boxes +
#: per-class scores without NMS (PP-PicoDet), or end-to-end detections after NMS inside the
#: graph (mmdeploy RTMDet: ``dets (1, N, 5)``, ``labels (1, N)``).
DETECTOR_DECODERS = ("yolox_grid", "yolo_rows", "boxes_scores", "end2end")
_INTERPOLATIONS = ("linear", "cubic", "area", "nearest")


@dataclass(frozen=True)
class DetectorSpec:
    """Input/output contract of a person detector.

    Attributes:
        input_size: ``(width, height)`` of the network input.
        resize: one of :data:`RESIZE_MODES`.
        pad_value: value of letterbox padding pixels.
        interpolation: resize interpolation (``"linear"``, ``"cubic"``, ...).
        channel_order: ``"RGB"`` or ``"BGR"``.
        mean, std: per-channel normalisation in 0..255 units, in ``channel_order``;
            ``None`` feeds raw 0..255 values.
        decoder: one of :data:`DETECTOR_DECODERS`.
        person_class: index of the person class in the network's classes.
    """

    input_size: tuple[int, int]
    resize: str = "letterbox_topleft"
    pad_value: float = 114.0
    interpolation: str = "linear"
    channel_order: str = "BGR"
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    decoder: str = "yolox_grid"
    person_class: int = 0

    def __post_init__(self) -> None:
        _check_choice("resize", self.resize, RESIZE_MODES)
        _check_choice("decoder", self.decoder, DETECTOR_DECODERS)
        _check_choice("interpolation", self.interpolation, _INTERPOLATIONS)
        _check_pixels(self.channel_order, self.mean, self.std)

    def with_(self, **changes) -> "DetectorSpec":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def normalise(self, image_bgr: np.ndarray) -> np.ndarray:
        """A resized BGR uint8 input ``(H_in, W_in, 3)`` -> the network tensor ``(1, 3, H_in, W_in)`` float32."""
        x = normalise_pixels(image_bgr, self.channel_order, self.mean, self.std).astype(np.float32, copy=False)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
