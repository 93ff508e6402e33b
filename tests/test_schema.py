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


def test_wholebody_parts_are_schema_data():
    from posekit.schema import COCO_WHOLEBODY, WHOLEBODY_PARTS, SchemaPart

    assert [(p.name, p.start, p.stop, p.coco_field) for p in COCO_WHOLEBODY.parts] == [
        ("body", 0, 17, "keypoints"), ("foot", 17, 23, "foot_kpts"), ("face", 23, 91, "face_kpts"),
        ("lefthand", 91, 112, "lefthand_kpts"), ("righthand", 112, 133, "righthand_kpts"),
    ]
    assert WHOLEBODY_PARTS == {p.name: (p.start, p.stop) for p in COCO_WHOLEBODY.parts}
    assert COCO_WHOLEBODY.coco_fields == ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")
    assert COCO17.coco_fields == ("keypoints",) and COCO17.parts == () and not COCO17.fine_mask().any()
    fine = COCO_WHOLEBODY.fine_mask()
    assert fine.shape == (133,) and not fine[:23].any() and fine[23:].all()
    assert COCO_WHOLEBODY.part("face") == SchemaPart("face", 23, 91, "face_kpts")
    with pytest.raises(KeyError, match="tail"):
        COCO_WHOLEBODY.part("tail")


def test_split_and_join_coco_are_inverse():
    from posekit.schema import COCO_WHOLEBODY

    flat = list(range(3 * 133))
    split = COCO_WHOLEBODY.split_coco(flat)
    assert list(split) == list(COCO_WHOLEBODY.coco_fields)
    assert [len(v) for v in split.values()] == [51, 18, 204, 63, 63]
    assert split["foot_kpts"] == flat[51:69]
    assert COCO_WHOLEBODY.join_coco(split) == flat
    assert COCO_WHOLEBODY.join_coco({"keypoints": flat}) == flat  # already flat
    assert COCO17.split_coco(flat[:51]) == {"keypoints": flat[:51]}
    assert COCO17.join_coco({"keypoints": flat[:51]}) == flat[:51]
    with pytest.raises(ValueError, match="51 numbers"):
        COCO_WHOLEBODY.split_coco(flat[:51])
    with pytest.raises(ValueError, match="foot_kpts"):
        COCO_WHOLEBODY.join_coco({"keypoints": flat[:51]})


def test_parts_validation():
    from posekit.schema import SchemaPart

    base = dict(name="x", keypoints=("a", "b", "c"), flip_pairs=(), skeleton=(), sigmas=(0.1,) * 3)
    KeypointSchema(**base, parts=(SchemaPart("p", 0, 1, "keypoints"), SchemaPart("q", 1, 3, "q_kpts")))
    for parts in (
        (SchemaPart("p", 0, 1, "keypoints"), SchemaPart("q", 2, 3, "q_kpts")),  # gap
        (SchemaPart("p", 0, 1, "keypoints"),),  # does not reach K
        (SchemaPart("p", 0, 2, "keypoints"), SchemaPart("q", 2, 2, "q_kpts"), SchemaPart("r", 2, 3, "r")),  # empty
    ):
        with pytest.raises(ValueError, match="cover"):
            KeypointSchema(**base, parts=parts)
    with pytest.raises(ValueError, match="fields repeat"):
        KeypointSchema(**base, parts=(SchemaPart("p", 0, 1, "k"), SchemaPart("q", 1, 3, "k")))
    with pytest.raises(ValueError, match="fine index out of range"):
        KeypointSchema(**base, fine=(3,))


def test_schema_for_keypoints():
    from posekit.schema import COCO_WHOLEBODY, schema_for_keypoints

    assert schema_for_keypoints(17) is COCO17
    assert schema_for_keypoints(133) is COCO_WHOLEBODY
    with pytest.raises(KeyError, match=r"\[17, 133\]"):
        schema_for_keypoints(26)
