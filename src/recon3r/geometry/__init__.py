"""Pure, batched, device/dtype-agnostic geometry.

Conventions used throughout recon3r:
- Cameras use OpenCV axes: x right, y down, z forward.
- Poses are `world_from_cam` (cam-to-world) 4×4 matrices unless a name says otherwise.
- Pixel coordinates are (x=column, y=row); pixel centres sit at integer coordinates.
- Point maps are (..., H, W, 3).
"""

from recon3r.geometry.cameras import (
    depth_to_points,
    depth_to_points_with_focal,
    depth_to_world_points,
    image_center,
    look_at,
    opencv_from_pytorch3d,
    opencv_opengl_pose,
    orbit_poses,
    pixel_grid,
    project_points,
)
from recon3r.geometry.focal import estimate_focal, focal_base
from recon3r.geometry.pointmaps import (
    gather_views,
    joint_center_and_scale,
    joint_depth_quantile,
    normalize_pointmaps,
)
from recon3r.geometry.rays import pixel_rays, ray_box_limits, region_pixel_centers
from recon3r.geometry.registration import align_poses, fit_scale, median_camera_distance, umeyama
from recon3r.geometry.rotations import (
    axis_angle_to_rotation,
    pose_encoding_to_world_from_cam,
    quaternion_to_rotation,
    skew,
)
from recon3r.geometry.transforms import apply_transform, invert_transform, make_transform

__all__ = [
    "align_poses",
    "axis_angle_to_rotation",
    "apply_transform",
    "depth_to_points",
    "depth_to_points_with_focal",
    "depth_to_world_points",
    "estimate_focal",
    "fit_scale",
    "focal_base",
    "gather_views",
    "image_center",
    "invert_transform",
    "joint_center_and_scale",
    "joint_depth_quantile",
    "look_at",
    "make_transform",
    "median_camera_distance",
    "normalize_pointmaps",
    "opencv_from_pytorch3d",
    "opencv_opengl_pose",
    "orbit_poses",
    "pixel_grid",
    "pixel_rays",
    "pose_encoding_to_world_from_cam",
    "project_points",
    "quaternion_to_rotation",
    "skew",
    "ray_box_limits",
    "region_pixel_centers",
    "umeyama",
]
