"""Depth to 3D (LeReS-style): recover the shift and focal length of an affine-invariant depth map.

- `geometry`: pure, batched unprojection and the shift / focal distortion and its correction;
- `model`: `Depth3DModel`, a shift PointNet and a focal PointNet (registered, safetensors + JSON);
- `samples`: procedural depth maps with exact intrinsics, distorted at random;
- `train`: `train_depth3d(config)` and the held-out evaluation;
- `recover`: `recover_shift_and_focal(depth, focal_guess=None, model=None)`, the public entry point;
- `io`: reading depth files (.npy, 16-bit PNG) with errors that name the file.
"""

from recon3r.depth3d.geometry import apply_correction, depth_to_points, distort, focal_from_fov
from recon3r.depth3d.model import Depth3DConfig, Depth3DModel
from recon3r.depth3d.recover import Recovery, load_default_model, load_depth3d_model, recover_shift_and_focal

__all__ = [
    "Depth3DConfig",
    "Depth3DModel",
    "Recovery",
    "apply_correction",
    "depth_to_points",
    "distort",
    "focal_from_fov",
    "load_default_model",
    "load_depth3d_model",
    "recover_shift_and_focal",
]
