"""A vectorised CPU ray caster for procedural scenes: RGB, metric z-depth, validity and object masks.

One ray per pixel through the pixel centre (integer pixel coordinates, OpenCV axes); geometry is
float64, shading float32. Shading is Lambertian with an ambient term, sun and point lights with hard
shadows, and an analytic sky for rays that escape (those pixels are invalid: depth 0). Textures are
band-limited per pixel (see `textures`), which stands in for supersampling at a fraction of the cost.
Sim-to-real scenes (`SceneSpec.realism`) add soft shadows and Blinn-Phong highlights, may replace the
sky by a far `Backdrop` (a photo or a plain colour), and are developed by a simulated camera
(`photometric.develop`) instead of the plain tone curve; none of it moves a pixel's ray, so depth is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon3r.data.procedural.cameras import Camera
from recon3r.data.procedural.photo_textures import Backdrop
from recon3r.data.procedural.photometric import CameraEffects, develop
from recon3r.data.procedural.scenes import Realism, SceneSpec
from recon3r.data.procedural.textures import fbm, hash3


@dataclass
class RenderedView:
    """One rendered image with exact ground truth at its native resolution (H, W)."""

    rgb: np.ndarray  # (H, W, 3) uint8 sRGB
    depth: np.ndarray  # (H, W) float32 z-depth in metres, 0 where nothing was hit (sky)
    valid: np.ndarray  # (H, W) bool, depth > 0
    foreground: np.ndarray  # (H, W) bool, pixels on objects (not room, ground or sky)


def camera_rays(camera: Camera, pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World-frame rays (origin (3,), directions (N, 3)) through pixel centres.

    Directions have z = 1 in the camera frame, so the ray parameter of a hit is its z-depth.
    `pixels` (N, 2) as (x, y); default: every pixel in row-major order.
    """
    if pixels is None:
        ys, xs = np.meshgrid(np.arange(camera.height), np.arange(camera.width), indexing="ij")
        pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    k = camera.intrinsics
    d_cam = np.stack(
        [(pixels[:, 0] - k[0, 2]) / k[0, 0], (pixels[:, 1] - k[1, 2]) / k[1, 1], np.ones(len(pixels))], axis=1
    )
    pose = camera.world_from_cam
    return pose[:3, 3].copy(), d_cam @ pose[:3, :3].T


