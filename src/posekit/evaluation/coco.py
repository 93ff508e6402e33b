"""COCO keypoint evaluation (OKS-based AP / AR) in plain numpy.

This reproduces ``pycocotools.cocoeval.COCOeval`` with ``iouType="keypoints"``
(same numbers to floating-point rounding) without depending on pycocotools.
The algorithm, as the COCO toolkit defines it:

* **Ground truth.** Every annotation of an evaluated image and category is a
  ground truth. It is *ignored* (may be matched, but is neither counted as a
  positive nor lets its matches count) when it is a crowd (``iscrowd``) or has
  no labelled keypoint (``num_keypoints == 0``). Any ``ignore`` field in the
  file is overridden, as COCO does.
* **Results** are read like ``COCO.loadRes``: result image ids must be GT image
  ids; each result gets ``id = 1..N`` in list order; its ``area`` is the area of
  the box spanned by *all* its keypoints (``(x1 - x0) * (y1 - y0)``), except
  that when the first result carries a non-empty ``bbox`` every result's area is
  its box area ``w * h`` (COCO's box branch wins in that case).
* **Per image and category**, detections are sorted by score (descending,
  stable) and cut to ``max_dets`` (20). OKS is computed between them and all
  ground truths (:func:`posekit.evaluation.oks.compute_oks`). For each area
  range (all ``[0, 1e10]``, medium ``[32², 96²]``, large ``[96², 1e10]``) the
  ground truths outside the range are ignored too, sorted non-ignored first,
  and each OKS threshold ``0.50:0.05:0.95`` runs a greedy matching: every
  detection in score order takes the best still-free ground truth (crowds stay
  free) with OKS ≥ the threshold, preferring non-ignored ground truths; ties go
  to the later ground truth. A detection matched to an ignored ground truth is
  ignored; an unmatched detection outside the area range is ignored.
* **Accumulation** over images: all detections sorted by score (stable),
  cumulative true/false positives, recall = TP / #non-ignored GT, precision
  made monotone (running maximum from the right), sampled at recall
  thresholds ``0:0.01:1`` with a left-sided search (0 past the last recall).
* **Summary**: the 10 COCO keypoint numbers, averaged over thresholds, recall
  points and categories (entries of categories without ground truth are
  skipped; -1 when nothing is left): AP, AP50, AP75, APm, APl, AR, AR50, AR75,
  ARm, ARl.

**COCO-WholeBody** (:func:`evaluate_wholebody`, or ``part=`` of
:func:`evaluate_keypoints_detailed`) reproduces xtcocotools' ``COCOeval`` with
``iouType="keypoints_<part>"``, ``use_area=True``, as MMPose's
``CocoWholeBodyMetric`` runs it for ``body``, ``foot``, ``face``,
``lefthand``, ``righthand`` and ``wholebody``. Annotations and results carry
the parts in separate fields (:data:`WHOLEBODY_FIELDS`); a part is evaluated
like the COCO-17 keypoints above, on that part's keypoints and sigmas (the
whole body: the five fields concatenated, 133 keypoints), with these
differences:

* a ground truth is *labelled for the part* when one of the part's keypoints
  has visibility ``v > 0`` (``num_keypoints`` and the ``*_valid`` flags are not
  read); otherwise it is ignored (and an ignore region for the OKS, as above);
* a result with no keypoint score ``> 0`` in the part is dropped, before the
  ``max_dets`` cut;
* results are ranked by ``<part>_score`` (``wholebody_score``, ``foot_score``,
  ...) where a result has one, else by ``score``; the body part always uses
  ``score``;
* the OKS scale and the area ranges use the person's ``area`` for every part;
  a result's area is still that of its body ``keypoints`` (or its ``bbox``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from posekit.evaluation.oks import compute_oks
from posekit.schema import COCO17, COCO_WHOLEBODY

__all__ = [
    "STAT_NAMES",
    "AREA_RANGES",
    "WHOLEBODY_FIELDS",
    "WHOLEBODY_EVAL_PARTS",
    "ImageOks",
    "KeypointEvaluation",
    "load_coco_json",
    "load_results",
    "evaluate_keypoints",
    "evaluate_keypoints_detailed",
    "evaluate_wholebody",
    "evaluate_wholebody_detailed",
    "format_stats",
    "is_wholebody",
    "multi_person_image_ids",
    "split_wholebody_result",
]

logger = logging.getLogger(__name__)

#: Names of the 10 summary numbers, in pycocotools' order.
STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

#: Keypoint evaluation area ranges ``(label, (min_area, max_area))``; COCO has no "small" for keypoints.
AREA_RANGES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("all", (0.0, 1e10)),
    ("medium", (32.0**2, 96.0**2)),
    ("large", (96.0**2, 1e10)),
)

#: COCO-WholeBody annotation / result field of each part (:attr:`posekit.schema.COCO_WHOLEBODY.parts
#: <posekit.schema.KeypointSchema.parts>`), in the order the 133 keypoints concatenate them: ``keypoints`` is the
#: 17-keypoint body.
WHOLEBODY_FIELDS: Mapping[str, str] = MappingProxyType({p.name: p.coco_field for p in COCO_WHOLEBODY.parts})

#: The parts :func:`evaluate_wholebody` scores, in MMPose's order: the five parts, then all 133 keypoints.
WHOLEBODY_EVAL_PARTS: tuple[str, ...] = (*WHOLEBODY_FIELDS, "wholebody")

_EPS = float(np.spacing(1))


def _oks_thresholds() -> np.ndarray:
    """OKS thresholds ``(10,)``: 0.50, 0.55, ..., 0.95 (built as COCO does)."""
    return np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)


def _recall_thresholds() -> np.ndarray:
    """Recall sampling points ``(101,)``: 0.00, 0.01, ..., 1.00."""
    return np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class ImageOks:
    """OKS of one image and category.

    Attributes:
        oks: ``(D, G)`` OKS between the image's detections (sorted by score,
            highest first, cut to ``max_dets``) and its ground truths (file order).
        dt_ids: result ids ``(D,)`` (1-based position in the results list).
        gt_ids: ground-truth annotation ids ``(G,)``.
    """

    oks: np.ndarray
    dt_ids: np.ndarray
    gt_ids: np.ndarray


@dataclass(frozen=True)
class KeypointEvaluation:
    """Everything a COCO keypoint evaluation produced.

    Attributes:
        stats: the 10 summary numbers keyed by :data:`STAT_NAMES`, in order.
        precision: ``(T, R, C, A)`` interpolated precision per OKS threshold,
            recall threshold, category and area range; -1 where a category has
            no non-ignored ground truth.
        recall: ``(T, C, A)`` final recall; -1 likewise.
        oks_thresholds: ``(T,)``.
        recall_thresholds: ``(R,)``.
        image_ids: evaluated image ids (sorted).
        cat_ids: evaluated category ids (sorted).
        area_labels: labels of the ``A`` area ranges.
        max_dets: detections kept per image and category.
        per_image: :class:`ImageOks` per ``(image_id, category_id)`` that has
            detections or ground truths.
    """

    stats: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    oks_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    image_ids: tuple[int, ...]
    cat_ids: tuple[int, ...]
    area_labels: tuple[str, ...]
    max_dets: int
    per_image: dict[tuple[int, int], ImageOks]


@dataclass(frozen=True)
class _Protocol:
    """How annotations and results are read: pycocotools' ``"keypoints"`` or xtcocotools' ``"keypoints_<part>"``.

    Attributes:
        fields: annotation / result fields whose flat ``[x, y, v] * k`` lists
            are concatenated into the evaluated keypoints.
        score_key: result key that ranks detections; a result without it is
            ranked by ``score``.
        count_labelled: a ground truth is labelled when one of its evaluated
            keypoints has ``v > 0`` (xtcocotools) instead of when its
            ``num_keypoints`` is positive (pycocotools).
        drop_unscored: results with no evaluated keypoint score ``> 0`` are
            dropped (xtcocotools).
    """

    fields: tuple[str, ...] = ("keypoints",)
    score_key: str = "score"
    count_labelled: bool = False
    drop_unscored: bool = False


_COCO_PROTOCOL = _Protocol()


def _wholebody_protocol(part: str) -> _Protocol:
    """xtcocotools' rules for ``iouType="keypoints_<part>"`` (``part`` in :data:`WHOLEBODY_EVAL_PARTS`)."""
    if part == "wholebody":
        fields = tuple(WHOLEBODY_FIELDS.values())
    elif part in WHOLEBODY_FIELDS:
        fields = (WHOLEBODY_FIELDS[part],)
    else:
        raise ValueError(f"unknown COCO-WholeBody part {part!r}; choices: {list(WHOLEBODY_EVAL_PARTS)}")
    score_key = "score" if part == "body" else f"{part}_score"
    return _Protocol(fields=fields, score_key=score_key, count_labelled=True, drop_unscored=True)


