"""Streaming 3D reconstruction (Point3R-style): one frame at a time against a spatial pointer memory.

- `PointerMemory` (`recon3r.stream.memory`): the explicit 3D pointer memory and its fusion rule;
- `reconstruct_stream` (`recon3r.stream.reconstruct`): frames → world pointmaps, confidences,
  camera poses and focals, memory size over time;
- `train_stream` (`recon3r.stream.train`): a small CPU trainer on procedural walk-through sequences.
The model itself is `recon3r.models.point3r.Point3R`.
"""

from __future__ import annotations

from typing import Any

from recon3r.stream.memory import PointerMemory

__all__ = ["PointerMemory", "StreamResult", "StreamTrainConfig", "reconstruct_stream", "stream_loss", "train_stream"]


def __getattr__(name: str) -> Any:
    # Lazy: the trainer pulls in the procedural renderer, the reconstruction the image loaders.
    if name in ("StreamResult", "reconstruct_stream"):
        from recon3r.stream import reconstruct

        return getattr(reconstruct, name)
    if name in ("StreamTrainConfig", "train_stream", "stream_loss"):
        from recon3r.stream import train

        return getattr(train, name)
    raise AttributeError(f"module 'recon3r.stream' has no attribute {name!r}")
