"""Pinhole cameras: pixel grids, unprojection of depth maps, projection of points."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from recon3r.geometry.transforms import apply_transform


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> Tensor:
    """(H, W, 2) pixel coordinates: [..., 0] is the column x, [..., 1] is the row y."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1)


def image_center(
    height: int, width: int, *, pixel_centers: bool = False, device=None, dtype=torch.float32
) -> Tensor:
    """(2,) principal point (cx, cy) at the image centre, in pixels.

    Two conventions exist in the reference code and both are kept:
    - `pixel_centers=False`: (W/2, H/2), the global-alignment default (focal estimation);
    - `pixel_centers=True`: ((W-1)/2, (H-1)/2), the mean of the integer pixel coordinates,
      used when unprojecting depth with a pseudo-focal and no principal point.
    """
    shift = 1.0 if pixel_centers else 0.0
    return torch.tensor([(width - shift) / 2, (height - shift) / 2], device=device, dtype=dtype)


def intrinsics_from_focal(focal: Tensor | float, height: int, width: int, principal_point: Tensor | None = None,
                          *, batch: int | None = None, device=None, dtype=None) -> Tensor:
    """(B, 3, 3) pinhole K with fx = fy = `focal` (B,) or a scalar, pixels.

    `principal_point` (B, 2) (cx, cy) in pixels; None puts it at ((W-1)/2, (H-1)/2), the mean of the
    integer pixel coordinates. B comes from `focal`, `principal_point` or `batch`; device and dtype
    from the tensors given (float32 otherwise).
    """
    like = focal if isinstance(focal, Tensor) else principal_point
    device = device if device is not None else (like.device if like is not None else None)
    dtype = dtype if dtype is not None else (like.dtype if like is not None else torch.float32)
    focal = torch.as_tensor(focal, device=device, dtype=dtype)
    sizes = {n for n in (batch, focal.shape[0] if focal.ndim else None,
                         None if principal_point is None else principal_point.shape[0]) if n is not None}
    if focal.ndim > 1 or len(sizes) > 1 or (principal_point is not None and principal_point.shape[-1:] != (2,)):
        pp = None if principal_point is None else tuple(principal_point.shape)
        raise ValueError(f"focal must be a scalar or (B,) and principal_point (B, 2) for one B; got focal "
                         f"{tuple(focal.shape)}, principal_point {pp}, batch {batch}")
    count = sizes.pop() if sizes else 1
    if principal_point is None:
        principal_point = image_center(height, width, pixel_centers=True, device=device, dtype=dtype).expand(count, 2)
    k = torch.zeros(count, 3, 3, device=device, dtype=dtype)
    k[:, 0, 0] = k[:, 1, 1] = focal.expand(count)
    k[:, :2, 2] = principal_point.to(device=device, dtype=dtype)
    k[:, 2, 2] = 1
    return k


def intrinsics_to_unit_image(intrinsics: Tensor, height: int, width: int) -> Tensor:
    """Pixel K (..., 3, 3) of an H × W image (pixel centres at integer coordinates) → K of the image
    scaled to the unit square, pixel (row i, col j) centred at ((j + 0.5) / W, (i + 0.5) / H) as in
    `recon3r.geometry.rays.region_pixel_centers`: fx / W, fy / H, (cx + 0.5) / W, (cy + 0.5) / H (skew / W)."""
    scale = torch.tensor([[1.0 / width], [1.0 / height], [1.0]], dtype=intrinsics.dtype, device=intrinsics.device)
    shift = torch.zeros_like(intrinsics)
    shift[..., 0, 2] = shift[..., 1, 2] = 0.5
    return (intrinsics + shift * intrinsics[..., 2:3, 2:3]) * scale


def unproject_pixels(pixels: Tensor, depth: Tensor, intrinsics: Tensor) -> Tensor:
    """Camera-frame points (B, N, 3) of pixels (B, N, 2) (x, y) at z-depths (B, N) with K (B, 3, 3)."""
    if pixels.ndim != 3 or pixels.shape[-1] != 2 or depth.shape != pixels.shape[:2] or \
            intrinsics.shape != (pixels.shape[0], 3, 3):
        raise ValueError(f"expected pixels (B, N, 2), depth (B, N) and K (B, 3, 3), got {tuple(pixels.shape)}, "
                         f"{tuple(depth.shape)} and {tuple(intrinsics.shape)}")
    k = intrinsics.to(depth.dtype)
    x = (pixels[..., 0].to(depth.dtype) - k[:, 0, 2, None]) / k[:, 0, 0, None]
    y = (pixels[..., 1].to(depth.dtype) - k[:, 1, 2, None]) / k[:, 1, 1, None]
    return torch.stack([x * depth, y * depth, depth], dim=-1)


