"""Validation of whole-body (133-keypoint) models: COCO-WholeBody ground truth, results and AP."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import testdata
from posekit import catalog
from posekit.evaluation import WHOLEBODY_FIELDS, evaluate_wholebody
from posekit.schema import COCO_WHOLEBODY
from posekit.train.dataset import load_coco_persons
from posekit.train.distributed import DistContext
from posekit.train.validation import Predictions, build_results, evaluate_results, validate

WB_GT = testdata.DATA / "keypoint-sets" / "coco" / "test_coco_wholebody.json"
SPEC = catalog.get("rtmpose_m_wholebody_256x192").spec


@pytest.fixture()
def wholebody(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The COCO-WholeBody test annotations (five part fields) and grey images of their sizes."""
    gt = json.loads(WB_GT.read_text())
    for image in gt["images"]:
        cv2.imwrite(str(tmp_path / image["file_name"]), np.full((image["height"], image["width"], 3), 128, np.uint8))
    return gt, tmp_path


def _flat_gt(gt: dict[str, Any]) -> dict[str, Any]:
    """The same annotations with all 133 triples in ``keypoints`` (no part fields)."""
    flat = copy.deepcopy(gt)
    for ann in flat["annotations"]:
        ann["keypoints"] = [v for f in WHOLEBODY_FIELDS.values() for v in ann.pop(f)]
    return flat


def test_records_read_the_five_part_fields_and_flat_keypoints(wholebody) -> None:
    gt, images = wholebody
    five = load_coco_persons(gt, images, 133, schema=COCO_WHOLEBODY)
    flat = load_coco_persons(_flat_gt(gt), images, 133)
    assert len(five) == len(flat) > 0
    for a, b in zip(five, flat):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visible, b.visible)
    with pytest.raises(ValueError, match="17 keypoints, expected 133"):
        load_coco_persons(gt, images, 133)  # without the schema only ``keypoints`` is read


@pytest.mark.parametrize("layout", ["five_fields", "flat"])
def test_ground_truth_predictions_score_one(wholebody, layout: str) -> None:
    """Predictions at the labelled keypoints -> build_results -> evaluate_results: the whole-body AP is 1,
    for ground truth with the parts in their own fields or all 133 keypoints in ``keypoints``."""
    gt, images = wholebody
    records = load_coco_persons(gt, images, 133, schema=COCO_WHOLEBODY)
    pred = Predictions(
        np.arange(len(records)),
        np.stack([r.keypoints for r in records]),
        np.stack([r.visible for r in records]).astype(np.float64),
    )
    results = build_results(records, pred, SPEC, COCO_WHOLEBODY)
    assert list(results[0]) == ["image_id", "category_id", *WHOLEBODY_FIELDS.values(), "score"]
    stats = evaluate_results(gt if layout == "five_fields" else _flat_gt(gt), results, COCO_WHOLEBODY)
    assert stats == evaluate_wholebody(gt, results)["wholebody"]
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)


class _Zeros(nn.Module):
    """A SimCC network that outputs zero logits: every keypoint scores 0."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wx, hy = SPEC.simcc_bins
        return x.new_zeros(len(x), 133, wx), x.new_zeros(len(x), 133, hy)


def test_validate_a_wholebody_model(wholebody) -> None:
    """The whole validation path of a 133-keypoint model (it raised "expected 399 keypoint numbers" when
    to_coco began writing the five part fields)."""
    gt, images = wholebody
    records = load_coco_persons(gt, images, 133, schema=COCO_WHOLEBODY)
    stats, results = validate(_Zeros(), records, gt, SPEC, COCO_WHOLEBODY, DistContext(), flip=True, batch_size=4)
    assert list(stats) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    assert stats["AP"] == 0.0  # nothing scored: every result is dropped, as xtcocotools drops it
    assert len(results) == len(records) and all("foot_kpts" in r for r in results)


def test_posekit_val_reads_the_five_part_fields(wholebody, tmp_path: Path, capsys) -> None:
    """``posekit val`` on COCO-WholeBody ground truth in its own layout (foot / face / hand fields): the
    records are read through the model's schema (it stopped at "17 keypoints, expected 133" before)."""
    from posekit.cli.val import main as val_main
    from posekit.models import create_model

    gt, images = wholebody
    weights = tmp_path / "wholebody.pth"
    torch.manual_seed(0)
    torch.save(create_model("rtmpose_m_wholebody_256x192").state_dict(), weights)
    code = val_main([str(weights), "val.flip=false", "--model", "rtmpose_m_wholebody_256x192", "--gt", str(WB_GT),
                     "--images", str(images), "--json"])
    assert code == 0
    stats = json.loads(capsys.readouterr().out)
    assert 0.0 <= stats["AP"] <= 1.0 and set(stats) >= {"AP", "AR"}
