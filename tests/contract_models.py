"""Small synthetic ONNX networks with the input/output contracts of models posekit does not ship.

The tests must run on a fresh clone, where only the packaged PP-PicoDet / PP-TinyPose files exist. The
other contracts posekit reads (MODELS.md of the team's model folder) are built here with ``onnx.helper``:

* :func:`yolox_nano` — input ``images`` float32 ``[1, 3, 416, 416]``, output ``[1, 3549, 85]``: raw YOLOX rows
  in grid units (strides 8, 16, 32), objectness and class scores already in 0..1;
* :func:`rtmdet_end2end` — input ``input`` float32 ``[1, 3, 320, 320]``, outputs ``dets [1, N, 5]``
  (x1, y1, x2, y2, score in input pixels) and ``labels [1, N]`` int64 (NMS inside);
* :func:`movenet` — input ``input:0`` int32 ``[1, S, S, 3]`` (NHWC, RGB 0..255), outputs ``Identity:0``
  ``[1, 1, 17, 3]`` (normalised y, x, score), ``StatefulPartitionedCall/Sigmoid:0`` ``[1, 17, S/4, S/4]``
  (keypoint heatmaps) and ``StatefulPartitionedCall/Sigmoid_1:0`` ``[1, 1, S/4, S/4]`` (centre map);
* :func:`simcc_net` — RTMPose's official ONNX contract (mmdeploy): input ``input`` float32 ``[N, 3, H, W]``,
  outputs ``simcc_x [N, K, 2W]`` and ``simcc_y [N, K, 2H]`` (raw logits), dynamic batch;
* :func:`yolo_pose_net` — Ultralytics' YOLO-pose export: input ``images`` float32 ``[1, 3, S, S]``, output
  ``output0`` ``[1, 4 + 1 + 3K, N]`` (``cx, cy, w, h``, person score, ``x, y, visibility`` per keypoint, input
  pixels), no NMS inside;
* :func:`rtmo_net` — RTMO through mmdeploy: input ``input`` ``[N, 3, S, S]``, outputs ``dets [N, M, 5]`` and
  ``keypoints [N, M, K, 3]`` (input pixels, NMS inside);
* :func:`heatmap_net` — the HRNet / SimpleBaseline contract: input ``data`` float32 ``[1, 3, H, W]``
  (or a dynamic batch), output ``[N, 17, H/4, W/4]`` heatmaps from two seeded convolutions, so that the
  output depends on the crop (flip test, batching and quantisation see real arithmetic).

The detectors and MoveNet *plant* known boxes / keypoints in their outputs (the input only enters through
a term multiplied by zero), so a test knows exactly what the decoders must find. Each builder returns the
serialised model; :func:`write` saves it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["OPSET", "yolox_nano", "rtmdet_end2end", "movenet", "simcc_net", "heatmap_net", "write", "YOLOX_STRIDES",
           "sdk_zip", "yolo_pose_net", "rtmo_net"]

OPSET = 13
YOLOX_STRIDES = (8, 16, 32)


def _model(nodes, inputs, outputs, initializers, name: str) -> bytes:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="posekit-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _planted(input_name: str, input_float: str, constant: np.ndarray, out_name: str, tag: str) -> tuple[list, list]:
    """Nodes ``out = constant + 0 * mean(input)``: the planted tensor, with the input still in the graph."""
    nodes = [
        helper.make_node("ReduceMean", [input_float], [f"{tag}_mean"], keepdims=0),
        helper.make_node("Mul", [f"{tag}_mean", "zero"], [f"{tag}_zeroed"]),
        helper.make_node("Add", [f"{tag}_const", f"{tag}_zeroed"], [out_name]),
    ]
    inits = [numpy_helper.from_array(constant, f"{tag}_const")]
    return nodes, inits


def yolox_nano(boxes: Sequence[Sequence[float]], size: int = 416, num_classes: int = 80) -> bytes:
    """A YOLOX-nano contract network whose output holds ``boxes`` ``(x1, y1, x2, y2, score)`` (input pixels).

    Each box goes into the stride-32 cell holding its centre: offsets and ``log(w / 32)`` in grid units,
    objectness 1, person (class 0) score ``score``; every other row scores 0.
    """
    rows = sum((size // s) ** 2 for s in YOLOX_STRIDES)
    raw = np.zeros((1, rows, 5 + num_classes), np.float32)
    first32 = rows - (size // 32) ** 2
    for x1, y1, x2, y2, score in boxes:
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        gx, gy = int(cx // 32), int(cy // 32)
        row = first32 + gy * (size // 32) + gx
        raw[0, row, :5] = (cx / 32 - gx, cy / 32 - gy, math.log(w / 32), math.log(h / 32), 1.0)
        raw[0, row, 5] = score
    nodes, inits = _planted("images", "images", raw, "output", "rows")
    inits.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    return _model(
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, rows, 5 + num_classes])],
        inits, "yolox_nano_contract",
    )


def rtmdet_end2end(dets: Sequence[Sequence[float]], labels: Sequence[int], size: int = 320) -> bytes:
    """An mmdeploy end2end detector contract: ``dets (1, N, 5)`` and ``labels (1, N)`` planted as given."""
    d = np.asarray(dets, np.float32).reshape(1, -1, 5)
    lab = np.asarray(labels, np.int64).reshape(1, -1)
    nodes, inits = _planted("input", "input", d, "dets", "dets")
    nodes += [
        helper.make_node("Identity", ["labels_const"], ["labels"]),
    ]
    inits += [numpy_helper.from_array(lab, "labels_const"), numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    return _model(
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, list(d.shape)),
            helper.make_tensor_value_info("labels", TensorProto.INT64, list(lab.shape)),
        ],
        inits, "rtmdet_end2end_contract",
    )


def movenet(keypoints: np.ndarray, size: int = 192, sigma: float = 1.5) -> bytes:
    """A MoveNet SinglePose contract network.

    ``keypoints`` ``(17, 3)``: normalised ``(y, x, score)`` planted in ``Identity:0``. The heatmaps hold a
    Gaussian (peak 0.9, ``sigma`` cells) per keypoint, centred on cell ``round((y, x) * (size / 4 - 1))``;
    the centre map is their maximum.
    """
    keypoints = np.asarray(keypoints, np.float32).reshape(17, 3)
    cells = size // 4
    yy, xx = np.mgrid[0:cells, 0:cells].astype(np.float32)
    heat = np.zeros((1, 17, cells, cells), np.float32)
    for k, (y, x, _) in enumerate(keypoints):
        cy, cx = round(float(y) * (cells - 1)), round(float(x) * (cells - 1))
        heat[0, k] = 0.9 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    centre = heat.max(axis=1, keepdims=True)
    nodes = [helper.make_node("Cast", ["input:0"], ["input_f"], to=TensorProto.FLOAT)]
    inits = []
    for tag, const, out in (
        ("kp", keypoints.reshape(1, 1, 17, 3), "Identity:0"),
        ("hm", heat, "StatefulPartitionedCall/Sigmoid:0"),
        ("ctr", centre, "StatefulPartitionedCall/Sigmoid_1:0"),
    ):
        n, i = _planted("input:0", "input_f", const, out, tag)
        nodes += n
        inits += i
    inits.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    return _model(
        nodes,
        [helper.make_tensor_value_info("input:0", TensorProto.INT32, [1, size, size, 3])],
        [
            helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, [1, 1, 17, 3]),
            helper.make_tensor_value_info("StatefulPartitionedCall/Sigmoid:0", TensorProto.FLOAT, [1, 17, cells, cells]),
            helper.make_tensor_value_info("StatefulPartitionedCall/Sigmoid_1:0", TensorProto.FLOAT, [1, 1, cells, cells]),
        ],
        inits, "movenet_contract",
    )


def simcc_net(keypoints: np.ndarray, input_size: tuple[int, int] = (192, 256), split_ratio: float = 2.0) -> bytes:
    """An RTMPose-contract network whose logits peak (0.9, Gaussian of 2 bins) at ``keypoints`` ``(K, 2)`` crop pixels.

    The batch is dynamic: the planted logits are broadcast over ``N`` by adding ``0 * mean(input)`` of shape
    ``(N, 1, 1)``.
    """
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
    k = len(keypoints)
    w, h = input_size
    from posekit.spec import simcc_bins  # the one rule of spec, codec and network: int(W r), int(H r)

    wx, hy = simcc_bins((w, h), split_ratio)
    bx, by = np.arange(wx), np.arange(hy)
    x = 0.9 * np.exp(-((bx[None] - keypoints[:, :1] * split_ratio) ** 2) / 8.0) - 0.05
    y = 0.9 * np.exp(-((by[None] - keypoints[:, 1:] * split_ratio) ** 2) / 8.0) - 0.05
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["zeroed"]),
        helper.make_node("Add", ["x_const", "zeroed"], ["simcc_x"]),
        helper.make_node("Add", ["y_const", "zeroed"], ["simcc_y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(x.astype(np.float32)[None], "x_const"),
        numpy_helper.from_array(y.astype(np.float32)[None], "y_const"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, ["batch", k, wx]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, ["batch", k, hy])],
        inits, "simcc_contract",
    )


def yolo_pose_net(candidates: np.ndarray, size: int = 640, rows: int = 8400, drift: float = 0.0) -> bytes:
    """A YOLO-pose contract network whose first ``len(candidates)`` columns are ``candidates``
    ``(M, 5 + 3K)`` (``cx, cy, w, h, score, (x, y, v) * K`` in input pixels) and the rest zeros.

    ``drift`` moves every box centre and keypoint by ``drift * mean(input)`` pixels (the input is RGB / 255,
    so by up to ``drift``): a result that depends on the image, for comparing entry points.
    """
    candidates = np.asarray(candidates, np.float32)
    channels = candidates.shape[1]
    const = np.zeros((1, channels, rows), np.float32)
    const[0, :, : len(candidates)] = candidates.T
    moved = np.zeros((1, channels, 1), np.float32)
    moved[0, [0, 1]] = drift
    moved[0, 5::3] = drift
    moved[0, 6::3] = drift
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["moved", "mean"], ["shift"]),
        helper.make_node("Add", ["const", "shift"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(const, "const"), numpy_helper.from_array(moved, "moved")]
    return _model(
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, channels, rows])],
        inits, "yolo_pose_contract",
    )


def rtmo_net(dets: np.ndarray, keypoints: np.ndarray, size: int = 640) -> bytes:
    """An RTMO (mmdeploy) contract network planting ``dets`` ``(M, 5)`` and ``keypoints`` ``(M, K, 3)`` for every
    image of a dynamic batch."""
    d = np.asarray(dets, np.float32)[None]
    kp = np.asarray(keypoints, np.float32)[None]
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["zeroed4"]),
        helper.make_node("Reshape", ["zeroed4", "shape3"], ["zeroed3"]),
        helper.make_node("Add", ["dets_const", "zeroed3"], ["dets"]),
        helper.make_node("Add", ["kp_const", "zeroed4"], ["keypoints"]),
    ]
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
        numpy_helper.from_array(d, "dets_const"),
        numpy_helper.from_array(kp, "kp_const"),
    ]
    m, k = kp.shape[1], kp.shape[2]
    return _model(
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, ["batch", m, 5]),
         helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["batch", m, k, 3])],
        inits, "rtmo_contract",
    )


def sdk_zip(onnx_model: bytes, path: Path, folder: str) -> Path:
    """An mmdeploy SDK zip as rtmlib downloads it: ``<folder>/end2end.onnx`` beside ``deploy.json``,
    ``detail.json`` and ``pipeline.json`` (minimal stand-ins); returns ``path``."""
    import json
    import zipfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/end2end.onnx", onnx_model)
        for name in ("deploy.json", "detail.json", "pipeline.json"):
            zf.writestr(f"{folder}/{name}", json.dumps({"stand-in": name}))
    return path


def heatmap_net(input_size: tuple[int, int] = (192, 256), num_keypoints: int = 17, fixed_batch: bool = True,
                seed: int = 0) -> bytes:
    """An HRNet-contract network: ``data (N, 3, H, W)`` -> ``(N, K, H/4, W/4)``.

    Two seeded 3x3 convolutions of stride 2 (3 -> 16 channels, ReLU, 16 -> K) and a sigmoid: not a pose
    network, but a deterministic function of the crop with heatmap-shaped output in 0..1.
    """
    w, h = input_size
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((16, 3, 3, 3)) * math.sqrt(2 / 27)).astype(np.float32)
    b1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((num_keypoints, 16, 3, 3)) * math.sqrt(2 / 144)).astype(np.float32)
    b2 = (rng.standard_normal(num_keypoints) * 0.1).astype(np.float32)
    batch: int | str = 1 if fixed_batch else "batch"
    nodes = [
        helper.make_node("Conv", ["data", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["heatmaps"]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    return _model(
        nodes,
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [batch, num_keypoints, h // 4, w // 4])],
        inits, "heatmap_contract",
    )


def write(data: bytes, path: Path) -> Path:
    """Save serialised model bytes to ``path`` (parents created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
