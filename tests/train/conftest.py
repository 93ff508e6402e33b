"""Fixtures of the training tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dev_gt(coco_dev: Path) -> dict[str, Any]:
    """The coco-val-dev person keypoint annotations."""
    return json.loads((coco_dev / "person_keypoints.json").read_text())
