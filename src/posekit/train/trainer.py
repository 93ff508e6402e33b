"""The training loop: HRNet-style heatmap regression with validation AP, exact resume and DDP.

One :class:`Trainer` per process. Per epoch: the (rank-sharded) training set
in a ``(seed, epoch)``-determined order, each batch ``loss.backward()`` and an
optimiser step, then the learning-rate step (``MultiStepLR``), validation
every ``val.interval`` epochs and after the last, a CSV row, ``last.pth`` and
(when validation AP improves) ``best.pth`` in ``train.output_dir``. Only rank
0 writes files or shows progress.

Exact resume: a checkpoint stores model, optimiser, scheduler, global RNG
states, epoch, the batches of that epoch already done, step count and the
running loss. Augmentation draws depend only on ``(seed, epoch, index)`` and
the epoch order only on ``(seed, epoch)``, so ``k`` steps + resume to ``2k``
reproduces ``2k`` straight steps (same thread count and device).
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from posekit.evaluation import format_stats, load_coco_json
from posekit.pose.torch_model import pack_outputs
from posekit.spec import PoseModelSpec
from posekit.schema import KeypointSchema
from posekit.train.checkpointing import (
    capture_rng_state,
    load_checkpoint_file,
    restore_rng_state,
    save_checkpoint,
    unwrap_model,
)
from posekit.train.config import ConfigError, TrainConfig, config_to_dict, dump_config
from posekit.train.csvlog import CsvLog
from posekit.train.dataset import (
    KeypointDataset,
    PersonRecord,
    check_images_exist,
    load_coco_persons,
    load_detection_persons,
)
from posekit.train.distributed import (
    DistContext,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup_distributed,
    setup_distributed,
)
from posekit.train.loss import build_loss
from posekit.train.modeling import build_model, check_output_shape, model_info, resolve_spec
from posekit.train.sampler import EpochSampler, worker_init
from posekit.train.validation import validate

__all__ = ["TrainSummary", "Trainer", "train", "seed_everything", "resolve_resume", "decay_param_groups",
           "NORM_LAYERS"]

log = logging.getLogger(__name__)


@dataclass
class TrainSummary:
    """What a finished (or stopped) run did.

    Attributes:
        output_dir: where the files are.
        epochs_done: completed epochs.
        step: optimiser steps in total.
        best_ap: best validation AP (-1 if never validated).
        history: one dict per epoch run in this call (epoch, step, loss, lr, seconds, stats).
        last_stats: the latest validation stats (empty if none).
    """

    output_dir: Path
    epochs_done: int
    step: int
    best_ap: float
    history: list[dict[str, Any]] = field(default_factory=list)
    last_stats: dict[str, float] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_resume(resume: str | None, output_dir: Path) -> Path | None:
    """``"auto"`` -> ``output_dir/last.pth`` if present; a path -> that path; ``None`` -> ``None``."""
    if resume is None:
        return None
    if resume == "auto":
        path = output_dir / "last.pth"
        return path if path.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"train.resume: checkpoint {path} does not exist")
    return path


#: Normalisation layers whose weight and bias get no weight decay with ``optim.no_decay_norm_bias`` (the
#: isinstance test of mmengine's ``DefaultOptimWrapperConstructor``: ``_BatchNorm``, ``_InstanceNorm``,
#: ``GroupNorm``, ``LayerNorm``).
NORM_LAYERS: tuple[type[torch.nn.Module], ...] = (
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.modules.instancenorm._InstanceNorm,
    torch.nn.GroupNorm,
    torch.nn.LayerNorm,
)


def decay_param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser parameter groups as MMPose's RTMPose configs make them: ``paramwise_cfg=dict(
    norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)`` in mmengine's ``DefaultOptimWrapperConstructor``.

    No weight decay for every parameter of a normalisation layer (:data:`NORM_LAYERS`: weight and bias) and
    for the parameter called ``bias`` of any other module; every other parameter decays, 1-D or not (a
    ``ScaleNorm``'s ``g``, a GAU's ``gamma`` / ``beta``, a ``Scale``). A parameter shared by several modules
    is counted once, where ``named_modules`` first meets it.

    Args:
        model: the network.
        weight_decay: the decay of the decaying group.

    Returns:
        ``[{"params": [...], "weight_decay": weight_decay}, {"params": [...], "weight_decay": 0.0}]``, each in
        ``named_modules`` order (an empty group left out).
    """
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, NORM_LAYERS)
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            (no_decay if is_norm or name == "bias" else decay).append(param)
    groups = [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    return torch.bfloat16


@dataclass
class _Progress:
    """Where a run stands (all of it goes into checkpoints)."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    best_ap: float = -1.0
    loss_sum: float = 0.0
    loss_count: int = 0
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class _Session:
    """Everything one process trains with."""

    model: torch.nn.Module
    spec: PoseModelSpec
    schema: KeypointSchema
    loader: DataLoader
    sampler: EpochSampler
    generator: torch.Generator
    batches_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.MultiStepLR
    criterion: torch.nn.Module
    val_gt: dict[str, Any] | None
    val_records: list[PersonRecord]
    amp_dtype: torch.dtype | None
    csv_log: CsvLog | None


class Trainer:
    """Trains ``cfg.model`` on ``cfg.data`` (see the module docstring).

    Args:
        cfg: the run configuration.
        ctx: distributed context; ``None`` joins the torchrun group from the
            environment (or runs single-process) and leaves it when done.
    """

    def __init__(self, cfg: TrainConfig, ctx: DistContext | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self._own_ctx = ctx is None
        self.ctx = ctx if ctx is not None else setup_distributed(cfg.train.device)
        self.output_dir = Path(cfg.train.output_dir)

    # ------------------------------------------------------------------ public

    def fit(self) -> TrainSummary:
        """Train (resuming if configured) until ``train.epochs``, ``max_steps`` or ``max_minutes``."""
        previous = torch.are_deterministic_algorithms_enabled()
        threads = torch.get_num_threads()
        try:
            if self.cfg.train.deterministic:
                if self.ctx.device.type == "cuda":  # cuBLAS needs this for deterministic matmuls
                    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.use_deterministic_algorithms(True, warn_only=True)
            if self.cfg.train.threads:
                torch.set_num_threads(self.cfg.train.threads)
            return self._fit()
        finally:
            torch.use_deterministic_algorithms(previous)
            torch.set_num_threads(threads)
            if self._own_ctx:
                cleanup_distributed(self.ctx)

    # ------------------------------------------------------------------ setup

    def _train_loader(
        self, spec: PoseModelSpec, schema: KeypointSchema
    ) -> tuple[DataLoader, EpochSampler, torch.Generator, int]:
        cfg, ctx = self.cfg, self.ctx
        records = load_coco_persons(cfg.data.train_json, cfg.data.train_images, spec.num_keypoints, schema=schema)
        if not records:
            raise ValueError(f"{cfg.data.train_json}: no person with labelled keypoints")
        dataset = KeypointDataset(
            records, spec, schema, cfg.augment, cfg.data.sigma, cfg.data.joint_weights, cfg.train.seed,
            ignore_exif=cfg.data.ignore_exif,
        )
        sampler = EpochSampler(
            len(dataset), cfg.train.batch_size, cfg.train.shuffle, cfg.train.seed,
            ctx.rank, ctx.world_size, cfg.train.drop_last,
        )
        generator = torch.Generator()
        loader = DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=cfg.train.batch_size,
            sampler=sampler,
            num_workers=cfg.train.workers,
            worker_init_fn=worker_init,
            generator=generator,
            pin_memory=ctx.device.type == "cuda",
            drop_last=cfg.train.drop_last,
        )
        batches = sampler.batches_per_epoch(cfg.train.drop_last)
        if batches == 0:
            raise ValueError(
                f"no training batch: {len(dataset)} samples over {ctx.world_size} process(es) "
                f"with batch_size {cfg.train.batch_size} and drop_last"
            )
        if ctx.is_main:
            log.info(
                "training on %d persons: %d batch(es) of %d per epoch x %d process(es)",
                len(dataset), batches, cfg.train.batch_size, ctx.world_size,
            )
        return loader, sampler, generator, batches

    def _validation_data(
        self, num_keypoints: int, schema: KeypointSchema
    ) -> tuple[dict[str, Any] | None, list[PersonRecord]]:
        cfg = self.cfg
        if cfg.val.interval <= 0:
            return None, []
        gt = load_coco_json(cfg.data.val_json)
        if cfg.val.detections:
            records = load_detection_persons(
                cfg.val.detections, gt, cfg.data.val_images, cfg.val.det_score_threshold, num_keypoints
            )
        else:
            records = load_coco_persons(gt, cfg.data.val_images, num_keypoints, schema=schema)
        check_images_exist(records)
        return gt, records

    def _optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        o = self.cfg.optim
        params: Any = (
            decay_param_groups(model, o.weight_decay) if o.no_decay_norm_bias and o.weight_decay
            else model.parameters()
        )
        if o.optimizer == "adam":
            return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        if o.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov)

    def _setup(self) -> _Session:
        cfg, ctx = self.cfg, self.ctx
        seed_everything(cfg.train.seed)
        spec, schema = resolve_spec(cfg.model, cfg.data)
        if (spec.output == "simcc") != (cfg.loss.type == "kl"):
            raise ConfigError(
                f"loss.type {cfg.loss.type!r} does not fit {cfg.model.name} ({spec.output} outputs): SimCC models "
                "(RTMPose) train with 'kl', heatmap models with 'mse' or 'ohkm'"
            )
        model = build_model(cfg.model).to(ctx.device)
        check_output_shape(model, spec)
        if ctx.is_main:
            log.info("%s: %d parameters, input %dx%d, on %s", cfg.model.name,
                     sum(p.numel() for p in model.parameters()), *spec.input_size, ctx.device)
        loader, sampler, generator, batches = self._train_loader(spec, schema)
        val_gt, val_records = self._validation_data(spec.num_keypoints, schema)
        optimizer = self._optimizer(model)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(cfg.optim.lr_steps), gamma=cfg.optim.lr_factor
        )
        # The bins only matter to the 'kl' loss, which the check above keeps to SimCC models.
        criterion = build_loss(cfg.loss.type, cfg.loss.use_target_weight, cfg.loss.ohkm_topk,
                               bins=spec.simcc_bins, beta=cfg.loss.beta, label_softmax=cfg.loss.label_softmax)
        return _Session(
            model=model, spec=spec, schema=schema, loader=loader, sampler=sampler, generator=generator,
            batches_per_epoch=batches, optimizer=optimizer, scheduler=scheduler, criterion=criterion,
            val_gt=val_gt, val_records=val_records, amp_dtype=_autocast_dtype(cfg.train.amp, ctx.device),
            csv_log=CsvLog(self.output_dir / "log.csv") if ctx.is_main else None,
        )

    def _resume(self, s: _Session) -> tuple[_Progress, dict[str, Any] | None]:
        """Load ``train.resume`` into the (unwrapped) model, optimiser and scheduler; return progress and RNG state."""
        path = resolve_resume(self.cfg.train.resume, self.output_dir)
        if path is None:
            return _Progress(), None
        ckpt = load_checkpoint_file(path)
        stored, current = ckpt.get("model") or {}, model_info(self.cfg.model, s.spec)
        if stored and (stored.get("name"), stored.get("args"), stored.get("spec")) != (
            current["name"], current["args"], current["spec"]
        ):
            raise ConfigError(
                f"train.resume: {path} was trained as {stored.get('name')} {stored.get('args')} "
                f"with another model config; use a new train.output_dir or train.resume=null"
            )
        s.model.load_state_dict(ckpt["state_dict"])
        s.optimizer.load_state_dict(ckpt["optimizer"])
        s.scheduler.load_state_dict(ckpt["scheduler"])
        progress = _Progress(
            epoch=int(ckpt["epoch"]), batch_in_epoch=int(ckpt["batch_in_epoch"]), step=int(ckpt["step"]),
            best_ap=float(ckpt["best_ap"]), loss_sum=float(ckpt.get("loss_sum", 0.0)),
            loss_count=int(ckpt.get("loss_count", 0)), stats=dict(ckpt.get("stats") or {}),
        )
        if self.ctx.is_main:
            log.info("resuming from %s at epoch %d, batch %d, step %d",
                     path, progress.epoch, progress.batch_in_epoch, progress.step)
        return progress, ckpt.get("rng")

    def _payload(self, s: _Session, p: _Progress) -> dict[str, Any]:
        """The checkpoint dict (see :mod:`posekit.train.checkpointing`)."""
        return {
            "state_dict": unwrap_model(s.model).state_dict(),
            "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict(),
            "epoch": p.epoch,
            "batch_in_epoch": p.batch_in_epoch,
            "step": p.step,
            "best_ap": p.best_ap,
            "loss_sum": p.loss_sum,
            "loss_count": p.loss_count,
            "rng": capture_rng_state(),
            "config": config_to_dict(self.cfg),
            "model": model_info(self.cfg.model, s.spec),
            "stats": dict(p.stats),
        }

    # ------------------------------------------------------------------ loop

    def _fit(self) -> TrainSummary:
        cfg, ctx = self.cfg, self.ctx
        s = self._setup()
        p, rng_state = self._resume(s)
        if ctx.distributed:
            s.model = DistributedDataParallel(s.model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
        if ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            dump_config(cfg, self.output_dir / "config.yaml")
        if rng_state is not None:
            restore_rng_state(rng_state)
        history: list[dict[str, Any]] = []
        started = time.perf_counter()
        while p.epoch < cfg.train.epochs and not self._out_of_steps(p):
            epoch_started = time.perf_counter()
            lr = s.optimizer.param_groups[0]["lr"]
            if not self._train_epoch(s, p):  # stopped by max_steps inside the epoch
                if ctx.is_main:
                    save_checkpoint(self.output_dir / "last.pth", self._payload(s, p))
                    log.info("stopped at step %d (epoch %d, batch %d); saved last.pth",
                             p.step, p.epoch, p.batch_in_epoch)
                break
            row = self._end_epoch(s, p, lr, epoch_started)
            history.append(row)
            if self._out_of_time(started, row["seconds"], p):
                break
        return TrainSummary(
            output_dir=self.output_dir, epochs_done=p.epoch, step=p.step, best_ap=p.best_ap,
            history=history, last_stats=p.stats,
        )

    def _out_of_steps(self, p: _Progress) -> bool:
        return self.cfg.train.max_steps is not None and p.step >= self.cfg.train.max_steps

    def _out_of_time(self, started: float, last_epoch_seconds: float, p: _Progress) -> bool:
        """True when another epoch as long as the last would overrun ``train.max_minutes`` (rank 0 decides)."""
        limit = self.cfg.train.max_minutes
        if limit is None or p.epoch >= self.cfg.train.epochs:
            return False
        elapsed = time.perf_counter() - started
        stop = broadcast_object(self.ctx, elapsed + last_epoch_seconds > 60.0 * limit)
        if stop and self.ctx.is_main:
            log.info("stopping after epoch %d: another epoch would exceed train.max_minutes=%g", p.epoch - 1, limit)
        return bool(stop)

    def _train_epoch(self, s: _Session, p: _Progress) -> bool:
        """Train the rest of epoch ``p.epoch``; False if ``max_steps`` stopped it early."""
        cfg, ctx = self.cfg, self.ctx
        device, k = ctx.device, s.spec.num_keypoints
        if p.batch_in_epoch == 0:
            p.loss_sum, p.loss_count = 0.0, 0
        s.sampler.set_epoch(p.epoch, p.batch_in_epoch)
        s.generator.manual_seed(cfg.train.seed * 100003 + p.epoch)
        s.model.train()
        bar = tqdm(
            total=s.batches_per_epoch, initial=p.batch_in_epoch, desc=f"epoch {p.epoch}",
            disable=not (ctx.is_main and cfg.train.progress), leave=False, dynamic_ncols=True,
        )
        amp = s.amp_dtype
        for batch in s.loader:
            x = batch["image"].to(device, non_blocking=True)
            target = batch["target"].to(device, non_blocking=True)
            weight = batch["target_weight"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                output = pack_outputs(s.model(x))
            loss = s.criterion(output[:, :k].float(), target, weight)
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            s.optimizer.step()
            p.step += 1
            p.batch_in_epoch += 1
            p.loss_sum += float(loss.detach()) * x.shape[0]
            p.loss_count += x.shape[0]
            bar.update(1)
            bar.set_postfix(loss=f"{p.loss_sum / p.loss_count:.3g}")
            if ctx.is_main and cfg.train.log_interval and p.step % cfg.train.log_interval == 0:
                log.info("epoch %d step %d loss %.6g", p.epoch, p.step, p.loss_sum / p.loss_count)
            if self._out_of_steps(p):
                break
        bar.close()
        return p.batch_in_epoch >= s.batches_per_epoch

    def _end_epoch(self, s: _Session, p: _Progress, lr: float, epoch_started: float) -> dict[str, Any]:
        """LR step, validation, CSV row and checkpoints after a complete epoch; returns the row."""
        cfg, ctx = self.cfg, self.ctx
        epoch = p.epoch
        total, count = all_reduce_sum(ctx, [p.loss_sum, float(p.loss_count)])
        s.scheduler.step()
        p.epoch, p.batch_in_epoch = epoch + 1, 0
        p.loss_sum, p.loss_count = 0.0, 0
        stats: dict[str, float] = {}
        interval = cfg.val.interval
        if s.val_gt is not None and interval > 0 and (p.epoch % interval == 0 or p.epoch == cfg.train.epochs):
            stats, _ = validate(
                unwrap_model(s.model), s.val_records, s.val_gt, s.spec, s.schema, ctx,
                flip=cfg.val.flip, decode=cfg.val.decode, batch_size=cfg.val.batch_size,
                in_vis_threshold=cfg.val.in_vis_threshold, oks_nms_threshold=cfg.val.oks_nms_threshold,
                workers=cfg.train.workers, autocast_dtype=s.amp_dtype, ignore_exif=cfg.data.ignore_exif,
            )
            p.stats = stats
        improved = bool(stats) and stats["AP"] > p.best_ap
        if improved:
            p.best_ap = stats["AP"]
        row = {"epoch": epoch, "step": p.step, "loss": total / max(count, 1.0), "lr": lr, **stats}
        if ctx.is_main:
            assert s.csv_log is not None
            state = self._payload(s, p)
            save_checkpoint(self.output_dir / "last.pth", state)
            if improved:
                save_checkpoint(self.output_dir / "best.pth", state)
            ap = f" AP {stats['AP']:.4f}" if stats else ""
            log.info("epoch %d done: step %d loss %.6g lr %.3g%s", epoch, p.step, row["loss"], lr, ap)
            if stats:
                log.debug("validation:\n%s", format_stats(stats))
        barrier(ctx)
        row["seconds"] = round(time.perf_counter() - epoch_started, 2)
        if ctx.is_main:
            s.csv_log.append(row)  # type: ignore[union-attr]
        return row


def train(cfg: TrainConfig, ctx: DistContext | None = None) -> TrainSummary:
    """Run :class:`Trainer` ``(cfg, ctx).fit()``."""
    return Trainer(cfg, ctx).fit()
