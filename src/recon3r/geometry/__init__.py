"""Pure, batched, device/dtype-agnostic geometry.

Conventions used throughout recon3r:
- Cameras use OpenCV axes: x right, y down, z forward.
- Poses are `world_from_cam` (cam-to-world) 4×4 matrices unless a name says otherwise.
- Pixel coordinates are (x=column, y=row); pixel centres sit at integer coordinates.
- Point maps are (..., H, W, 3).
"""

from recon3r.geometry.cameras import depth_to_points, depth_to_world_points, pixel_grid, project_points
from recon3r.geometry.transforms import apply_transform, invert_transform, make_transform

__all__ = [
    "apply_transform",
    "depth_to_points",
    "depth_to_world_points",
    "invert_transform",
    "make_transform",
    "pixel_grid",
    "project_points",
]