@dataclass(frozen=True)
class _GroundTruths:
    """Ground truths of one image and category, in file order (``G`` of them)."""

    ids: np.ndarray  # (G,) int64
    keypoints: np.ndarray  # (G, K, 3)
    areas: np.ndarray  # (G,)
    boxes: np.ndarray  # (G, 4) xywh
    crowd: np.ndarray  # (G,) bool
    ignore: np.ndarray  # (G,) bool: crowd or no labelled keypoint


@dataclass(frozen=True)
class _Detections:
    """Detections of one image and category, sorted by score and cut (``D`` of them)."""

    ids: np.ndarray  # (D,) int64
    keypoints: np.ndarray  # (D, K, 3)
    areas: np.ndarray  # (D,)
    scores: np.ndarray  # (D,)


@dataclass(frozen=True)
class _ImageEval:
    """Matching outcome of one image, category and area range."""

    dt_scores: np.ndarray  # (D,)
    dt_matches: np.ndarray  # (T, D) matched GT id, 0 = unmatched
    dt_ignore: np.ndarray  # (T, D) bool
    gt_ignore: np.ndarray  # (G,) bool


# --------------------------------------------------------------------------- loading


def load_coco_json(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Return a COCO-style ground-truth dict, reading it from a path if needed.

    A mapping is returned as a dict without copying its contents; nothing here
    modifies it.
    """
    if isinstance(source, Mapping):
        return dict(source)
    with open(Path(source), encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a COCO ground-truth file must hold a JSON object")
    return data


def _read_results(results: Sequence[Mapping[str, Any]] | str | os.PathLike[str]) -> list[Mapping[str, Any]]:
    if isinstance(results, (str, os.PathLike)):
        with open(Path(results), encoding="utf-8") as f:
            data = json.load(f)
        source = str(results)
    else:
        data = results
        source = "results"
    if not isinstance(data, (list, tuple)):
        raise ValueError(f"{source}: results must be a list of objects, got {type(data).__name__}")
    return list(data)


def load_results(
    results: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    gt_image_ids: Iterable[int],
) -> list[dict[str, Any]]:
    """Read keypoint results the way ``COCO.loadRes`` does, without touching the input.

    Args:
        results: a list of result dicts (``image_id``, ``category_id``,
            ``keypoints`` as a flat ``[x, y, s] * K`` list, ``score``) or a path
            to a JSON file holding one.
        gt_image_ids: the ground truth's image ids.

    Returns:
        New dicts (input dicts are copied) with ``id`` (1..N), ``area`` and
        ``bbox`` set: the keypoint-extent box, or, when the first result has a
        non-empty ``bbox``, that box and its area for every result.

    Raises:
        ValueError: on a malformed result or an image id that is not in the
            ground truth.
    """
    anns = _read_results(results)
    if not anns:
        return []
    for i, ann in enumerate(anns):
        if not isinstance(ann, Mapping):
            raise ValueError(f"result {i} is not an object")
        missing = [key for key in ("image_id", "category_id", "keypoints", "score") if key not in ann]
        if missing:
            raise ValueError(f"result {i} lacks {missing}")
    known = set(gt_image_ids)
    unknown = sorted({ann["image_id"] for ann in anns} - known, key=str)
    if unknown:
        shown = ", ".join(map(str, unknown[:20])) + (" ..." if len(unknown) > 20 else "")
        raise ValueError(f"results refer to {len(unknown)} image id(s) not in the ground truth: {shown}")

    first = anns[0]
    use_box = "bbox" in first and len(first["bbox"]) > 0
    if not use_box and "segmentation" in first:
        raise ValueError("segmentation results are not supported by keypoint evaluation")
    out: list[dict[str, Any]] = []
    for i, ann in enumerate(anns):
        new = dict(ann)
        if use_box:
            if "bbox" not in ann or len(ann["bbox"]) != 4:
                raise ValueError(f"result {i} lacks a 4-number bbox (the first result has one)")
            x, y, w, h = (float(v) for v in ann["bbox"])
            new["bbox"] = [x, y, w, h]
            new["area"] = w * h
        else:
            kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1)
            if kp.size == 0 or kp.size % 3:
                raise ValueError(f"result {i}: keypoints must be a flat list of (x, y, score) triples")
            xs, ys = kp[0::3], kp[1::3]
            x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
            new["area"] = float((x1 - x0) * (y1 - y0))
            new["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        new["id"] = i + 1
        out.append(new)
    return out


def _keypoint_array(flat: Any, k: int, what: str) -> np.ndarray:
    arr = np.asarray(flat, dtype=np.float64).reshape(-1)
    if arr.size != 3 * k:
        raise ValueError(f"{what}: expected {3 * k} keypoint numbers ({k} keypoints), got {arr.size}")
    return arr.reshape(k, 3)


def _evaluated_keypoints(ann: Mapping[str, Any], fields: tuple[str, ...], k: int, what: str) -> np.ndarray:
    """The ``(k, 3)`` keypoints of ``ann``'s ``fields``, concatenated in order."""
    if len(fields) == 1:
        if fields[0] not in ann:
            raise ValueError(f"{what} lacks {fields[0]!r}")
        return _keypoint_array(ann[fields[0]], k, what)
    missing = [name for name in fields if name not in ann]
    if missing:
        raise ValueError(f"{what} lacks {missing}")
    flat = np.concatenate([np.asarray(ann[name], dtype=np.float64).reshape(-1) for name in fields])
    return _keypoint_array(flat, k, what)


def _group_by_image_and_category(
    anns: Iterable[Mapping[str, Any]], image_ids: set[int], cat_ids: set[int]
) -> dict[tuple[int, int], list[Mapping[str, Any]]]:
    """Annotations keyed by ``(image_id, category_id)``, keeping only the evaluated ones."""
    grouped: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for ann in anns:
        key = (ann["image_id"], ann["category_id"])
        if key[0] in image_ids and key[1] in cat_ids:
            grouped.setdefault(key, []).append(ann)
    return grouped


def _group_gts(
    grouped: Mapping[tuple[int, int], list[Mapping[str, Any]]], k: int, protocol: _Protocol = _COCO_PROTOCOL,
) -> dict[tuple[int, int], _GroundTruths]:
    """Ground truths per ``(image_id, category_id)`` (from :func:`_group_by_image_and_category`), their
    ``protocol.fields`` parsed into ``(G, k, 3)`` keypoints."""
    out: dict[tuple[int, int], _GroundTruths] = {}
    for key, items in grouped.items():
        kps = np.stack([
            _evaluated_keypoints(a, protocol.fields, k, f"ground truth {a.get('id')}") for a in items
        ])
        if protocol.count_labelled:
            num_kp = np.count_nonzero(kps[:, :, 2] > 0, axis=1)
        else:
            # pycocotools requires ``num_keypoints``; without it, count the labelled keypoints.
            num_kp = np.array(
                [a.get("num_keypoints", int(np.count_nonzero(kp[:, 2] > 0))) for a, kp in zip(items, kps)],
                dtype=np.int64,
            )
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in items], dtype=bool)
        out[key] = _GroundTruths(
            ids=np.array([a["id"] for a in items], dtype=np.int64),
            keypoints=kps,
            areas=np.array([a["area"] for a in items], dtype=np.float64),
            boxes=np.array([a["bbox"] for a in items], dtype=np.float64).reshape(-1, 4),
            crowd=crowd,
            ignore=crowd | (num_kp == 0),
        )
    return out


