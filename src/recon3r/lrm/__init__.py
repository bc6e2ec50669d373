"""Single-image 3D reconstruction (LRM-style): one image → triplane → NeRF renders, mesh, turntable.

- `sample_triplane` (`recon3r.lrm.triplane`): bilinear triplane lookup, with its axis convention;
- `recon3r.lrm.render`: rays from intrinsics + cam-to-world, box clipping, volume rendering;
- `recon3r.lrm.data`: procedural object-centric orbits normalised into the model's [-1, 1]^3 frame;
- `train_lrm` (`recon3r.lrm.train`): a small CPU trainer (RGB + mask losses on novel views);
- `extract_mesh` (`recon3r.lrm.mesh`): density grid → marching cubes mesh (PyMCubes, extra `lrm`);
- `recon3r.lrm.turntable`: views on a circle → PNG frames and an animated GIF;
- `reconstruct_single` (`recon3r.lrm.reconstruct`): the whole pipeline for one image.
The model itself is `recon3r.models.lrm.LRM`.
"""

from __future__ import annotations

from typing import Any

from recon3r.lrm.render import (
    RenderOutput,
    camera_rays,
    composite,
    intersect_box,
    render_rays,
    stratified_samples,
)
from recon3r.lrm.triplane import sample_triplane

__all__ = [
    "LRMTrainConfig",
    "RenderOutput",
    "SingleImageResult",
    "camera_rays",
    "composite",
    "extract_mesh",
    "intersect_box",
    "reconstruct_single",
    "render_rays",
    "sample_triplane",
    "stratified_samples",
    "train_lrm",
]


def __getattr__(name: str) -> Any:
    # Lazy: the trainer pulls in the procedural renderer and the model, which imports this package.
    if name in ("SingleImageResult", "reconstruct_single"):
        from recon3r.lrm import reconstruct

        return getattr(reconstruct, name)
    if name in ("LRMTrainConfig", "train_lrm"):
        from recon3r.lrm import train

        return getattr(train, name)
    if name == "extract_mesh":
        from recon3r.lrm.mesh import extract_mesh

        return extract_mesh
    raise AttributeError(f"module 'recon3r.lrm' has no attribute {name!r}")
