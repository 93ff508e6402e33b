"""Training configuration: typed dataclasses, YAML files and dotted overrides.

A :class:`TrainConfig` has one section per concern (``model``, ``data``,
``augment``, ``loss``, ``optim``, ``train``, ``val``). Defaults are HRNet's
COCO ``w32_256x192_adam_lr1e-3`` recipe. A YAML file only needs the keys it
changes; command-line overrides use dotted keys::

    cfg = load_config("configs/hrnet_w32_256x192_coco.yaml", ["optim.lr=5e-4", "train.batch_size=16"])

Unknown keys are rejected with a :class:`ConfigError` naming the key and the
valid ones. Values are coerced to the declared field types (``"1e-3"`` becomes
a float, ``"170,200"`` or ``"[170, 200]"`` a tuple of ints, ``"null"`` None).
Relative paths are used as given (relative to the working directory).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

__all__ = [
    "ConfigError",
    "ModelConfig",
    "DataConfig",
    "AugmentConfig",
    "LossConfig",
    "OptimConfig",
    "LoopConfig",
    "ValConfig",
    "TrainConfig",
    "HRNET_COCO_JOINT_WEIGHTS",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "dump_config",
]

#: HRNet's ``joints_weight`` for COCO (elbows/knees 1.2, wrists/ankles 1.5), used with
#: ``USE_DIFFERENT_JOINTS_WEIGHT``; set ``data.joint_weights`` to this list to enable it.
HRNET_COCO_JOINT_WEIGHTS = (
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5,
)


class ConfigError(ValueError):
    """A configuration key or value is invalid."""


@dataclass
class ModelConfig:
    """Which network to train.

    Attributes:
        name: registry name (``posekit.models.list_models(task="pose")``).
        args: constructor arguments overriding the registered ones, e.g.
            ``{"width": 16, "num_modules": [1, 1, 1]}`` for a small HRNet.
        input_size: network input ``(width, height)``; ``None`` takes the
            registered model's input size.
        init: weight initialisation before ``init_checkpoint``: ``"hrnet"``
            (HRNet's ``init_weights``: conv weights ``N(0, 0.001)``, BN 1/0) or
            ``"default"`` (PyTorch's).
        init_checkpoint: weights to start from (e.g. ImageNet or a pose
            checkpoint; ``"pretrained"``: the catalogue's checkpoint of ``name``,
            downloaded and verified on first use); tensors whose name and shape
            match are copied, the rest keep ``init`` (HRNet's ``strict=False``
            pretrained loading).
    """

    name: str = "hrnet_w32_256x192"
    args: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None
    init: str = "hrnet"
    init_checkpoint: str | None = None


@dataclass
class DataConfig:
    """COCO-format person keypoint data.

    Attributes:
        train_json, train_images: training annotations and image folder.
        val_json, val_images: validation annotations (ground truth) and images.
        crop_padding: box enlargement; ``None`` uses the model's crop
            convention (``spec.crop.padding``, 1.25 for HRNet and AlphaPose).
        sigma: Gaussian target sigma in heatmap pixels (HRNet: 2).
        joint_weights: per-joint loss weights ``(K,)`` multiplied into the
            target weights, or ``None`` (HRNet's default: all 1). See
            :data:`HRNET_COCO_JOINT_WEIGHTS`.
        ignore_exif: read images in their stored pixel frame, ignoring the
            EXIF orientation (:func:`posekit.io.read_image`
            ``ignore_orientation``). True (the default) for COCO-style data:
            COCO annotations are in the stored-pixel frame and HRNet reads
            with ``cv2.IMREAD_IGNORE_ORIENTATION``. Set it to false only for
            data labelled on upright (EXIF-rotated) images; ``posekit
            predict`` applies the orientation unless ``--ignore-exif``.
    """

    train_json: str = "data/coco/annotations/person_keypoints_train2017.json"
    train_images: str = "data/coco/images/train2017"
    val_json: str = "data/coco/annotations/person_keypoints_val2017.json"
    val_images: str = "data/coco/images/val2017"
    crop_padding: float | None = None
    sigma: float = 2.0
    joint_weights: tuple[float, ...] | None = None
    ignore_exif: bool = True


@dataclass
class AugmentConfig:
    """HRNet training augmentation (``JointsDataset``); all applied in one affine warp.

    Attributes:
        enabled: ``False`` turns every transform off (plain GT-box crops).
        scale_factor: ``s *= clip(randn * sf + 1, 1 - sf, 1 + sf)``.
        rotation_factor: ``r = clip(randn * rf, -2 rf, 2 rf)`` degrees ...
        rotation_prob: ... applied with this probability (else 0).
        flip_prob: horizontal flip probability (left/right joints swapped).
        half_body_prob: probability of the half-body crop ...
        half_body_num_joints: ... tried when more than this many joints are labelled.
        half_body_scale: enlargement of the half-body box (HRNet: 1.5).
    """

    enabled: bool = True
    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_num_joints: int = 8
    half_body_scale: float = 1.5


@dataclass
class LossConfig:
    """The loss: heatmap losses for heatmap models, MMPose's KL divergence for SimCC models (RTMPose).

    Attributes:
        type: ``"mse"`` (HRNet ``JointsMSELoss``), ``"ohkm"`` (HRNet ``JointsOHKMMSELoss``: mean of
            the ``ohkm_topk`` largest per-joint losses) or ``"kl"`` (MMPose ``KLDiscretLoss``, SimCC only).
        use_target_weight: multiply prediction and target by the target weight (``"kl"``: weight each
            keypoint's divergence).
        ohkm_topk: joints kept per sample by ``"ohkm"`` (HRNet: 8).
        beta: ``"kl"``: the logits are scaled by this before the softmax (RTMPose: 10).
        label_softmax: ``"kl"``: the Gaussian targets go through a softmax at the same temperature (RTMPose: true).
    """

    type: str = "mse"
    use_target_weight: bool = True
    ohkm_topk: int = 8
    beta: float = 10.0
    label_softmax: bool = True


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (stepped once per epoch).

    Attributes:
        optimizer: ``"adam"`` (HRNet), ``"adamw"`` (RTMPose: decoupled weight decay 0.05) or ``"sgd"``.
        lr: base learning rate (HRNet: 1e-3).
        momentum, nesterov: SGD only.
        weight_decay: L2 weight decay (HRNet passes none to Adam).
        no_decay_norm_bias: no weight decay for normalisation layers (BatchNorm, GroupNorm, LayerNorm,
            InstanceNorm: weight and bias) and for every other module's ``bias``, as MMPose's RTMPose configs
            (``paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)``; see
            :func:`posekit.train.trainer.decay_param_groups`); false decays every parameter.
        lr_steps: epochs at which the learning rate is multiplied by ``lr_factor``.
        lr_factor: decay factor (0.1).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    no_decay_norm_bias: bool = False
    lr_steps: tuple[int, ...] = (170, 200)
    lr_factor: float = 0.1


@dataclass
class LoopConfig:
    """The training loop.

    Attributes:
        epochs: total epochs (HRNet: 210).
        batch_size: samples per step *per process* (HRNet: 32 per GPU).
        workers: DataLoader worker processes per process.
        seed: seeds the model init, the sampler and every augmentation draw.
        deterministic: ``torch.use_deterministic_algorithms`` (warn-only) during training.
        shuffle: shuffle the training set each epoch.
        drop_last: drop the last incomplete batch.
        max_steps: stop after this many optimiser steps in total (``None``: run
            all epochs); the run is saved in ``last.pth`` and resumes exactly.
        max_minutes: wall-clock budget of this call: after an epoch, stop if
            another epoch as long as the last would overrun it (``None``: no limit).
        output_dir: where ``last.pth``, ``best.pth``, ``log.csv`` and ``config.yaml`` go.
        resume: a checkpoint to resume from, ``"auto"`` (``output_dir/last.pth``
            if it exists) or ``None``.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        amp: bfloat16 autocast: ``"auto"`` (on CUDA only), ``"bf16"`` or ``"off"``.
        progress: show a tqdm progress bar (rank 0).
        log_interval: log the running loss every this many steps (0: per epoch only).
        threads: torch intra-op threads during the run (``None``: torch's default,
            or ``cpu_count // processes`` under torchrun on the CPU). On a busy
            machine 1 thread can be several times faster than 2.
    """

    epochs: int = 210
    batch_size: int = 32
    workers: int = 4
    seed: int = 0
    deterministic: bool = True
    shuffle: bool = True
    drop_last: bool = False
    max_steps: int | None = None
    max_minutes: float | None = None
    output_dir: str = "runs/train"
    resume: str | None = None
    device: str = "auto"
    amp: str = "auto"
    progress: bool = True
    log_interval: int = 100
    threads: int | None = None


@dataclass
class ValConfig:
    """Validation (COCO keypoint AP with posekit's evaluator).

    Attributes:
        interval: validate every this many epochs and after the last (0: never).
        flip: flip test (average with the mirrored input's heatmaps, HRNet ``FLIP_TEST``).
        decode: heatmap decoder (``posekit.codec.DECODERS``); ``None`` uses the model's.
        batch_size: crops per forward pass.
        detections: COCO-results JSON of person boxes to crop from instead of
            the ground-truth boxes (HRNet ``USE_GT_BBOX: false``).
        det_score_threshold: detections with a lower score are dropped (HRNet ``IMAGE_THRE``).
        in_vis_threshold: keypoint score threshold of the rescoring (HRNet ``IN_VIS_THRE``).
        oks_nms_threshold: OKS-NMS threshold per image (HRNet ``OKS_THRE``); ``None`` disables NMS.
    """

    interval: int = 1
    flip: bool = True
    decode: str | None = None
    batch_size: int = 64
    detections: str | None = None
    det_score_threshold: float = 0.0
    in_vis_threshold: float = 0.2
    oks_nms_threshold: float | None = 0.9


@dataclass
class TrainConfig:
    """Everything a training run needs (see the section classes)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    val: ValConfig = field(default_factory=ValConfig)

    def validate(self) -> None:
        """Check value ranges and choices; raises :class:`ConfigError`."""
        checks = [
            (self.model.init in ("hrnet", "default"),
             f"model.init must be 'hrnet' or 'default', got {self.model.init!r}"),
            (self.loss.type in ("mse", "ohkm", "kl"), f"loss.type must be 'mse', 'ohkm' or 'kl', got {self.loss.type!r}"),
            (self.loss.beta > 0, f"loss.beta must be > 0, got {self.loss.beta}"),
            (self.optim.optimizer in ("adam", "adamw", "sgd"),
             f"optim.optimizer must be 'adam', 'adamw' or 'sgd', got {self.optim.optimizer!r}"),
            (self.optim.lr > 0, f"optim.lr must be > 0, got {self.optim.lr}"),
            (self.train.epochs >= 1, f"train.epochs must be >= 1, got {self.train.epochs}"),
            (self.train.batch_size >= 1, f"train.batch_size must be >= 1, got {self.train.batch_size}"),
            (self.train.workers >= 0, f"train.workers must be >= 0, got {self.train.workers}"),
            (self.train.device in ("auto", "cpu", "cuda"),
             f"train.device must be auto, cpu or cuda, got {self.train.device!r}"),
            (self.train.amp in ("auto", "bf16", "off"), f"train.amp must be auto, bf16 or off, got {self.train.amp!r}"),
            (self.val.interval >= 0, f"val.interval must be >= 0, got {self.val.interval}"),
            (self.val.batch_size >= 1, f"val.batch_size must be >= 1, got {self.val.batch_size}"),
            (self.data.sigma > 0, f"data.sigma must be > 0, got {self.data.sigma}"),
            (0 <= self.augment.scale_factor < 1,
             f"augment.scale_factor must be in [0, 1), got {self.augment.scale_factor}"),
            (self.train.max_steps is None or self.train.max_steps >= 1, "train.max_steps must be >= 1 or null"),
            (self.train.threads is None or self.train.threads >= 1, "train.threads must be >= 1 or null"),
            (self.train.max_minutes is None or self.train.max_minutes > 0, "train.max_minutes must be > 0 or null"),
        ]
        for p in ("rotation_prob", "flip_prob", "half_body_prob"):
            value = getattr(self.augment, p)
            checks.append((0 <= value <= 1, f"augment.{p} must be in [0, 1], got {value}"))
        if self.model.input_size is not None:
            w, h = self.model.input_size
            checks.append((w > 0 and h > 0, f"model.input_size must be positive, got {self.model.input_size}"))
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.val.decode is not None:
            from posekit.codec import DECODERS

            if self.val.decode not in DECODERS:
                raise ConfigError(f"val.decode must be one of {DECODERS} or null, got {self.val.decode!r}")


# ----------------------------------------------------------------------------- coercion


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _parse_scalar_text(text: str) -> Any:
    """YAML-parse one override value (``"1e-3"`` stays a string; fields coerce later)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to the annotated type ``tp`` or raise :class:`ConfigError`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "~", "")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}")
    if tp is Any:
        return value
    if _is_dataclass_type(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {_field_names(tp)}, got {value!r}")
        return _build_dataclass(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if not as_float.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (Mapping, list, tuple)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            parsed = _parse_scalar_text(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
            value = parsed
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)} ({value!r})")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, str):
            value = _parse_scalar_text(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{key}: unsupported field type {tp!r}")  # pragma: no cover - programming error


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _build_dataclass(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = _field_names(cls)
    kwargs = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            where = f"in '{prefix}'" if prefix else "at the top level"
            raise ConfigError(f"unknown config key '{dotted}'; valid keys {where}: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


# ----------------------------------------------------------------------------- API


def config_from_dict(raw: Mapping[str, Any] | None) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from nested plain data."""
    cfg = _build_dataclass(TrainConfig, raw or {})
    cfg.validate()
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Nested plain data (lists for tuples) that :func:`config_from_dict` reads back."""

    def plain(obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        return obj

    return plain(dataclasses.asdict(cfg))


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``"section.key=value"`` overrides to nested plain data (returns a new dict).

    Keys are checked against :class:`TrainConfig` (unknown ones raise
    :class:`ConfigError` naming the valid keys); below a ``dict`` field (e.g.
    ``model.args.width=16``) any key is accepted.
    """
    out: dict[str, Any] = _deep_copy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        dotted, text = item.split("=", 1)
        parts = [p for p in dotted.strip().split(".")]
        if not all(parts):
            raise ConfigError(f"override {item!r}: empty key component")
        _check_path(parts)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = _parse_scalar_text(text)
    return out


def _check_path(parts: list[str]) -> None:
    cls: Any = TrainConfig
    for depth, part in enumerate(parts):
        if not _is_dataclass_type(cls):
            return  # inside a free-form dict field
        names = _field_names(cls)
        if part not in names:
            prefix = ".".join(parts[:depth])
            dotted = ".".join(parts[: depth + 1])
            where = f"in '{prefix}'" if prefix else "at the top level"
            raise ConfigError(f"unknown config key '{dotted}'; valid keys {where}: {', '.join(names)}")
        hint = typing.get_type_hints(cls)[part]
        origin = typing.get_origin(hint)
        if depth < len(parts) - 1 and not _is_dataclass_type(hint) and origin is not dict:
            raise ConfigError(f"config key '{'.'.join(parts[: depth + 1])}' has no sub-keys")
        cls = hint


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (``None``: the defaults), apply overrides, validate.

    Raises:
        ConfigError: unknown key, bad value, or a file that is not a YAML mapping.
        FileNotFoundError: ``path`` does not exist.
    """
    import yaml

    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        with open(path, encoding="utf-8") as f:
            try:
                loaded = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        raw = dict(loaded)
    try:
        return config_from_dict(apply_overrides(raw, overrides))
    except ConfigError as exc:
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from exc
        raise


def dump_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML (every key, so a run can be reproduced from it)."""
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config_to_dict(cfg), f, sort_keys=False)
