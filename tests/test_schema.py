"""Tests for posekit.schema (keypoint layouts)."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.schema import COCO17, KeypointSchema, get_schema


def test_coco17_sizes():
    assert COCO17.num_keypoints == 17
    assert len(COCO17.sigmas) == 17 and COCO17.sigmas_array().shape == (17,)
    assert len(COCO17.skeleton) == 19
    assert len(COCO17.colors) == len(COCO17.skeleton)
    assert COCO17.keypoints[0] == "nose" and COCO17.keypoints[16] == "right_ankle"


def test_coco17_flip_index_is_an_involution():
    perm = COCO17.flip_index()
    assert sorted(perm) == list(range(17))
    np.testing.assert_array_equal(perm[perm], np.arange(17))
    assert perm[0] == 0  # nose maps to itself


def test_coco17_flip_index_matches_names():
    perm = COCO17.flip_index()
    for i, name in enumerate(COCO17.keypoints):
        mirror = COCO17.keypoints[perm[i]]
        if name.startswith("left_"):
            assert mirror == "right_" + name[5:]
        elif name.startswith("right_"):
            assert mirror == "left_" + name[6:]
        else:
            assert mirror == name


def test_coco17_sigmas_are_cocoeval_values():
    s = COCO17.sigmas_array()
    assert s[COCO17.index("nose")] == pytest.approx(0.026)
    assert s[COCO17.index("left_hip")] == pytest.approx(0.107)
    np.testing.assert_allclose(s[1::2][:8], s[2::2][:8])  # left / right pairs share sigmas


def test_coco17_skeleton_joins_named_limbs():
    named = {frozenset((COCO17.keypoints[a], COCO17.keypoints[b])) for a, b in COCO17.skeleton}
    assert frozenset(("left_ankle", "left_knee")) in named
    assert frozenset(("right_shoulder", "right_elbow")) in named
    assert frozenset(("left_hip", "right_hip")) in named


def test_index_and_get_schema_errors():
    assert COCO17.index("left_wrist") == 9
    with pytest.raises(KeyError, match="tail"):
        COCO17.index("tail")
    assert get_schema("coco17") is COCO17
    with pytest.raises(KeyError, match="coco17"):
        get_schema("mpii")


def test_schema_validation():
    with pytest.raises(ValueError, match="sigmas"):
        KeypointSchema("x", ("a", "b"), (), (), (0.1,))
    with pytest.raises(ValueError, match="out of range"):
        KeypointSchema("x", ("a", "b"), ((0, 2),), (), (0.1, 0.1))
    with pytest.raises(ValueError, match="colours"):
        KeypointSchema("x", ("a", "b"), (), ((0, 1),), (0.1, 0.1), colors=((1, 2, 3), (4, 5, 6)))
    with pytest.raises(ValueError, match="head index out of range"):
        KeypointSchema("x", ("a", "b"), (), (), (0.1, 0.1), head=(2,))


def test_coco17_head_is_the_face_keypoints():
    assert [COCO17.keypoints[i] for i in COCO17.head] == ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
