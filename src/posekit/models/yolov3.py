"""YOLOv3-SPP (the person detector of AlphaPose) in PyTorch.

The network is described as a list of darknet-style *blocks* (plain dicts, one
per ``[section]`` of a darknet ``.cfg`` file, without ``[net]``).
:func:`yolov3_spp_blocks` generates the YOLOv3-SPP description in code, so the
default model needs no cfg file; :func:`parse_darknet_cfg` reads a
user-supplied cfg into the same form.

The module layout reproduces the state_dict of AlphaPose's ``Darknet`` exactly:
block ``i`` (counted without ``[net]``) is ``module_list[i]``, an
``nn.Sequential`` whose convolution is ``conv_{i}`` and whose batch norm is
``batch_norm_{i}``.  Convolutions with batch norm have no bias; the three
detection convolutions (blocks 88, 100, 112 of YOLOv3-SPP) have a bias and no
batch norm.  Real darknet ``.weights`` files load with
:func:`posekit.models.darknet.load_darknet_weights`.

Forward semantics (all from the darknet/AlphaPose definition):

* convolution -> batch norm (eval) -> LeakyReLU(0.1); padding ``(size-1)//2``
  when ``pad=1``;
* ``shortcut``: ``out[i] = out[i-1] + out[i+from]``;
* ``route``: one layer is a copy, several are concatenated along channels;
  negative indices are relative, non-negative ones absolute;
* stride-1 ``maxpool`` (the SPP block) pads with **zeros**, not ``-inf``;
* ``upsample``: nearest neighbour, factor ``stride``;
* ``yolo``: the raw map ``[N, A*(5+C), G, G]`` becomes ``[N, G*G*A, 5+C]``
  with the anchor index fastest, then x, then y; it is decoded to
  ``(cx, cy, w, h)`` in input pixels with stride ``input_size // G``, sigmoid
  objectness and **sigmoid** class scores.  The yolo outputs are concatenated
  in block order.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from posekit.io import atomic_write_bytes

__all__ = [
    "YOLOV3_ANCHORS",
    "DarknetYolo",
    "YoloLayer",
    "ZeroPadMaxPool2d",
    "build_yolov3_spp",
    "build_darknet_from_cfg",
    "export_yolov3_onnx",
    "parse_darknet_cfg",
    "yolov3_spp_blocks",
]

logger = logging.getLogger(__name__)

#: The nine COCO anchors (width, height) in input pixels, smallest first.
YOLOV3_ANCHORS: tuple[tuple[int, int], ...] = (
    (10, 13),
    (16, 30),
    (33, 23),
    (30, 61),
    (62, 45),
    (59, 119),
    (116, 90),
    (156, 198),
    (373, 326),
)

Block = dict[str, Any]


# --------------------------------------------------------------------------- #
# Architecture description
# --------------------------------------------------------------------------- #
def _conv(filters: int, size: int, stride: int = 1, bn: bool = True, activation: str = "leaky") -> Block:
    return {
        "type": "convolutional",
        "batch_normalize": int(bn),
        "filters": filters,
        "size": size,
        "stride": stride,
        "pad": 1,
        "activation": activation,
    }


def _yolo(mask: Sequence[int], num_classes: int) -> Block:
    return {
        "type": "yolo",
        "mask": list(mask),
        "anchors": [list(a) for a in YOLOV3_ANCHORS],
        "classes": num_classes,
        "num": len(YOLOV3_ANCHORS),
    }


def yolov3_spp_blocks(num_classes: int = 80) -> list[Block]:
    """The YOLOv3-SPP network as a list of darknet blocks (without ``[net]``).

    Darknet-53 backbone (a stride-2 3x3 convolution per stage followed by
    1, 2, 8, 8, 4 residual blocks of 1x1 -> 3x3 convolutions), an SPP block
    (max-pools 5/9/13 concatenated with their input) and three detection heads
    at strides 32, 16 and 8 fed by upsampling and routes from the backbone.
    Yields 114 blocks; the detection convolutions are blocks 88, 100, 112.

    Args:
        num_classes: number of classes ``C``; each head has ``3 * (5 + C)``
            output channels.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    head_filters = 3 * (5 + num_classes)
    blocks: list[Block] = [_conv(32, 3)]
    stage_ends: list[int] = []
    for filters, repeats in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        blocks.append(_conv(filters, 3, stride=2))
        for _ in range(repeats):
            blocks += [_conv(filters // 2, 1), _conv(filters, 3), {"type": "shortcut", "from": -3, "activation": "linear"}]
        stage_ends.append(len(blocks) - 1)
    route_stride8, route_stride16 = stage_ends[2], stage_ends[3]  # 36, 61

    # Stride-32 head with SPP.
    blocks += [_conv(512, 1), _conv(1024, 3), _conv(512, 1)]
    blocks += [
        {"type": "maxpool", "size": 5, "stride": 1},
        {"type": "route", "layers": [-2]},
        {"type": "maxpool", "size": 9, "stride": 1},
        {"type": "route", "layers": [-4]},
        {"type": "maxpool", "size": 13, "stride": 1},
        {"type": "route", "layers": [-1, -3, -5, -6]},
    ]
    blocks += [_conv(512, 1), _conv(1024, 3), _conv(512, 1), _conv(1024, 3)]
    blocks += [_conv(head_filters, 1, bn=False, activation="linear"), _yolo((6, 7, 8), num_classes)]

    # Stride-16 and stride-8 heads.
    for filters, skip, mask in ((256, route_stride16, (3, 4, 5)), (128, route_stride8, (0, 1, 2))):
        blocks += [
            {"type": "route", "layers": [-4]},
            _conv(filters, 1),
            {"type": "upsample", "stride": 2},
            {"type": "route", "layers": [-1, skip]},
        ]
        for _ in range(3):
            blocks += [_conv(filters, 1), _conv(filters * 2, 3)]
        blocks += [_conv(head_filters, 1, bn=False, activation="linear"), _yolo(mask, num_classes)]
    return blocks


def _parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``".5"`` -> 0.5, ``"1,2"`` -> [1, 2]; anything else stays a string."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values: list[Any] = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            try:
                values.append(float(part))
            except ValueError:
                values.append(part)
    if len(values) == 1 and "," not in text:
        return values[0]
    return values


def parse_darknet_cfg(source: str | Path) -> tuple[Block, list[Block]]:
    """Read a darknet ``.cfg`` file (or its text) into ``(net, blocks)``.

    Args:
        source: a path to a ``.cfg`` file, or the cfg text itself (any string
            containing a newline is treated as text).

    Returns:
        the ``[net]`` section as a dict (empty if absent) and the list of other
        sections, each a dict with ``"type"`` plus its options (ints, floats,
        lists for comma-separated values).
    """
    if isinstance(source, Path) or "\n" not in source:
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = source
    sections: list[Block] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            sections.append({"type": header.group(1)})
            continue
        if "=" not in line or not sections:
            raise ValueError(f"darknet cfg line {lineno}: cannot parse {raw!r}")
        key, value = line.split("=", 1)
        sections[-1][key.strip()] = _parse_value(value.strip())
    for section in sections:
        for key in ("layers", "mask", "anchors"):
            if key in section and not isinstance(section[key], list):
                section[key] = [section[key]]
        if "anchors" in section:
            flat = section["anchors"]
            section["anchors"] = [list(flat[i : i + 2]) for i in range(0, len(flat), 2)]
    net: Block = {}
    if sections and sections[0]["type"] == "net":
        net = sections.pop(0)
    return net, sections


# --------------------------------------------------------------------------- #
# Layers
# --------------------------------------------------------------------------- #
class ZeroPadMaxPool2d(nn.Module):
    """Stride-1 max pool that keeps the size by padding with zeros (darknet SPP).

    ``[N, C, H, W] -> [N, C, H, W]``.  The zero border differs from
    ``nn.MaxPool2d(k, 1, padding=k // 2)`` (which pads with ``-inf``) wherever
    a window touching the border holds only negative values.

    Computed as ``max(maxpool_{-inf pad}(x), border)`` with ``border`` = 0 where
    the window reaches into the padding and ``-inf`` elsewhere, which is exactly
    the zero-padded max.  It is *not* written as ``Pad(0) -> MaxPool``:
    ONNX Runtime's ``PadFusion`` graph optimisation (on at the default
    optimisation level) folds such a Pad into the MaxPool's own ``-inf``
    padding and silently changes the result (onnxsim has the same bug).
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ZeroPadMaxPool2d needs an odd kernel size, got {kernel_size}")
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size // 2
        height, width = int(x.shape[2]), int(x.shape[3])
        rows = torch.arange(height, device=x.device)
        cols = torch.arange(width, device=x.device)
        inner = ((rows >= p) & (rows < height - p)).unsqueeze(1) & ((cols >= p) & (cols < width - p)).unsqueeze(0)
        border = torch.zeros((height, width), dtype=x.dtype, device=x.device).masked_fill(inner, float("-inf"))
        return torch.maximum(F.max_pool2d(x, self.kernel_size, stride=1, padding=p), border)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by an integer factor: ``[N,C,H,W] -> [N,C,sH,sW]``."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.scale), mode="nearest")

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class YoloLayer(nn.Module):
    """Decode one YOLO head map to boxes in input pixels.

    ``[N, A*(5+C), G, G] -> [N, G*G*A, 5+C]`` with rows ordered anchor fastest,
    then grid x, then grid y, and columns ``(cx, cy, w, h, obj, cls_1..cls_C)``:
    ``cx = (sigmoid(tx) + x) * s``, ``w = exp(tw) * (anchor_w / s) * s``,
    sigmoid objectness and sigmoid class scores, where ``s = input_size // G``.

    Args:
        anchors: the ``A`` anchors ``(w, h)`` of this head, in input pixels.
        num_classes: ``C``.
        input_size: the square network input size the stride is derived from.
    """

    def __init__(self, anchors: Sequence[Sequence[float]], num_classes: int, input_size: int) -> None:
        super().__init__()
        self.anchors = tuple((float(w), float(h)) for w, h in anchors)
        self.num_classes = num_classes
        self.input_size = input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        num_anchors = len(self.anchors)
        attrs = 5 + self.num_classes
        grid_h, grid_w = int(x.shape[2]), int(x.shape[3])
        stride = self.input_size // grid_w
        rows = grid_h * grid_w * num_anchors
        # [N, A, 5+C, Gy, Gx] -> [N, Gy, Gx, A, 5+C] -> [N, rows, 5+C]: anchor fastest, then x, then y.
        p = x.reshape(-1, num_anchors, attrs, grid_h, grid_w).permute(0, 3, 4, 1, 2).reshape(-1, rows, attrs)
        gy, gx = torch.meshgrid(
            torch.arange(grid_h, dtype=x.dtype, device=x.device),
            torch.arange(grid_w, dtype=x.dtype, device=x.device),
            indexing="ij",
        )
        # (x, y) offset of each row's cell: [rows, 2]
        offsets = torch.stack((gx, gy), dim=-1).reshape(-1, 1, 2).expand(-1, num_anchors, 2).reshape(rows, 2)
        anchors = torch.tensor(
            [(w / stride, h / stride) for w, h in self.anchors], dtype=x.dtype, device=x.device
        ).repeat(grid_h * grid_w, 1)  # [rows, 2] in grid units
        # Transcendentals go column by column, as in the reference implementation: the
        # vectorised and strided CPU kernels differ in the last bit.
        xy = torch.stack((torch.sigmoid(p[:, :, 0]), torch.sigmoid(p[:, :, 1])), dim=-1)
        xy = (xy + offsets) * stride
        wh = torch.exp(p[:, :, 2:4]) * anchors * stride
        obj = torch.sigmoid(p[:, :, 4:5])
        cls = torch.sigmoid(p[:, :, 5:])
        return torch.cat((xy, wh, obj, cls), dim=-1)

    def extra_repr(self) -> str:
        return f"anchors={self.anchors}, num_classes={self.num_classes}, input_size={self.input_size}"


# --------------------------------------------------------------------------- #
# Network
# --------------------------------------------------------------------------- #
def _check_input_size(input_size: int) -> int:
    if isinstance(input_size, bool):
        raise TypeError("input_size must be an int, got bool")
    try:
        input_size = operator.index(input_size)
    except TypeError:
        raise TypeError(f"input_size must be an int, got {type(input_size).__name__}") from None
    if input_size <= 0 or input_size % 32 != 0:
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    return input_size


class DarknetYolo(nn.Module):
    """A darknet YOLO network built from blocks (see :func:`yolov3_spp_blocks`).

    ``forward(x: [N, 3, S, S]) -> [N, boxes, 5+C]``, ``S == input_size``; for
    YOLOv3-SPP ``boxes = 3 * ((S/32)^2 + (S/16)^2 + (S/8)^2)`` (6300 at 320,
    22743 at 608).  Columns: ``cx, cy, w, h`` in input pixels, sigmoid
    objectness, ``C`` sigmoid class probabilities.

    Args:
        blocks: darknet blocks without ``[net]``.
        input_size: square input size, a multiple of 32.
        in_channels: image channels.
    """

    def __init__(self, blocks: Sequence[Block], input_size: int = 608, in_channels: int = 3) -> None:
        super().__init__()
        self.input_size = _check_input_size(input_size)
        self.blocks = [dict(b) for b in blocks]
        self.module_list = nn.ModuleList()
        # Per block: ("conv"|"maxpool"|"upsample"|"yolo", None) or ("route"/"shortcut", absolute sources).
        self._plan: list[tuple[str, tuple[int, ...]]] = []
        channels: list[int] = []
        downs: list[int] = []  # total downsampling factor of each block's output
        self._yolo_grids: list[tuple[int, int]] = []  # (downsampling, anchors) per yolo layer
        prev = in_channels
        down = 1
        needed: set[int] = set()
        for i, block in enumerate(self.blocks):
            kind = block["type"]
            seq = nn.Sequential()
            sources: tuple[int, ...] = ()
            if kind == "convolutional":
                bn = bool(int(block.get("batch_normalize", 0)))
                size = int(block["size"])
                pad = (size - 1) // 2 if int(block.get("pad", 0)) else 0
                filters = int(block["filters"])
                seq.add_module(
                    f"conv_{i}", nn.Conv2d(prev, filters, size, int(block.get("stride", 1)), pad, bias=not bn)
                )
                if bn:
                    seq.add_module(f"batch_norm_{i}", nn.BatchNorm2d(filters))
                activation = block.get("activation", "linear")
                if activation == "leaky":
                    seq.add_module(f"leaky_{i}", nn.LeakyReLU(0.1))
                elif activation != "linear":
                    raise ValueError(f"block {i}: unsupported activation {activation!r}")
                out = filters
                down *= int(block.get("stride", 1))
            elif kind == "maxpool":
                size, stride = int(block["size"]), int(block.get("stride", size))
                if stride == 1:
                    seq.add_module(f"maxpool_{i}", ZeroPadMaxPool2d(size))
                else:
                    seq.add_module(f"maxpool_{i}", nn.MaxPool2d(size, stride))
                    down *= stride
                out = prev
            elif kind == "upsample":
                scale = int(block.get("stride", 2))
                seq.add_module(f"upsample_{i}", Upsample(scale))
                if down % scale:
                    raise ValueError(f"block {i}: upsampling by {scale} below stride {down}")
                down //= scale
                out = prev
            elif kind == "route":
                layers = block["layers"]
                layers = [layers] if isinstance(layers, int) else list(layers)
                sources = tuple(int(l) if int(l) >= 0 else i + int(l) for l in layers)
                if any(not 0 <= s < i for s in sources):
                    raise ValueError(f"block {i}: route layers {layers} out of range")
                if len({downs[s] for s in sources}) != 1:
                    raise ValueError(f"block {i}: route layers {layers} have different strides")
                out = sum(channels[s] for s in sources)
                down = downs[sources[0]]
            elif kind == "shortcut":
                frm = int(block["from"])
                src = frm if frm >= 0 else i + frm
                if not 0 <= src < i or channels[src] != prev:
                    raise ValueError(f"block {i}: bad shortcut from={frm}")
                if block.get("activation", "linear") != "linear":
                    raise ValueError(f"block {i}: only linear shortcuts are supported")
                sources = (i - 1, src)
                out = prev
            elif kind == "yolo":
                mask = block.get("mask", list(range(len(block["anchors"]))))
                mask = [mask] if isinstance(mask, int) else list(mask)
                anchors = [block["anchors"][m] for m in mask]
                classes = int(block["classes"])
                if prev != len(anchors) * (5 + classes):
                    raise ValueError(f"block {i}: yolo expects {len(anchors) * (5 + classes)} channels, got {prev}")
                seq.add_module(f"yolo_{i}", YoloLayer(anchors, classes, self.input_size))
                self._yolo_grids.append((down, len(anchors)))
                out = prev
            else:
                raise ValueError(f"block {i}: unsupported darknet block type {kind!r}")
            needed.update(sources)
            self.module_list.append(seq)
            self._plan.append((kind, sources))
            channels.append(out)
            downs.append(down)
            prev = out
        if not self._yolo_grids:
            raise ValueError("the network has no yolo layer")
        if max(downs) > 32 or 32 % max(downs):
            raise ValueError(f"the network downsamples by {max(downs)}; only divisors of 32 are supported")
        classes = {int(b["classes"]) for b in self.blocks if b["type"] == "yolo"}
        if len(classes) != 1:
            raise ValueError(f"yolo layers disagree on the number of classes: {sorted(classes)}")
        self.num_classes = classes.pop()
        # Outputs later blocks read (besides the previous one); all others are dropped at once.
        self._keep = frozenset(needed)

    @property
    def yolo_layers(self) -> list[YoloLayer]:
        """The decoding layers in output order."""
        return [m for m in self.modules() if isinstance(m, YoloLayer)]

    def set_input_size(self, input_size: int) -> None:
        """Change the square input size (a multiple of 32) the strides are derived from."""
        self.input_size = _check_input_size(input_size)
        for layer in self.yolo_layers:
            layer.input_size = self.input_size

    def num_boxes(self, input_size: int | None = None) -> int:
        """Rows of the output for ``input_size`` (default: the current one)."""
        size = self.input_size if input_size is None else _check_input_size(input_size)
        return sum((size // down) ** 2 * n for down, n in self._yolo_grids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, S, S]`` (RGB in 0..1, ``S == input_size``) -> ``[N, boxes, 5+C]``."""
        if not (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()):
            if x.dim() != 4 or x.shape[2] != self.input_size or x.shape[3] != self.input_size:
                raise ValueError(
                    f"expected input [N, C, {self.input_size}, {self.input_size}], got {list(x.shape)}"
                )
        outputs: dict[int, torch.Tensor] = {}
        detections: list[torch.Tensor] = []
        for i, (module, (kind, sources)) in enumerate(zip(self.module_list, self._plan)):
            if kind == "route":
                x = outputs[sources[0]] if len(sources) == 1 else torch.cat([outputs[s] for s in sources], 1)
            elif kind == "shortcut":
                x = x + outputs[sources[1]]
            elif kind == "yolo":
                detections.append(module(x))
            else:
                x = module(x)
            if i in self._keep:
                outputs[i] = x
        return torch.cat(detections, 1)


def build_yolov3_spp(input_size: int = 608, num_classes: int = 80) -> DarknetYolo:
    """YOLOv3-SPP with AlphaPose's ``Darknet`` state_dict layout (444 entries at C=80).

    Args:
        input_size: square input size, a multiple of 32 (AlphaPose: 608).
        num_classes: number of classes (COCO: 80; person is class 0).

    Returns:
        a :class:`DarknetYolo` in ``eval()`` mode; ``forward`` maps
        ``[N, 3, S, S]`` to ``[N, boxes, 5 + num_classes]``.
    """
    model = DarknetYolo(yolov3_spp_blocks(num_classes), input_size=_check_input_size(input_size))
    return model.eval()


def build_darknet_from_cfg(cfg: str | Path, input_size: int | None = None) -> DarknetYolo:
    """Build a YOLO network from a user-supplied darknet ``.cfg``.

    Args:
        cfg: the cfg path (or text).
        input_size: square input size; defaults to the ``[net]`` height.
    """
    net, blocks = parse_darknet_cfg(cfg)
    if input_size is None:
        input_size = int(net.get("height", 608))
        if int(net.get("width", input_size)) != input_size:
            raise ValueError("only square darknet inputs are supported")
    return DarknetYolo(blocks, input_size=_check_input_size(input_size), in_channels=int(net.get("channels", 3))).eval()


def export_yolov3_onnx(
    model: DarknetYolo,
    path: str | Path | None = None,
    opset_version: int = 17,
    input_name: str = "images",
    output_name: str = "prediction",
) -> bytes:
    """Export to ONNX with a dynamic batch axis.

    The graph maps ``input_name: [N, 3, S, S]`` float32 to
    ``output_name: [N, boxes, 5+C]`` (``S = model.input_size``).  Uses the
    TorchScript-based exporter (no ``onnxscript`` needed).

    Args:
        model: the network (put in ``eval()`` mode for the export).
        path: also write the model there when given.
        opset_version: ONNX opset.

    Returns:
        the serialised ONNX model.
    """
    from .onnx_export import onnx_bytes

    size = model.input_size
    data = onnx_bytes(model, (size, size), None, opset_version, input_name=input_name, output_name=output_name)
    if path is not None:
        atomic_write_bytes(Path(path), data)
    logger.info("exported YOLO (%d boxes at %d px) to ONNX, %d bytes", model.num_boxes(), model.input_size, len(data))
    return data
