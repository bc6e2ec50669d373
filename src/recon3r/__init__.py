"""recon3r: learned 3D reconstruction from images.

Importing the package is cheap: heavy modules load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_model", "save_model"]


def __getattr__(name: str):
    # Lazy re-exports keep `import recon3r` light (no model code until asked for).
    if name in ("load_model", "save_model"):
        from recon3r.models import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'recon3r' has no attribute {name!r}")
