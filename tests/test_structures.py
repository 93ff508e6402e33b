"""Tests for posekit.structures.Poses (container semantics and JSON writers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.evaluation import WHOLEBODY_EVAL_PARTS, WHOLEBODY_FIELDS, evaluate_wholebody
from posekit.schema import COCO17, COCO_WHOLEBODY, WHOLEBODY_PARTS, KeypointSchema
from posekit.structures import OPENPOSE_FACE_POINTS, Poses

import testdata

K = 17
COCO17_NAMES = COCO17.keypoints


def make_poses(n: int = 4, track_ids=None) -> Poses:
    i = np.arange(n, dtype=np.float64)
    boxes = np.stack([10 * i, 20 * i, 10 * i + 30, 20 * i + 60], axis=1)
    kp = np.zeros((n, K, 2))
    kp[..., 0] = 10 * i[:, None] + np.arange(K)[None] * 0.5
    kp[..., 1] = 20 * i[:, None] + np.arange(K)[None] * 1.25
    ks = np.tile(np.linspace(0.1, 0.9, K), (n, 1)) + 0.01 * i[:, None]
    return Poses(boxes, 0.5 + 0.1 * i, kp, ks, 1.0 + i, track_ids=track_ids)


def test_construction_normalises_dtypes_and_shapes():
    p = make_poses(3)
    assert len(p) == 3
    assert p.boxes.dtype == np.float32 and p.boxes.shape == (3, 4)
    assert p.keypoints.dtype == np.float32 and p.keypoints.shape == (3, K, 2)
    assert p.keypoint_scores.shape == (3, K) and p.scores.shape == (3,) and p.box_scores.shape == (3,)
    assert p.track_ids.dtype == np.int64
    np.testing.assert_array_equal(p.track_ids, [-1, -1, -1])


def test_empty():
    e = Poses.empty()
    assert len(e) == 0 and e.keypoints.shape == (0, K, 2) and e.boxes.shape == (0, 4)
    assert e.to_coco(1) == [] and e.to_alphapose("a.jpg") == []


@pytest.mark.parametrize(
    "index, expected",
    [
        (2, [2]),
        (np.int64(1), [1]),
        (slice(1, 3), [1, 2]),
        (slice(None, None, -1), [3, 2, 1, 0]),
        (np.array([True, False, False, True]), [0, 3]),
        (np.array([3, 0]), [3, 0]),
        ([1, 1], [1, 1]),
    ],
)
def test_indexing(index, expected):
    p = make_poses(4, track_ids=[7, 8, 9, 10])
    q = p[index]
    assert isinstance(q, Poses) and len(q) == len(expected)
    np.testing.assert_array_equal(q.scores, 1.0 + np.array(expected))
    np.testing.assert_array_equal(q.track_ids, 7 + np.array(expected))
    np.testing.assert_array_equal(q.keypoints, p.keypoints[expected])
    np.testing.assert_array_equal(q.keypoint_scores, p.keypoint_scores[expected])
    np.testing.assert_array_equal(q.boxes, p.boxes[expected])
    np.testing.assert_array_equal(q.box_scores, p.box_scores[expected])
    assert q.schema is p.schema


def test_concat():
    p = make_poses(4, track_ids=[1, 2, 3, 4])
    c = Poses.concat([p[:1], Poses.empty(), p[2:]])
    assert len(c) == 3
    np.testing.assert_array_equal(c.track_ids, [1, 3, 4])
    np.testing.assert_array_equal(c.keypoints, p.keypoints[[0, 2, 3]])
    assert len(Poses.concat([])) == 0


def test_concat_rejects_mixed_schemas():
    other = KeypointSchema("two", ("a", "b"), ((0, 1),), ((0, 1),), (0.1, 0.1))
    q = Poses(np.zeros((1, 4)), [1.0], np.zeros((1, 2, 2)), np.ones((1, 2)), [1.0], schema=other)
    with pytest.raises(ValueError, match="schema"):
        Poses.concat([make_poses(1), q])


def test_replace_returns_copy():
    p = make_poses(2)
    q = p.replace(track_ids=np.array([5, 6]))
    np.testing.assert_array_equal(q.track_ids, [5, 6])
    np.testing.assert_array_equal(p.track_ids, [-1, -1])


def test_to_coco_format():
    p = make_poses(2, track_ids=[-1, 4])
    out = p.to_coco(image_id=885)
    json.dumps(out)  # plain JSON types only
    assert len(out) == 2
    a, b = out
    assert set(a) == {"image_id", "category_id", "keypoints", "score"}
    assert "bbox" not in b and b["track_id"] == 4
    assert a["image_id"] == 885 and a["category_id"] == 1
    assert len(a["keypoints"]) == 3 * K
    kp = np.array(b["keypoints"]).reshape(K, 3)
    np.testing.assert_allclose(kp[:, :2], p.keypoints[1], atol=0.005)
    np.testing.assert_allclose(kp[:, 2], p.keypoint_scores[1], atol=0.005)
    # by hand: person 1, keypoint 3 is (10 + 1.5, 20 + 3.75), score 0.1 + 3 * 0.05 + 0.01
    assert list(kp[3]) == pytest.approx([11.5, 23.75, 0.26])
    assert b["score"] == pytest.approx(2.0)


def test_to_alphapose_format():
    p = make_poses(2, track_ids=[-1, 4])
    out = p.to_alphapose("000000000885.jpg")
    json.dumps(out)
    a, b = out
    assert a["image_id"] == "000000000885.jpg" and a["category_id"] == 1
    assert "idx" not in a and b["idx"] == 4
    assert b["box"] == pytest.approx([10.0, 20.0, 30.0, 60.0])  # xywh
    assert len(a["keypoints"]) == 3 * K
    assert a["score"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- COCO-WholeBody (133 keypoints)

WB = COCO_WHOLEBODY.num_keypoints
WB_GT = testdata.DATA / "keypoint-sets" / "coco" / "test_coco_wholebody.json"


def make_wholebody(n: int = 2, track_ids=None) -> Poses:
    i = np.arange(n, dtype=np.float64)
    kp = np.zeros((n, WB, 2))
    kp[..., 0] = 100 * i[:, None] + np.arange(WB)[None] * 0.5
    kp[..., 1] = 50 * i[:, None] + np.arange(WB)[None] * 0.25
    ks = np.tile(np.linspace(0.1, 0.9, WB), (n, 1)) + 0.01 * i[:, None]
    boxes = np.stack([100 * i, 50 * i, 100 * i + 70, 50 * i + 40], axis=1)
    return Poses(boxes, 0.5 + 0.1 * i, kp, ks, 1.0 + i, track_ids=track_ids, schema=COCO_WHOLEBODY)


def test_coco17_writers_are_unchanged():
    """Whole-body support leaves the COCO-17 outputs as they were: keys, order, lengths."""
    p = make_poses(1, track_ids=[3])
    (item,) = p.to_coco(7)
    assert list(item) == ["image_id", "category_id", "keypoints", "score", "track_id"]
    (person,) = p.to_openpose()["people"]
    assert [len(person[k]) for k in ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                                     "hand_right_keypoints_2d")] == [54, 0, 0, 0]


def test_wholebody_to_coco_writes_the_five_part_fields():
    p = make_wholebody(2, track_ids=[-1, 5])
    out = p.to_coco(image_id=785)
    json.dumps(out)
    a, b = out
    assert list(a) == ["image_id", "category_id", *WHOLEBODY_FIELDS.values(), "score"]
    assert a["image_id"] == 785 and a["category_id"] == 1 and b["track_id"] == 5
    for part, field in WHOLEBODY_FIELDS.items():
        lo, hi = WHOLEBODY_PARTS[part]
        assert len(a[field]) == 3 * (hi - lo)
        kp = np.array(b[field]).reshape(-1, 3)
        np.testing.assert_allclose(kp[:, :2], p.keypoints[1, lo:hi], atol=0.005)
        np.testing.assert_allclose(kp[:, 2], p.keypoint_scores[1, lo:hi], atol=0.005)
    assert [len(a[f]) for f in WHOLEBODY_FIELDS.values()] == [51, 18, 204, 63, 63]
    # by hand: person 1, keypoint 100 (left hand, index 9 of the hand) is (100 + 50, 50 + 25)
    assert np.array(b["lefthand_kpts"]).reshape(21, 3)[9, :2].tolist() == pytest.approx([150.0, 75.0])
    assert b["score"] == pytest.approx(2.0)


def test_wholebody_to_openpose_adds_face_and_hands():
    p = make_wholebody(1, track_ids=[2])
    (person,) = p.to_openpose()["people"]
    json.dumps(person)
    assert len(person["pose_keypoints_2d"]) == 3 * 18  # COCO-18 body with the neck, as for COCO-17
    assert len(person["face_keypoints_2d"]) == 3 * OPENPOSE_FACE_POINTS == 3 * 70
    assert len(person["hand_left_keypoints_2d"]) == len(person["hand_right_keypoints_2d"]) == 3 * 21
    body = make_poses(1, track_ids=[2]).replace(
        keypoints=p.keypoints[:, :17], keypoint_scores=p.keypoint_scores[:, :17]
    )
    assert person["pose_keypoints_2d"] == body.to_openpose()["people"][0]["pose_keypoints_2d"]
    face = np.array(person["face_keypoints_2d"]).reshape(70, 3)
    lo, hi = WHOLEBODY_PARTS["face"]
    np.testing.assert_allclose(face[:68, :2], p.keypoints[0, lo:hi], atol=0.005)
    np.testing.assert_allclose(face[:68, 2], p.keypoint_scores[0, lo:hi], atol=0.005)
    assert face[68:].tolist() == [[0.0, 0.0, 0.0]] * 2  # the pupils: not in COCO-WholeBody
    for key, part in (("hand_left_keypoints_2d", "lefthand"), ("hand_right_keypoints_2d", "righthand")):
        lo, hi = WHOLEBODY_PARTS[part]
        hand = np.array(person[key]).reshape(21, 3)
        np.testing.assert_allclose(hand[:, :2], p.keypoints[0, lo:hi], atol=0.005)


def test_openpose_refuses_other_schemas():
    other = KeypointSchema("two", ("a", "b"), ((0, 1),), ((0, 1),), (0.1, 0.1))
    q = Poses(np.zeros((1, 4)), [1.0], np.zeros((1, 2, 2)), np.ones((1, 2)), [1.0], schema=other)
    with pytest.raises(ValueError, match="OpenPose"):
        q.to_openpose()


def test_wholebody_alphapose_rows_and_record():
    p = make_wholebody(2)
    assert [len(item["keypoints"]) for item in p.to_alphapose("a.jpg")] == [3 * WB] * 2
    rows = p.to_rows()
    assert np.asarray(rows["keypoints"]).shape == (2, WB, 3)
    q = Poses.from_record(json.loads(json.dumps(p.to_record())))
    assert q.schema is COCO_WHOLEBODY
    np.testing.assert_array_equal(q.keypoints, p.keypoints)


def test_wholebody_to_coco_round_trips_through_the_evaluator():
    """Ground-truth people as Poses -> to_coco -> evaluate_wholebody: every part scores 1."""
    gt = json.loads(WB_GT.read_text())
    results = []
    for image in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
        kp = np.stack([
            np.concatenate([np.asarray(a[f], np.float64).reshape(-1, 3) for f in WHOLEBODY_FIELDS.values()])
            for a in anns
        ])
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        scores = (kp[..., 2] > 0).astype(np.float32)  # unlabelled keypoints: score 0, not predicted
        poses = Poses(boxes, np.ones(len(anns)), kp[..., :2], scores, np.ones(len(anns)), schema=COCO_WHOLEBODY)
        results.extend(poses.to_coco(image["id"]))
    stats = evaluate_wholebody(gt, json.loads(json.dumps(results)))
    assert list(stats) == list(WHOLEBODY_EVAL_PARTS)
    for part, values in stats.items():
        assert values["AP"] == pytest.approx(1.0) and values["AR"] == pytest.approx(1.0), part


def test_writers_follow_schema_data_not_the_name():
    """A renamed copy of the whole-body layout writes the same COCO parts and OpenPose face / hands."""
    import dataclasses

    p = make_wholebody(2, track_ids=[-1, 5])
    renamed = p.replace(schema=dataclasses.replace(COCO_WHOLEBODY, name="my_wholebody"))
    assert renamed.to_coco(3) == p.to_coco(3)
    assert renamed.to_openpose() == p.to_openpose()
    # the flat option writes the same numbers, all K in ``keypoints``
    flat = p.to_coco(3, flat=True)
    assert [list(item) for item in flat] == [["image_id", "category_id", "keypoints", "score"],
                                             ["image_id", "category_id", "keypoints", "score", "track_id"]]
    for a, b in zip(flat, p.to_coco(3)):
        assert a["keypoints"] == [v for f in WHOLEBODY_FIELDS.values() for v in b[f]]
    # a COCO-17 body first is all OpenPose needs
    body = KeypointSchema("body_only", COCO17_NAMES, (), (), (0.1,) * 17)
    q = make_poses(1).replace(schema=body)
    assert q.to_openpose() == make_poses(1).to_openpose()
