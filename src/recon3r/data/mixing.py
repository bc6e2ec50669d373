"""Dataset mixing with the reference syntax: `N @ ds` resamples, `k * ds` repeats, `a + b` concatenates.

    1000 @ Co3d(split='train', ROOT='data/co3d', resolution=224) + 2 * Procedural(ROOT='out/p')

Specs are parsed against the whitelist in `recon3r.data.registry` (`parse_dataset`).

Items may be indexed by `idx` or by `(idx, resolution_index)`; composites forward the
resolution index untouched, so every member of a mix must share one resolution list.
`N @ ds` draws a fresh permutation each epoch (`set_epoch`), tiled when N exceeds len(ds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Index = int | tuple[int, int]


class MixableDataset:
    """Base class of all recon3r datasets: map-style, with the mixing operators and `set_epoch`."""

    resolutions: list[tuple[int, int]] = []

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: Index) -> Any:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch: random choices (augmentation, resampling) are a function of it."""
        self.epoch = int(epoch)

    def __add__(self, other: object) -> ConcatDataset:
        if not isinstance(other, MixableDataset):
            return NotImplemented
        return ConcatDataset([self, other])

    def __rmul__(self, factor: object) -> RepeatedDataset:
        return RepeatedDataset(factor, self)

    def __rmatmul__(self, size: object) -> ResizedDataset:
        return ResizedDataset(size, self)


def _split_index(index: Index) -> tuple[int, int | None]:
    if isinstance(index, tuple):
        idx, res = index
        return int(idx), int(res)
    return int(index), None


def _join_index(idx: int, res: int | None) -> Index:
    return idx if res is None else (idx, res)


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TypeError(f"{what} needs a positive integer, got {value!r}")
    return int(value)


class ResizedDataset(MixableDataset):
    """`N @ dataset`: exactly N items per epoch, drawn as a fresh permutation of the dataset each epoch."""

    def __init__(self, size: object, dataset: MixableDataset):
        self.size = _positive_int(size, "N @ dataset")
        if not isinstance(dataset, MixableDataset):
            raise TypeError(f"N @ dataset needs a recon3r dataset on the right, got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise TypeError(f"cannot resample an empty dataset: {dataset!r}")
        self.dataset = dataset
        self.epoch = 0
        self._mapping: np.ndarray | None = None

    @property
    def resolutions(self) -> list[tuple[int, int]]:  # type: ignore[override]
        return self.dataset.resolutions

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._mapping = None
        self.dataset.set_epoch(epoch)

    def mapping(self) -> np.ndarray:
        """(N,) indices into the inner dataset for the current epoch."""
        if self._mapping is None:
            perm = np.random.default_rng([777, self.epoch]).permutation(len(self.dataset))
            reps = -(-self.size // len(perm))
            self._mapping = np.tile(perm, reps)[: self.size]
        return self._mapping

    def __getitem__(self, index: Index) -> Any:
        idx, res = _split_index(index)
        if not 0 <= idx < self.size:
            raise IndexError(f"index {idx} out of range for {self.size} items")
        return self.dataset[_join_index(int(self.mapping()[idx]), res)]

    def __repr__(self) -> str:
        return f"{self.size:_} @ {self.dataset!r}"


class RepeatedDataset(MixableDataset):
    """`k * dataset`: every item repeated k times in a row (k·len items)."""

    def __init__(self, factor: object, dataset: MixableDataset):
        self.factor = _positive_int(factor, "k * dataset")
        if not isinstance(dataset, MixableDataset):
            raise TypeError(f"k * dataset needs a recon3r dataset on the right, got {type(dataset).__name__}")
        self.dataset = dataset

    @property
    def resolutions(self) -> list[tuple[int, int]]:  # type: ignore[override]
        return self.dataset.resolutions

    def __len__(self) -> int:
        return self.factor * len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: Index) -> Any:
        idx, res = _split_index(index)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} items")
        return self.dataset[_join_index(idx // self.factor, res)]

    def __repr__(self) -> str:
        return f"{self.factor} * {self.dataset!r}"


class ConcatDataset(MixableDataset):
    """`a + b`: the items of a, then those of b. Members must share the same resolution list."""

    def __init__(self, datasets: Sequence[MixableDataset]):
        flat: list[MixableDataset] = []
        for ds in datasets:
            if not isinstance(ds, MixableDataset):
                raise TypeError(f"can only add recon3r datasets, got {type(ds).__name__}")
            flat.extend(ds.datasets if isinstance(ds, ConcatDataset) else [ds])
        first = list(flat[0].resolutions)
        for ds in flat[1:]:
            if list(ds.resolutions) != first:
                raise TypeError(f"cannot add datasets with different resolution lists: {first} and "
                                f"{list(ds.resolutions)} (a batch must share one resolution)")
        self.datasets = flat
        self.cumulative = np.cumsum([len(ds) for ds in flat])

    @property
    def resolutions(self) -> list[tuple[int, int]]:  # type: ignore[override]
        return self.datasets[0].resolutions

    def __len__(self) -> int:
        return int(self.cumulative[-1])

    def set_epoch(self, epoch: int) -> None:
        for ds in self.datasets:
            ds.set_epoch(epoch)

    def __getitem__(self, index: Index) -> Any:
        idx, res = _split_index(index)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} items")
        which = int(np.searchsorted(self.cumulative, idx, side="right"))
        offset = int(self.cumulative[which - 1]) if which > 0 else 0
        return self.datasets[which][_join_index(idx - offset, res)]

    def __repr__(self) -> str:
        return " + ".join(repr(ds) for ds in self.datasets)
