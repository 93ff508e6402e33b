"""Per-epoch sampling that resumes exactly and shards over processes."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler, Sampler

__all__ = ["EpochSampler", "worker_init"]


class _Sized:
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


class EpochSampler(Sampler):
    """``torch.utils.data.DistributedSampler`` that yields ``(epoch, index)`` keys and can skip batches.

    The order of an epoch depends only on ``(seed, epoch)`` (torch's
    ``DistributedSampler``: ``randperm`` seeded with ``seed + epoch``, padded to
    a multiple of ``world_size``, every ``world_size``-th index from ``rank``),
    so a resumed run sees the same batches. With ``world_size == 1`` it is a
    plain seeded shuffle.

    Args:
        size: dataset length.
        batch_size: per-process batch size (to skip whole batches on resume).
        shuffle: permute each epoch.
        seed: run seed.
        rank, world_size: this process's shard.
        drop_last: drop the tail so every process gets the same count (else pad).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        self.inner = DistributedSampler(
            _Sized(size),  # type: ignore[arg-type]
            num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last,
        )
        self.batch_size = batch_size
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and how many of its batches (already trained) to skip."""
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)
        self.inner.set_epoch(self.epoch)

    def _skip(self) -> int:
        return min(self.start_batch * self.batch_size, len(self.inner))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(self.inner)[self._skip():]
        return iter([(self.epoch, int(i)) for i in indices])

    def __len__(self) -> int:
        return len(self.inner) - self._skip()

    def batches_per_epoch(self, drop_last: bool) -> int:
        """Batches a full epoch has on this process."""
        n = len(self.inner)
        return n // self.batch_size if drop_last else -(-n // self.batch_size)


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one OpenCV thread per worker, numpy seeded from torch's worker seed.

    Augmentation draws come from per-sample generators
    (:func:`posekit.train.dataset.sample_rng`); this only keeps any other use
    of the global numpy / python RNGs in workers reproducible.
    """
    import random

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
