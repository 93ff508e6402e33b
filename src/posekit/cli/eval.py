"""``posekit eval``: score COCO keypoint results against ground truth (the ten COCO stats)."""

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
               "Computed by posekit's own evaluator, identical to pycocotools' COCOeval.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", help="COCO keypoint results JSON (e.g. OUT/results.json from 'posekit predict')")
    p.add_argument("--gt", required=True, help="COCO person-keypoint ground-truth JSON")
    p.add_argument("--json", action="store_true", help="print the stats as one JSON object")
    p.add_argument("--multi-person", action="store_true",
                   help="evaluate only images with more than one labelled person")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.evaluation import evaluate_keypoints, format_stats, load_coco_json, multi_person_image_ids

    try:
        gt = load_coco_json(args.gt)
        with open(args.results, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    image_ids = multi_person_image_ids(gt) if args.multi_person else None
    try:
        stats = evaluate_keypoints(gt, results, image_ids=image_ids)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    print(json.dumps(stats) if args.json else format_stats(stats))
    return 0