def cast(scene: SceneSpec, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of each ray: ray parameter t (N,) (inf on a miss) and primitive index (N,) (-1 on a miss)."""
    best_t = np.full(directions.shape[0], np.inf)
    best_i = np.full(directions.shape[0], -1, dtype=np.int64)
    for index, prim in enumerate(scene.primitives):
        t = prim.intersect(origins, directions)
        closer = t < best_t
        best_t = np.where(closer, t, best_t)
        best_i = np.where(closer, index, best_i)
    return best_t, best_i


def occluded(scene: SceneSpec, origins: np.ndarray, directions: np.ndarray, t_max: np.ndarray | float) -> np.ndarray:
    """True (N,) where some primitive lies on the ray before parameter `t_max`."""
    blocked = np.zeros(directions.shape[0], dtype=bool)
    for prim in scene.primitives:
        blocked |= prim.intersect(origins, directions) < t_max
    return blocked


def render_depth(scene: SceneSpec, camera: Camera, pixels: np.ndarray) -> np.ndarray:
    """z-depth (N,) at pixel coordinates (N, 2), 0 where the ray escapes; no shading (cheap)."""
    origin, dirs = camera_rays(camera, pixels)
    t, _ = cast(scene, origin, dirs)
    return np.where(np.isfinite(t), t, 0.0)


def render(scene: SceneSpec, camera: Camera, effects: CameraEffects | None = None) -> RenderedView:
    """Render one view of `scene` through `camera` at the camera's native resolution.

    `effects`: develop the image through a simulated camera (`photometric`) instead of the plain
    auto-exposure and tone curve; depth, validity and masks do not depend on it.
    """
    h, w = camera.height, camera.width
    origin, dirs = camera_rays(camera)
    t, index = cast(scene, origin, dirs)
    hit = index >= 0
    radiance = np.zeros((h * w, 3), dtype=np.float32)
    foreground = np.zeros(h * w, dtype=bool)

    unit = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    focal = 0.5 * (camera.intrinsics[0, 0] + camera.intrinsics[1, 1])
    if (~hit).any():
        radiance[~hit] = _sky(scene, unit[~hit], 1.0 / focal)

    hit_ids = np.nonzero(hit)[0]
    points = origin + t[hit_ids, None] * dirs[hit_ids]
    normals = np.zeros_like(points)
    albedo = np.zeros((len(hit_ids), 3), dtype=np.float32)
    specular = np.zeros(len(hit_ids), dtype=np.float32)
    shininess = np.ones(len(hit_ids), dtype=np.float32)
    for prim_index in np.unique(index[hit_ids]):
        sel = index[hit_ids] == prim_index
        prim = scene.primitives[prim_index]
        p = points[sel]
        n = prim.normals(p)
        facing = np.einsum("ij,ij->i", n, unit[hit_ids[sel]])
        n = np.where(facing[:, None] > 0, -n, n)  # seen from behind (e.g. the underside of a plane)
        normals[sel] = n
        # Pixel footprint on the surface in metres, widened at grazing angles.
        footprint = (t[hit_ids[sel]] * np.linalg.norm(dirs[hit_ids[sel]], axis=1) / focal
                     / np.maximum(np.abs(facing), 0.2)).astype(np.float32)
        local = prim.to_local(p)
        local_normals = n @ prim.rotation
        which = prim.material_index(p)
        for m in np.unique(which):
            msel = which == m
            rows = np.nonzero(sel)[0][msel]
            material = prim.materials[m]
            albedo[rows] = material.albedo(local[msel], footprint[msel], local_normals[msel])
            specular[rows] = getattr(material, "specular", 0.0)
            shininess[rows] = getattr(material, "shininess", 1.0)
        foreground[hit_ids[sel]] = prim.group > 0

    if scene.realism is None:
        radiance[hit_ids] = albedo * _irradiance(scene, points, normals)
    else:
        diffuse, highlight = _shade(scene, scene.realism, points, normals, -unit[hit_ids], specular, shininess)
        radiance[hit_ids] = albedo * diffuse + highlight
    if effects is None:
        rgb = _tonemap(radiance, scene.exposure_key)
    else:
        # A plain backdrop is metered out, as a photographer exposes for the object on black or white.
        metered = radiance[hit] if _is_plain(scene.sky) and hit.any() else radiance
        key = scene.exposure_key * float(radiance.mean()) / max(float(metered.mean()), 1e-6)
        rgb = develop(radiance.reshape(h, w, 3), key, effects)
    depth = np.where(hit, t, 0.0).astype(np.float32)
    return RenderedView(
        rgb=rgb.reshape(h, w, 3),
        depth=depth.reshape(h, w),
        valid=hit.reshape(h, w),
        foreground=foreground.reshape(h, w),
    )


def _irradiance(scene: SceneSpec, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    light = np.broadcast_to(scene.ambient.astype(np.float32), points.shape).copy()
    offset_points = points + normals * 1e-4
    for source in scene.lights:
        if source.kind == "sun":
            to_light = np.broadcast_to(source.vector, points.shape)
            attenuation = np.ones(len(points), dtype=np.float32)
            t_max: np.ndarray | float = np.inf
        else:
            to_light = source.vector - points
            dist2 = np.einsum("ij,ij->i", to_light, to_light)
            attenuation = (1.0 / (1.0 + dist2 / source.falloff**2)).astype(np.float32)
            t_max = 1.0
        cos = np.einsum("ij,ij->i", normals, to_light) / np.linalg.norm(to_light, axis=1)
        lit = cos > 0
        if lit.any():
            shadow = occluded(scene, offset_points[lit], to_light[lit], t_max)
            gain = np.zeros(len(points), dtype=np.float32)
            gain[np.nonzero(lit)[0][~shadow]] = (cos[lit] * attenuation[lit])[~shadow]
            light += gain[:, None] * source.color[None, :].astype(np.float32)
    return light


def _is_plain(sky: object) -> bool:
    return isinstance(sky, Backdrop) and sky.path is None


def _shade(scene: SceneSpec, realism: Realism, points: np.ndarray, normals: np.ndarray, to_eye: np.ndarray,
           specular: np.ndarray, shininess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(irradiance (N, 3), highlight radiance (N, 3)) with soft shadows from lights of finite size.

    Each light is sampled by `realism.shadow_samples` shadow rays spread over its disc; the sample
    pattern turns by an angle hashed from the surface point (same in every view).
    """
    light = np.broadcast_to(scene.ambient.astype(np.float32), points.shape).copy()
    highlight = np.zeros_like(light)
    offset_points = points + normals * 1e-4
    samples = max(1, realism.shadow_samples)
    spin = 2 * np.pi * hash3(np.floor(points * 2000.0).astype(np.int64), 4099)
    shiny = specular > 0
    for source in scene.lights:
        if source.kind == "sun":
            to_light = np.broadcast_to(source.vector, points.shape)
            attenuation = np.ones(len(points), dtype=np.float32)
            t_max: np.ndarray | float = np.inf
            spread = realism.sun_radius
        else:
            to_light = source.vector - points
            dist2 = np.einsum("ij,ij->i", to_light, to_light)
            attenuation = (1.0 / (1.0 + dist2 / source.falloff**2)).astype(np.float32)
            t_max = 1.0
            spread = realism.lamp_radius
        length = np.linalg.norm(to_light, axis=1)
        direction = to_light / length[:, None]
        cos = np.einsum("ij,ij->i", normals, direction)
        lit = cos > 0
        if not lit.any():
            continue
        # Two axes across the light, as seen from each point.
        helper = np.where(np.abs(direction[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
        across1 = np.cross(direction, helper)
        across1 /= np.linalg.norm(across1, axis=1, keepdims=True)
        across2 = np.cross(direction, across1)
        visible = np.zeros(len(points), dtype=np.float32)
        for k in range(samples):
            angle = spin[lit] + 2 * np.pi * k / samples
            radius = spread * np.sqrt((k + 0.5) / samples)  # radians for the sun, metres for a lamp
            across = radius * (np.cos(angle)[:, None] * across1[lit] + np.sin(angle)[:, None] * across2[lit])
            jitter = (direction[lit] if source.kind == "sun" else to_light[lit]) + across
            blocked = occluded(scene, offset_points[lit], jitter, t_max)
            visible[np.nonzero(lit)[0][~blocked]] += 1.0 / samples
        gain = cos.clip(0, None).astype(np.float32) * attenuation * visible
        light += gain[:, None] * source.color[None, :].astype(np.float32)
        if realism.specular and shiny.any():
            half = direction[shiny] + to_eye[shiny]
            half /= np.linalg.norm(half, axis=1, keepdims=True)
            n_dot_h = np.clip(np.einsum("ij,ij->i", normals[shiny], half), 0.0, 1.0)
            strength = specular[shiny] * n_dot_h ** shininess[shiny] * (gain[shiny] > 0) * attenuation[shiny] * visible[shiny]
            highlight[shiny] += strength[:, None].astype(np.float32) * source.color[None, :].astype(np.float32)
    return light, highlight


def _sky(scene: SceneSpec, unit_dirs: np.ndarray, pixel_angle: float) -> np.ndarray:
    sky = scene.sky
    if sky is None:
        return np.zeros((len(unit_dirs), 3), dtype=np.float32)
    if isinstance(sky, Backdrop):
        return sky.radiance(unit_dirs, pixel_angle)
    up = np.clip(unit_dirs[:, 2], 0.0, 1.0)[:, None] ** 0.5
    color = sky.horizon[None, :] * (1 - up) + sky.zenith[None, :] * up
    # Clouds on the unit sphere of directions: at infinity, they move only with rotation.
    footprint = np.full(len(unit_dirs), 1e-3, dtype=np.float32)
    clouds = fbm(unit_dirs / np.maximum(unit_dirs[:, 2:3], 0.05) * 0.5, 1.5, footprint, sky.seed, octaves=5)
    cover = np.clip((clouds - (1.0 - sky.cloudiness)) / 0.15, 0.0, 1.0)[:, None]
    color = color * (1 - cover) + sky.cloud_color[None, :] * cover
    below = unit_dirs[:, 2:3] < 0
    color = np.where(below, sky.horizon[None, :] * 0.6, color)
    return color.astype(np.float32)


def _tonemap(radiance: np.ndarray, key: float) -> np.ndarray:
    # Auto-exposure on the mean luminance, a soft shoulder, then sRGB-like gamma.
    luminance = radiance @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    scale = key / max(float(luminance.mean()), 1e-6)
    mapped = 1.0 - np.exp(-radiance * scale * 1.6)
    return np.round(np.clip(mapped, 0.0, 1.0) ** (1 / 2.2) * 255.0).astype(np.uint8)
