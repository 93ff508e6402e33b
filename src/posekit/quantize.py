"""Static int8 quantisation (QDQ) of posekit's ONNX networks, derived from the fp32 files and cached.

:func:`quantize_model` turns an fp32 ``.onnx`` pose or detector network into an
int8 one with ONNX Runtime's static quantisation
(``onnxruntime.quantization.quantize_static``): QDQ format, weights int8 per
output channel, activations uint8 with ranges calibrated on real network
inputs:

* pose networks (:class:`~posekit.spec.PoseModelSpec`): person crops cut by
  :func:`posekit.pose.crop.crop_people` and normalised by ``spec.preprocess``,
  around the ground-truth boxes of a COCO annotations file when one is given,
  else around the boxes of a detector callable, else around the whole image;
* detectors (:class:`~posekit.spec.DetectorSpec`): ``detector_input`` of each image.

Before quantising, the graph is brought to opset 13 when older (per-channel
QDQ needs it) and prepared with ``quant_pre_process`` (shape inference and
ORT's basic graph optimisation, which folds BatchNorm into Conv). The nodes
after the last convolution -- heatmap outputs, a detector's box decoding and
score activations -- stay in float (``keep_float_tail``): an 8-bit heatmap
or box coordinate would cost accuracy for no speed.

Where the int8 file goes: ``<stem>.int8.onnx`` beside the fp32 file when that
folder is writable, else the user cache (:func:`cache_path`). A folder without
any write permission bit counts as read-only even for root, who could write
into it anyway. Beside the int8 file, ``<stem>.int8.onnx.sha256`` (JSON)
records the int8 file's sha256, the source file's name and sha256 and the
settings; :func:`quantized_path` only returns an int8 file whose sidecar
matches both, so an int8 file derived from an older fp32 file is never used.

Before calibration, the channels of Conv pairs are rescaled to even out
activation ranges (:func:`_equalize_channels`, exact in float): per-tensor
uint8 activations otherwise lose the small channels of tensors whose largest
channel is 10-100x the median one, as in PP-TinyPose and PP-PicoDet. It
recovers little on those (mean OKS 0.676 -> 0.681 at 128x96, 0.557 -> 0.587
at 256x192; PicoDet's HardSwish leaves only 2 pairs that can be rescaled).

Quantised files are derived data: never commit them. The issue keeps an int8
network only where AP drops by <= 0.005 and it runs >= 1.3x faster. Measured
here (ONNX Runtime 1.32, Xeon with AVX512-VNNI/AMX, 1 thread, machine loaded
with load average 4-7 on 2 cores; default settings: MinMax, uint8 activations,
per-channel int8 weights, equalisation, 64 dev images with GT boxes; accuracy
on 50 held-out dev crops with GT boxes):

=====================  ==============  =======================  ================================
model                  fp32 / int8     mean OKS vs GT            argmax moved (of 17 keypoints)
=====================  ==============  =======================  ================================
pp_tinypose_256x192    1.20-1.35x      0.800 -> 0.587            91 %, mean 6.8 heatmap px
pp_tinypose_128x96     0.94-1.08x      0.741 -> 0.681 (0.709     59 %, mean 1.3 heatmap px
                                       with percentile)
picodet_s_320          0.77-0.88x      boxes >= 0.3: 169 -> 38, mean best IoU 0.09
=====================  ==============  =======================  ================================

So none of them qualifies: accuracy falls far outside the budget (per-channel
int8 weights alone, activations in float, already cost 0.006 mean OKS on the
128x96 model), and only the 256x192 pose model approaches 1.3x. Percentile /
entropy calibration help a little but keep every activation of every
calibration sample in memory (7.7 GB for 167 crops of 128x96). QInt8
activations were worse (OKS 0.488) and slower.

Needs the ``onnx`` package (``pip install 'posekit[torch]'`` or ``pip install onnx``),
imported only when a model is quantised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posekit import catalog
from posekit.detect.onnx_detectors import detector_input
from posekit.evaluation import load_coco_json
from posekit.io import atomic_write_bytes, atomic_write_json, read_image, sha256_file
from posekit.pose.crop import crop_people
from posekit.spec import DetectorSpec, PoseModelSpec

__all__ = [
    "INT8_SUFFIX",
    "SIDECAR_SUFFIX",
    "CALIBRATION_METHODS",
    "QuantizeError",
    "CalibrationReader",
    "int8_filename",
    "sidecar_path",
    "default_output_path",
    "cache_path",
    "read_sidecar",
    "quantized_path",
    "load_gt_boxes",
    "calibration_inputs",
    "quantize_model",
]

log = logging.getLogger(__name__)

#: Suffix replacing ``.onnx`` in the name of a quantised file.
INT8_SUFFIX = ".int8.onnx"
#: Suffix added to the quantised file's name for its sidecar.
SIDECAR_SUFFIX = ".sha256"
#: ``calibrate_method`` choices (ONNX Runtime's ``CalibrationMethod``).
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
#: Sidecar format version.
_SIDECAR_FORMAT = 1
#: Operators whose nodes count as "convolutions" for the float tail (see :func:`_float_tail_nodes`).
_WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm"})
#: Minimum opset of the default domain for per-channel QDQ (``axis`` of QuantizeLinear).
_MIN_OPSET = 13


class QuantizeError(RuntimeError):
    """A model could not be quantised (missing ``onnx``, no calibration data, ORT failure)."""


# --------------------------------------------------------------------------- where files go


def int8_filename(src: str | os.PathLike) -> str:
    """``pp-tinypose-256x192.onnx`` -> ``pp-tinypose-256x192.int8.onnx``."""
    name = Path(src).name
    stem = name[: -len(".onnx")] if name.lower().endswith(".onnx") else name
    return stem + INT8_SUFFIX


def sidecar_path(int8_file: str | os.PathLike) -> Path:
    """``<stem>.int8.onnx`` -> ``<stem>.int8.onnx.sha256``."""
    p = Path(int8_file)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def _writable_dir(folder: Path) -> bool:
    """Whether posekit may write into ``folder``.

    ``os.access`` answers for the current user; root passes it everywhere, so a
    folder whose mode has no write bit at all (``r-x`` shared model sets) also
    counts as read-only.
    """
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    if not stat.S_ISDIR(mode) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def cache_path(src: str | os.PathLike) -> Path:
    """Where the int8 file of ``src`` goes when its folder is read-only: the user cache.

    A source inside the models directory (``--models-dir`` / ``POSEKIT_MODELS``)
    keeps its relative path under :func:`posekit.catalog.default_models_dir`
    (``~/.cache/posekit/models/pp-tinypose/pp-tinypose-256x192.int8.onnx``);
    any other source goes to ``.../int8/<folder name>-<hash of its folder>/``
    so that equal file names from different folders do not collide.
    """
    src = Path(src).resolve()
    cache = catalog.default_models_dir()
    models = catalog.resolve_models_dir().expanduser().resolve()
    try:
        rel = src.parent.relative_to(models)
    except ValueError:
        digest = hashlib.sha256(str(src.parent).encode("utf-8")).hexdigest()[:12]
        rel = Path("int8") / f"{src.parent.name or 'root'}-{digest}"
    return cache / rel / int8_filename(src)


def default_output_path(src: str | os.PathLike) -> Path:
    """``<stem>.int8.onnx`` beside ``src`` if its folder is writable, else :func:`cache_path`
    (always for the files packaged with posekit: an install is never written into)."""
    src = Path(src)
    beside = src.with_name(int8_filename(src))
    packaged = src.parent.resolve() == catalog.package_weights_dir().resolve()
    return beside if _writable_dir(src.parent) and not packaged else cache_path(src)


def read_sidecar(int8_file: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of an int8 file as a dict, or ``None`` when missing or unreadable."""
    path = sidecar_path(int8_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sidecar_matches(int8_file: Path, source_sha256: str) -> bool:
    meta = read_sidecar(int8_file)
    if meta is None or not int8_file.is_file():
        return False
    if (meta.get("source") or {}).get("sha256") != source_sha256:
        log.debug("%s: derived from another source file (sha256 %s)", int8_file,
                  (meta.get("source") or {}).get("sha256"))
        return False
    actual = sha256_file(int8_file)
    if meta.get("sha256") != actual:
        log.debug("%s: sha256 %s does not match its sidecar", int8_file, actual)
        return False
    return True


def quantized_path(src: str | os.PathLike, out: str | os.PathLike | None = None) -> Path | None:
    """A valid cached int8 file of ``src``, or ``None``.

    Looks at ``out`` (when given), then beside ``src``, then :func:`cache_path`;
    returns the first whose sidecar records the current sha256 of ``src`` and
    the int8 file's own sha256. Stale (source changed) or damaged files are
    ignored, so callers rebuild them with :func:`quantize_model`.
    """
    src = Path(src)
    if not src.is_file():
        return None
    candidates = ([Path(out)] if out is not None else []) + [src.with_name(int8_filename(src)), cache_path(src)]
    source_sha = None
    for cand in dict.fromkeys(candidates):  # unique, in order
        if not sidecar_path(cand).is_file():
            continue
        source_sha = source_sha or sha256_file(src)
        if _sidecar_matches(cand, source_sha):
            return cand
    return None


# --------------------------------------------------------------------------- calibration data


def load_gt_boxes(gt: str | os.PathLike | Mapping[str, Any], min_size: float = 8.0) -> dict[str, np.ndarray]:
    """Person boxes of a COCO annotations file, by image file name.

    Non-crowd annotations whose box is at least ``min_size`` pixels wide and
    high, largest first. Returns ``{file_name: (N, 4) float32 xyxy}`` (images
    without such a person map to an empty array).
    """
    data = load_coco_json(gt)
    names = {img["id"]: Path(img["file_name"]).name for img in data.get("images", [])}
    boxes: dict[str, list[list[float]]] = {name: [] for name in names.values()}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd", 0) or ann.get("image_id") not in names:
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w >= min_size and h >= min_size:
            boxes[names[ann["image_id"]]].append([x, y, x + w, y + h])
    out = {}
    for name, b in boxes.items():
        arr = np.asarray(b, dtype=np.float32).reshape(-1, 4)
        area = (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])
        out[name] = arr[np.argsort(-area, kind="stable")]
    return out


Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _person_boxes(
    image: np.ndarray, name: str, gt_boxes: Mapping[str, np.ndarray] | None, detector: Detector | None,
    score_thresh: float,
) -> np.ndarray:
    if gt_boxes is not None and name in gt_boxes:
        return np.asarray(gt_boxes[name], dtype=np.float32).reshape(-1, 4)
    if detector is not None:
        boxes, scores = detector(image)
        return np.asarray(boxes, dtype=np.float32)[np.asarray(scores) >= score_thresh].reshape(-1, 4)
    h, w = image.shape[:2]
    return np.array([[0.0, 0.0, w, h]], dtype=np.float32)


