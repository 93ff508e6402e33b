"""Validation: crops -> network -> image keypoints -> COCO results -> AP.

Follows HRNet's ``validate`` + ``COCODataset.evaluate``. Only the network run
(batches of :class:`~posekit.train.dataset.PersonCropDataset` crops, shared
between processes) is specific to training; everything after it is the
top-down tail of inference (:mod:`posekit.pose.topdown`): optional flip test
(heatmaps of the mirrored crop flipped back with channel swap and the
one-pixel shift, then averaged), decoding (``spec.decode``, HRNet's
quarter-pixel shift by default), mapping back through the crop's affine map,
rescoring ``score = box_score * mean(keypoint scores > in_vis_threshold)``,
OKS-NMS per image at ``oks_nms_threshold`` (areas: :func:`posekit.pose.topdown.nms_areas`),
COCO results from :meth:`posekit.structures.Poses.to_coco`, and COCO keypoint
AP (:func:`evaluate_results`): :func:`posekit.evaluation.evaluate_keypoints`
with the schema's sigmas, or for a schema with COCO part fields
(COCO-WholeBody) :func:`posekit.evaluation.evaluate_wholebody`, whose
``wholebody`` numbers (all 133 keypoints, xtcocotools' ``keypoints_wholebody``)
are the ones MMPose's ``CocoWholeBodyMetric`` reports as its AP. So ``posekit
val`` on ground-truth boxes and :meth:`posekit.pipeline.PoseEstimator.estimate`
on the same boxes write the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from posekit.evaluation import (
    evaluate_keypoints,
    evaluate_wholebody,
    format_stats,
    load_coco_json,
    split_wholebody_result,
)
from posekit.pose import topdown
from posekit.pose.torch_model import pack_outputs
from posekit.schema import COCO_WHOLEBODY, KeypointSchema
from posekit.spec import PoseModelSpec
from posekit.train.dataset import PersonCropDataset, PersonRecord, person_category_ids
from posekit.train.distributed import DistContext, all_gather_objects, broadcast_object

__all__ = ["Predictions", "predict_crops", "build_results", "evaluate_results", "validate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictions:
    """Keypoints of some records of a :class:`PersonCropDataset`.

    Attributes:
        indices: ``(M,)`` record indices.
        keypoints: ``(M, K, 2)`` image pixels.
        scores: ``(M, K)`` heatmap maxima.
    """

    indices: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


@torch.no_grad()
def predict_crops(
    model: nn.Module,
    dataset: PersonCropDataset,
    spec: PoseModelSpec,
    schema: KeypointSchema,
    *,
    flip: bool = True,
    decode: str | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    indices: Sequence[int] | None = None,
    workers: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> Predictions:
    """Run the network on validation crops and map keypoints back to the images.

    Args:
        model: heatmap network (``(N, 3, H, W) -> (N, C, H/4, W/4)``); put in eval mode here.
        dataset: the crops.
        spec: the model contract (decoder, stride, ``num_keypoints``).
        schema: keypoint layout (flip permutation).
        flip: flip test.
        decode: decoder name, ``None`` for ``spec.decode``.
        batch_size: crops per forward pass.
        device: compute device.
        indices: subset of record indices (e.g. this process's shard); all by default.
        workers: DataLoader workers.
        autocast_dtype: bfloat16 autocast on CUDA, or ``None``.
    """
    was_training = model.training
    model.eval()
    device = torch.device(device)
    chosen = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    k = spec.num_keypoints
    out_idx, out_kp, out_sc = [], [], []
    flip_index = schema.flip_index()
    codec = topdown.TopDownConfig(decoder=decode).codec(spec)
    loader = DataLoader(
        torch.utils.data.Subset(dataset, chosen),  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for batch in loader:
        x = batch["image"].to(device, non_blocking=True)
        heat_flipped = None
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            heat = pack_outputs(model(x)).float().cpu().numpy()
            if flip:
                heat_flipped = pack_outputs(model(torch.flip(x, dims=[3]))).float().cpu().numpy()
        decoded = topdown.decode_crops(heat, codec, flipped=heat_flipped, flip_index=flip_index)
        out_idx.append(batch["index"].numpy())
        out_kp.append(decoded.to_image(batch["matrix"].numpy()))
        out_sc.append(decoded.scores)
    model.train(was_training)
    if not out_idx:
        return Predictions(np.zeros(0, np.int64), np.zeros((0, k, 2)), np.zeros((0, k)))
    return Predictions(np.concatenate(out_idx), np.concatenate(out_kp), np.concatenate(out_sc))


def build_results(
    records: Sequence[PersonRecord],
    predictions: Predictions,
    spec: PoseModelSpec,
    schema: KeypointSchema,
    *,
    category_id: int = 1,
    in_vis_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
) -> list[dict[str, Any]]:
    """COCO keypoint results: the top-down tail's rescoring and pose NMS per image.

    Each image's poses go through :func:`posekit.pose.topdown.suppress`
    (HRNet rescoring with ``in_vis_threshold``, OKS-NMS at
    ``oks_nms_threshold``, or no NMS when it is ``None``) and are written by
    :meth:`posekit.structures.Poses.to_coco`; images in order of first
    appearance in ``predictions``.

    Returns:
        ``[{"image_id", "category_id", "keypoints": [x, y, s] * K, "score"}, ...]`` (COCO-WholeBody: the five
        part fields, see :meth:`~posekit.structures.Poses.to_coco`).
    """
    if len(predictions.indices) == 0:
        return []
    recs = [records[int(i)] for i in predictions.indices]
    box_scores = np.array([r.score for r in recs], dtype=np.float64)
    boxes = np.stack([np.asarray(r.box, dtype=np.float64) for r in recs])
    image_ids = np.array([r.image_id for r in recs])
    config = topdown.TopDownConfig(
        pose_nms="none" if oks_nms_threshold is None else "oks",
        oks_thresh=0.9 if oks_nms_threshold is None else float(oks_nms_threshold),
        rescore_thresh=in_vis_threshold,
    )
    results: list[dict[str, Any]] = []
    for image_id in dict.fromkeys(image_ids.tolist()):
        idx = np.nonzero(image_ids == image_id)[0]
        poses = topdown.suppress(
            boxes[idx], box_scores[idx], predictions.keypoints[idx], predictions.scores[idx], spec, schema, config
        )
        results.extend(poses.to_coco(int(image_id), category_id=category_id))
    return results


def evaluate_results(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], schema: KeypointSchema
) -> dict[str, float]:
    """The 10 COCO keypoint stats of validation results (``AP``, ``AP50``, ... ``ARl``).

    A schema without COCO part fields (COCO-17): :func:`posekit.evaluation.evaluate_keypoints` with the
    schema's sigmas. COCO-WholeBody (a schema with :attr:`~posekit.schema.KeypointSchema.parts`): the
    ``wholebody`` stats of :func:`posekit.evaluation.evaluate_wholebody` (xtcocotools' ``keypoints_wholebody``
    over all 133 keypoints, what MMPose's ``CocoWholeBodyMetric`` reports as AP); every part's stats are
    logged. Ground-truth annotations may hold the parts in their own fields or all 133 triples in
    ``keypoints`` (split here, :func:`posekit.evaluation.split_wholebody_result`).

    Args:
        gt: COCO ground truth (dict).
        results: from :func:`build_results`.
        schema: the model's keypoint layout.

    Raises:
        ValueError: a schema with parts other than COCO-WholeBody's (the only part layout evaluated).
    """
    if not schema.parts:
        return dict(evaluate_keypoints(gt, results, sigmas=schema.sigmas_array()))
    if schema.parts != COCO_WHOLEBODY.parts or schema.sigmas != COCO_WHOLEBODY.sigmas:
        raise ValueError(f"schema {schema.name!r}: only COCO-WholeBody's parts and sigmas are evaluated by part")
    gt = {**gt, "annotations": [split_wholebody_result(a) for a in gt.get("annotations", [])]}
    per_part = evaluate_wholebody(gt, results)
    log.info("validation by part:\n%s", format_stats(per_part))
    return dict(per_part["wholebody"])


def validate(
    model: nn.Module,
    records: Sequence[PersonRecord],
    gt: Mapping[str, Any],
    spec: PoseModelSpec,
    schema: KeypointSchema,
    ctx: DistContext,
    *,
    flip: bool = True,
    decode: str | None = None,
    batch_size: int = 64,
    in_vis_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    workers: int = 0,
    autocast_dtype: torch.dtype | None = None,
    ignore_exif: bool = True,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """COCO keypoint AP of ``model`` on ``records`` (GT boxes or detections), by :func:`evaluate_results`.

    With several processes each predicts its share of the crops; rank 0
    evaluates and every rank returns the same numbers. Images are read in
    their stored pixel frame unless ``ignore_exif`` is False (config
    ``data.ignore_exif``; COCO annotations need True).

    Returns:
        the 10 COCO stats (``AP``, ``AP50``, ... ``ARl``) and the results list
        (complete on rank 0, empty elsewhere).
    """
    gt = load_coco_json(gt)
    dataset = PersonCropDataset(records, spec, check_files=False, ignore_exif=ignore_exif)
    mine = list(range(ctx.rank, len(dataset), ctx.world_size))
    pred = predict_crops(
        model, dataset, spec, schema, flip=flip, decode=decode, batch_size=batch_size,
        device=ctx.device, indices=mine, workers=workers, autocast_dtype=autocast_dtype,
    )
    parts = all_gather_objects(ctx, pred)
    stats: dict[str, float] = {}
    results: list[dict[str, Any]] = []
    if ctx.is_main:
        merged = Predictions(
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )
        order = np.argsort(merged.indices, kind="stable")
        merged = Predictions(merged.indices[order], merged.keypoints[order], merged.scores[order])
        category = min(person_category_ids(gt))
        results = build_results(
            records, merged, spec, schema, category_id=category,
            in_vis_threshold=in_vis_threshold, oks_nms_threshold=oks_nms_threshold,
        )
        stats = evaluate_results(gt, results, schema)
    stats = broadcast_object(ctx, stats)
    return stats, results
