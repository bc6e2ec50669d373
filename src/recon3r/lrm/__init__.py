"""Single image (or text prompt) → 3D with an OpenLRM-compatible `ModelLRM`: the inference pipeline.

- `recon3r.lrm.preprocess`: foreground, recentring and the model input, as OpenLRM's runner;
- `recon3r.lrm.cameras`: the canonical source camera and the turntable orbit (OpenLRM defaults);
- `recon3r.lrm.mesh`: marching cubes on the triplane's density grid, vertex colours, PLY / GLB;
- `recon3r.lrm.video`: turntable frames → MP4 (imageio-ffmpeg) and GIF;
- `recon3r.lrm.text_to_image`: a prompt → an image with a local diffusers pipeline;
- `recon3r.lrm.reconstruct`: `reconstruct_single`, the whole pipeline for one image;
- `recon3r.lrm.pipeline`: `single_image(SingleImageConfig(...))`, what `recon3r single-image` runs
  (images, a folder or a prompt in, files out); the config's fields are the command's flags.
The model itself is `recon3r.models.lrm.ModelLRM`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SingleImageConfig", "SingleImageOptions", "SingleImageResult", "reconstruct_single", "single_image"]


def __getattr__(name: str) -> Any:
    # Lazy: the pipeline pulls in torch, the renderer and the image loaders.
    if name in ("SingleImageConfig", "single_image"):
        from recon3r.lrm import pipeline

        return getattr(pipeline, name)
    if name in __all__:
        from recon3r.lrm import reconstruct

        return getattr(reconstruct, name)
    raise AttributeError(f"module 'recon3r.lrm' has no attribute {name!r}")
