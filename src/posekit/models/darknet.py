"""Read and write darknet ``.weights`` files (no pickle involved).

File layout (darknet ``save_weights`` / ``load_weights``):

* header, little-endian: ``int32 major, int32 minor, int32 revision`` then
  ``seen`` (images seen in training) as ``uint64`` when
  ``major*10 + minor >= 2`` (5 int32 words in all; YOLOv3 files use 0.2.0),
  else as ``int32`` (4 words);
* then, for every convolution in network order, raw little-endian float32 in
  C order: with batch norm ``bn.bias, bn.weight, bn.running_mean,
  bn.running_var, conv.weight``; without ``conv.bias, conv.weight``.

The convolutions are found by walking ``model.modules()`` in registration
order; a convolution is paired with the ``BatchNorm2d`` registered right after
it (the darknet ``[convolutional]`` block is conv -> bn -> activation).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "DarknetHeader",
    "DarknetWeightsError",
    "darknet_conv_layers",
    "darknet_float_count",
    "load_darknet_weights",
    "read_darknet_header",
    "save_darknet_weights",
]

logger = logging.getLogger(__name__)

_MAX_VERSION = 1000  # darknet treats major/minor >= 1000 as "transposed" (old) files


class DarknetWeightsError(ValueError):
    """A ``.weights`` file does not fit the model (size or header)."""


@dataclass(frozen=True)
class DarknetHeader:
    """Header of a darknet ``.weights`` file.

    Attributes:
        major, minor, revision: format version (YOLOv3 files: 0, 2, 0).
        seen: number of training images seen.
        nbytes: header size in bytes (20 with a 64-bit ``seen``, else 16).
    """

    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def wide_seen(self) -> bool:
        """Whether ``seen`` is stored as uint64 (version >= 0.2)."""
        return self.major * 10 + self.minor >= 2

    @property
    def nbytes(self) -> int:
        return 20 if self.wide_seen else 16

    def to_bytes(self) -> bytes:
        words = np.array([self.major, self.minor, self.revision], dtype="<i4").tobytes()
        if self.wide_seen:
            return words + np.array([self.seen], dtype="<u8").tobytes()
        return words + np.array([self.seen], dtype="<i4").tobytes()


def read_darknet_header(path: str | os.PathLike[str]) -> DarknetHeader:
    """Read and check the header of a darknet ``.weights`` file.

    Raises:
        DarknetWeightsError: the file is shorter than a header or its version
            words are not plausible (negative, or >= 1000 as in pre-2016
            transposed files).
    """
    path = Path(path)
    with path.open("rb") as f:
        raw = f.read(20)
    if len(raw) < 16:
        raise DarknetWeightsError(f"{path}: {len(raw)} bytes is too short for a darknet weights header (16-20 bytes)")
    major, minor, revision = (int(v) for v in np.frombuffer(raw[:12], dtype="<i4"))
    if not (0 <= major < _MAX_VERSION and 0 <= minor < _MAX_VERSION and 0 <= revision):
        raise DarknetWeightsError(
            f"{path}: not a supported darknet weights header (version {major}.{minor}.{revision}); "
            "expected small non-negative version numbers such as 0.2.0"
        )
    if major * 10 + minor >= 2:
        if len(raw) < 20:
            raise DarknetWeightsError(f"{path}: {len(raw)} bytes is too short for a version {major}.{minor} header (20 bytes)")
        seen = int(np.frombuffer(raw[12:20], dtype="<u8")[0])
    else:
        seen = int(np.frombuffer(raw[12:16], dtype="<i4")[0])
    return DarknetHeader(major, minor, revision, seen)


def darknet_conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d, nn.BatchNorm2d | None]]:
    """The ``(name, conv, bn_or_None)`` triples of ``model`` in darknet file order."""
    modules = list(model.named_modules())
    layers: list[tuple[str, nn.Conv2d, nn.BatchNorm2d | None]] = []
    for k, (name, module) in enumerate(modules):
        if not isinstance(module, nn.Conv2d):
            continue
        bn = None
        if k + 1 < len(modules):
            nxt = modules[k + 1][1]
            if isinstance(nxt, nn.BatchNorm2d) and nxt.num_features == module.out_channels:
                bn = nxt
        if bn is None and module.bias is None:
            raise ValueError(f"{name}: a convolution without bias must be followed by a BatchNorm2d")
        if bn is not None and module.bias is not None:
            raise ValueError(f"{name}: darknet convolutions with batch norm have no bias")
        layers.append((name, module, bn))
    if not layers:
        raise ValueError("the model has no Conv2d layers")
    return layers


def _layer_tensors(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> list[torch.Tensor]:
    """Tensors of one layer in file order."""
    if bn is not None:
        assert bn.running_mean is not None and bn.running_var is not None
        return [bn.bias, bn.weight, bn.running_mean, bn.running_var, conv.weight]
    assert conv.bias is not None
    return [conv.bias, conv.weight]


def darknet_float_count(model: nn.Module) -> int:
    """Number of float32 values ``model`` takes from a ``.weights`` file."""
    return sum(t.numel() for _, conv, bn in darknet_conv_layers(model) for t in _layer_tensors(conv, bn))


def load_darknet_weights(model: nn.Module, path: str | os.PathLike[str]) -> DarknetHeader:
    """Load a darknet ``.weights`` file into ``model`` in place.

    The whole file is checked before any tensor is changed: it must hold
    exactly as many float32 values after the header as the model's
    convolutions need.  BatchNorm ``num_batches_tracked`` is left untouched.

    Args:
        model: e.g. :func:`posekit.models.yolov3.build_yolov3_spp` (any module
            whose Conv2d/BatchNorm2d registration order is the darknet order).
        path: the ``.weights`` file.

    Returns:
        the file's :class:`DarknetHeader`.

    Raises:
        DarknetWeightsError: bad header, or a float count that does not match
            (the message names the file, the expected and the actual count).
    """
    path = Path(path)
    layers = darknet_conv_layers(model)
    expected = sum(t.numel() for _, conv, bn in layers for t in _layer_tensors(conv, bn))
    try:
        header = read_darknet_header(path)
    except DarknetWeightsError as exc:
        found = max(path.stat().st_size - 20, 0) / 4
        raise DarknetWeightsError(
            f"{exc}; the model expects {expected} float32 values after a 20-byte header, "
            f"the file holds {found:g} after 20 bytes"
        ) from None
    payload = path.stat().st_size - header.nbytes
    if payload % 4:
        raise DarknetWeightsError(
            f"{path}: {payload} bytes after the {header.nbytes}-byte header is not a whole number of float32 "
            f"values; expected {expected} floats ({expected * 4} bytes)"
        )
    actual = payload // 4
    if actual != expected:
        reason = "too short" if actual < expected else "too long"
        raise DarknetWeightsError(
            f"{path}: file is {reason} for this model: expected {expected} float32 values after the "
            f"{header.nbytes}-byte header (version {header.major}.{header.minor}.{header.revision}), "
            f"found {actual} (difference {actual - expected:+d})"
        )
    data = np.fromfile(path, dtype="<f4", offset=header.nbytes)
    if data.size != expected:  # the file changed under us
        raise DarknetWeightsError(f"{path}: read {data.size} float32 values, expected {expected}")
    offset = 0
    with torch.no_grad():
        for _, conv, bn in layers:
            for tensor in _layer_tensors(conv, bn):
                n = tensor.numel()
                chunk = torch.from_numpy(data[offset : offset + n].astype(np.float32, copy=False))
                tensor.copy_(chunk.view(tensor.shape))
                offset += n
    logger.info(
        "loaded %s: darknet %d.%d.%d, seen %d, %d conv layers, %d floats",
        path, header.major, header.minor, header.revision, header.seen, len(layers), expected,
    )
    return header


def save_darknet_weights(
    model: nn.Module, path: str | os.PathLike[str], header: DarknetHeader | None = None
) -> int:
    """Write ``model``'s convolutions as a darknet ``.weights`` file.

    The inverse of :func:`load_darknet_weights`.  With the default header
    (version 0.2.0, seen 0) a YOLOv3-SPP model gives a 252,209,544-byte file.

    Args:
        model: the network (see :func:`darknet_conv_layers` for the order).
        path: output file (overwritten).
        header: version and ``seen`` to write; default ``DarknetHeader()``.

    Returns:
        the number of float32 values written.
    """
    header = DarknetHeader() if header is None else header
    path = Path(path)
    count = 0
    with path.open("wb") as f:
        f.write(header.to_bytes())
        for _, conv, bn in darknet_conv_layers(model):
            for tensor in _layer_tensors(conv, bn):
                array = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
                f.write(array.astype("<f4", copy=False).tobytes())
                count += array.size
    logger.info("wrote %s: %d floats", path, count)
    return count
