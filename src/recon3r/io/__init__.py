"""Reading images into network-ready views, exporting reconstructions (`recon3r.io.exports`), and the
output-folder policy (`recon3r.io.output_dir`).

Re-exports load lazily, so commands can check their output paths before torch is imported.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "export_scene": "recon3r.io.exports",
    "IMAGE_EXTENSIONS": "recon3r.io.images",
    "View": "recon3r.io.images",
    "list_images": "recon3r.io.images",
    "load_images": "recon3r.io.images",
    "load_view": "recon3r.io.images",
    "plan_resize": "recon3r.io.images",
}

__all__ = ["IMAGE_EXTENSIONS", "View", "export_scene", "list_images", "load_images", "load_view", "plan_resize"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'recon3r.io' has no attribute {name!r}")
