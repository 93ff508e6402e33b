"""PyTorch networks of posekit, state_dict-compatible with the official checkpoints.

The registry functions (:func:`list_models`, :func:`get_pretrained_config`)
work without torch; network classes and :func:`create_model`'s result need it.
Network classes are imported lazily on first attribute access::

    from posekit.models import create_model
    net = create_model("hrnet_w32_256x192", checkpoint="pose_hrnet_w32_256x192.pth")
"""

from __future__ import annotations

import importlib
from typing import Any

from .registry import PretrainedConfig, create_model, get_pretrained_config, list_models

__all__ = [
    "PretrainedConfig",
    "create_model",
    "get_pretrained_config",
    "list_models",
    "FastPose",
    "FastPoseDUC",
    "PoseHighResolutionNet",
    "PoseResNet",
    "ResNet",
    "RTMPose",
    "load_checkpoint",
    "CheckpointError",
]

_LAZY = {
    "FastPose": ".fastpose",
    "FastPoseDUC": ".fastpose",
    "PoseHighResolutionNet": ".hrnet",
    "PoseResNet": ".simplebaseline",
    "ResNet": ".resnet",
    "RTMPose": ".rtmpose",
    "load_checkpoint": ".checkpoint",
    "CheckpointError": ".checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
