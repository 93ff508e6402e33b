"""Build the PyTorch networks of the model catalogue.

The catalogue (:mod:`posekit.catalog`) says what each network is — family,
constructor arguments, spec, checkpoint file, licence; this module maps a
family to its constructor. ``list_models()`` / ``get_pretrained_config(name)``
need no torch; the network modules are imported only when :func:`create_model`
builds one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from posekit import catalog
from posekit.catalog import LICENSES, ModelEntry

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["PretrainedConfig", "create_model", "list_models", "get_pretrained_config", "LICENSES"]

logger = logging.getLogger(__name__)

#: A torch network's catalogue entry (the name this module has always used).
PretrainedConfig = ModelEntry


# Each builder imports its module lazily and takes explicit keyword arguments.


def _build_fastpose(**kwargs: Any) -> "nn.Module":
    from .fastpose import FastPose

    return FastPose(**kwargs)


def _build_fastpose_duc(**kwargs: Any) -> "nn.Module":
    from .fastpose import FastPoseDUC

    return FastPoseDUC(**kwargs)


def _build_hrnet(**kwargs: Any) -> "nn.Module":
    from .hrnet import PoseHighResolutionNet

    return PoseHighResolutionNet(**kwargs)


def _build_rtmpose(**kwargs: Any) -> "nn.Module":
    from .rtmpose import RTMPose

    return RTMPose(**kwargs)


def _build_simplebaseline(**kwargs: Any) -> "nn.Module":
    from .simplebaseline import PoseResNet

    return PoseResNet(**kwargs)


def _build_yolov3(**kwargs: Any) -> "nn.Module":
    from .yolov3 import build_yolov3_spp

    kwargs.setdefault("input_size", 608)
    return build_yolov3_spp(**kwargs)


#: Catalogue ``family`` -> constructor.
BUILDERS: Mapping[str, Callable[..., "nn.Module"]] = MappingProxyType(
    {
        "fastpose": _build_fastpose,
        "fastpose_legacy": _build_fastpose,
        "fastpose_duc": _build_fastpose_duc,
        "hrnet": _build_hrnet,
        "rtmpose": _build_rtmpose,
        "simplebaseline": _build_simplebaseline,
        "yolov3": _build_yolov3,
    }
)


def list_models(task: str | None = None) -> list[str]:
    """Names of the catalogue's PyTorch networks (sorted), optionally only those of one ``task``."""
    return sorted(e.name for e in catalog.list_entries(task=task, runtime="torch"))


def get_pretrained_config(name: str) -> PretrainedConfig:
    """The catalogue entry of a PyTorch network (KeyError lists the choices)."""
    entry = catalog.CATALOG.get(name)
    if entry is None or entry.runtime != "torch":
        raise KeyError(f"unknown model {name!r}; choices: {', '.join(list_models())}")
    return entry


def create_model(
    name: str,
    checkpoint: str | Path | Mapping[str, Any] | None = None,
    *,
    sha256: str | None = None,
    **kwargs: Any,
) -> "nn.Module":
    """Build a catalogue network in ``eval()`` mode, optionally loading weights.

    Args:
        name: a name from :func:`list_models`.
        checkpoint: path of a checkpoint (``.pth``; ``.weights`` for darknet
            detectors) or an in-memory state_dict. ``None`` keeps random init.
        sha256: verify the checkpoint file against this digest first.
        **kwargs: constructor arguments overriding the catalogue's
            (e.g. ``width=16`` for a small HRNet).
    """
    entry = get_pretrained_config(name)
    arch = dict(entry.arch)
    arch.update(kwargs)
    logger.debug("building %s with %s", name, arch)
    model = BUILDERS[str(entry.family)](**arch)
    if checkpoint is not None:
        _load_weights(model, checkpoint, sha256)
    return model.eval()


def _load_weights(model: "nn.Module", checkpoint: str | Path | Mapping[str, Any], sha256: str | None) -> None:
    from .checkpoint import load_checkpoint, verify_sha256

    if not isinstance(checkpoint, Mapping) and str(checkpoint).endswith(".weights"):
        from .darknet import load_darknet_weights

        if sha256:
            verify_sha256(checkpoint, sha256)
        load_darknet_weights(model, checkpoint)
        return
    load_checkpoint(model, checkpoint, sha256=sha256)