def calibration_inputs(
    spec: PoseModelSpec | DetectorSpec,
    images: Iterable[str | os.PathLike],
    *,
    gt_boxes: Mapping[str, np.ndarray] | None = None,
    detector: Detector | None = None,
    max_images: int = 64,
    max_people_per_image: int = 8,
    score_thresh: float = 0.3,
) -> Iterator[np.ndarray]:
    """Real network inputs, one array per image.

    Pose spec: the crops of the people in each image, ``spec.preprocess`` -ed,
    ``(N, ...)`` with ``1 <= N <= max_people_per_image`` (largest boxes first).
    Boxes come from ``gt_boxes`` (by file name) for images it lists, else from
    ``detector`` (boxes scoring ``>= score_thresh``), else one box over the
    whole image. Images without people yield nothing.
    Detector spec: :func:`~posekit.detect.onnx_detectors.detector_input`, ``(1, 3, H, W)``.

    At most ``max_images`` images are read (in the given order).
    """
    count = 0
    for path in images:
        if count >= max_images:
            break
        path = Path(path)
        # COCO boxes live in the stored pixel frame (see posekit.io.read_image)
        image = read_image(path, ignore_orientation=gt_boxes is not None and path.name in gt_boxes)
        count += 1
        if isinstance(spec, DetectorSpec):
            yield detector_input(image, spec)[0]
            continue
        boxes = _person_boxes(image, path.name, gt_boxes, detector, score_thresh)[:max_people_per_image]
        if len(boxes) == 0:
            continue
        crops, _ = crop_people(image, boxes, spec)
        yield spec.preprocess(crops)


