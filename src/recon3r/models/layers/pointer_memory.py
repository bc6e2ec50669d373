"""Point3R's explicit spatial pointer memory and its update rule (official behaviour, plus an optional cap).

A pointer is a 3D position in the stream's world frame (frame 0's camera frame, OpenCV axes, in the
model's unit) with a feature vector of the decoder width. After each frame, the frame's patches
become candidate pointers at their patch centres (`patch_centres`: the mean of the 16×16 predicted
world points of the patch). Per sample, with the official rule:
- the threshold τ = ‖(max − min) / 20‖₂ over the union of the current pointers and the candidates;
- each candidate's nearest pointer (Euclidean, `torch.cdist`) decides: distance ≥ τ → *added*
  (appended after all pointers, in raster order); otherwise *merged* into that pointer;
- all candidates merged into one pointer are averaged (positions and features) and the average
  **replaces** that pointer (the old values take no part); pointers are never removed.
The count never decreases; it grows with the space explored, since τ grows with the scene.

Cap (`max_pointers`, off by default = official): when appending every "added" candidate would pass
the cap, only the candidates farthest from the memory are appended (as many as fit) and the others
are merged into their nearest pointer like any merged candidate. The count then never exceeds the
cap, so the memory (and the decoder's cost per frame) stays bounded however long the stream.

Memories of a batch have different lengths: `PointerMemory` keeps one tensor per sample and pads
them (zeros, with a validity mask) for the decoder. Everything is functional (no in-place writes):
features keep their autograd history through merges; positions are treated as data (detached).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: The official threshold is the scene's bounding-box diagonal over this.
THRESHOLD_DIVISIONS = 20


def patch_centres(points: Tensor, patch_size: int = 16) -> Tensor:
    """(B, H, W, 3) world points → (B, (H/p)·(W/p), 3) mean point of each p×p patch, raster order."""
    B, H, W, C = points.shape
    if H % patch_size or W % patch_size:
        raise ValueError(f"a {H}x{W} point map is not a multiple of the patch size {patch_size}")
    grid = points.reshape(B, H // patch_size, patch_size, W // patch_size, patch_size, C)
    return grid.mean(dim=(2, 4)).reshape(B, -1, C)


def merge_threshold(positions: Tensor, candidates: Tensor, divisions: int = THRESHOLD_DIVISIONS) -> Tensor:
    """0-d τ = ‖(max − min) / divisions‖ over the union of pointers (M, 3) and candidates (N, 3)."""
    both = torch.cat((positions, candidates))
    return ((both.max(dim=0).values - both.min(dim=0).values) / divisions).norm()


@dataclass(frozen=True)
class MergeStats:
    """What one update did to one sample's memory."""

    merged: int  # candidates merged into existing pointers
    added: int  # candidates appended as new pointers
    threshold: float  # τ (nan for the first frame, which replaces the memory)


def merge_pointers(
    positions: Tensor,
    features: Tensor,
    candidates: Tensor,
    candidate_features: Tensor,
    max_pointers: int | None = None,
    divisions: int = THRESHOLD_DIVISIONS,
) -> tuple[Tensor, Tensor, MergeStats]:
    """One sample's update: pointers (M, 3) / (M, D) and candidates (N, 3) / (N, D) → new pointers.

    Returns positions (M', 3), features (M', D) with M ≤ M' ≤ M + N (≤ `max_pointers` when set and
    M ≤ `max_pointers`), and the `MergeStats`.
    """
    threshold = merge_threshold(positions, candidates, divisions)
    distance, nearest = torch.cdist(candidates, positions).min(dim=-1)
    add = distance >= threshold
    if max_pointers is not None:
        room = max(int(max_pointers) - positions.shape[0], 0)
        n_add = int(add.sum())
        if n_add > room:  # keep the `room` candidates farthest from the memory; merge the rest
            far = torch.where(add, distance, torch.full_like(distance, -1.0))
            keep = torch.zeros_like(add)
            keep[far.topk(room).indices] = True
            add = add & keep
    merge = ~add
    n_merge = int(merge.sum())
    if n_merge:
        target = nearest[merge]
        count = torch.zeros(positions.shape[0], dtype=positions.dtype, device=positions.device)
        count = count.index_add(0, target, torch.ones_like(target, dtype=positions.dtype))
        pos_sum = torch.zeros_like(positions).index_add(0, target, candidates[merge].to(positions.dtype))
        feat_sum = torch.zeros_like(features).index_add(0, target, candidate_features[merge].to(features.dtype))
        replaced = (count > 0)[:, None]
        divisor = count.clamp_min(1)[:, None]
        positions = torch.where(replaced, pos_sum / divisor, positions)
        features = torch.where(replaced, feat_sum / divisor.to(features.dtype), features)
    positions = torch.cat((positions, candidates[add].to(positions.dtype)))
    features = torch.cat((features, candidate_features[add].to(features.dtype)))
    return positions, features, MergeStats(n_merge, int(add.sum()), float(threshold))


@dataclass(frozen=True)
class PointerMemory:
    """The pointer memories of a batch of B streams: per sample, positions (M_j, 3) and features (M_j, D)."""

    positions: tuple[Tensor, ...]
    features: tuple[Tensor, ...]

    @classmethod
    def from_frame(cls, positions: Tensor, features: Tensor) -> PointerMemory:
        """The memory made of one frame's patches: positions (B, N, 3), features (B, N, D)."""
        return cls(tuple(positions.unbind(0)), tuple(features.unbind(0)))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def counts(self) -> list[int]:
        """Pointers per sample."""
        return [int(p.shape[0]) for p in self.positions]

    def padded(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """Features (B, K, D) and positions (B, K, 3) zero-padded to K = max M_j, and the validity mask.

        The mask (B, K) bool (True = a real pointer) is None when no sample is padded.
        """
        counts = self.counts
        longest = max(counts)
        if all(c == longest for c in counts):
            return torch.stack(self.features), torch.stack(self.positions), None

        def pad(x: Tensor) -> Tensor:
            return torch.cat((x, x.new_zeros(longest - x.shape[0], x.shape[1])))

        features = torch.stack([pad(f) for f in self.features])
        positions = torch.stack([pad(p) for p in self.positions])
        valid = torch.arange(longest, device=features.device)[None] < torch.tensor(counts, device=features.device)[:, None]
        return features, positions, valid

    def with_features(self, features: Tensor) -> PointerMemory:
        """The same pointers with new features taken from padded (B, K, D) `features`."""
        return PointerMemory(self.positions, tuple(f[: p.shape[0]] for f, p in zip(features, self.positions)))

    def update(self, candidates: Tensor, candidate_features: Tensor, max_pointers: int | None = None
               ) -> tuple[PointerMemory, list[MergeStats]]:
        """Merge or append one frame's candidates (B, N, 3) / (B, N, D) per sample (`merge_pointers`)."""
        positions, features, stats = [], [], []
        for j in range(len(self)):
            p, f, s = merge_pointers(self.positions[j], self.features[j], candidates[j], candidate_features[j],
                                     max_pointers)
            positions.append(p)
            features.append(f)
            stats.append(s)
        return PointerMemory(tuple(positions), tuple(features)), stats