def depth_to_points(depth: Tensor, intrinsics: Tensor) -> Tensor:
    """Unproject depth maps (B, H, W) with intrinsics K (B, 3, 3) to camera-frame points (B, H, W, 3).

    Depth is the z coordinate (not the ray length); OpenCV axes.
    """
    if depth.ndim != 3 or intrinsics.shape[-2:] != (3, 3) or intrinsics.shape[0] != depth.shape[0]:
        raise ValueError(f"expected depth (B,H,W) and K (B,3,3), got {tuple(depth.shape)} and {tuple(intrinsics.shape)}")
    _, height, width = depth.shape
    grid = pixel_grid(height, width, device=depth.device, dtype=depth.dtype)
    fx, fy = intrinsics[:, 0, 0, None, None], intrinsics[:, 1, 1, None, None]
    cx, cy = intrinsics[:, 0, 2, None, None], intrinsics[:, 1, 2, None, None]
    x = (grid[..., 0] - cx) * depth / fx
    y = (grid[..., 1] - cy) * depth / fy
    return torch.stack([x, y, depth], dim=-1)


def depth_to_points_with_focal(depth: Tensor, focal: Tensor, principal_point: Tensor | None = None) -> Tensor:
    """Unproject depth maps (B, H, W) with per-pixel focal maps to camera-frame points (B, H, W, 3).

    Args:
        depth: (B, H, W) z depth.
        focal: (B, H, W) one focal per pixel (a "pseudo-focal" map), or (B, 1, H, W), or
            (B, 2, H, W) with separate fx and fy maps. Pixels.
        principal_point: (B, 2) as (cx, cy) in pixels; None centres on ((W-1)/2, (H-1)/2)
            (`image_center(..., pixel_centers=True)`).
    """
    if depth.ndim != 3:
        raise ValueError(f"depth must be (B, H, W), got shape {tuple(depth.shape)}")
    batch, height, width = depth.shape
    if focal.shape == depth.shape:
        fx = fy = focal
    elif focal.ndim == 4 and focal.shape[1] in (1, 2) and focal.shape[2:] == depth.shape[1:] and len(focal) == batch:
        fx, fy = focal[:, 0], focal[:, -1]
    else:
        raise ValueError(
            f"focal must be (B, H, W), (B, 1, H, W) or (B, 2, H, W) for depth {tuple(depth.shape)},"
            f" got {tuple(focal.shape)}"
        )
    if principal_point is None:
        principal_point = image_center(height, width, pixel_centers=True, device=depth.device, dtype=depth.dtype)
        principal_point = principal_point.expand(batch, 2)
    elif principal_point.shape != (batch, 2):
        raise ValueError(f"principal_point must be (B, 2) = ({batch}, 2), got {tuple(principal_point.shape)}")
    grid = pixel_grid(height, width, device=depth.device, dtype=depth.dtype)
    x = depth * (grid[..., 0] - principal_point[:, 0, None, None]) / fx
    y = depth * (grid[..., 1] - principal_point[:, 1, None, None]) / fy
    return torch.stack([x, y, depth], dim=-1)


def depth_to_world_points(depth: Tensor, intrinsics: Tensor, world_from_cam: Tensor) -> Tensor:
    """Unproject depth maps (B, H, W) to world-frame points (B, H, W, 3) with cam-to-world poses (B, 4, 4)."""
    return apply_transform(world_from_cam, depth_to_points(depth, intrinsics))


