"""Single-person pose models: the spec (contract) and runtime adapters."""

from posekit.pose.spec import CropConfig, PoseModelSpec

__all__ = ["CropConfig", "PoseModelSpec"]
