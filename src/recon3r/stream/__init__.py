"""Streaming 3D reconstruction with Point3R: one frame at a time against a spatial pointer memory.

- `reconstruct_stream` (`recon3r.stream.reconstruct`): frames (folder, files, video) → per-frame
  world points, depth, poses and intrinsics, and the final pointer memory, at constant work per frame;
- `run_stream(StreamConfig(...))`: what `recon3r stream` runs (load, stream, export); the config's
  fields are the command's flags;
- `export_stream`: COLMAP / transforms.json / PLY / npz exports, per-frame depth and memory.npz.
The model is `recon3r.models.point3r.Point3R`; its memory rule lives in
`recon3r.models.layers.pointer_memory`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_MAX_POINTERS", "StreamConfig", "StreamResult", "StreamRun", "export_stream", "format_stream_summary",
           "reconstruct_stream", "run_stream"]


def __getattr__(name: str) -> Any:
    # Lazy: the reconstruction pulls in the image and video loaders.
    if name in __all__:
        from recon3r.stream import reconstruct

        return getattr(reconstruct, name)
    raise AttributeError(f"module 'recon3r.stream' has no attribute {name!r}")