class CalibrationReader:
    """Feeds calibration inputs to ONNX Runtime's calibrators.

    Implements the ``onnxruntime.quantization.CalibrationDataReader`` protocol
    (``get_next()`` -> ``{input name: array}`` or ``None`` at the end), without
    importing onnxruntime.quantization at module level. Inputs from
    :func:`calibration_inputs` are split or regrouped into batches of
    ``batch_size`` (1 for networks with a fixed batch of 1).

    Args:
        input_name: the network input.
        inputs: arrays ``(N, ...)`` (a generator is consumed lazily).
        batch_size: samples per ``get_next``.
    """

    def __init__(self, input_name: str, inputs: Iterable[np.ndarray], batch_size: int = 8) -> None:
        self.input_name = input_name
        self.batch_size = max(1, int(batch_size))
        self._inputs = iter(inputs)
        self._pending: list[np.ndarray] = []
        self.samples = 0  # samples handed out so far

    def _fill(self) -> bool:
        while sum(len(a) for a in self._pending) < self.batch_size:
            nxt = next(self._inputs, None)
            if nxt is None:
                return bool(self._pending)
            if len(nxt):
                self._pending.append(nxt)
        return True

    def get_next(self) -> dict[str, np.ndarray] | None:
        if not self._fill():
            return None
        stacked = np.concatenate(self._pending, axis=0)
        batch, rest = stacked[: self.batch_size], stacked[self.batch_size :]
        self._pending = [rest] if len(rest) else []
        self.samples += len(batch)
        return {self.input_name: np.ascontiguousarray(batch)}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        while (item := self.get_next()) is not None:
            yield item


