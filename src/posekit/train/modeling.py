"""From a :class:`~posekit.train.config.ModelConfig` to a network and its contract."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from posekit.spec import PoseModelSpec
from posekit.schema import KeypointSchema, get_schema
from posekit.train.config import ConfigError, DataConfig, ModelConfig

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = [
    "resolve_spec", "init_weights", "load_partial_weights", "pretrained_path", "network_args", "build_model", "check_output_shape",
    "model_info",
]

log = logging.getLogger(__name__)


def resolve_spec(model: ModelConfig, data: DataConfig | None = None) -> tuple[PoseModelSpec, KeypointSchema]:
    """The pose contract the run trains for: the registered model's spec with
    ``model.input_size`` and ``data.crop_padding`` applied, and its keypoint schema.

    Raises:
        ConfigError: unknown model name or a detector.
    """
    from posekit.models.registry import get_pretrained_config, list_models

    try:
        pretrained = get_pretrained_config(model.name)
    except KeyError:
        raise ConfigError(
            f"model.name {model.name!r} is not registered; pose models: {', '.join(list_models(task='pose'))}"
        ) from None
    if pretrained.spec is None:
        raise ConfigError(f"model.name {model.name!r} is a {pretrained.task} network, not a pose network")
    spec = pretrained.spec
    if model.input_size is not None:
        w, h = model.input_size
        if spec.output == "heatmaps" and (w % spec.heatmap_stride or h % spec.heatmap_stride):
            raise ConfigError(
                f"model.input_size {model.input_size} must be divisible by the stride {spec.heatmap_stride}"
            )
        spec = spec.with_(input_size=(int(w), int(h)))
    if data is not None and data.crop_padding is not None:
        spec = spec.with_(crop=replace(spec.crop, padding=float(data.crop_padding)))
    return spec, get_schema(spec.schema)


def init_weights(net: "nn.Module", scheme: str = "hrnet") -> None:
    """Initialise a network in place.

    ``"hrnet"`` is HRNet's / SimpleBaseline's ``init_weights``: every
    ``Conv2d`` and ``ConvTranspose2d`` weight ``~ N(0, 0.001)``, biases 0,
    BatchNorm weight 1 and bias 0 (the heatmaps start near zero).
    ``"default"`` keeps PyTorch's initialisation.
    """
    from torch import nn

    if scheme == "default":
        return
    if scheme != "hrnet":
        raise ConfigError(f"model.init must be 'hrnet' or 'default', got {scheme!r}")
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def load_partial_weights(net: "nn.Module", checkpoint: str) -> int:
    """Copy every tensor of ``checkpoint`` whose name and shape match ``net`` (HRNet's
    ImageNet initialisation: ``load_state_dict(..., strict=False)``).

    The file is read as :func:`~posekit.models.checkpoint.load_checkpoint` reads it
    (:func:`~posekit.models.checkpoint.read_model_state`): wrappers unwrapped and MMPose's
    ``backbone.`` / ``head.`` / ``keypoint_head.`` keys converted to the network's names.

    Returns:
        the number of tensors copied; raises :class:`ConfigError` when none match.
    """
    from posekit.models.checkpoint import read_model_state

    state, source = read_model_state(net, checkpoint)
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise ConfigError(f"model.init_checkpoint {checkpoint}: no tensor matches the network")
    net.load_state_dict(usable, strict=False)
    skipped = len(state) - len(usable)
    log.info(
        "initialised %d of %d tensors from %s (%d checkpoint tensors unused)",
        len(usable), len(own), source, skipped,
    )
    return len(usable)


def network_args(model: ModelConfig) -> dict[str, Any]:
    """Constructor arguments of the run's network: ``model.args``, plus ``input_size`` for networks whose head is
    built for their input size (the RTMPose family's SimCC heads) when ``model.input_size`` is set."""
    from posekit.models.registry import get_pretrained_config

    args = dict(model.args)
    arch = dict(get_pretrained_config(model.name).arch)
    if model.input_size is not None and "input_size" in arch and "input_size" not in args:
        args["input_size"] = tuple(int(v) for v in model.input_size)
    return args


def pretrained_path(model: ModelConfig) -> str:
    """``model.init_checkpoint`` as a file: ``"pretrained"`` is the catalogue's checkpoint of ``model.name``
    (found, or downloaded and verified, by :func:`posekit.catalog.model_file_path`)."""
    if model.init_checkpoint != "pretrained":
        return str(model.init_checkpoint)
    from posekit import catalog

    try:
        return str(catalog.model_file_path(model.name))
    except catalog.ModelFileError as exc:
        raise ConfigError(f"model.init_checkpoint 'pretrained': {exc}") from exc


def build_model(model: ModelConfig) -> "nn.Module":
    """``create_model(name, **args)`` (:func:`network_args`), initialised by ``model.init`` and then from
    ``model.init_checkpoint`` (matching tensors only), in train mode."""
    from posekit.models.registry import create_model

    net = create_model(model.name, **network_args(model))
    init_weights(net, model.init)
    if model.init_checkpoint:
        load_partial_weights(net, pretrained_path(model))
    return net.train()


def check_output_shape(net: "nn.Module", spec: PoseModelSpec) -> None:
    """One forward pass on a zero input: the heatmaps must be ``(1, >= K, H/stride, W/stride)``, SimCC outputs
    ``(1, K, W r)`` and ``(1, K, H r)``.

    Raises:
        ConfigError: naming the input size, e.g. when it is not a multiple of
            32 (HRNet and ResNet backbones downsample 32x).
    """
    import torch

    w, h = spec.input_size
    param = next(net.parameters())
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, h, w, device=param.device, dtype=param.dtype))
    except RuntimeError as exc:
        raise ConfigError(
            f"the network fails on a {w}x{h} (width x height) input; use a multiple of 32 per side ({exc})"
        ) from exc
    finally:
        net.train(was_training)
    if spec.output == "simcc":
        wanted = [(1, spec.num_keypoints, bins) for bins in spec.simcc_bins]
        got = [tuple(o.shape) for o in out] if isinstance(out, (tuple, list)) else [tuple(out.shape)]
        if got != wanted:
            raise ConfigError(f"the network maps a {w}x{h} input to {got}; training needs SimCC outputs {wanted}")
        return
    hw = spec.heatmap_size
    if out.ndim != 4 or out.shape[1] < spec.num_keypoints or (out.shape[3], out.shape[2]) != hw:
        raise ConfigError(
            f"the network maps a {w}x{h} input to {tuple(out.shape)}; training needs "
            f"(N, >= {spec.num_keypoints}, {hw[1]}, {hw[0]}) heatmaps"
        )


def model_info(model: ModelConfig, spec: PoseModelSpec) -> dict[str, Any]:
    """What a checkpoint records about its network: ``{"name", "args", "spec"}``."""
    return {"name": model.name, "args": network_args(model), "spec": spec.to_json()}
