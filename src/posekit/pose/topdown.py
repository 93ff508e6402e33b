"""The top-down tail: network outputs of person crops -> the :class:`~posekit.structures.Poses` of one image.

One implementation, used by :meth:`posekit.pipeline.PoseEstimator.estimate`
(``posekit predict``, the video stream) and by training validation
(:mod:`posekit.train.validation`, ``posekit val``), so that validation AP and
``posekit predict`` AP on the same boxes are the same computation (a test
checks that ``estimate`` on ground-truth boxes writes exactly the COCO results
validation writes).

Stages, each a small pure function::

    outputs (N, C, h, w) or (N, K, 3)  [+ outputs of the mirrored crops]
      decode_crops        flip merge and decoding by the model's codec      -> Decoded, crop pixels (N, K, 2)
      Decoded.to_image    inverse crop maps (N, 2, 3), decoder's offset   -> image pixels (N, K, 2)
      suppress            rescoring and pose NMS of one image's poses     -> Poses
    poses_from_outputs    all three

Every sub-pixel convention of a decoder (HRNet's quarter pixel, the legacy
AlphaPose ``+0.2`` heatmap / ``-0.3`` image offsets, MoveNet's centred cells)
lives in its codec (:mod:`posekit.codec`); the tail maps back with one call.

Pose scores and NMS (:class:`TopDownConfig`)
--------------------------------------------
``"oks"`` (default): HRNet's rescoring ``score = box_score * mean(keypoint
scores > rescore_thresh)`` (:func:`posekit.posenms.rescore_hrnet`), then
greedy OKS-NMS at ``oks_thresh`` (HRNet's 0.9) over the poses of the image.
``"parametric"``: AlphaPose's parametric pose NMS (its proposal score).
``"none"``: HRNet's rescoring, every pose kept, best first.

OKS-NMS area
------------
OKS needs an object area. The tail uses HRNet's: the area of the padded crop
region of the person box, ``w * h`` after the aspect-ratio fix and the crop
padding (:func:`posekit.geometry.box_to_center_scale`; HRNet's
``area = s[0] * s[1] * 200 ** 2``) -- :func:`nms_areas`. Measured on
coco-val-dev (300 images, YOLOX-Nano boxes; the same pre-NMS poses with each
area; COCO keypoint AP):

=========================================  ===============  =========  ===============
area                                       thunder + flip   no flip    lightning + flip
=========================================  ===============  =========  ===============
(a) raw detector box ``w * h``             0.6072           0.5965     0.5299
(b) padded crop region (chosen)            **0.6079**       **0.5973** **0.5299**
(c) keypoint extent (all keypoints)        0.6073           0.5964     0.5299
(c') keypoint extent (scores > 0.3)        0.6073           0.5964     0.5299
parametric NMS (no area)                   0.6045           0.5948     0.5277
no NMS                                     0.6063           0.5956     0.5292
=========================================  ===============  =========  ===============

(a) was ``posekit predict``'s area before the tail existed, (b) training
validation's. The video stream's extra duplicate removal
(:func:`posekit.video.stream.suppress_duplicates`) is a separate, stricter
step with its own, documented area.

Rounding
--------
The tail returns :class:`~posekit.structures.Poses` (float32), and
:meth:`Poses.to_coco <posekit.structures.Poses.to_coco>` is the one COCO
results writer: keypoint coordinates and scores rounded to 2 decimals, pose
scores to 5 (0.01 px is far below any OKS scale; HRNet writes unrounded
floats, which only makes the file larger).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import numpy as np

from posekit import codec as codec_module
from posekit import geometry
from posekit.codec import Decoded, PoseCodec
from posekit.posenms import PoseNMSParams, oks_nms, pose_nms, rescore_hrnet
from posekit.schema import KeypointSchema
from posekit.spec import PoseModelSpec
from posekit.structures import Poses

__all__ = [
    "POSE_NMS_METHODS",
    "TopDownConfig",
    "decode_crops",
    "nms_areas",
    "suppress",
    "poses_from_outputs",
]

log = logging.getLogger(__name__)

#: Pose NMS methods of :class:`TopDownConfig`.
POSE_NMS_METHODS = ("oks", "parametric", "none")


@dataclass(frozen=True)
class TopDownConfig:
    """Settings of the tail.

    Attributes:
        decoder: heatmap decoder (:data:`posekit.codec.DECODERS`); ``None`` is the model's (``spec.decode``).
        pose_nms: ``"oks"`` (HRNet rescoring + OKS-NMS), ``"parametric"`` (AlphaPose) or ``"none"``.
        oks_thresh: OKS-NMS threshold (HRNet ``TEST.OKS_THRE``).
        rescore_thresh: keypoint scores above this count in HRNet's rescoring
            (``TEST.IN_VIS_THRE``); ``None`` is the model's (``spec.rescore_thresh``).
        nms_params: AlphaPose parametric pose-NMS constants.
    """

    decoder: str | None = None
    pose_nms: str = "oks"
    oks_thresh: float = 0.9
    rescore_thresh: float | None = None
    nms_params: PoseNMSParams = field(default_factory=PoseNMSParams)

    def __post_init__(self) -> None:
        if self.pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"pose_nms must be one of {POSE_NMS_METHODS}, got {self.pose_nms!r}")
        if self.decoder is not None and self.decoder not in codec_module.DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choices: {codec_module.DECODERS}")

    def codec(self, spec: PoseModelSpec) -> PoseCodec:
        """The model's codec with this config's decoder."""
        return codec_module.make_codec(spec, self.decoder)


def decode_crops(
    outputs: np.ndarray,
    codec: PoseCodec,
    *,
    flipped: np.ndarray | None = None,
    flip_index: np.ndarray | None = None,
) -> Decoded:
    """Network outputs of crops -> keypoints in crop pixels.

    Args:
        outputs: heatmaps ``(N, C, h, w)`` or keypoints ``(N, K, 3)``.
        codec: the model's codec (:meth:`TopDownConfig.codec`).
        flipped: outputs of the horizontally mirrored crops (flip test), or ``None``.
        flip_index: ``(K,)`` left/right permutation (``schema.flip_index()``); needed with ``flipped``.

    Returns:
        :class:`~posekit.codec.Decoded`: keypoints ``(N, K, 2)`` and scores ``(N, K)``.
    """
    if flipped is not None:
        if flip_index is None:
            raise ValueError("flip_index is needed to merge flipped outputs")
        outputs = codec.merge_flipped(outputs, flipped, flip_index)
    return codec.decode(outputs)


def nms_areas(boxes: np.ndarray, spec: PoseModelSpec) -> np.ndarray:
    """The object areas of OKS-NMS: HRNet's padded crop region of each box (see the module docstring).

    Args:
        boxes: ``(N, 4)`` xyxy person boxes.
        spec: gives the crop aspect ratio and padding.

    Returns:
        ``(N,)`` float64 areas in square image pixels.
    """
    _, sizes = geometry.box_to_center_scale(boxes, spec.aspect_ratio, spec.crop.padding)
    return sizes.prod(axis=1)


def suppress(
    boxes: np.ndarray,
    box_scores: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    spec: PoseModelSpec,
    schema: KeypointSchema,
    config: TopDownConfig = TopDownConfig(),
) -> Poses:
    """Pose scores and pose NMS over the poses of one image.

    Args:
        boxes: ``(N, 4)`` xyxy boxes the poses were estimated in.
        box_scores: ``(N,)`` their scores.
        keypoints: ``(N, K, 2)`` image pixels.
        keypoint_scores: ``(N, K)``.
        spec: the pose model (rescoring threshold, NMS areas).
        schema: keypoint layout (OKS sigmas).
        config: NMS method and thresholds.

    Returns:
        the kept poses, best first (parametric: AlphaPose's pick order).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    box_scores = np.asarray(box_scores, np.float64).reshape(-1)
    if len(boxes) == 0:
        return Poses.empty(schema)
    if config.pose_nms == "parametric":
        r = pose_nms(boxes, box_scores, keypoints, keypoint_scores, config.nms_params)
        return Poses(r.boxes, r.box_scores, r.keypoints, r.keypoint_scores, r.proposal_scores, schema=schema)
    thresh = spec.rescore_thresh if config.rescore_thresh is None else config.rescore_thresh
    scores = rescore_hrnet(box_scores, keypoint_scores, thresh)
    if config.pose_nms == "oks":
        keep = oks_nms(keypoints, keypoint_scores, nms_areas(boxes, spec), scores, schema.sigmas_array(),
                       config.oks_thresh)
    else:
        keep = np.argsort(-scores, kind="stable")
    return Poses(boxes[keep], box_scores[keep], np.asarray(keypoints)[keep], np.asarray(keypoint_scores)[keep],
                 scores[keep], schema=schema)


def _untimed(stage: str) -> contextlib.nullcontext:
    return contextlib.nullcontext()


def poses_from_outputs(
    outputs: np.ndarray,
    matrices: np.ndarray,
    boxes: np.ndarray,
    box_scores: np.ndarray,
    spec: PoseModelSpec,
    schema: KeypointSchema,
    *,
    flipped: np.ndarray | None = None,
    config: TopDownConfig = TopDownConfig(),
    timer: Callable[[str], ContextManager[Any]] | None = None,
) -> Poses:
    """The whole tail for one image: decode -> map back -> rescore -> pose NMS.

    The one chain of the tail's stages: :meth:`PoseEstimator.estimate <posekit.pipeline.PoseEstimator.estimate>`
    and the accelerator plan (:mod:`posekit.batching`) both end here.

    Args:
        outputs: network outputs of the crops, heatmaps ``(N, C, h, w)`` or keypoints ``(N, K, 3)``.
        matrices: ``(N, 2, 3)`` image -> crop maps (:func:`posekit.pose.crop.crop_people`).
        boxes: ``(N, 4)`` xyxy person boxes the crops came from.
        box_scores: ``(N,)``.
        spec: the pose model's contract.
        schema: its keypoint layout.
        flipped: outputs of the mirrored crops (flip test), or ``None``.
        config: decoder, NMS method and thresholds.
        timer: times the stages ``"decode"``, ``"map_back"`` and ``"pose_nms"`` (``timer(stage)`` is a context
            manager, e.g. a :class:`posekit.timing.StageTimer`); ``None``: untimed.
    """
    timer = timer or _untimed
    with timer("decode"):
        decoded = decode_crops(outputs, config.codec(spec), flipped=flipped,
                               flip_index=None if flipped is None else schema.flip_index())
    with timer("map_back"):
        keypoints = decoded.to_image(matrices)
    with timer("pose_nms"):
        return suppress(boxes, box_scores, keypoints, decoded.scores, spec, schema, config)