def project_points(points: Tensor, intrinsics: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Project camera-frame points (B, ..., 3) with K (B, 3, 3) to pixels (B, ..., 2) and depths (B, ...).

    Points at or behind the camera get their depth clamped to `eps` in the division;
    use the returned depth to mask them.
    """
    if points.ndim < 2 or points.shape[-1] != 3 or intrinsics.shape != (points.shape[0], 3, 3):
        raise ValueError(
            f"expected points (B, ..., 3) and K (B, 3, 3), got {tuple(points.shape)} and {tuple(intrinsics.shape)}"
        )
    batch = points.shape[0]
    flat = points.reshape(batch, -1, 3)
    z = flat[..., 2]
    homog = flat @ intrinsics.transpose(-1, -2)
    pixels = homog[..., :2] / z.clamp_min(eps)[..., None]
    return pixels.reshape(*points.shape[:-1], 2), z.reshape(points.shape[:-1])


def opencv_from_pytorch3d(
    R: Tensor, T: Tensor, focal_length: Tensor, principal_point: Tensor, image_size: Tensor, *, isotropic: bool = True
) -> tuple[Tensor, Tensor]:
    """A PyTorch3D NDC camera (CO3D's `viewpoint` annotation) → OpenCV intrinsics and cam-from-world pose.

    PyTorch3D: row vectors, `X_cam = X_world @ R + T`, camera axes +X left, +Y up, +Z forward;
    `focal_length` (B, 2) and `principal_point` (B, 2) in NDC, where NDC ±1 lies on the image
    edges (the renderers' align_corners=False). `isotropic=True` (CO3D v2's "ndc_isotropic") spans
    [-1, 1] on the shorter side with the same scale on both axes; False (the legacy
    "ndc_norm_image_bounds") spans [-1, 1] on each axis.

    Args:
        R (B, 3, 3), T (B, 3): the PyTorch3D world-to-view rotation and translation.
        focal_length, principal_point (B, 2): NDC intrinsics.
        image_size (B, 2): (height, width) in pixels.
    Returns:
        K (B, 3, 3) in pixels with pixel centres at integer coordinates, and cam_from_world
        (B, 4, 4) in OpenCV axes (x right, y down, z forward).
    """
    batch = tuple(R.shape[:-2])
    if (R.ndim < 3 or R.shape[-2:] != (3, 3) or tuple(T.shape) != (*batch, 3) or tuple(focal_length.shape) != (*batch, 2)
            or tuple(principal_point.shape) != (*batch, 2) or tuple(image_size.shape) != (*batch, 2)):
        raise ValueError(
            f"expected R (B, 3, 3), T (B, 3), focal_length and principal_point (B, 2), got {tuple(R.shape)}, "
            f"{tuple(T.shape)}, {tuple(focal_length.shape)}, {tuple(principal_point.shape)}"
        )
    size_wh = image_size.to(R).flip(-1)  # (B, 2) width, height
    half = size_wh / 2
    scale = half.min(dim=-1, keepdim=True).values.expand_as(half) if isotropic else half
    K = torch.zeros(*R.shape[:-2], 3, 3, dtype=R.dtype, device=R.device)
    K[..., 0, 0], K[..., 1, 1] = (focal_length * scale).unbind(-1)
    # NDC +x/+y point left/up; edge coordinates put the image corner at 0, recon3r pixel centres at 0.
    centre = half - principal_point * scale - 0.5
    K[..., 0, 2], K[..., 1, 2] = centre.unbind(-1)
    K[..., 2, 2] = 1
    flip = torch.tensor([-1.0, -1.0, 1.0], dtype=R.dtype, device=R.device)
    cam_from_world = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    cam_from_world[..., :3, :3] = flip[:, None] * R.transpose(-1, -2)
    cam_from_world[..., :3, 3] = flip * T
    cam_from_world[..., 3, 3] = 1
    return K, cam_from_world


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """Cam-to-world (..., 4, 4), OpenCV axes, of cameras at `eye` looking at `target`.

    eye, target (..., 3); up (..., 3) or (3,): the world direction that appears up in the image
    (the camera's −y). x = normalize(forward × up), y = forward × x. Undefined when the viewing
    direction is parallel to `up`.
    """
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    up = up.to(eye).expand_as(forward)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, up, dim=-1), dim=-1)
    down = torch.linalg.cross(forward, right, dim=-1)
    pose = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    pose[..., :3, 0], pose[..., :3, 1], pose[..., :3, 2], pose[..., :3, 3] = right, down, forward, eye
    pose[..., 3, 3] = 1
    return pose


def opencv_opengl_pose(world_from_cam: Tensor) -> Tensor:
    """Swap a cam-to-world (..., 3 or 4, 4) between OpenCV axes (x right, y down, z forward) and
    OpenGL / Blender axes (x right, y up, looking along −z): negate the y and z columns.

    The map is its own inverse, so it converts either way.
    """
    flip = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=world_from_cam.dtype, device=world_from_cam.device)
    return world_from_cam * flip


def orbit_poses(count: int, radius: float, height: float, *, start: float = -math.pi / 2, end: float = 3 * math.pi / 2,
                dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """(count, 4, 4) OpenCV cam-to-world poses on a horizontal circle, looking at the origin, world z up.

    Camera k sits at distance `radius` from the origin and height `height` (z), at azimuth
    θ_k = linspace(start, end, count) from the +x axis: eye = (ρ cos θ, ρ sin θ, height) with
    ρ = sqrt(radius² − height²). The default range starts in front of the object at (0, −ρ, h) and
    ends there again (the first and last views coincide).
    """
    if not 0 <= abs(height) < radius:
        raise ValueError(f"orbit height {height} must be smaller than its radius {radius}")
    theta = torch.linspace(start, end, count, dtype=torch.float64)
    rho = math.sqrt(radius ** 2 - height ** 2)
    eye = torch.stack((rho * torch.cos(theta), rho * torch.sin(theta), torch.full_like(theta, height)), dim=-1)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return look_at(eye, torch.zeros_like(eye), up).to(dtype=dtype, device=device)
