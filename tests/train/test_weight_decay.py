"""optim.no_decay_norm_bias: MMPose's RTMPose parameter groups (norm_decay_mult=0, bias_decay_mult=0)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from posekit.models import create_model
from posekit.train.config import config_from_dict, load_config
from posekit.train.distributed import DistContext
from posekit.train.trainer import Trainer, decay_param_groups

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class _Custom(nn.Module):
    """1-D parameters that are neither a norm layer's nor called ``bias``: they decay (as in mmengine)."""

    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(1))
        self.gamma = nn.Parameter(torch.ones(2, 4))
        self.beta = nn.Parameter(torch.zeros(2, 4))
        self.scale = nn.Parameter(torch.ones(4))


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)  # weight decays, bias does not
        self.bn = nn.BatchNorm2d(4)  # neither
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)
        self.custom = _Custom()
        self.tied = nn.Linear(4, 4, bias=False)
        self.tied.weight = self.fc.weight  # shared: counted once


def _names(model: nn.Module, params: list[nn.Parameter]) -> set[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {by_id[id(p)] for p in params}


def test_norm_layers_and_biases_do_not_decay() -> None:
    net = _Net()
    decay, no_decay = decay_param_groups(net, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert _names(net, decay["params"]) == {
        "conv.weight", "fc.weight", "custom.g", "custom.gamma", "custom.beta", "custom.scale",
    }
    assert _names(net, no_decay["params"]) == {
        "conv.bias", "bn.weight", "bn.bias", "gn.weight", "gn.bias", "inorm.weight", "inorm.bias",
        "ln.weight", "ln.bias", "fc.bias",
    }
    all_params = decay["params"] + no_decay["params"]
    assert len(all_params) == len({id(p) for p in all_params}) == len(list(net.parameters()))
    (only,) = decay_param_groups(nn.Linear(2, 2, bias=False), 0.1)  # an empty group is left out
    assert only["weight_decay"] == 0.1 and len(only["params"]) == 1


def test_rtmpose_groups() -> None:
    """RTMPose-t: BatchNorm weights and biases and the head's conv bias are undecayed; ScaleNorm's g, the GAU's
    gamma / beta and the Scale layers decay."""
    net = create_model("rtmpose_t_256x192", input_size=(96, 128))
    decay, no_decay = (_names(net, g["params"]) for g in decay_param_groups(net, 0.05))
    bn = {f"{n}.{p}" for n, m in net.named_modules() if isinstance(m, nn.BatchNorm2d) for p in ("weight", "bias")}
    assert bn and bn <= no_decay
    assert "head.final_layer.bias" in no_decay and "head.final_layer.weight" in decay
    assert {"head.mlp.0.g", "head.gau.gamma", "head.gau.beta"} <= decay
    assert any(n.endswith("res_scale.scale") for n in decay)
    assert all(n in bn or n.endswith(".bias") for n in no_decay)


def test_the_option_builds_the_groups_and_the_rtmpose_config_turns_it_on() -> None:
    assert load_config(str(CONFIGS / "rtmpose_m_coco_finetune.yaml"), []).optim.no_decay_norm_bias is True
    for name in ("hrnet_w32_256x192_coco.yaml", "tiny_hrnet_coco_dev.yaml"):
        assert load_config(str(CONFIGS / name), []).optim.no_decay_norm_bias is False
    net = _Net()
    for flag, groups in ((False, [0.05]), (True, [0.05, 0.0])):
        cfg = config_from_dict({"optim": {"optimizer": "adamw", "weight_decay": 0.05, "no_decay_norm_bias": flag}})
        optimizer = Trainer(cfg, DistContext())._optimizer(net)
        assert [g["weight_decay"] for g in optimizer.param_groups] == groups
        assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(net.parameters()))
