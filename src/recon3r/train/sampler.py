"""A seeded, rank-aware sampler that can start in the middle of an epoch (exact resume)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Shuffled indices split across ranks, deterministic in (seed, epoch), skippable by batches.

    Each rank takes every `num_replicas`-th index of one shared permutation, padded by
    wrap-around so all ranks see the same number of samples (as DistributedSampler does).
    """

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0):
        if length < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.length, self.num_replicas, self.rank = length, num_replicas, rank
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0
        self.start = 0
        self.per_rank = -(-length // num_replicas)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's permutation and skip its first `start` samples on this rank."""
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        total = self.per_rank * self.num_replicas
        order = (order * (-(-total // self.length)))[:total]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return self.per_rank - self.start
