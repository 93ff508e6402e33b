"""``posekit eval``: score COCO keypoint results against ground truth (the ten COCO stats).

COCO-WholeBody results (``foot_kpts``, ``face_kpts``, ... next to ``keypoints``, or 133 keypoints in
``keypoints``) are scored per part (body, foot, face, lefthand, righthand, wholebody) as MMPose's
xtcocotools evaluation does; an empty results list is whole-body when the ground truth is."""

from __future__ import annotations

import argparse
import json
import logging

__all__ = ["register", "run"]

log = logging.getLogger("posekit.eval")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="COCO keypoint AP/AR of a results file", description=__doc__,
        epilog="example:\n  posekit eval out/results.json --gt person_keypoints_val2017.json\n\n"
               "prints AP AP50 AP75 APm APl AR AR50 AR75 ARm ARl, one per line as 'AP 0.6012'.\n"
               "Computed by posekit's own evaluator, identical to pycocotools' COCOeval.\n\n"
               "COCO-WholeBody results print a table, one row per part (body foot face lefthand\n"
               "righthand wholebody), identical to xtcocotools as MMPose runs it; with --json,\n"
               "{\"body\": {\"AP\": ...}, ..., \"wholebody\": {...}}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", help="COCO keypoint results JSON (e.g. OUT/results.json from 'posekit predict')")
    p.add_argument("--gt", required=True, help="COCO person-keypoint (or COCO-WholeBody) ground-truth JSON")
    p.add_argument("--json", action="store_true", help="print the stats as one JSON object")
    p.add_argument("--multi-person", action="store_true",
                   help="evaluate only images with more than one labelled person")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.evaluation import (
        evaluate_keypoints,
        evaluate_wholebody,
        format_stats,
        is_wholebody,
        load_coco_json,
        multi_person_image_ids,
    )

    try:
        gt = load_coco_json(args.gt)
        with open(args.results, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    image_ids = multi_person_image_ids(gt) if args.multi_person else None
    wholebody = is_wholebody(results) if isinstance(results, list) and results else is_wholebody(gt)
    try:
        if wholebody:
            stats = evaluate_wholebody(gt, results, image_ids=image_ids)
        else:
            stats = evaluate_keypoints(gt, results, image_ids=image_ids)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    print(json.dumps(stats) if args.json else format_stats(stats))
    return 0
