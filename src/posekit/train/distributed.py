"""Multi-process (DistributedDataParallel) plumbing.

``torchrun --nproc_per_node=N -m posekit train CONFIG.yaml`` starts ``N``
processes with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` set; :func:`setup_distributed` joins them into one process
group (``nccl`` on CUDA, ``gloo`` on the CPU). Without those variables it
returns a single-process context and nothing distributed is used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "pick_device",
    "setup_distributed",
    "cleanup_distributed",
    "barrier",
    "all_reduce_sum",
    "all_gather_objects",
    "broadcast_object",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly single-process) run.

    Attributes:
        rank: global rank (0 writes files and logs).
        world_size: number of processes.
        local_rank: rank on this machine (selects the CUDA device).
        device: the torch device this process computes on.
        backend: ``"gloo"`` / ``"nccl"``, or ``None`` when not distributed.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group is in use."""
        return self.backend is not None


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` / ``"cuda"`` -> the CUDA device of ``local_rank`` when available, else the CPU."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but CUDA is not available")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun process group if the environment describes one.

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        the context; on CPU with several processes, torch's intra-op threads
        are limited to ``cpu_count // local_world_size`` (at least 1).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    else:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    log.info("process %d/%d on %s (%s)", rank, world_size, dev, backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=backend)


def cleanup_distributed(ctx: DistContext) -> None:
    """Leave the process group (no-op when not distributed)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op when not distributed)."""
    if ctx.distributed:
        dist.barrier()


def all_reduce_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Sum a few floats over all processes (float64)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def all_gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(ctx: DistContext, obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