# --------------------------------------------------------------------------- graph preparation


def _require_onnx() -> Any:
    try:
        import onnx
        import onnxruntime.quantization  # noqa: F401  (imports onnx too)
    except ImportError as exc:
        raise QuantizeError(
            f"int8 quantisation needs the onnx package: pip install onnx (or pip install 'posekit[torch]'): {exc}"
        ) from exc
    return onnx


def _prepare_graph(model: Any) -> Any:
    """Opset >= 13 and initializers that are not graph inputs (so ORT may fold them)."""
    import onnx
    from onnx import version_converter

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and opset < 9:
        # Old exports (MXNet) write BatchNormalization spatial=0 with per-channel (C,) parameters, which
        # normalises exactly like spatial=1; the opset converter refuses spatial=0, so drop it.
        dims = {t.name: len(t.dims) for t in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "BatchNormalization" and len(node.input) > 1 and dims.get(node.input[1]) == 1:
                keep = [a for a in node.attribute if not (a.name == "spatial" and a.i == 0)]
                del node.attribute[:]
                node.attribute.extend(keep)
    if opset is not None and opset < _MIN_OPSET:
        log.info("converting the graph from opset %d to %d for per-channel QDQ", opset, _MIN_OPSET)
        try:
            model = version_converter.convert_version(model, _MIN_OPSET)
        except Exception as exc:  # onnx raises plain RuntimeError / ValidationError subclasses
            raise QuantizeError(f"cannot convert the graph from opset {opset} to {_MIN_OPSET}: {exc}") from exc
    # IR >= 4 lets initializers stay out of the graph inputs; the opset converter keeps the old IR version
    model.ir_version = max(model.ir_version, onnx.helper.find_min_ir_version_for(model.opset_import, True))
    init_names = {t.name for t in model.graph.initializer}
    if any(i.name in init_names for i in model.graph.input):
        keep = [i for i in model.graph.input if i.name not in init_names]
        del model.graph.input[:]
        model.graph.input.extend(keep)
    onnx.checker.check_model(model)
    return model


def _float_tail_nodes(model: Any, include_last_convs: bool = False) -> list[str]:
    """Names of the nodes after the last weighted layer on every path to a graph output.

    A node is in the tail when no Conv / ConvTranspose / Gemm is reachable from
    it downstream: a pose network's final activation/identity, a detector's
    score activations and box decoding (softmax over distance bins, anchors,
    strides). With ``include_last_convs`` the weighted layers that feed only
    the tail (or a graph output) directly are added too.
    """
    nodes = list(model.graph.node)
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            consumers.setdefault(t, []).append(i)
    # ONNX lists nodes in topological order: walking it backwards sees every consumer first.
    reaches = [False] * len(nodes)  # a weighted node lies strictly downstream of node i
    for i in range(len(nodes) - 1, -1, -1):
        reaches[i] = any(
            nodes[j].op_type in _WEIGHTED_OPS or reaches[j] for t in nodes[i].output for j in consumers.get(t, [])
        )
    names = []
    for i, n in enumerate(nodes):
        weighted = n.op_type in _WEIGHTED_OPS
        if not reaches[i] and (include_last_convs or not weighted):
            if not n.name:
                raise QuantizeError("the graph has unnamed nodes; cannot exclude its float tail")
            names.append(n.name)
    return names


def _name_nodes(model: Any) -> None:
    """Give unnamed nodes a unique name (``nodes_to_exclude`` works by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for i, n in enumerate(model.graph.node):
        if not n.name:
            name = f"{n.op_type}_posekit_{i}"
            while name in used:
                name += "_"
            n.name = name
            used.add(name)


def _channel_pairs(model: Any) -> list[tuple[Any, Any | None, Any, str]]:
    """Conv pairs whose channels can be rescaled exactly: ``(A, relu_or_None, B, tensor)``.

    ``A`` is a Conv whose output (through an optional Relu, which commutes with
    positive scales) is consumed by Conv ``B`` alone, ``B`` being depthwise or
    ungrouped. Scaling ``A``'s output channel ``c`` (weights and bias) by
    ``1/s_c`` and ``B``'s input channel ``c`` by ``s_c`` leaves the network's
    function unchanged.
    """
    inits = {t.name: t for t in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    uses: dict[str, int] = {}
    for n in model.graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
            uses[t] = uses.get(t, 0) + 1

    def group(node: Any) -> int:
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    pairs = []
    for b in model.graph.node:
        if b.op_type != "Conv" or len(b.input) < 2 or b.input[1] not in inits:
            continue
        t = b.input[0]
        if t in outputs or [n.name for n in consumers.get(t, [])] != [b.name]:
            continue
        relu, a = None, producers.get(t)
        if a is not None and a.op_type == "Relu":
            relu, a = a, producers.get(a.input[0])
            if relu.input[0] in outputs or len(consumers.get(relu.input[0], [])) != 1:
                continue
        if a is None or a.op_type != "Conv" or len(a.input) < 2 or a.input[1] not in inits:
            continue
        params = [a.input[1], b.input[1]] + ([a.input[2]] if len(a.input) > 2 and a.input[2] else [])
        if any(p not in inits or uses.get(p, 0) != 1 for p in params):
            continue
        channels = inits[a.input[1]].dims[0]
        wb_shape = tuple(inits[b.input[1]].dims)
        depthwise = group(b) == channels and wb_shape[0] == channels and wb_shape[1] == 1
        if not depthwise and (group(b) != 1 or wb_shape[1] != channels):
            continue
        pairs.append((a, relu, b, t))
    return pairs


def _equalize_channels(model: Any, samples: Sequence[np.ndarray], input_name: str) -> int:
    """Equalise the per-channel ranges of activations between Conv pairs (in place); returns the pair count.

    Per-tensor uint8 activations lose the small channels of a tensor whose
    channels differ widely in range (Lite-HRNet's and PicoDet's depthwise
    outputs: one channel reaching 100-800 while the median reaches 7-30).
    With the activation range ``r_c`` of channel ``c`` measured on the
    calibration samples, each pair of :func:`_channel_pairs` is rescaled:
    into a depthwise ``B`` (per-channel weights, so the scale costs nothing)
    every channel is brought to the tensor's largest range; into an ungrouped
    ``B``, ``s_c = sqrt(r_c / w_c)`` with ``w_c`` the largest weight of ``B``'s
    input channel ``c`` balances activation and weight ranges (cross-layer
    equalisation, Nagel et al. 2019, with data-measured activation ranges).
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    pairs = _channel_pairs(model)
    if not pairs or not samples:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    names = [t for *_, t in pairs]
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in names if t not in existing
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    ranges: dict[str, np.ndarray] = {}
    for x in samples:
        for name, value in zip(out_names, sess.run(out_names, {input_name: x})):
            if name in names:
                r = np.abs(value).max(axis=tuple(i for i in range(value.ndim) if i != 1))
                ranges[name] = np.maximum(ranges[name], r) if name in ranges else r
    inits = {t.name: t for t in model.graph.initializer}

    def get(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name]).astype(np.float32)

    def put(name: str, value: np.ndarray) -> None:
        inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    for a, _relu, b, t in pairs:
        r = ranges[t].astype(np.float64)
        wb = get(b.input[1])
        if wb.shape[1] == 1 and wb.shape[0] == len(r):  # depthwise B: every channel to the largest range
            s = r / max(r.max(), 1e-12)
        else:
            w = np.abs(wb).max(axis=tuple(i for i in range(wb.ndim) if i != 1)).astype(np.float64)
            s = np.sqrt(r / np.maximum(w, 1e-12))
            s = s / max(s.max(), 1e-12)  # only relative scales matter; keep A's weights from shrinking
        dead = (r <= 1e-6 * max(r.max(), 1e-12)) | ~np.isfinite(s)
        s = np.where(dead, 1.0, np.clip(s, 1e-3, 1e3)).astype(np.float32)
        shape_a = (-1,) + (1,) * (get(a.input[1]).ndim - 1)
        put(a.input[1], get(a.input[1]) / s.reshape(shape_a))
        if len(a.input) > 2 and a.input[2]:
            put(a.input[2], get(a.input[2]) / s)
        if wb.shape[1] == 1 and wb.shape[0] == len(r):
            put(b.input[1], wb * s.reshape((-1,) + (1,) * (wb.ndim - 1)))
        else:
            put(b.input[1], wb * s.reshape((1, -1) + (1,) * (wb.ndim - 2)))
    return len(pairs)


