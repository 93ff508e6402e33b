"""posekit: CPU-first multi-person 2D human pose estimation.

Top-level names are imported lazily, so ``import posekit`` stays cheap and
never imports torch; ``posekit.create_model`` needs the ``[torch]`` extra.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "PoseEstimator": "posekit.pipeline",
    "Poses": "posekit.structures",
    "KeypointSchema": "posekit.schema",
    "COCO17": "posekit.schema",
    "PoseModelSpec": "posekit.spec",
    "draw_poses": "posekit.draw",
    "read_image": "posekit.io",
    "evaluate_keypoints": "posekit.evaluation",
    "create_model": "posekit.models.registry",
    "list_models": "posekit.models.registry",
    "get_pretrained_config": "posekit.models.registry",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'posekit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
