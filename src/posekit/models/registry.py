"""Named networks: how to build each one and the conventions of its released weights.

``list_models()`` / ``get_pretrained_config(name)`` need no torch; the
network modules are imported only when :func:`create_model` builds one.

Download locations: the official HRNet / SimpleBaseline and AlphaPose pose
weights are published only through Google Drive / OneDrive / Baidu folders
linked from the projects' READMEs, which have no stable direct-download URL.
For those, ``url`` is ``None`` and ``source`` names the page that links them.
``sha256`` is filled in only where the digest of the official file is known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..spec import (
    ALPHAPOSE_MEAN,
    ALPHAPOSE_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropConfig,
    PoseModelSpec,
)

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["PretrainedConfig", "create_model", "list_models", "get_pretrained_config", "LICENSES"]

logger = logging.getLogger(__name__)

#: Licence strings of the released weights.
LICENSES = MappingProxyType(
    {
        "alphapose": "AlphaPose licence: non-commercial (research/education) use only; commercial use needs a licence from SJTU MVIG",
        "mit": "MIT",
        "darknet": "YOLO/darknet weights by J. Redmon: public domain (darknet licence); distributed with AlphaPose",
    }
)

_HRNET_SOURCE = "https://github.com/leoxiaobin/deep-high-resolution-net.pytorch (README: model zoo on OneDrive / Google Drive)"
_ALPHAPOSE_SOURCE = "https://github.com/MVIG-SJTU/AlphaPose/blob/master/docs/MODEL_ZOO.md (Google Drive links)"
_ALPHAPOSE_LEGACY_SOURCE = "https://github.com/MVIG-SJTU/AlphaPose/tree/pytorch (README: duc_se.pth on Google Drive / Baidu)"
_YOLO_URL = "https://pjreddie.com/media/files/yolov3-spp.weights"


@dataclass(frozen=True)
class PretrainedConfig:
    """What a registered network is and how its released weights expect to be used.

    Attributes:
        name: registry name.
        family: ``"fastpose"``, ``"fastpose_duc"``, ``"fastpose_legacy"``, ``"hrnet"``,
            ``"simplebaseline"`` or ``"yolov3"``.
        task: ``"pose"`` (heatmap network, has a ``spec``) or ``"detection"``.
        input_size: network input ``(width, height)``.
        num_output_channels: heatmap channels (pose) or values per box (detection).
        spec: the pipeline contract for pose networks, ``None`` for detectors.
        checkpoint_file: file name of the official weights.
        url: direct download URL, or ``None`` when only a web folder exists.
        source: where the official weights are published.
        sha256: sha256 of the official file when known.
        license: licence of the released weights.
        description: one line for listings.
        arch: the constructor arguments the registry passes (for reference).
    """

    name: str
    family: str
    task: str
    input_size: tuple[int, int]
    num_output_channels: int
    spec: PoseModelSpec | None
    checkpoint_file: str | None
    url: str | None
    source: str
    sha256: str | None
    license: str
    description: str
    arch: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.task not in ("pose", "detection"):
            raise ValueError(f"task must be 'pose' or 'detection', got {self.task!r}")
        if (self.task == "pose") != (self.spec is not None):
            raise ValueError("pose networks need a spec; detectors have none")


# --------------------------------------------------------------------------- builders
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


def _build_simplebaseline(**kwargs: Any) -> "nn.Module":
    from .simplebaseline import PoseResNet

    return PoseResNet(**kwargs)


def _build_yolov3_spp(**kwargs: Any) -> "nn.Module":
    from .yolov3 import build_yolov3_spp

    kwargs.setdefault("input_size", 608)
    return build_yolov3_spp(**kwargs)


# --------------------------------------------------------------------------- specs


def _coco17_spec(
    input_size: tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    crop: CropConfig,
    decode: str,
) -> PoseModelSpec:
    """Spec of an RGB network with the 17 COCO keypoints, which every registered pose network is."""
    return PoseModelSpec(
        input_size=input_size,
        channel_order="RGB",
        mean=mean,
        std=std,
        crop=crop,
        decode=decode,
        num_keypoints=17,
        schema="coco17",
    )


def _alphapose_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """Current AlphaPose (SimpleTransform): affine crop x1.25, RGB/255 - mean."""
    return _coco17_spec(input_size, ALPHAPOSE_MEAN, ALPHAPOSE_STD, CropConfig(mode="affine", padding=1.25), "hrnet")


def _alphapose_legacy_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """2018 AlphaPose SPPE: legacy box crop, RGB/255 - mean, 'alphapose' decode, first 17 of 33."""
    return _coco17_spec(input_size, ALPHAPOSE_MEAN, ALPHAPOSE_STD, CropConfig(mode="alphapose_legacy"), "alphapose")


def _imagenet_spec(input_size: tuple[int, int]) -> PoseModelSpec:
    """HRNet / SimpleBaseline: affine crop x1.25, ImageNet mean/std, RGB."""
    return _coco17_spec(input_size, IMAGENET_MEAN, IMAGENET_STD, CropConfig(mode="affine", padding=1.25), "hrnet")


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class _Entry:
    config: PretrainedConfig
    builder: Callable[..., "nn.Module"]


def _pose(
    name: str,
    family: str,
    builder: Callable[..., "nn.Module"],
    arch: dict[str, Any],
    spec: PoseModelSpec,
    channels: int,
    checkpoint_file: str,
    source: str,
    license_key: str,
    description: str,
    sha256: str | None = None,
) -> tuple[str, _Entry]:
    config = PretrainedConfig(
        name=name,
        family=family,
        task="pose",
        input_size=spec.input_size,
        num_output_channels=channels,
        spec=spec,
        checkpoint_file=checkpoint_file,
        url=None,
        source=source,
        sha256=sha256,
        license=LICENSES[license_key],
        description=description,
        arch=tuple(sorted(arch.items())),
    )
    return name, _Entry(config, builder)


def _hrnet(width: int, w: int, h: int, sha256: str | None = None) -> tuple[str, _Entry]:
    return _pose(
        f"hrnet_w{width}_{h}x{w}",
        "hrnet",
        _build_hrnet,
        {"width": width, "num_joints": 17},
        _imagenet_spec((w, h)),
        17,
        f"pose_hrnet_w{width}_{h}x{w}.pth",
        _HRNET_SOURCE,
        "mit",
        f"HRNet-W{width} {h}x{w} COCO (Sun et al. 2019)",
        sha256,
    )


def _simplebaseline(depth: int) -> tuple[str, _Entry]:
    return _pose(
        f"simplebaseline_res{depth}_256x192",
        "simplebaseline",
        _build_simplebaseline,
        {"depth": depth, "num_joints": 17},
        _imagenet_spec((192, 256)),
        17,
        f"pose_resnet_{depth}_256x192.pth",
        _HRNET_SOURCE,
        "mit",
        f"SimpleBaseline ResNet-{depth} 256x192 COCO (Xiao et al. 2018)",
    )


_HRNET_W32_256X192_SHA256 = "19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c"

_REGISTRY: Mapping[str, _Entry] = MappingProxyType(
    dict(
        [
            _pose(
                "fastpose_res50_256x192",
                "fastpose",
                _build_fastpose,
                {"depth": 50, "num_joints": 17},
                _alphapose_spec((192, 256)),
                17,
                "fast_res50_256x192.pth",
                _ALPHAPOSE_SOURCE,
                "alphapose",
                "AlphaPose FastPose SE-ResNet-50 256x192 COCO",
            ),
            _pose(
                "fastpose_duc_shuffle_res50_256x192",
                "fastpose_duc",
                _build_fastpose_duc,
                {"depth": 50, "num_joints": 17, "backbone": "shuffle"},
                _alphapose_spec((192, 256)),
                17,
                "fast_421_res50-shuffle_256x192.pth",
                _ALPHAPOSE_SOURCE,
                "alphapose",
                "AlphaPose FastPose_DUC shuffle SE-ResNet-50 256x192 COCO",
            ),
            _pose(
                "fastpose_legacy_se101_320x256",
                "fastpose_legacy",
                _build_fastpose,
                {"depth": 101, "num_joints": 33},
                _alphapose_legacy_spec((256, 320)),
                33,
                "duc_se.pth",
                _ALPHAPOSE_LEGACY_SOURCE,
                "alphapose",
                "2018 AlphaPose SPPE FastPose SE-ResNet-101 320x256 (33 outputs, first 17 COCO)",
            ),
            _hrnet(32, 192, 256, _HRNET_W32_256X192_SHA256),
            _hrnet(32, 288, 384),
            _hrnet(48, 192, 256),
            _hrnet(48, 288, 384),
            _simplebaseline(50),
            _simplebaseline(101),
            _simplebaseline(152),
            (
                "yolov3_spp",
                _Entry(
                    PretrainedConfig(
                        name="yolov3_spp",
                        family="yolov3",
                        task="detection",
                        input_size=(608, 608),
                        num_output_channels=85,
                        spec=None,
                        checkpoint_file="yolov3-spp.weights",
                        url=_YOLO_URL,
                        source="https://pjreddie.com/darknet/yolo/ (AlphaPose ships the same file)",
                        sha256=None,
                        license=LICENSES["darknet"],
                        description="YOLOv3-SPP 608x608 COCO detector (AlphaPose's person detector)",
                        arch=(("input_size", 608),),
                    ),
                    _build_yolov3_spp,
                ),
            ),
        ]
    )
)


# --------------------------------------------------------------------------- API


def list_models(task: str | None = None) -> list[str]:
    """Registered network names (sorted), optionally only those of one ``task``."""
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.config.task == task)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choices: {', '.join(list_models())}") from None


def get_pretrained_config(name: str) -> PretrainedConfig:
    """The :class:`PretrainedConfig` of a registered network (KeyError lists the choices)."""
    return _entry(name).config


def create_model(
    name: str,
    checkpoint: str | Path | Mapping[str, Any] | None = None,
    *,
    sha256: str | None = None,
    **kwargs: Any,
) -> "nn.Module":
    """Build a registered network in ``eval()`` mode, optionally loading weights.

    Args:
        name: a name from :func:`list_models`.
        checkpoint: path of a checkpoint (``.pth``; ``.weights`` for darknet
            detectors) or an in-memory state_dict. ``None`` keeps random init.
        sha256: verify the checkpoint file against this digest first.
        **kwargs: constructor arguments overriding the registered ones
            (e.g. ``width=16`` for a small HRNet).
    """
    entry = _entry(name)
    arch = dict(entry.config.arch)
    arch.update(kwargs)
    logger.debug("building %s with %s", name, arch)
    model = entry.builder(**arch)
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
