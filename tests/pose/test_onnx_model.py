"""Tests for posekit.pose.onnx_model: synthetic networks with the HRNet and MoveNet contracts, and (marked
``shared_data``) the real test-only HRNet-contract file and MoveNet Lightning."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import catalog
from posekit.pose.crop import crop_people
from posekit.pose.decode import decode_outputs
from posekit.pose.onnx_model import SPEC_METADATA_KEY, OnnxPoseModel
from posekit.spec import CropConfig, PoseModelSpec

import testdata

TEST_ONLY = "test-only/ultralight-simplepose-256x192.onnx"
SHARED_PERSON_BOX = np.array([[188.0, 97.0, 276.0, 371.0]])  # the person in the team's samples/person.jpg


@pytest.fixture(scope="module", params=["synthetic", pytest.param("test-only", marks=pytest.mark.shared_data)])
def hrnet_file(request, contract_models) -> Path:
    """An HRNet-contract file with a fixed batch of 1: the synthetic network, or the real test-only one."""
    if request.param == "synthetic":
        return contract_models / testdata.HEATMAP_NET
    return request.getfixturevalue("models_dir") / TEST_ONLY


@pytest.fixture(scope="module")
def hrnet_model(hrnet_file) -> OnnxPoseModel:
    return OnnxPoseModel(hrnet_file, num_threads=1)


# ----------------------------------------------------------------------------- spec


def test_spec_preprocess_default_rgb_imagenet_nchw_by_hand():
    spec = PoseModelSpec(input_size=(3, 2))
    crops = np.zeros((2, 2, 3, 3), np.uint8)
    crops[1, 0, 2] = (10, 20, 30)  # BGR
    x = spec.preprocess(crops)
    assert x.shape == (2, 3, 2, 3) and x.dtype == np.float32 and x.flags.c_contiguous
    expected = [(30 - 123.675) / 58.395, (20 - 116.28) / 57.12, (10 - 103.53) / 57.375]  # R, G, B
    np.testing.assert_allclose(x[1, :, 0, 2], expected, rtol=1e-6)
    np.testing.assert_allclose(x[0, 0, 1, 1], -123.675 / 58.395, rtol=1e-6)


def test_spec_preprocess_movenet_nhwc_int32_raw():
    spec = catalog.get("movenet_lightning").spec
    crops = np.zeros((1, 2, 2, 3), np.uint8)
    crops[0, 1, 0] = (10, 20, 250)
    x = spec.preprocess(crops)
    assert x.shape == (1, 2, 2, 3) and x.dtype == np.int32
    np.testing.assert_array_equal(x[0, 1, 0], [250, 20, 10])


def test_spec_preprocess_bgr_keeps_channel_order():
    spec = PoseModelSpec(input_size=(2, 2), channel_order="BGR", mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0))
    crops = np.full((1, 2, 2, 3), (11, 22, 33), np.uint8)
    np.testing.assert_allclose(spec.preprocess(crops)[0, :, 0, 0], [5.0, 10.0, 15.0])


@pytest.mark.parametrize(
    "spec",
    [
        PoseModelSpec(input_size=(192, 256)),
        PoseModelSpec(input_size=(256, 320), mean=None, std=None, num_keypoints=17, decode="alphapose",
                      crop=CropConfig(mode="alphapose_legacy", legacy_scale_rate=0.3, border_value=0.0)),
        catalog.get("movenet_thunder").spec,
    ],
)
def test_spec_json_roundtrip(spec):
    text = spec.to_json()
    json.loads(text)
    back = PoseModelSpec.from_json(text)
    assert back == spec
    assert isinstance(back.crop, CropConfig) and isinstance(back.input_size, tuple)


# ----------------------------------------------------------------------------- ONNX runtime


def test_hrnet_default_spec_from_test_only_model(hrnet_model):
    spec = hrnet_model.spec
    assert spec.input_size == (192, 256)
    assert spec.layout == "NCHW" and spec.dtype == "float32" and spec.channel_order == "RGB"
    assert spec.output == "heatmaps" and spec.heatmap_stride == 4 and spec.heatmap_offset == 0.0
    assert hrnet_model.fixed_batch  # the file's batch axis is 1


def test_fixed_batch_model_runs_batch_of_3_in_a_loop(hrnet_model):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 256, 192, 3), dtype=np.uint8)
    x = hrnet_model.spec.preprocess(crops)
    out = hrnet_model.run(x)
    assert out.shape == (3, 17, 64, 48) and out.dtype == np.float32
    np.testing.assert_allclose(out[2:], hrnet_model.run(x[2:]), atol=1e-5)
    assert not np.allclose(out[0], out[1])
    assert len(hrnet_model.run(x[:0])) == 0


def test_spec_from_file_metadata(tmp_path, hrnet_file):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(hrnet_file))
    spec = PoseModelSpec(input_size=(192, 256), decode="dark", crop=CropConfig(padding=1.1))
    entry = model.metadata_props.add()
    entry.key, entry.value = SPEC_METADATA_KEY, spec.to_json()
    path = tmp_path / "with_spec.onnx"
    onnx.save(model, str(path))
    assert OnnxPoseModel(path, num_threads=1).spec == spec


@pytest.mark.shared_data
def test_movenet_heatmaps_and_keypoints_outputs_agree(models_dir, shared_dir):
    """The real MoveNet Lightning: its two heads decode to the same keypoints."""
    person_crop = cv2.imread(str(shared_dir / "data" / "samples" / "person.jpg"))
    PERSON_BOX = SHARED_PERSON_BOX
    spec = catalog.get("movenet_lightning").spec.with_(output="heatmaps")
    path = catalog.model_file_path("movenet_lightning", models_dir, verify=False)
    heat = OnnxPoseModel(path, spec, num_threads=1)
    kspec = spec.with_(output="keypoints")
    keys = OnnxPoseModel(path, kspec, num_threads=1)
    assert heat.output_name == "StatefulPartitionedCall/Sigmoid:0"  # the 17-channel map, not the centre map
    assert keys.output_name == "Identity:0"
    crops, _ = crop_people(person_crop, PERSON_BOX, spec)
    x = spec.preprocess(crops)
    hm = heat.run(x)
    kp = keys.run(x)
    assert hm.shape == (1, 17, 48, 48) and kp.shape == (1, 17, 3)
    assert 0.0 <= hm.min() and hm.max() <= 1.0
    assert ((kp >= 0) & (kp <= 1)).all()
    a = decode_outputs(hm, spec).keypoints[0]
    b = decode_outputs(kp, kspec).keypoints[0]
    dist = np.linalg.norm(a - b, axis=1)
    # the two heads of one network: within a heatmap cell of each other (crop is 192 px)
    assert np.median(dist) < 2.0 and dist.max() < 8.0, dist


def test_movenet_contract_outputs_and_decoding(contract_models):
    """The MoveNet contract on a synthetic network: the 17-channel map (not the centre map) and ``Identity:0`` are
    picked by the spec's output kind, and each decodes to the planted keypoints in crop pixels."""
    path = contract_models / testdata.CONTRACT_FILES["movenet_lightning"]
    spec = catalog.get("movenet_lightning").spec.with_(output="heatmaps")
    heat = OnnxPoseModel(path, spec, num_threads=1)
    kspec = spec.with_(output="keypoints")
    keys = OnnxPoseModel(path, kspec, num_threads=1)
    assert heat.output_name == "StatefulPartitionedCall/Sigmoid:0" and keys.output_name == "Identity:0"
    x = spec.preprocess(np.zeros((2, 192, 192, 3), np.uint8))
    assert x.dtype == np.int32 and x.shape == (2, 192, 192, 3)
    planted = testdata.movenet_keypoints()
    decoded = decode_outputs(keys.run(x), kspec)
    np.testing.assert_allclose(decoded.keypoints[1], planted[:, [1, 0]] * 192 - 0.5, atol=1e-5)
    np.testing.assert_allclose(decoded.scores[1], planted[:, 2], atol=1e-6)
    # heatmap cell u sits at crop pixel 4 u + 1.5 (MoveNet's centred cells); the peaks are symmetric: no shift
    cells = np.round(planted[:, [1, 0]] * 47)
    np.testing.assert_allclose(decode_outputs(heat.run(x), spec).keypoints[0], 4 * cells + 1.5, atol=1e-6)
