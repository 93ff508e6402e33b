"""Helpers of the training tests: small COCO subsets of the test COCO images and tiny configs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from posekit.train.dataset import subset_coco

#: A small HRNet (0.5 M parameters, ~0.56 GFLOP at 128x96) built by the registry's HRNet builder.
TINY_HRNET = {"name": "hrnet_w32_256x192", "args": {"width": 8, "num_modules": [1, 1, 1], "num_blocks": 1}}


def single_person_images(gt: dict[str, Any], n: int, min_keypoints: int = 12) -> list[int]:
    """Ids of the first ``n`` images holding exactly one annotation: a person with many keypoints."""
    per_image = Counter(a["image_id"] for a in gt["annotations"])
    ids = [
        a["image_id"]
        for a in gt["annotations"]
        if per_image[a["image_id"]] == 1 and not a["iscrowd"] and a["num_keypoints"] >= min_keypoints
    ]
    if len(ids) < n:
        raise RuntimeError(f"the ground truth has only {len(ids)} suitable single-person images")
    return ids[:n]


def write_subset(gt: dict[str, Any], n: int, path: Path) -> Path:
    path.write_text(json.dumps(subset_coco(gt, single_person_images(gt, n))))
    return path


def tiny_config(json_path: Path, images: Path, out: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """Plain config data for a fast run on ``json_path`` (train and val); ``sections`` update it."""
    raw: dict[str, Any] = {
        "model": {**TINY_HRNET, "input_size": [64, 96]},
        "data": {
            "train_json": str(json_path), "train_images": str(images),
            "val_json": str(json_path), "val_images": str(images),
        },
        "train": {
            "epochs": 1, "batch_size": 2, "workers": 0, "output_dir": str(out), "progress": False, "log_interval": 0,
            "threads": 1,  # one thread: robust on a busy machine, and resume equality needs a fixed count
        },
        "val": {"interval": 0, "batch_size": 8},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return raw