#: ``quant_pre_process`` settings tried in order. Symbolic shape inference stops at the
#: dynamic batch of PP-TinyPose / PP-PicoDet ("Incomplete symbolic shape inference")
#: unless symbolic dimensions may be merged (``auto_merge``).
_PRE_PROCESS_TRIES = ({}, {"auto_merge": True}, {"skip_symbolic_shape": True})


def _pre_process(model_path: Path, out: Path, label: str) -> Path:
    """``quant_pre_process`` (shape inference + ORT basic optimisation); ``model_path`` if every try fails."""
    from onnxruntime.quantization import quant_pre_process

    errors = []
    for kwargs in _PRE_PROCESS_TRIES:
        try:
            quant_pre_process(str(model_path), str(out), **kwargs)
            log.debug("quant_pre_process %s: ok with %s", label, kwargs or "defaults")
            return out
        except Exception as exc:  # ORT raises bare Exceptions here
            errors.append(f"{kwargs or 'defaults'}: {type(exc).__name__}: {exc}")
    log.warning("quant_pre_process failed on %s (%s); quantising without it", label, "; ".join(errors))
    return model_path


def _input_info(model: Any) -> tuple[str, int | None]:
    """Name and fixed batch size (``None`` when dynamic) of the single network input."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise QuantizeError(f"expected one network input, got {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
    return inputs[0].name, batch


# --------------------------------------------------------------------------- quantisation


def _quant_enums(calibrate_method: str, activation_type: str) -> tuple[Any, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantType

    if calibrate_method not in CALIBRATION_METHODS:
        raise ValueError(f"calibrate_method must be one of {CALIBRATION_METHODS}, got {calibrate_method!r}")
    if activation_type not in ("uint8", "int8"):
        raise ValueError(f"activation_type must be 'uint8' or 'int8', got {activation_type!r}")
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[calibrate_method]
    act = QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8
    return method, act


def quantize_model(
    src: str | os.PathLike,
    spec: PoseModelSpec | DetectorSpec,
    calibration_images: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    *,
    gt: str | os.PathLike | Mapping[str, Any] | None = None,
    detector: Detector | None = None,
    max_images: int = 64,
    max_people_per_image: int = 8,
    per_channel: bool = True,
    calibrate_method: str = "minmax",
    percentile: float = 99.999,
    activation_type: str = "uint8",
    keep_float_tail: bool = True,
    float_last_convs: bool = False,
    preprocess: bool = True,
    batch_size: int = 8,
    nodes_to_exclude: Sequence[str] = (),
    equalize: bool = True,
) -> Path:
    """Quantise an fp32 ONNX network to int8 (static, QDQ) and cache it with its sidecar.

    Args:
        src: the fp32 ``.onnx`` file.
        spec: its contract: a :class:`PoseModelSpec` (calibrated on person
            crops) or a :class:`DetectorSpec` (calibrated on whole images).
        calibration_images: image files; the first ``max_images`` are used.
        out: the int8 file; ``None``: :func:`default_output_path` (beside
            ``src`` if writable, else the user cache).
        gt: COCO annotations (path or dict) whose person boxes give the pose crops.
        detector: ``image -> (boxes, scores)`` used for images ``gt`` does not list.
        max_images: images read for calibration.
        max_people_per_image: crops per image (largest boxes first).
        per_channel: per-output-channel weight scales.
        calibrate_method: one of :data:`CALIBRATION_METHODS`.
        percentile: the ``"percentile"`` method's percentile.
        activation_type: ``"uint8"`` (asymmetric, what x86 int8 kernels want)
            or ``"int8"``.
        keep_float_tail: leave the nodes after the last convolution in float
            (see :func:`_float_tail_nodes`).
        float_last_convs: also leave the last convolutions (those feeding the
            outputs) in float.
        preprocess: run ``onnxruntime.quantization.quant_pre_process`` first
            (skipped with a warning if it fails on the graph).
        batch_size: calibration batch (1 when the network's batch is fixed, and
            for the histogram methods, which need equal batches).
        nodes_to_exclude: names of further nodes to keep in float (names
            after ``quant_pre_process``; unnamed nodes are named ``<op>_posekit_<i>``).
        equalize: rescale the channels of Conv pairs to equal activation ranges
            first (exact in float; see :func:`_equalize_channels`).

    Returns:
        the int8 file. Its sidecar ``<file>.sha256`` (JSON) records its sha256,
        the source's name and sha256 and these settings.

    Raises:
        QuantizeError: ``onnx`` missing, no calibration input, or ORT failed.
    """
    onnx = _require_onnx()
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"model file {str(src)!r} does not exist")
    method, act_type = _quant_enums(calibrate_method, activation_type)
    out = Path(out) if out is not None else default_output_path(src)
    source_sha = sha256_file(src)
    gt_boxes = load_gt_boxes(gt) if gt is not None else None

    with tempfile.TemporaryDirectory(prefix="posekit-quantize-") as tmp_dir:
        tmp = Path(tmp_dir)
        model = onnx.load(str(src))
        metadata = {p.key: p.value for p in model.metadata_props}
        model = _prepare_graph(model)
        _name_nodes(model)
        prepared = tmp / "prepared.onnx"
        onnx.save(model, str(prepared))
        if preprocess:
            prepared = _pre_process(prepared, tmp / "preprocessed.onnx", src.name)
        model = onnx.load(str(prepared))
        _name_nodes(model)
        onnx.save(model, str(prepared))
        input_name, fixed_batch = _input_info(model)
        exclude = _float_tail_nodes(model, include_last_convs=float_last_convs) if keep_float_tail else []
        exclude = list(dict.fromkeys([*exclude, *nodes_to_exclude]))
        log.debug("nodes kept in float: %s", exclude)

        samples = list(calibration_inputs(spec, calibration_images, gt_boxes=gt_boxes, detector=detector,
                                          max_images=max_images, max_people_per_image=max_people_per_image))
        if not samples:
            raise QuantizeError(f"no calibration input from {len(calibration_images)} image(s)")
        # histogram calibrators stack all batches into one array: they need equal batches
        histogram = calibrate_method in ("percentile", "entropy")
        batch = 1 if fixed_batch == 1 or histogram else batch_size
        equalized = 0
        if equalize:
            batches = [feed[input_name] for feed in CalibrationReader(input_name, samples, batch)]
            equalized = _equalize_channels(model, batches, input_name)
            if equalized:
                onnx.save(model, str(prepared))
            log.info("equalised the channel ranges of %d conv pairs", equalized)
        reader = CalibrationReader(input_name, samples, batch_size=batch)
        extra: dict[str, Any] = {"ActivationSymmetric": activation_type == "int8", "WeightSymmetric": True}
        # Not CalibMaxIntermediateOutputs: in ORT 1.32 MinMaxCalibrater.collect_data drops every full group
        # of batches without merging its ranges (only the last partial group counts). MinMax keeps only
        # per-tensor min/max per batch anyway, so its memory stays small without it.
        if calibrate_method == "percentile":
            extra["CalibPercentile"] = float(percentile)
        quantized = tmp / "quantized.onnx"
        try:
            quantize_static(
                str(prepared), str(quantized), reader,
                quant_format=QuantFormat.QDQ, per_channel=per_channel, reduce_range=False,
                activation_type=act_type, weight_type=QuantType.QInt8, calibrate_method=method,
                nodes_to_exclude=exclude, extra_options=extra,
            )
        except Exception as exc:  # ORT raises ValueError, RuntimeError or its own types
            raise QuantizeError(f"quantisation of {src.name} failed: {type(exc).__name__}: {exc}") from exc

        qmodel = onnx.load(str(quantized))
        for key, value in metadata.items():  # e.g. posekit.spec of exported networks
            entry = next((p for p in qmodel.metadata_props if p.key == key), None) or qmodel.metadata_props.add()
            entry.key, entry.value = key, value
        data = qmodel.SerializeToString()

    settings = {
        "format": "QDQ", "per_channel": per_channel, "activation_type": activation_type, "weight_type": "int8",
        "calibrate_method": calibrate_method, "percentile": percentile if calibrate_method == "percentile" else None,
        "calibration_samples": reader.samples, "max_images": max_images, "keep_float_tail": keep_float_tail,
        "float_last_convs": float_last_convs, "preprocess": preprocess, "boxes": _box_source(gt_boxes, detector),
        "equalized_pairs": equalized, "nodes_to_exclude": list(nodes_to_exclude),
        "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    sidecar = {
        "format": _SIDECAR_FORMAT,
        "file": out.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "source": {"file": src.name, "sha256": source_sha, "size": src.stat().st_size},
        "settings": settings,
    }
    atomic_write_json(sidecar_path(out), sidecar, indent=2, sort_keys=True)
    log.info("quantised %s -> %s (%d calibration samples)", src.name, out, reader.samples)
    return out


def _box_source(gt_boxes: Mapping[str, np.ndarray] | None, detector: Detector | None) -> str:
    if gt_boxes is not None:
        return "gt" + ("+detector" if detector is not None else "+full_image")
    return "detector" if detector is not None else "full_image"

