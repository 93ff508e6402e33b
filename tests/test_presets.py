"""Tests for posekit.presets and their use by PoseEstimator and the CLI."""

from __future__ import annotations

import pytest

from posekit import catalog
from posekit.presets import DEFAULT_PRESET, PRESETS, get_preset


def test_presets_name_catalogue_models():
    assert set(PRESETS) == {"fast", "balanced", "accurate", "movenet", "rtmpose-m", "rtmpose-l", "wholebody", "crowd"}
    assert DEFAULT_PRESET == "balanced"
    for p in PRESETS.values():
        if p.detector is None:  # a one-stage pose model needs no detector
            assert catalog.get(p.pose_model).task == "one_stage"
            continue
        assert catalog.get(p.detector).task == "detection"
        assert catalog.get(p.pose_model).task == "pose"
    movenet = get_preset("movenet")  # the previous default, unchanged
    assert (movenet.detector, movenet.pose_model, movenet.flip_test) == ("yolox_nano", "movenet_thunder", True)
    with pytest.raises(ValueError, match="balanced"):
        get_preset("turbo")


def test_estimator_takes_the_preset_and_explicit_options_win(contract_catalog):
    from posekit.pipeline import PoseEstimator

    models_dir = contract_catalog  # the packaged files, and synthetic stand-ins for YOLOX-nano and MoveNet
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


def test_cli_preset_and_overrides(tmp_path):
    from posekit.cli import build_parser
    from posekit.cli.predict import estimator_from_args

    models_dir = tmp_path  # an empty folder of the user's: the presets' files come from the package
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


def test_rtmpose_presets_pair_yolox_m_with_the_official_onnx_files():
    for name, pose, keypoints in (("rtmpose-m", "rtmpose_m_256x192_onnx", 17), ("rtmpose-l", "rtmpose_l_256x192_onnx", 17),
                                  ("wholebody", "rtmw_l_256x192_onnx", 133)):
        preset = get_preset(name)
        assert preset.detector == "yolox_m_humanart" and preset.pose_model == pose
        entry = catalog.get(pose)
        assert entry.runtime == "onnx" and entry.spec.output == "simcc" and entry.spec.num_keypoints == keypoints
        assert entry.file.archive_member == "end2end.onnx" and preset.dev_ap is None  # not measured here
