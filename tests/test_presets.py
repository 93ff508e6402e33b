"""Tests for posekit.presets and their use by PoseEstimator and the CLI."""

from __future__ import annotations

import pytest

from posekit import catalog
from posekit.presets import DEFAULT_PRESET, PRESETS, get_preset


def test_presets_name_catalogue_models():
    assert set(PRESETS) == {"fast", "balanced", "accurate", "movenet"}
    assert DEFAULT_PRESET == "balanced"
    for p in PRESETS.values():
        assert catalog.get(p.detector).task == "detection"
        assert catalog.get(p.pose_model).task == "pose"
    movenet = get_preset("movenet")  # the previous default, unchanged
    assert (movenet.detector, movenet.pose_model, movenet.flip_test) == ("yolox_nano", "movenet_thunder", True)
    with pytest.raises(ValueError, match="balanced"):
        get_preset("turbo")


def test_estimator_takes_the_preset_and_explicit_options_win(models_dir):
    from posekit.pipeline import PoseEstimator

    default = PoseEstimator(models_dir=models_dir, num_threads=1)
    balanced = get_preset("balanced")
    assert default.preset == "balanced"
    assert default.flip_test == balanced.flip_test and default.spec == catalog.get(balanced.pose_model).spec
    assert default.crop_budget.min_score == balanced.min_box_score
    assert default.crop_budget.max_crops == balanced.max_crops
    fast = PoseEstimator.from_preset("fast", models_dir=models_dir, num_threads=1, flip_test=True)
    assert fast.flip_test is True and fast.spec.input_size == catalog.get("pp_tinypose_128x96").spec.input_size
    movenet = PoseEstimator.from_preset("movenet", models_dir=models_dir, num_threads=1)
    assert movenet.spec.output == "keypoints" and movenet.flip_test


def test_cli_preset_and_overrides(models_dir):
    from posekit.cli import build_parser
    from posekit.cli.predict import estimator_from_args

    parser = build_parser()
    args = parser.parse_args(["predict", "x.jpg", "--models-dir", str(models_dir), "--threads", "1"])
    est = estimator_from_args(args)
    assert est.preset == DEFAULT_PRESET
    args = parser.parse_args(["predict", "x.jpg", "--preset", "fast", "--max-crops", "3", "--flip",
                              "--models-dir", str(models_dir), "--threads", "1"])
    est = estimator_from_args(args)
    assert est.preset == "fast" and est.crop_budget.max_crops == 3 and est.flip_test is True


def test_presets_command_lists_every_preset(capsys):
    from posekit.cli import main

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
