"""Data: the multi-view on-disk format, dataset loaders, augmentations, mixing, procedural scenes.

- `format`: the recon3r multi-view format (reader and writer);
- `procedural`: seeded procedural scenes with exact ground truth and a CPU ray caster;
- loaders `Procedural`, `MultiView`, `Co3d`, `MegaScenes`, `RenderedObjects` (rendered object folders,
  MIRA's / OpenLRM's layouts), `DepthSamples` (depth maps from `recon3r data depth3d`), all producing
  the view dicts of `base`;
- `augment`: crops/resizes with exact intrinsics, `ColorJitter`, background masking, resolution lists;
- `mixing`: `N @ ds`, `k * ds`, `a + b`; `registry`: the whitelist `DATASETS` and `parse_dataset(spec)`;
- `sampler`: `ResolutionBatchSampler`, batches that share one resolution.
"""

from __future__ import annotations

from recon3r.data.augment import ColorJitter, ImgNorm, aspect_resolutions
from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.co3d import Co3d
from recon3r.data.depth_samples import DepthSamples
from recon3r.data.format import DatasetError, read_dataset, read_scene, write_dataset, write_scene
from recon3r.data.megascenes import MegaScenes
from recon3r.data.mixing import ConcatDataset, MixableDataset, RepeatedDataset, ResizedDataset
from recon3r.data.multiview import MultiView, Procedural
from recon3r.data.registry import DATASETS, parse_dataset
from recon3r.data.rendered_objects import RenderedObjects
from recon3r.data.sampler import ResolutionBatchSampler

__all__ = [
    "DATASETS",
    "Co3d",
    "ColorJitter",
    "ConcatDataset",
    "DatasetError",
    "DepthSamples",
    "ImgNorm",
    "MegaScenes",
    "MixableDataset",
    "MultiView",
    "MultiViewDataset",
    "Procedural",
    "RawView",
    "RenderedObjects",
    "RepeatedDataset",
    "ResizedDataset",
    "ResolutionBatchSampler",
    "aspect_resolutions",
    "parse_dataset",
    "read_dataset",
    "read_scene",
    "write_dataset",
    "write_scene",
]

