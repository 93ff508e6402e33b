"""The contracts of the networks: what goes in, what comes out.

A model's preprocessing travels with its weights: every catalogue entry (see
:mod:`posekit.catalog`), every exported ONNX file (metadata
:data:`SPEC_METADATA_KEY`) and every training checkpoint carries its spec, and
networks never read configuration.

* :class:`PoseModelSpec` says everything the pipeline needs to feed a
  single-person pose network and read its output, independent of the runtime
  (ONNX Runtime or torch): crop convention, input size and layout, pixel
  normalisation, and what comes out (heatmaps at a stride, SimCC coordinate
  vectors, or keypoints already decoded).
* :class:`DetectorSpec` does the same for a person detector: resize mode, pad
  value, colour order, normalisation (the :class:`ImageInputSpec` it shares with
  the one-stage :class:`OneStageSpec`) and which output decoder reads its tensors.

Pure data and numpy; imports nothing else from posekit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TypeVar

import numpy as np

__all__ = [
    "CropConfig",
    "PoseModelSpec",
    "ImageInputSpec",
    "DetectorSpec",
    "OneStageSpec",
    "ONE_STAGE_DECODERS",
    "YOLO_POSE_SPEC",
    "RTMO_SPEC",
    "SPEC_METADATA_KEY",
    "POSE_OUTPUTS",
    "simcc_bins",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ALPHAPOSE_MEAN",
    "ALPHAPOSE_STD",
]

#: ONNX metadata key holding ``PoseModelSpec.to_json()`` in files written by ``posekit export``.
SPEC_METADATA_KEY = "posekit.spec"

#: What a pose network outputs (:attr:`PoseModelSpec.output`).
POSE_OUTPUTS = ("heatmaps", "simcc", "keypoints")

#: ImageNet statistics in 0..255 units, RGB order.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: AlphaPose subtracts (0.406, 0.457, 0.480) from RGB/255 and does not divide.
ALPHAPOSE_MEAN = (0.406 * 255.0, 0.457 * 255.0, 0.480 * 255.0)
ALPHAPOSE_STD = (255.0, 255.0, 255.0)


def simcc_bins(input_size: Sequence[int], split_ratio: float) -> tuple[int, int]:
    """``(int(W * r), int(H * r))``: the lengths of the SimCC x and y vectors of an input ``(W, H)``.

    The one rule for every SimCC size in posekit (spec, codec, network, loss): MMPose's heads size their
    output layers by ``int(input_size * simcc_split_ratio)`` (truncation), so the network's outputs have these
    lengths and the targets must too (MMPose's ``SimCCLabel`` rounds instead; the two agree for every
    published model, whose ``W r`` and ``H r`` are whole numbers).
    """
    return int(int(input_size[0]) * split_ratio), int(int(input_size[1]) * split_ratio)


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


def image_tensor(image_bgr: np.ndarray, channel_order: str, mean, std) -> np.ndarray:
    """A resized whole-image input ``(H_in, W_in, 3)`` BGR -> the ``(1, 3, H_in, W_in)`` float32 tensor of a
    detector or one-stage network (:func:`normalise_pixels`, then NCHW)."""
    x = normalise_pixels(image_bgr, channel_order, mean, std).astype(np.float32, copy=False)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


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
        output: ``"heatmaps"`` (``(N, C, H/stride, W/stride)``), ``"simcc"`` (RTMPose's
            per-keypoint x and y classification vectors ``(N, K, W * r)`` and ``(N, K, H * r)``,
            ``r = simcc_split_ratio``; posekit packs them as one ``(N, K, W * r + H * r)`` array,
            see :class:`posekit.codec.SimCCCodec`) or ``"keypoints"`` (already decoded,
            normalised ``(y, x, score)`` as MoveNet gives them).
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
        simcc_split_ratio: SimCC bins per input pixel (RTMPose: 2.0).
        simcc_sigma: ``(sigma_x, sigma_y)`` of SimCC training targets in bins (MMPose's
            ``SimCCLabel``: (4.9, 5.66) at 256x192, (6.0, 6.93) at 384x288); decoding does not use it.
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
    simcc_split_ratio: float = 2.0
    simcc_sigma: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        _check_choice("layout", self.layout, ("NCHW", "NHWC"))
        _check_choice("output", self.output, POSE_OUTPUTS)
        _check_pixels(self.channel_order, self.mean, self.std)
        if self.simcc_split_ratio <= 0:
            raise ValueError(f"simcc_split_ratio must be > 0, got {self.simcc_split_ratio}")

    @property
    def aspect_ratio(self) -> float:
        """Input width / height (0.75 for 192x256)."""
        return self.input_size[0] / self.input_size[1]

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(width, height)`` of the heatmaps."""
        return (self.input_size[0] // self.heatmap_stride, self.input_size[1] // self.heatmap_stride)

    @property
    def simcc_bins(self) -> tuple[int, int]:
        """``(W * r, H * r)``: the lengths of the SimCC x and y vectors (:func:`simcc_bins`, MMPose's heads'
        ``int`` truncation)."""
        return simcc_bins(self.input_size, self.simcc_split_ratio)

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
        for key in ("input_size", "mean", "std", "simcc_sigma"):
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


#: Resize modes of whole-image networks (detectors and one-stage pose models): keep-ratio letterbox with
#: the image in the top-left corner (YOLOX, RTMDet) or centred (YOLOv3 / darknet), a plain stretch to the
#: input size (PP-PicoDet), Ultralytics' centred letterbox (``LetterBox``: resized to ``round(w r)``,
#: pads ``round(d -+ 0.1)``), or MMPose's ``BottomupResize`` (an affine warp that centres the image at
#: the largest scale that fits, sub-pixel offsets kept).
RESIZE_MODES = ("letterbox_topleft", "letterbox_center", "stretch", "letterbox_yolo", "warp_center")
#: Detector output decoders: the raw YOLOX head (grid units, obj and class scores), YOLO rows
#: already in input pixels (``[cx, cy, w, h, obj, cls...]``, YOLOv3 / darknet), decoded boxes +
#: per-class scores without NMS (PP-PicoDet), or end-to-end detections after NMS inside the
#: graph (mmdeploy RTMDet: ``dets (1, N, 5)``, ``labels (1, N)``).
DETECTOR_DECODERS = ("yolox_grid", "yolo_rows", "boxes_scores", "end2end")
_INTERPOLATIONS = ("linear", "cubic", "area", "nearest")


_S = TypeVar("_S", bound="ImageInputSpec")


@dataclass(frozen=True)
class ImageInputSpec:
    """How a whole-image network takes its input: the contract :class:`DetectorSpec` and :class:`OneStageSpec`
    share (:func:`posekit.detect.onnx_detectors.detector_input` reads only these fields).

    Attributes:
        input_size: ``(width, height)`` of the network input.
        resize: one of :data:`RESIZE_MODES`.
        pad_value: value of letterbox padding pixels.
        interpolation: resize interpolation (``"linear"``, ``"cubic"``, ``"area"``, ``"nearest"``).
        channel_order: ``"RGB"`` or ``"BGR"``.
        mean, std: per-channel normalisation in 0..255 units, in ``channel_order``
            (``std`` 255 with ``mean`` 0 is ``/255``); ``None`` feeds raw 0..255 values.
    """

    input_size: tuple[int, int]
    resize: str = "letterbox_topleft"
    pad_value: float = 114.0
    interpolation: str = "linear"
    channel_order: str = "BGR"
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        _check_choice("resize", self.resize, RESIZE_MODES)
        _check_choice("interpolation", self.interpolation, _INTERPOLATIONS)
        _check_pixels(self.channel_order, self.mean, self.std)

    def with_(self: _S, **changes) -> _S:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def normalise(self, image_bgr: np.ndarray) -> np.ndarray:
        """A resized BGR uint8 input ``(H_in, W_in, 3)`` -> the network tensor ``(1, 3, H_in, W_in)`` float32."""
        return image_tensor(image_bgr, self.channel_order, self.mean, self.std)


@dataclass(frozen=True)
class DetectorSpec(ImageInputSpec):
    """Input/output contract of a person detector: the :class:`ImageInputSpec` input (defaults: YOLOX's
    top-left letterbox, pad 114, raw BGR) and its output decoder.

    Attributes:
        decoder: one of :data:`DETECTOR_DECODERS`.
        person_class: index of the person class in the network's classes.
    """

    decoder: str = "yolox_grid"
    person_class: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("decoder", self.decoder, DETECTOR_DECODERS)


#: One-stage pose decoders: Ultralytics' YOLO-pose export (``[1, 4 + 1 + 3K, N]``: box centre and size,
#: person score, ``x, y, visibility`` per keypoint, in input pixels; NMS outside the network) and
#: MMPose's RTMO through mmdeploy (``dets [N, M, 5]``, ``keypoints [N, M, K, 3]``, NMS inside).
ONE_STAGE_DECODERS = ("yolo_pose", "rtmo")


@dataclass(frozen=True)
class OneStageSpec(ImageInputSpec):
    """Input/output contract of a one-stage pose network: whole image in, people (boxes, keypoints) out.

    The :class:`ImageInputSpec` input, with Ultralytics' defaults (``letterbox_yolo``, pad 114, linear,
    RGB / 255), then:

    Attributes:
        decoder: one of :data:`ONE_STAGE_DECODERS`.
        num_keypoints: keypoints per person.
        schema: keypoint schema name (see :mod:`posekit.schema`).
        score_thresh: people scoring at or below this are dropped (the model's COCO-evaluation
            threshold, so ``results.json`` gives the model's own AP; drawings apply their own).
        nms_iou: IoU of the greedy box NMS posekit runs after the network (``None``: NMS is inside).
        max_people: most people per image, best first.
    """

    resize: str = "letterbox_yolo"
    channel_order: str = "RGB"
    mean: tuple[float, float, float] | None = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] | None = (255.0, 255.0, 255.0)
    decoder: str = "yolo_pose"
    num_keypoints: int = 17
    schema: str = "coco17"
    score_thresh: float = 0.001
    nms_iou: float | None = 0.7
    max_people: int = 300

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("decoder", self.decoder, ONE_STAGE_DECODERS)
        if self.max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {self.max_people}")


#: Ultralytics YOLO-pose ONNX exports (``LetterBox``, RGB / 255; ``non_max_suppression`` as its ``val`` runs it:
#: conf 0.001, IoU 0.7, ``max_det`` 300). A file's own input size and ``K`` replace these.
YOLO_POSE_SPEC = OneStageSpec(input_size=(640, 640))
#: RTMO through mmdeploy (``models/RTMPOSE.md`` section 4): MMPose's ``BottomupResize`` (aspect kept, image centred
#: by an affine warp, pad 114), raw BGR 0..255, ``dets`` / ``keypoints`` in input pixels after the NMS inside the
#: graph (RTMO's test_cfg: score 0.1, NMS IoU 0.65; kept as they come).
RTMO_SPEC = OneStageSpec(input_size=(640, 640), resize="warp_center", channel_order="BGR", mean=None, std=None,
                         decoder="rtmo", score_thresh=0.0, nms_iou=None, max_people=1000)
