"""Fixtures of the training tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def coco_gt(coco_subset: Path) -> dict[str, Any]:
    """The person keypoint annotations of the repository's COCO images (``tests/data/coco``)."""
    return json.loads((coco_subset / "person_keypoints.json").read_text())
