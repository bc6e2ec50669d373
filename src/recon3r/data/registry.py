"""The whitelist of names a dataset spec may use, and `parse_dataset(spec)`.

Dataset specs (`"1000 @ Procedural(split='train', resolution=224) + 2 * Co3d(ROOT='data/co3d')"`) are
parsed by `recon3r.utils.spec.parse_spec` against `DATASETS`; nothing is evaluated as Python. Adding a
dataset parser to recon3r means adding one line here. This module imports every parser; the parsers
import only `base`, `format` and `mixing`, so there is no import circle.
"""

from __future__ import annotations

from typing import Any

from recon3r.data.augment import ColorJitter, ImgNorm
from recon3r.data.co3d import Co3d
from recon3r.data.depth_samples import DepthSamples
from recon3r.data.megascenes import MegaScenes
from recon3r.data.mixing import MixableDataset
from recon3r.data.multiview import MultiView, Procedural
from recon3r.data.rendered_objects import RenderedObjects
from recon3r.errors import ConfigError

#: Spec name -> dataset class or image transform.
DATASETS: dict[str, Any] = {
    "Co3d": Co3d,
    "DepthSamples": DepthSamples,
    "MegaScenes": MegaScenes,
    "MultiView": MultiView,
    "Procedural": Procedural,
    "RenderedObjects": RenderedObjects,
    "ColorJitter": ColorJitter,
    "ImgNorm": ImgNorm,
}


def parse_dataset(text: str) -> MixableDataset:
    """Build a dataset (or a mix) from a spec string; errors point at the offending token."""
    from recon3r.utils.spec import parse_spec

    dataset = parse_spec(text, DATASETS, allow_operators=True, what="dataset")
    if not isinstance(dataset, MixableDataset):
        raise ConfigError(f"dataset spec {text!r} does not describe a dataset (got {type(dataset).__name__})")
    return dataset
