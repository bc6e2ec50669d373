"""Object-centric training views from procedural orbits, normalised into the model's frame.

Each scene is a procedural `kind="orbit"` scene (`recon3r.data.procedural`) reduced to its hero
object (primitives of group 1; the room or yard is dropped so the object stands alone in front of a
white background) and rendered with exact cameras through square S × S pinhole cameras (the orbit's
poses, horizontal field of view drawn in `fov_range`).

Normalisation (exact, from the ground truth; view 0 is the source camera):
- origin at the hero's bounding-sphere centre, axes those of the source camera (OpenCV: x right,
  y down, z forward), so the source camera looks along +z;
- scale such that the source camera centre is `source_distance` from the origin. The orbit flies
  2.2–3 bounding radii away, so with `source_distance` = 2.2 the bounding sphere (and the object)
  has radius ≤ 1 and fits in [-1, 1]^3. Fixing the camera distance rather than the object size
  removes the focal/scale ambiguity that one image cannot resolve (LRM normalises the same way).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from recon3r.data.procedural import Camera, generate_scene, render

Views = dict[str, torch.Tensor]
BACKGROUND = 1.0  # white, in [0, 1] RGB


def square_intrinsics(size: int, fov_deg: float) -> np.ndarray:
    """(3, 3) pinhole intrinsics of a square image with horizontal FOV `fov_deg`, centre ((S−1)/2, (S−1)/2)."""
    focal = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    c = (size - 1) / 2
    return np.array([[focal, 0.0, c], [0.0, focal, c], [0.0, 0.0, 1.0]])


def object_frame(world_from_source: np.ndarray, center: np.ndarray, source_distance: float
                 ) -> tuple[np.ndarray, float]:
    """(obj_from_world rigid 4×4, scale): p_obj = scale · (R_srcᵀ (p_world − center))."""
    rotation = world_from_source[:3, :3]
    obj_from_world = np.eye(4)
    obj_from_world[:3, :3] = rotation.T
    obj_from_world[:3, 3] = -rotation.T @ center
    scale = source_distance / np.linalg.norm(world_from_source[:3, 3] - center)
    return obj_from_world, float(scale)


def render_orbit(index: int, views: int, size: int, seed: int = 0, fov_range: tuple[float, float] = (45.0, 55.0),
                 source_distance: float = 2.2) -> Views:
    """One normalised orbit scene: view 0 is the source.

    Returns `images` (V, 3, S, S) in [0, 1] on white, `masks` (V, S, S) float (object pixels),
    `intrinsics` (V, 3, 3) and `world_from_cam` (V, 4, 4) in the normalised object frame (float32).
    """
    scene = generate_scene(seed, index, kind="orbit", views=views, size=size, fov_range=fov_range)
    spec = scene.spec
    assert spec.hero is not None
    hero_only = replace(spec, primitives=[p for p in spec.primitives if p.group == 1])
    rng = np.random.default_rng([seed, index, 7])
    K = square_intrinsics(size, float(rng.uniform(*fov_range)))
    obj_from_world, scale = object_frame(scene.cameras[0].world_from_cam, spec.hero[0], source_distance)
    images, masks, poses = [], [], []
    for cam in scene.cameras:
        square = Camera(size, size, K, cam.world_from_cam, cam.model, cam.sensor_mm)
        view = render(hero_only, square)
        mask = view.valid
        rgb = np.where(mask[..., None], view.rgb.astype(np.float32) / 255.0, BACKGROUND)
        pose = obj_from_world @ cam.world_from_cam
        pose[:3, 3] *= scale
        images.append(rgb.transpose(2, 0, 1))
        masks.append(mask)
        poses.append(pose)
    return {"images": torch.from_numpy(np.stack(images)).float(),
            "masks": torch.from_numpy(np.stack(masks)).float(),
            "intrinsics": torch.from_numpy(np.stack([K] * views)).float(),
            "world_from_cam": torch.from_numpy(np.stack(poses)).float()}


def load_orbits(count: int, views: int, size: int, seed: int = 0, first: int = 0, **kwargs) -> Views:
    """`count` scenes (indices first, first + 1, ...) stacked: each value gains a leading scene axis."""
    scenes = [render_orbit(first + i, views, size, seed, **kwargs) for i in range(count)]
    return {key: torch.stack([s[key] for s in scenes]) for key in scenes[0]}
