"""Pose evaluation: Object Keypoint Similarity and COCO keypoint AP/AR (pure numpy)."""

from posekit.evaluation.coco import (
    AREA_RANGES,
    STAT_NAMES,
    ImageOks,
    KeypointEvaluation,
    evaluate_keypoints,
    evaluate_keypoints_detailed,
    multi_person_image_ids,
    format_stats,
    load_coco_json,
    load_results,
)
from posekit.evaluation.oks import compute_oks, oks_one_to_many

__all__ = [
    "AREA_RANGES",
    "STAT_NAMES",
    "ImageOks",
    "KeypointEvaluation",
    "compute_oks",
    "evaluate_keypoints",
    "evaluate_keypoints_detailed",
    "multi_person_image_ids",
    "format_stats",
    "load_coco_json",
    "load_results",
    "oks_one_to_many",
]
