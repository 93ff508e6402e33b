"""Validation: crops -> network -> image keypoints -> COCO results -> AP.

Follows HRNet's ``validate`` + ``COCODataset.evaluate``: optional flip test
(heatmaps of the mirrored crop flipped back with channel swap and the
one-pixel shift, then averaged), decoding (``spec.decode``, HRNet's
quarter-pixel shift by default), mapping back through the crop's affine map,
rescoring ``score = box_score * mean(keypoint scores > in_vis_threshold)``,
OKS-NMS per image at ``oks_nms_threshold`` (areas = crop region ``w * h``),
and COCO keypoint AP from :func:`posekit.evaluation.evaluate_keypoints`.
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

from posekit import geometry
from posekit.evaluation import evaluate_keypoints, load_coco_json
from posekit.pose.decode import decode_outputs, merge_flipped
from posekit.spec import PoseModelSpec
from posekit.posenms import oks_nms, rescore_hrnet
from posekit.schema import KeypointSchema
from posekit.train.dataset import PersonCropDataset, PersonRecord, person_category_ids
from posekit.train.distributed import DistContext, all_gather_objects, broadcast_object

__all__ = ["Predictions", "predict_crops", "build_results", "validate"]

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
    loader = DataLoader(
        torch.utils.data.Subset(dataset, chosen),  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for batch in loader:
        x = batch["image"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            heat = model(x).float().cpu().numpy()
            if flip:
                heat_flipped = model(torch.flip(x, dims=[3])).float().cpu().numpy()
        if flip:
            heat = merge_flipped(heat, heat_flipped, spec, flip_index)
        decoded = decode_outputs(heat, spec, decode)
        inverse = geometry.invert_affine(batch["matrix"].numpy())
        kp_img = geometry.apply_affine(decoded.keypoints[:, :k], inverse) + decoded.image_offset
        out_idx.append(batch["index"].numpy())
        out_kp.append(kp_img)
        out_sc.append(decoded.scores[:, :k])
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
    """COCO keypoint results: HRNet rescoring and per-image OKS-NMS.

    Returns:
        ``[{"image_id", "category_id", "keypoints": [x, y, s] * K, "score"}, ...]``.
    """
    if len(predictions.indices) == 0:
        return []
    recs = [records[int(i)] for i in predictions.indices]
    box_scores = np.array([r.score for r in recs], dtype=np.float64)
    scores = rescore_hrnet(box_scores, predictions.scores, in_vis_threshold)
    boxes = np.stack([r.box for r in recs])
    _, crop_sizes = geometry.box_to_center_scale(boxes, spec.aspect_ratio, spec.crop.padding)
    areas = crop_sizes.prod(axis=1)
    image_ids = np.array([r.image_id for r in recs])
    keep_all: list[int] = []
    for image_id in dict.fromkeys(image_ids.tolist()):
        idx = np.nonzero(image_ids == image_id)[0]
        if oks_nms_threshold is None:
            keep_all.extend(idx.tolist())
            continue
        keep = oks_nms(
            predictions.keypoints[idx], predictions.scores[idx], areas[idx], scores[idx],
            schema.sigmas_array(), thresh=oks_nms_threshold,
        )
        keep_all.extend(idx[keep].tolist())
    results = []
    for i in keep_all:
        kps = np.concatenate([predictions.keypoints[i], predictions.scores[i][:, None]], axis=1)
        results.append(
            {
                "image_id": int(image_ids[i]),
                "category_id": int(category_id),
                "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
                "score": float(scores[i]),
            }
        )
    return results


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
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """COCO keypoint AP of ``model`` on ``records`` (GT boxes or detections).

    With several processes each predicts its share of the crops; rank 0
    evaluates and every rank returns the same numbers.

    Returns:
        the 10 COCO stats (``AP``, ``AP50``, ... ``ARl``) and the results list
        (complete on rank 0, empty elsewhere).
    """
    gt = load_coco_json(gt)
    dataset = PersonCropDataset(records, spec, check_files=False)
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
        stats = dict(evaluate_keypoints(gt, results, sigmas=schema.sigmas_array()))
    stats = broadcast_object(ctx, stats)
    return stats, results
