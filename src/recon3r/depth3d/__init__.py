"""Depth to 3D (LeReS-style): recover the shift and focal length of an affine-invariant depth map.

The inference pipeline of the depth-to-3D system; the model is `recon3r.models.depth3d.Depth3DModel`,
its training task `recon3r.tasks.depth_to_3d`, the geometry `recon3r.geometry.depth_shift`.

- `recover`: `recover_shift_and_focal(depth, focal_guess=None, model=None)`, the public entry point;
- `pipeline`: `depth_to_3d(DepthTo3DConfig(...))`, what `recon3r depth-to-3d` runs (files in, PLY and
  JSON out); the config's fields are the command's flags;
- `io`: reading depth files (.npy, 16-bit PNG) with errors that name the file, and depth → PLY.
"""

from recon3r.depth3d.pipeline import DepthTo3DConfig, DepthTo3DResult, depth_to_3d, format_depth_to_3d_summary
from recon3r.depth3d.recover import Recovery, load_default_model, load_depth3d_model, recover_shift_and_focal

__all__ = ["DepthTo3DConfig", "DepthTo3DResult", "Recovery", "depth_to_3d", "format_depth_to_3d_summary",
           "load_default_model", "load_depth3d_model", "recover_shift_and_focal"]
