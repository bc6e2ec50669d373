"""OpenLRM's inference cameras: the canonical source camera and the turntable orbit.

World z up; cam-to-world in OpenGL axes inside the camera vectors (`recon3r.models.lrm`).
- source: at (0, −d, 0) looking along +y at the origin with up +z, d = `SOURCE_DISTANCE` = 2,
  normalised focal 0.75 and principal point 0.5 (training maps each source view onto this pose);
- render: `orbit_poses` at radius 2 and height 0.8, θ from −π/2 to 3π/2 (first = last view),
  same intrinsics, background white.
Training data is brought to the same frame by `normalize_to_source` (OpenLRM's
`camera_normalization_objaverse`): one rigid motion puts the source camera on the canonical pose.
"""

from __future__ import annotations

import torch

from recon3r.geometry.cameras import opencv_opengl_pose, orbit_poses
from recon3r.models.lrm import render_camera_vector, source_camera_vector

SOURCE_DISTANCE = 2.0
FOCAL = 0.75
PRINCIPAL = 0.5
ORBIT_RADIUS = 2.0
ORBIT_HEIGHT = 0.8

#: OpenLRM's inference sizes of the released models (source input, render), by transformer width.
RELEASED_SIZES: dict[int, tuple[int, int]] = {512: (224, 192), 768: (336, 288), 1024: (448, 384)}


def normalized_pinhole(focal: float = FOCAL, principal: float = PRINCIPAL, dtype: torch.dtype = torch.float32
                       ) -> torch.Tensor:
    """(3, 3) intrinsics normalised by the image size, square pixels, no skew."""
    return torch.tensor([[focal, 0.0, principal], [0.0, focal, principal], [0.0, 0.0, 1.0]], dtype=dtype)


def canonical_source_camera(distance: float = SOURCE_DISTANCE, focal: float = FOCAL, principal: float = PRINCIPAL,
                            batch: int = 1) -> torch.Tensor:
    """(batch, 16) source camera vector of the canonical pose at `distance` from the origin."""
    pose = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, -distance], [0.0, 1.0, 0.0, 0.0]])
    return source_camera_vector(pose, normalized_pinhole(focal, principal)).expand(batch, -1).clone()


def canonical_source_pose(distance: float = SOURCE_DISTANCE, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(4, 4) OpenCV cam-to-world of the canonical source camera at `distance` (the OpenGL pose of
    `canonical_source_camera` with its y and z axes flipped)."""
    return opencv_opengl_pose(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, -distance], [0.0, 1.0, 0.0, 0.0],
                                            [0.0, 0.0, 0.0, 1.0]], dtype=dtype))


def normalize_to_source(world_from_cam: torch.Tensor, source: int = 0, distance: float | None = None) -> torch.Tensor:
    """Move every camera by the rigid motion that puts camera `source` on the canonical pose.

    world_from_cam (V, 4, 4) OpenCV cam-to-world. `distance`: the canonical distance; None keeps the
    source camera's distance to the world origin (OpenLRM's 'auto'). Relative poses are unchanged;
    when the source looks at the origin, the origin stays put. Returns (V, 4, 4).
    """
    pivot = world_from_cam[source]
    if distance is None:
        distance = float(pivot[:3, 3].norm())
    motion = canonical_source_pose(distance, world_from_cam.dtype).to(world_from_cam.device) @ torch.linalg.inv(pivot)
    return motion @ world_from_cam


def orbit_render_cameras(views: int, radius: float = ORBIT_RADIUS, height: float = ORBIT_HEIGHT, focal: float = FOCAL,
                         principal: float = PRINCIPAL) -> torch.Tensor:
    """(views, 25) render camera vectors on the turntable orbit."""
    poses = opencv_opengl_pose(orbit_poses(views, radius, height))
    return render_camera_vector(poses, normalized_pinhole(focal, principal).expand(views, 3, 3))


def inference_sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(source input size, render size) for a ModelLRM: OpenLRM's for the released widths; otherwise
    the encoder's training size (an explicit `encoder_arch`) or 224, rendered at the same size."""
    config = getattr(model, "config", {})
    if config.get("transformer_dim") in RELEASED_SIZES and "encoder_arch" not in config:
        return RELEASED_SIZES[config["transformer_dim"]]
    size = int(config["encoder_arch"].get("img_size", 224)) if "encoder_arch" in config else 224
    return size, size
