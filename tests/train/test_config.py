"""Typed config: YAML, dotted overrides, rejection of unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from posekit.train.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]


def test_hrnet_defaults() -> None:
    cfg = TrainConfig()
    o = cfg.optim
    assert (o.optimizer, o.lr, o.lr_steps, o.lr_factor) == ("adam", 1e-3, (170, 200), 0.1)
    assert cfg.train.epochs == 210 and cfg.train.batch_size == 32
    a = cfg.augment
    assert (a.scale_factor, a.rotation_factor, a.rotation_prob) == (0.35, 45.0, 0.6)
    assert (a.flip_prob, a.half_body_prob) == (0.5, 0.3)
    assert (a.half_body_num_joints, a.half_body_scale, cfg.data.sigma) == (8, 1.5, 2.0)
    assert cfg.val.flip and cfg.val.oks_nms_threshold == 0.9 and cfg.val.in_vis_threshold == 0.2


@pytest.mark.parametrize(
    "name, model, loss",
    [("hrnet_w32_256x192_coco.yaml", "hrnet_w32_256x192", "mse"), ("tiny_hrnet_coco_dev.yaml", "hrnet_w32_256x192", "mse"),
     ("rtmpose_m_coco_finetune.yaml", "rtmpose_m_256x192", "kl")],
)
def test_shipped_configs_load(name: str, model: str, loss: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert cfg.model.name == model and cfg.loss.type == loss


def test_overrides_are_typed() -> None:
    cfg = load_config(None, [
        "optim.lr=1e-3", "optim.lr_steps=5,8", "train.epochs=3", "val.flip=false",
        "model.input_size=[96, 128]", "model.args.width=16", "data.joint_weights=null", "val.decode=dark",
    ])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.lr_steps == (5, 8)
    assert cfg.train.epochs == 3 and cfg.val.flip is False
    assert cfg.model.input_size == (96, 128) and cfg.model.args == {"width": 16}
    assert cfg.val.decode == "dark"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'; valid keys in 'optim': optimizer, lr,"),
        ("trian.epochs=1", "unknown config key 'trian'; valid keys at the top level: model, data,"),
        ("train.epochs=two", "train.epochs: expected an integer"),
        ("train.epochs.x=1", "has no sub-keys"),
        ("loss.type=l1", "loss.type must be 'mse', 'ohkm' or 'kl'"),
        ("val.decode=best", "val.decode must be one of"),
        ("epochs", "must look like key.sub=value"),
    ],
)
def test_bad_overrides_are_rejected(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)


def test_unknown_yaml_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 2\n  bacth_size: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "bad.yaml" in str(err.value) and "'train.bacth_size'" in str(err.value) and "batch_size" in str(err.value)


def test_dump_roundtrip(tmp_path: Path) -> None:
    weights = "data.joint_weights=[1,1,1,1,1,1,1,1.2,1.2,1.5,1.5,1,1,1.2,1.2,1.5,1.5]"
    cfg = load_config(None, ["model.input_size=96,128", weights])
    dump_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_train_cli_print_config_and_bad_key(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    from posekit.cli.train import main

    config = str(REPO / "configs" / "tiny_hrnet_coco_dev.yaml")
    assert main([config, "optim.lr=1e-4", "--set", "train.epochs=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0001" in out and "epochs: 3" in out
    assert main([config, "optim.learning_rate=1"]) == 2
    assert "unknown config key 'optim.learning_rate'" in caplog.text
