"""Tests for posekit.structures.Poses (container semantics and JSON writers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.schema import KeypointSchema
from posekit.structures import Poses

K = 17


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
