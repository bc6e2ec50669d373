"""Files shipped inside the package: the example model (see `example_model_path`)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent


def example_model_path() -> Path:
    """The small pair model trained on procedural scenes (safetensors + config.json)."""
    return ASSETS / "example_model"


def depth3d_model_path() -> Path:
    """The depth-to-3D shift and focal networks trained on procedural depth maps (safetensors + config.json)."""
    return ASSETS / "depth3d_model"
