"""The explicit spatial pointer memory of the streaming model (Point3R-style).

A pointer is a 3D position in the world frame (the first frame's camera frame, OpenCV axes, in
the model's unit) with a feature vector. Each processed frame adds its tokens as pointers at their
predicted 3D positions; a new pointer closer than a distance threshold to an existing one is fused
into it instead, so the memory grows with the explored space rather than with the number of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass(frozen=True)
class PointerMemory:
    """Pointers of one stream.

    positions: (M, 3) world-frame points; features: (M, D); counts: (M,) how many pointers were
    fused into each (float, same dtype as positions). `scale` (0-d, or None before the first frame)
    is the reference length of the stream (mean distance of frame 0's points to its camera) that
    relative thresholds are measured in. `last_positions` (N, 3) or None: the previous frame's
    token positions, used by the model as the next frame's initial 3D positions.
    Updates return a new memory; the tensors keep their autograd history (features stay
    differentiable through fusion, as training needs).
    """

    positions: Tensor
    features: Tensor
    counts: Tensor
    scale: Tensor | None = None
    last_positions: Tensor | None = None

    @classmethod
    def empty(cls, dim: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
              ) -> PointerMemory:
        """A memory with no pointers and D = `dim` feature channels."""
        return cls(torch.zeros(0, 3, device=device, dtype=dtype), torch.zeros(0, dim, device=device, dtype=dtype),
                   torch.zeros(0, device=device, dtype=dtype))

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def update(self, positions: Tensor, features: Tensor, threshold: float | Tensor) -> PointerMemory:
        """Add new pointers, fusing each into its nearest existing pointer when within `threshold`.

        Args:
            positions: (N, 3) new pointers' world positions (same unit as the memory).
            features: (N, D) their features.
            threshold: fusion radius (Euclidean, in the positions' unit); `<= threshold` fuses.

        Rule: distances are measured to the pointers present before this update only (new pointers
        are not fused with each other: within a frame they stand for distinct image patches).
        A pointer j that receives new pointers i₁..iₙ becomes the count-weighted mean
        (c_j·x_j + Σ x_i) / (c_j + n) for both its position and its feature, and its count c_j + n;
        the others are appended with count 1. Exactly repeating a frame therefore adds nothing.
        """
        if positions.ndim != 2 or positions.shape[-1] != 3:
            raise ValueError(f"positions must be (N, 3), got {tuple(positions.shape)}")
        if features.ndim != 2 or features.shape[0] != positions.shape[0] or features.shape[1] != self.features.shape[1]:
            raise ValueError(f"features must be (N, {self.features.shape[1]}) for {positions.shape[0]} positions, "
                             f"got {tuple(features.shape)}")
        positions = positions.to(self.positions.dtype)
        features = features.to(self.features.dtype)
        ones = torch.ones(positions.shape[0], dtype=self.counts.dtype, device=self.counts.device)
        if len(self) == 0:
            return replace(self, positions=positions, features=features, counts=ones)
        dist, nearest = nearest_pointers(positions.detach(), self.positions.detach())
        fuse = dist <= threshold
        target = nearest[fuse]
        counts = self.counts.index_add(0, target, ones[fuse])
        pos_sum = (self.positions * self.counts[:, None]).index_add(0, target, positions[fuse])
        feat_sum = (self.features * self.counts[:, None]).index_add(0, target, features[fuse])
        keep = ~fuse
        return replace(
            self,
            positions=torch.cat((pos_sum / counts[:, None], positions[keep])),
            features=torch.cat((feat_sum / counts[:, None], features[keep])),
            counts=torch.cat((counts, ones[keep])),
        )


def nearest_pointers(query: Tensor, pointers: Tensor, max_elements: int = 2**24) -> tuple[Tensor, Tensor]:
    """Distance to and index of the nearest pointer for each query: (N, 3), (M, 3) → (N,), (N,) int64.

    Brute force with `torch.cdist`, in chunks of queries so that at most `max_elements` distances
    are held at once (memory stays bounded for large memories); ties go to the lowest index.
    """
    chunk = max(1, max_elements // max(pointers.shape[0], 1))
    dists, indices = [], []
    for start in range(0, query.shape[0], chunk):
        d, i = torch.cdist(query[start : start + chunk], pointers).min(dim=1)
        dists.append(d)
        indices.append(i)
    if not dists:
        return query.new_zeros(0), torch.zeros(0, dtype=torch.int64, device=query.device)
    return torch.cat(dists), torch.cat(indices)