def _group_dts(
    grouped: Mapping[tuple[int, int], list[Mapping[str, Any]]], k: int, max_dets: int,
    protocol: _Protocol = _COCO_PROTOCOL,
) -> dict[tuple[int, int], _Detections]:
    """Detections per ``(image_id, category_id)`` (from :func:`_group_by_image_and_category`): unscored
    ones dropped if the protocol says so, sorted by score (stable) and cut to ``max_dets``. Each result's
    keypoints are parsed at most once (all of them when unscored ones are dropped, else only the kept ones)."""
    def parse(a: Mapping[str, Any]) -> np.ndarray:
        return _evaluated_keypoints(a, protocol.fields, k, f"result {a['id']}")

    out: dict[tuple[int, int], _Detections] = {}
    for key, items in grouped.items():
        kps: list[np.ndarray] | None = None  # parsed keypoints of ``items``, when the filter needed them all
        if protocol.drop_unscored:
            parsed = [parse(a) for a in items]
            scored = [i for i, kp in enumerate(parsed) if np.any(kp[:, 2] > 0)]
            if not scored:
                continue
            items, kps = [items[i] for i in scored], [parsed[i] for i in scored]
        scores = np.array([a.get(protocol.score_key, a["score"]) for a in items], dtype=np.float64)
        order = np.argsort(-scores, kind="mergesort")[:max_dets]
        out[key] = _Detections(
            ids=np.array([items[i]["id"] for i in order], dtype=np.int64),
            keypoints=np.stack([kps[i] if kps is not None else parse(items[i]) for i in order]),
            areas=np.array([items[i]["area"] for i in order], dtype=np.float64),
            scores=scores[order],
        )
    return out


