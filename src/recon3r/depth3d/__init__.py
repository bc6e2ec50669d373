"""Depth to 3D (LeReS-style): recover the shift and focal length of an affine-invariant depth map.

The inference pipeline of the depth-to-3D system; the model is `recon3r.models.depth3d.Depth3DModel`,
its training task `recon3r.tasks.depth_to_3d`, the geometry `recon3r.geometry.depth_shift`.

- `recover`: `recover_shift_and_focal(depth, focal_guess=None, model=None)`, the public entry point;
- `io`: reading depth files (.npy, 16-bit PNG) with errors that name the file, and depth → PLY.
"""

from recon3r.depth3d.recover import Recovery, load_default_model, load_depth3d_model, recover_shift_and_focal

__all__ = ["Recovery", "load_default_model", "load_depth3d_model", "recover_shift_and_focal"]
