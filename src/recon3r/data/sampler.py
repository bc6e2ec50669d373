"""Batches that share one resolution, so that the default collate can stack them.

A dataset with several resolutions (aspect-ratio-aware training) is indexed by
`(idx, resolution_index)`. `ResolutionBatchSampler` wraps any sampler of plain indices (e.g. the
trainer's resumable, rank-aware sampler) and attaches one resolution index to each run of
`batch_size` consecutive indices; the choice depends only on (seed, epoch, batch number), so a
resumed run and every rank draw the same resolutions as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np


class ResolutionBatchSampler:
    """Yield `(idx, resolution_index)` from `sampler`'s indices, constant within each batch."""

    def __init__(self, sampler: Any, batch_size: int, num_resolutions: int, seed: int = 0):
        if batch_size < 1 or num_resolutions < 1:
            raise ValueError(f"need batch_size >= 1 and num_resolutions >= 1, got {batch_size}, {num_resolutions}")
        self.sampler, self.batch_size, self.num_resolutions, self.seed = sampler, batch_size, num_resolutions, seed
        self.epoch, self.first_batch = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Forward to the wrapped sampler; `start` (samples skipped on resume) must be whole batches."""
        if start % self.batch_size:
            raise ValueError(f"resume offset {start} is not a multiple of the batch size {self.batch_size}")
        self.epoch, self.first_batch = int(epoch), start // self.batch_size
        if hasattr(self.sampler, "set_epoch"):
            try:
                self.sampler.set_epoch(epoch, start=start)
            except TypeError:
                self.sampler.set_epoch(epoch)

    def resolution_of_batch(self, batch: int) -> int:
        if self.num_resolutions == 1:
            return 0
        return int(np.random.default_rng([self.seed, self.epoch, batch]).integers(self.num_resolutions))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for position, idx in enumerate(self.sampler):
            batch = self.first_batch + position // self.batch_size
            yield int(idx), self.resolution_of_batch(batch)

    def __len__(self) -> int:
        if not isinstance(self.sampler, Sized):
            raise TypeError("the wrapped sampler has no length")
        return len(self.sampler)
