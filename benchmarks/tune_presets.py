"""Tune the settings of the PP-TinyPose presets on the dev set (accuracy only; no timing).

Detections are computed once per detector and reused; each configuration then
runs the pose stage of :class:`posekit.pipeline.PoseEstimator` (crop budget →
crop → network → top-down tail) on the cached boxes and is scored with COCO
keypoint AP on all 300 dev images and on the multi-person ones. Prints one
markdown row per configuration (the README's tuning table comes from it).

Usage::

    python benchmarks/tune_presets.py [--only REGEX] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _estimator import SHARED
from posekit import catalog
from posekit.detect.budget import CropBudget, select_boxes
from posekit.evaluation import evaluate_keypoints, load_coco_json, multi_person_image_ids
from posekit.io import read_image
from posekit.pipeline import PoseEstimator
from posekit.pose.onnx_model import OnnxPoseModel
from posekit.spec import CropConfig

DEV = SHARED / "data" / "coco-val-dev"

# name: (detector, pose model, spec changes, estimator options, budget)
CONFIGS: dict[str, tuple[str, str, dict, dict, CropBudget]] = {}


def _add(name: str, detector: str = "picodet_s_320", pose: str = "pp_tinypose_256x192", spec: dict | None = None,
         budget: CropBudget = CropBudget(), **options: Any) -> None:
    CONFIGS[name] = (detector, pose, spec or {}, {"flip_test": False, **options}, budget)


#: Crop budget of the settings sweep: picked from the budget rows first (PicoDet keeps ~50 boxes
#: per image at score 0.05; most of them are background).
SWEEP_BUDGET = CropBudget(min_score=0.2)

for pose in ("pp_tinypose_256x192", "pp_tinypose_128x96"):
    short = pose.split("_")[-1]
    for min_score in (0.05, 0.1, 0.2, 0.3, 0.4):
        _add(f"{short} picodet_s_320 min{min_score}", "picodet_s_320", pose, budget=CropBudget(min_score=min_score))
    for cap in (5, 10, 20):
        _add(f"{short} picodet_s_320 min0.1 max{cap}", "picodet_s_320", pose, budget=CropBudget(min_score=0.1, max_crops=cap))
    _add(f"{short} picodet_s_320 min0.2 min16px", "picodet_s_320", pose, budget=CropBudget(min_score=0.2, min_size=16))
    for det in ("picodet_s_192", "yolox_nano"):
        _add(f"{short} {det} min0.2", det, pose, budget=SWEEP_BUDGET)
    for decode in ("argmax", "dark"):
        _add(f"{short} sweep {decode}", "picodet_s_320", pose, decode=decode, budget=SWEEP_BUDGET)
    _add(f"{short} sweep flip", "picodet_s_320", pose, flip_test=True, budget=SWEEP_BUDGET)
    _add(f"{short} sweep dark flip", "picodet_s_320", pose, flip_test=True, decode="dark", budget=SWEEP_BUDGET)
    for padding in (1.15, 1.35):
        _add(f"{short} sweep pad{padding}", "picodet_s_320", pose, spec={"padding": padding}, budget=SWEEP_BUDGET)
    for margin in (1.1, 1.25):
        _add(f"{short} sweep mask{margin}", "picodet_s_320", pose, spec={"mask_margin": margin}, budget=SWEEP_BUDGET)
    for thr in (0.0, 0.4):
        _add(f"{short} sweep rescore{thr}", "picodet_s_320", pose, spec={"rescore_thresh": thr}, budget=SWEEP_BUDGET)
    _add(f"{short} sweep parametric", "picodet_s_320", pose, pose_nms="parametric", budget=SWEEP_BUDGET)
    _add(f"{short} sweep nonms", "picodet_s_320", pose, pose_nms="none", budget=SWEEP_BUDGET)


# Candidates of the presets (decoder x budget x flip), after the sweeps above.
for pose, det, decode, min_score, flip in (
    ("pp_tinypose_256x192", "picodet_s_320", "dark", 0.15, False),
    ("pp_tinypose_256x192", "picodet_s_320", "dark", 0.1, True),
    ("pp_tinypose_256x192", "picodet_s_320", "dark", 0.05, True),
    ("pp_tinypose_128x96", "picodet_s_192", "dark", 0.2, False),
    ("pp_tinypose_128x96", "picodet_s_320", "dark", 0.2, False),
    ("pp_tinypose_128x96", "picodet_s_192", "dark", 0.3, False),
    ("pp_tinypose_128x96", "picodet_s_320", "dark", 0.1, False),
    ("pp_tinypose_128x96", "picodet_s_320", "dark", 0.2, True),
):
    _add(f"{pose.split('_')[-1]} candidate {det} {decode} min{min_score}{' flip' if flip else ''}", det, pose,
         decode=decode, flip_test=flip, budget=CropBudget(min_score=min_score))


# Crop-budget rules beyond the score threshold (issue 19: cost that grows gently with the number of
# people), on top of the balanced / fast settings.
for pose, min_score, flip in (("pp_tinypose_256x192", 0.15, False), ("pp_tinypose_128x96", 0.2, True)):
    short = pose.split("_")[-1]
    for label, extra in (
        ("", {}),
        (" overlap0.7", {"max_overlap": 0.7}), (" overlap0.5", {"max_overlap": 0.5}),
        (" rel0.1", {"min_relative_score": 0.1}), (" rel0.2", {"min_relative_score": 0.2}),
        (" rel0.3", {"min_relative_score": 0.3}),
        (" mass0.9", {"score_mass": 0.9}), (" mass0.8", {"score_mass": 0.8}),
        (" min16px", {"min_size": 16}), (" min32px", {"min_size": 32}),
        (" min16px overlap0.7 rel0.1", {"min_size": 16, "max_overlap": 0.7, "min_relative_score": 0.1}),
    ):
        _add(f"{short} budget min{min_score}{label}{' flip' if flip else ''}", "picodet_s_320", pose, decode="dark",
             flip_test=flip, budget=CropBudget(min_score=min_score, **extra))


# Smallest box side that gets a crop, on top of the presets' score thresholds (tiny boxes are
# rarely a labelled person: COCO labels keypoints of people large enough to see them).
for pose, min_score, flip in (("pp_tinypose_256x192", 0.15, False), ("pp_tinypose_256x192", 0.1, True),
                              ("pp_tinypose_128x96", 0.2, True)):
    for min_size in (16, 20, 24, 28):
        _add(f"{pose.split('_')[-1]} minsize min{min_score} min{min_size}px{' flip' if flip else ''}", "picodet_s_320",
             pose, decode="dark", flip_test=flip, budget=CropBudget(min_score=min_score, min_size=min_size))


def _pose_model(name: str, spec_changes: dict, threads: int | None) -> OnnxPoseModel:
    entry = catalog.get(name)
    spec = entry.spec
    crop = {k: spec_changes[k] for k in ("padding", "mask_margin") if k in spec_changes}
    if crop:
        spec = spec.with_(crop=CropConfig(**{**vars(spec.crop), **crop}))
    if "rescore_thresh" in spec_changes:
        spec = spec.with_(rescore_thresh=spec_changes["rescore_thresh"])
    return OnnxPoseModel(catalog.model_file_path(name, SHARED / "models"), spec, num_threads=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run the configurations whose name matches this regular expression")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gt-boxes", action="store_true", help="also score each pose model on ground-truth boxes")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    gt = load_coco_json(DEV / "person_keypoints.json")
    multi = multi_person_image_ids(gt)
    images = {im["id"]: read_image(DEV / "images" / im["file_name"], ignore_orientation=True) for im in gt["images"]}
    selected = {k: v for k, v in CONFIGS.items() if re.search(args.only, k)}
    boxes: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for det in sorted({c[0] for c in selected.values()}):
        est = PoseEstimator(det, "pp_tinypose_128x96", models_dir=SHARED / "models", num_threads=args.threads,
                            crop_budget=CropBudget())
        boxes[det] = {i: est.detect(img) for i, img in images.items()}
    if args.gt_boxes:
        gt_boxes: dict[int, tuple[np.ndarray, np.ndarray]] = {i: (np.zeros((0, 4)), np.zeros(0)) for i in images}
        for a in gt["annotations"]:
            if a.get("iscrowd") or a.get("num_keypoints", 0) == 0:
                continue
            x, y, w, h = a["bbox"]
            b, s = gt_boxes[a["image_id"]]
            gt_boxes[a["image_id"]] = (np.vstack([b, [x, y, x + w, y + h]]), np.append(s, 1.0))
        boxes["gt"] = gt_boxes
        for pose in sorted({c[1] for c in selected.values()}):
            selected[f"{pose.split('_')[-1]} gt-boxes hrnet"] = ("gt", pose, {}, {"flip_test": False}, CropBudget())

    rows = []
    print("| configuration | AP | AP multi | AR | crops/img | s |")
    print("|---|---|---|---|---|---|")
    for name, (det, pose, spec_changes, options, budget) in selected.items():
        est = PoseEstimator(lambda image: (np.zeros((0, 4)), np.zeros(0)), _pose_model(pose, spec_changes, args.threads),
                            crop_budget=budget, **options)
        start = time.perf_counter()
        results, crops = [], 0
        for image_id, image in images.items():
            b, s = select_boxes(*boxes[det][image_id], budget)
            crops += len(b)
            results.extend(est.estimate(image, b, s).to_coco(image_id))
        elapsed = time.perf_counter() - start
        ap = evaluate_keypoints(gt, results)
        ap_multi = evaluate_keypoints(gt, results, image_ids=multi)["AP"]
        row = {"name": name, "AP": ap["AP"], "AP_multi": ap_multi, "AR": ap["AR"], "crops_per_image": crops / len(images),
               "seconds": elapsed}
        rows.append(row)
        print(f"| {name} | {ap['AP']:.4f} | {ap_multi:.4f} | {ap['AR']:.4f} | {crops / len(images):.2f} | {elapsed:.0f} |",
              flush=True)
        if args.out:  # after every row: a long sweep keeps what it measured
            args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