# --------------------------------------------------------------------------- matching


def _greedy_match(
    oks: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """COCO's greedy matching, all thresholds at once.

    Args:
        oks: ``(D, G)`` with detections in score order and ground truths sorted
            non-ignored first.
        gt_ignore: ``(G,)`` bool, all ``False`` entries before all ``True`` ones.
        gt_crowd: ``(G,)`` bool; crowd ground truths can be matched repeatedly.
        thresholds: ``(T,)`` OKS thresholds.

    Returns:
        ``(T, D)`` index of the matched ground truth, -1 when unmatched.
    """
    num_t = thresholds.shape[0]
    num_dt, num_gt = oks.shape
    match = np.full((num_t, num_dt), -1, dtype=np.int64)
    if num_dt == 0 or num_gt == 0:
        return match
    thr = np.minimum(thresholds, 1 - 1e-10)
    taken = np.zeros((num_t, num_gt), dtype=bool)
    n_regular = int(np.count_nonzero(~gt_ignore))
    blocks = [(lo, hi) for lo, hi in ((0, n_regular), (n_regular, num_gt)) if hi > lo]
    rows = np.arange(num_t)
    for d in range(num_dt):
        vals = np.where(~taken | gt_crowd[None, :], oks[d][None, :], -np.inf)  # (T, G)
        m = np.full(num_t, -1, dtype=np.int64)
        # Non-ignored ground truths first; ignored ones only if none matched.
        # Within a block the winner is the last ground truth with the highest
        # OKS, provided it reaches the threshold.
        for lo, hi in blocks:
            v = vals[:, lo:hi]
            best = v.max(axis=1)
            last = hi - 1 - np.argmax(v[:, ::-1] == best[:, None], axis=1)
            m = np.where((m < 0) & (best >= thr), last, m)
        match[:, d] = m
        hit = m >= 0
        taken[rows[hit], m[hit]] = True
    return match


def _evaluate_image(
    gts: _GroundTruths | None,
    dts: _Detections | None,
    oks: np.ndarray,
    area_range: tuple[float, float],
    thresholds: np.ndarray,
) -> _ImageEval:
    """Match one image's detections for one area range (COCO ``evaluateImg``)."""
    lo, hi = area_range
    num_t = thresholds.shape[0]
    if gts is None:
        gt_ignore = np.zeros((0,), dtype=bool)
        gt_crowd = gt_ignore
        gt_ids = np.zeros((0,), dtype=np.int64)
        order = np.zeros((0,), dtype=np.int64)
    else:
        ig = gts.ignore | (gts.areas < lo) | (gts.areas > hi)
        order = np.argsort(ig.astype(np.int64), kind="mergesort")
        gt_ignore, gt_crowd, gt_ids = ig[order], gts.crowd[order], gts.ids[order]
    if dts is None:
        scores = np.zeros((0,), dtype=np.float64)
        dt_out = np.zeros((0,), dtype=bool)
    else:
        scores = dts.scores
        dt_out = (dts.areas < lo) | (dts.areas > hi)
    num_dt = scores.shape[0]

    match = _greedy_match(oks[:, order], gt_ignore, gt_crowd, thresholds)  # (T, D)
    matched = match >= 0
    safe = np.where(matched, match, 0)
    dt_matches = np.where(matched, gt_ids[safe] if gt_ids.size else 0, 0).astype(np.float64)
    dt_ignore = np.where(matched, gt_ignore[safe] if gt_ignore.size else False, False)
    # A "match" to a ground truth whose id is 0 counts as unmatched, as in COCO.
    dt_ignore = dt_ignore | ((dt_matches == 0) & dt_out[None, :])
    return _ImageEval(
        dt_scores=scores,
        dt_matches=dt_matches.reshape(num_t, num_dt),
        dt_ignore=dt_ignore.reshape(num_t, num_dt),
        gt_ignore=gt_ignore,
    )


def _accumulate(
    evals: list[_ImageEval], thresholds: np.ndarray, rec_thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Precision ``(T, R)`` and recall ``(T,)`` over images, or ``None`` without positives."""
    num_t, num_r = thresholds.shape[0], rec_thresholds.shape[0]
    gt_ignore = np.concatenate([e.gt_ignore for e in evals]) if evals else np.zeros((0,), dtype=bool)
    num_pos = int(np.count_nonzero(~gt_ignore))
    if num_pos == 0:
        return None
    scores = np.concatenate([e.dt_scores for e in evals])
    order = np.argsort(-scores, kind="mergesort")
    dt_matches = np.concatenate([e.dt_matches for e in evals], axis=1)[:, order]
    dt_ignore = np.concatenate([e.dt_ignore for e in evals], axis=1)[:, order]
    num_dt = scores.shape[0]

    precision = np.zeros((num_t, num_r), dtype=np.float64)
    if num_dt == 0:
        return precision, np.zeros((num_t,), dtype=np.float64)
    tps = (dt_matches != 0) & ~dt_ignore
    fps = (dt_matches == 0) & ~dt_ignore
    tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
    fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
    rc = tp_sum / num_pos
    pr = tp_sum / (fp_sum + tp_sum + _EPS)
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # monotone envelope
    for t in range(num_t):
        idx = np.searchsorted(rc[t], rec_thresholds, side="left")
        inside = idx < num_dt
        precision[t] = np.where(inside, pr[t][np.minimum(idx, num_dt - 1)], 0.0)
    return precision, rc[:, -1].copy()


def _summarize(
    precision: np.ndarray, recall: np.ndarray, thresholds: np.ndarray, area_labels: Sequence[str]
) -> dict[str, float]:
    """The 10 COCO keypoint numbers from ``precision (T, R, C, A)`` and ``recall (T, C, A)``."""

    def mean_valid(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    def pick(arr: np.ndarray, thr: float | None, area: str) -> np.ndarray:
        a = area_labels.index(area)
        if thr is not None:
            arr = arr[np.flatnonzero(np.isclose(thresholds, thr))]
        return arr[..., a]

    stats: dict[str, float] = OrderedDict()
    for prefix, arr in (("AP", precision), ("AR", recall)):
        stats[prefix] = mean_valid(pick(arr, None, "all"))
        stats[prefix + "50"] = mean_valid(pick(arr, 0.5, "all"))
        stats[prefix + "75"] = mean_valid(pick(arr, 0.75, "all"))
        stats[prefix + "m"] = mean_valid(pick(arr, None, "medium"))
        stats[prefix + "l"] = mean_valid(pick(arr, None, "large"))
    return OrderedDict((name, stats[name]) for name in STAT_NAMES)


# --------------------------------------------------------------------------- public API


def _resolve_sigmas(
    sigmas: Sequence[float] | np.ndarray | None, gt: Mapping[str, Any], cat_ids: Sequence[int],
    part: str | None = None,
) -> np.ndarray:
    """The sigmas to use ``(K,)``: the given ones, else the part's COCO-WholeBody ones, else COCO-17 (checked
    against the categories)."""
    if sigmas is not None:
        return np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if part is not None:
        all_sigmas = COCO_WHOLEBODY.sigmas_array()
        if part == "wholebody":
            return all_sigmas
        p = COCO_WHOLEBODY.part(part)
        return all_sigmas[p.start : p.stop]
    for cat in gt.get("categories", []):
        names = cat.get("keypoints")
        if cat.get("id") in cat_ids and names is not None and len(names) != COCO17.num_keypoints:
            raise ValueError(
                f"category {cat.get('id')} has {len(names)} keypoints; pass the schema's sigmas "
                f"(the default is COCO-17)"
            )
    return COCO17.sigmas_array()


def split_wholebody_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A COCO-WholeBody result in the five-field layout the evaluator reads.

    A result with ``foot_kpts`` is returned as a copy. One whose ``keypoints``
    hold all 133 ``[x, y, score]`` triples (the order of
    :data:`posekit.schema.COCO_WHOLEBODY`) is split into ``keypoints`` (the 17
    body keypoints), ``foot_kpts``, ``face_kpts``, ``lefthand_kpts`` and
    ``righthand_kpts``. Anything else is returned as a copy, unchanged.
    """
    out = dict(result)
    flat = result.get("keypoints")
    if "foot_kpts" in result or flat is None or len(flat) != 3 * COCO_WHOLEBODY.num_keypoints:
        return out
    out.update(COCO_WHOLEBODY.split_coco(flat))
    return out


def is_wholebody(data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> bool:
    """Whether a ground-truth dict (its ``annotations``) or a results list is COCO-WholeBody.

    True when an annotation / result has ``foot_kpts`` (or any other part field
    of :data:`WHOLEBODY_FIELDS` beyond ``keypoints``), or a result's
    ``keypoints`` hold 133 triples.
    """
    items = data.get("annotations", []) if isinstance(data, Mapping) else data
    part_fields = [f for f in WHOLEBODY_FIELDS.values() if f != "keypoints"]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if any(f in item for f in part_fields):
            return True
        if len(item.get("keypoints", ())) == 3 * COCO_WHOLEBODY.num_keypoints:
            return True
    return False


def multi_person_image_ids(gt: Mapping[str, Any]) -> list[int]:
    """Ids of the images with more than one labelled (non-crowd, >= 1 keypoint) person, sorted."""
    counts: dict[int, int] = {}
    for a in gt.get("annotations", []):
        if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0:
            counts[a["image_id"]] = counts.get(a["image_id"], 0) + 1
    return sorted(i for i, c in counts.items() if c > 1)


@dataclass(frozen=True)
class _Selection:
    """The ground truth of one evaluation, read once and shared by all parts of a whole-body evaluation.

    Attributes:
        data: the ground-truth dict.
        gt_images: every ground-truth image id (results must refer to these).
        image_ids, cat_ids: the evaluated images and categories, sorted.
        grouped: evaluated annotations by ``(image_id, category_id)``, in file order.
        num_annotations: all annotations of the file.
    """

    data: dict[str, Any]
    gt_images: list[Any]
    image_ids: list[Any]
    cat_ids: list[Any]
    grouped: dict[tuple[int, int], list[Mapping[str, Any]]]
    num_annotations: int


def _select_gt(
    gt: Mapping[str, Any] | str | os.PathLike[str],
    image_ids: Iterable[int] | None,
    cat_ids: Iterable[int] | None,
    max_dets: int,
) -> _Selection:
    """Read the ground truth, pick the evaluated images and categories, group the annotations."""
    gt_data = load_coco_json(gt)
    gt_images = [img["id"] for img in gt_data.get("images", [])]
    gt_anns = gt_data.get("annotations", [])
    if cat_ids is None:
        if "categories" in gt_data:
            cats = sorted({c["id"] for c in gt_data["categories"]})
        else:
            cats = sorted({a["category_id"] for a in gt_anns})
    else:
        cats = sorted(set(cat_ids))
    imgs = sorted(set(gt_images) if image_ids is None else set(image_ids))
    if image_ids is not None:
        absent = sorted(set(imgs) - set(gt_images), key=str)
        if absent:
            logger.warning("%d requested image id(s) are not in the ground truth, e.g. %s", len(absent), absent[:5])
    if max_dets < 1:
        raise ValueError(f"max_dets must be positive, got {max_dets}")
    grouped = _group_by_image_and_category(gt_anns, set(imgs), set(cats))
    return _Selection(gt_data, gt_images, imgs, cats, grouped, len(gt_anns))


def _group_results(
    results: Sequence[Mapping[str, Any]], selection: _Selection
) -> dict[tuple[int, int], list[Mapping[str, Any]]]:
    """Results read like ``COCO.loadRes`` (:func:`load_results`), grouped by ``(image_id, category_id)``."""
    dt_anns = load_results(results, selection.gt_images)
    logger.debug(
        "keypoint eval: %d images, %d categories, %d ground truths, %d results",
        len(selection.image_ids), len(selection.cat_ids), selection.num_annotations, len(dt_anns),
    )
    return _group_by_image_and_category(dt_anns, set(selection.image_ids), set(selection.cat_ids))


def _evaluate(
    selection: _Selection,
    dt_grouped: Mapping[tuple[int, int], list[Mapping[str, Any]]],
    sig: np.ndarray,
    protocol: _Protocol,
    max_dets: int,
    part: str | None,
) -> KeypointEvaluation:
    """Match, accumulate and summarise grouped ground truths and results under one protocol.

    Args:
        selection: from :func:`_select_gt`.
        dt_grouped: from :func:`_group_results`.
        sig: OKS sigmas ``(K,)`` of the evaluated keypoints.
        protocol: which fields are read and how (pycocotools or an xtcocotools part).
        max_dets: detections kept per image and category.
        part: the whole-body part (for the log), ``None`` for COCO keypoints.
    """
    k = sig.shape[0]
    imgs, cats = selection.image_ids, selection.cat_ids
    gts_by_key = _group_gts(selection.grouped, k, protocol)
    dts_by_key = _group_dts(dt_grouped, k, max_dets, protocol)
    if part is not None:
        logger.debug("keypoint eval part %s: %d keypoints", part, k)

    thresholds = _oks_thresholds()
    rec_thresholds = _recall_thresholds()
    area_labels = tuple(label for label, _ in AREA_RANGES)
    num_t, num_r, num_c, num_a = thresholds.shape[0], rec_thresholds.shape[0], len(cats), len(AREA_RANGES)
    precision = -np.ones((num_t, num_r, num_c, num_a), dtype=np.float64)
    recall = -np.ones((num_t, num_c, num_a), dtype=np.float64)
    per_image: dict[tuple[int, int], ImageOks] = {}

    for c, cat in enumerate(cats):
        per_area: list[list[_ImageEval]] = [[] for _ in AREA_RANGES]
        for img in imgs:
            gts = gts_by_key.get((img, cat))
            dts = dts_by_key.get((img, cat))
            if gts is None and dts is None:
                continue
            num_gt = 0 if gts is None else gts.ids.shape[0]
            num_dt = 0 if dts is None else dts.ids.shape[0]
            if gts is not None and dts is not None:
                oks = compute_oks(dts.keypoints, gts.keypoints, gts.areas, gts.boxes, sig)
            else:
                oks = np.zeros((num_dt, num_gt), dtype=np.float64)
            per_image[(img, cat)] = ImageOks(
                oks=oks,
                dt_ids=np.zeros((0,), np.int64) if dts is None else dts.ids,
                gt_ids=np.zeros((0,), np.int64) if gts is None else gts.ids,
            )
            for a, (_, rng) in enumerate(AREA_RANGES):
                per_area[a].append(_evaluate_image(gts, dts, oks, rng, thresholds))
        for a in range(num_a):
            acc = _accumulate(per_area[a], thresholds, rec_thresholds)
            if acc is not None:
                precision[:, :, c, a], recall[:, c, a] = acc

    stats = _summarize(precision, recall, thresholds, area_labels)
    return KeypointEvaluation(
        stats=stats,
        precision=precision,
        recall=recall,
        oks_thresholds=thresholds,
        recall_thresholds=rec_thresholds,
        image_ids=tuple(imgs),
        cat_ids=tuple(cats),
        area_labels=area_labels,
        max_dets=max_dets,
        per_image=per_image,
    )


def evaluate_keypoints_detailed(
    gt: Mapping[str, Any] | str | os.PathLike[str],
    results: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    sigmas: Sequence[float] | np.ndarray | None = None,
    image_ids: Iterable[int] | None = None,
    cat_ids: Iterable[int] | None = None,
    max_dets: int = 20,
    part: str | None = None,
) -> KeypointEvaluation:
    """Run COCO keypoint evaluation and return stats plus the intermediate arrays.

    Args:
        gt: COCO ground truth (dict or path to the JSON file) with ``images``,
            ``annotations`` (``keypoints``, ``num_keypoints``, ``area``, ``bbox``,
            ``iscrowd``) and ``categories``.
        results: keypoint results (list of dicts or path to a JSON list); see
            :func:`load_results`.
        sigmas: per-keypoint OKS sigmas ``(K,)``; ``None`` means the COCO-17
            sigmas of :data:`posekit.schema.COCO17` (an error if the ground
            truth's categories declare another number of keypoints).
        image_ids: evaluate only these images (default: all GT images). Results
            on other GT images are dropped.
        cat_ids: evaluate only these categories (default: all GT categories).
        max_dets: detections kept per image and category (COCO: 20).
        part: ``None`` for pycocotools' COCO keypoint evaluation of the
            ``keypoints`` field; one of :data:`WHOLEBODY_EVAL_PARTS` for
            xtcocotools' ``"keypoints_<part>"`` evaluation of COCO-WholeBody
            ground truth and results (see the module notes; ``sigmas`` then
            defaults to that part's :data:`posekit.schema.COCO_WHOLEBODY`
            sigmas, and results may hold all 133 keypoints in ``keypoints``:
            :func:`split_wholebody_result`).

    Returns:
        A :class:`KeypointEvaluation`.

    Raises:
        ValueError: when a result refers to an image that is not in the ground
            truth, or on malformed input (a whole-body part field missing).
    """
    protocol = _COCO_PROTOCOL if part is None else _wholebody_protocol(part)
    dts = _read_results(results)
    if part is not None:
        dts = [split_wholebody_result(r) if isinstance(r, Mapping) else r for r in dts]
    selection = _select_gt(gt, image_ids, cat_ids, max_dets)
    sig = _resolve_sigmas(sigmas, selection.data, selection.cat_ids, part)
    return _evaluate(selection, _group_results(dts, selection), sig, protocol, max_dets, part)


def evaluate_keypoints(
    gt: Mapping[str, Any] | str | os.PathLike[str],
    results: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    sigmas: Sequence[float] | np.ndarray | None = None,
    image_ids: Iterable[int] | None = None,
    cat_ids: Iterable[int] | None = None,
    max_dets: int = 20,
    part: str | None = None,
) -> dict[str, float]:
    """COCO keypoint AP/AR: the 10 pycocotools numbers keyed by :data:`STAT_NAMES`.

    Same arguments as :func:`evaluate_keypoints_detailed`. Returns an ordered
    dict ``{"AP": ..., "AP50": ..., ..., "ARl": ...}`` of floats (-1 where COCO
    reports -1, i.e. no non-ignored ground truth in that area range). An empty
    results list gives zeros where pycocotools would refuse to run.
    """
    return evaluate_keypoints_detailed(
        gt, results, sigmas=sigmas, image_ids=image_ids, cat_ids=cat_ids, max_dets=max_dets, part=part
    ).stats


def evaluate_wholebody_detailed(
    gt: Mapping[str, Any] | str | os.PathLike[str],
    results: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    image_ids: Iterable[int] | None = None,
    cat_ids: Iterable[int] | None = None,
    max_dets: int = 20,
) -> dict[str, KeypointEvaluation]:
    """COCO-WholeBody evaluation of every part, as MMPose's ``CocoWholeBodyMetric`` runs xtcocotools.

    Args:
        gt: COCO-WholeBody ground truth (dict or path): annotations with
            ``keypoints`` (17 × 3), ``foot_kpts`` (6 × 3), ``face_kpts``
            (68 × 3), ``lefthand_kpts`` and ``righthand_kpts`` (21 × 3 each),
            ``area``, ``bbox``, ``iscrowd``.
        results: results (list of dicts or path to a JSON list) with
            ``image_id``, ``category_id``, ``score`` and either the same five
            fields or all 133 ``[x, y, score]`` triples in ``keypoints``
            (:func:`split_wholebody_result`); optional ``<part>_score`` keys
            rank a part's detections instead of ``score``.
        image_ids, cat_ids, max_dets: as for :func:`evaluate_keypoints_detailed`.

    Returns:
        ``{part: KeypointEvaluation}`` for each of :data:`WHOLEBODY_EVAL_PARTS`, in that order.
    """
    # The ground truth and the results are read, split and grouped once; each part parses its own fields.
    dts = [split_wholebody_result(r) if isinstance(r, Mapping) else r for r in _read_results(results)]
    selection = _select_gt(gt, image_ids, cat_ids, max_dets)
    dt_grouped = _group_results(dts, selection)
    return {
        part: _evaluate(
            selection, dt_grouped, _resolve_sigmas(None, selection.data, selection.cat_ids, part),
            _wholebody_protocol(part), max_dets, part,
        )
        for part in WHOLEBODY_EVAL_PARTS
    }


def evaluate_wholebody(
    gt: Mapping[str, Any] | str | os.PathLike[str],
    results: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    image_ids: Iterable[int] | None = None,
    cat_ids: Iterable[int] | None = None,
    max_dets: int = 20,
) -> dict[str, dict[str, float]]:
    """The 10 COCO keypoint stats of each COCO-WholeBody part: ``{part: {"AP": ..., ..., "ARl": ...}}``.

    Parts ``body``, ``foot``, ``face``, ``lefthand``, ``righthand``,
    ``wholebody`` (:data:`WHOLEBODY_EVAL_PARTS`); same arguments as
    :func:`evaluate_wholebody_detailed`. The numbers are xtcocotools'
    (``COCOeval(gt, dt, "keypoints_<part>", sigmas, use_area=True)``).
    """
    detailed = evaluate_wholebody_detailed(gt, results, image_ids=image_ids, cat_ids=cat_ids, max_dets=max_dets)
    return {part: ev.stats for part, ev in detailed.items()}


def format_stats(stats: Mapping[str, float] | Mapping[str, Mapping[str, float]]) -> str:
    """Readable stats.

    A flat mapping (:func:`evaluate_keypoints`) gives one line per stat,
    ``"AP 0.6012"`` (name, space, value with 4 decimals). A mapping of parts
    to stats (:func:`evaluate_wholebody`) gives a table: a header line with the
    stat names, then one line per part.
    """
    if not any(isinstance(value, Mapping) for value in stats.values()):
        return "\n".join(f"{name} {float(value):.4f}" for name, value in stats.items())
    names = list(next(iter(stats.values())))
    width = max(len("part"), *(len(part) for part in stats))
    lines = [f"{'part':<{width}}" + "".join(f" {name:>7}" for name in names)]
    for part, values in stats.items():
        lines.append(f"{part:<{width}}" + "".join(f" {float(values[name]):>7.4f}" for name in names))
    return "\n".join(lines)
