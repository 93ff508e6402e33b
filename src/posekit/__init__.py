"""posekit: CPU-first multi-person 2D human pose estimation."""

__version__ = "0.1.0"
