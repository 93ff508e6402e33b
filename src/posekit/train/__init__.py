"""Training posekit pose networks: HRNet-style heatmap regression on COCO-format data.

Quick start::

    from posekit.train import load_config, train
    cfg = load_config("configs/hrnet_w32_256x192_coco.yaml", ["train.epochs=10"])
    summary = train(cfg)          # writes last.pth, best.pth, log.csv in cfg.train.output_dir

Modules: :mod:`~posekit.train.config` (typed config, YAML, overrides),
:mod:`~posekit.train.dataset` (COCO persons, training / validation crops),
:mod:`~posekit.train.augment` (HRNet augmentation as one affine map),
:mod:`~posekit.train.targets`, :mod:`~posekit.train.loss`,
:mod:`~posekit.train.trainer`, :mod:`~posekit.train.validation`,
:mod:`~posekit.train.distributed`, :mod:`~posekit.train.visualize`.
Names are imported on first use, so ``import posekit.train`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TrainConfig",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "KeypointDataset",
    "PersonCropDataset",
    "PersonRecord",
    "load_coco_persons",
    "load_detection_persons",
    "subset_coco",
    "augment_person",
    "make_targets",
    "JointsMSELoss",
    "JointsOHKMMSELoss",
    "Trainer",
    "TrainSummary",
    "train",
    "validate",
    "render_sample",
]

_LAZY = {
    "TrainConfig": ".config",
    "ConfigError": ".config",
    "load_config": ".config",
    "config_from_dict": ".config",
    "config_to_dict": ".config",
    "KeypointDataset": ".dataset",
    "PersonCropDataset": ".dataset",
    "PersonRecord": ".dataset",
    "load_coco_persons": ".dataset",
    "load_detection_persons": ".dataset",
    "subset_coco": ".dataset",
    "augment_person": ".augment",
    "make_targets": ".targets",
    "JointsMSELoss": ".loss",
    "JointsOHKMMSELoss": ".loss",
    "Trainer": ".trainer",
    "TrainSummary": ".trainer",
    "train": ".trainer",
    "validate": ".validation",
    "render_sample": ".visualize",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
