"""Pose evaluation: Object Keypoint Similarity and COCO keypoint AP/AR, COCO-17 and COCO-WholeBody (pure numpy)."""

from posekit.evaluation.coco import (
    AREA_RANGES,
    STAT_NAMES,
    WHOLEBODY_EVAL_PARTS,
    WHOLEBODY_FIELDS,
    ImageOks,
    KeypointEvaluation,
    evaluate_keypoints,
    evaluate_keypoints_detailed,
    evaluate_wholebody,
    evaluate_wholebody_detailed,
    format_stats,
    is_wholebody,
    load_coco_json,
    load_results,
    multi_person_image_ids,
    split_wholebody_result,
)
from posekit.evaluation.oks import compute_oks, oks_one_to_many

__all__ = [
    "AREA_RANGES",
    "STAT_NAMES",
    "WHOLEBODY_EVAL_PARTS",
    "WHOLEBODY_FIELDS",
    "ImageOks",
    "KeypointEvaluation",
    "compute_oks",
    "evaluate_keypoints",
    "evaluate_keypoints_detailed",
    "evaluate_wholebody",
    "evaluate_wholebody_detailed",
    "format_stats",
    "is_wholebody",
    "load_coco_json",
    "load_results",
    "multi_person_image_ids",
    "oks_one_to_many",
    "split_wholebody_result",
]
