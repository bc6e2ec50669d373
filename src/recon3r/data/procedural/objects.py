"""Procedural objects rendered in MIRA's rendered-objects layout, so `RenderedObjects` is testable without Blender.

Object i is the hero of procedural orbit scene i (`generate_scene(seed, i, "orbit")`, its
primitives of group 1 alone, no sky), normalised as MIRA's Blender script normalises a mesh: its
bounding box centred at the origin and scaled to a longest side of 1 (world z up). Cameras are
drawn like MIRA's: a random direction at distance U(radius_range), kept when its height lies in
z_range, looking at the origin with world z up; square renders with field of view `fov_deg`
(default MIRA's 35 mm lens on a 32 mm sensor). Exposure is set from the object's own pixels.

Written per object (`recon3r.data.rendered_objects` documents the layout): NNN.png (RGBA, alpha =
object), NNN.npy (3 × 4 world-to-camera, Blender axes), NNN_depth.npy (exact z-depth, 0 outside the
object), metadata.json (with `fov_deg`), points.npy (surface samples from every render's depth),
and ROOT/splits.json ("train", and "test" for the last `test_objects`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from recon3r.data.procedural.cameras import Camera, look_at
from recon3r.data.procedural.generate import generate_scene
from recon3r.data.procedural.primitives import Primitive
from recon3r.data.procedural.render import render, render_depth
from recon3r.data.procedural.scenes import SceneSpec
from recon3r.data.rendered_objects import BLENDER_TO_OPENCV, MIRA_FOV_DEG, intrinsics_from_fov

POINTS_PER_OBJECT = 4096


def object_name(index: int) -> str:
    return f"object_{index:05d}"


def _bounds(prim: Primitive) -> tuple[np.ndarray, np.ndarray]:
    if prim.kind == "box":
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * prim.size
        world = corners @ prim.rotation.T + prim.center
        return world.min(axis=0), world.max(axis=0)
    half = np.array([prim.size[0], prim.size[0], prim.size[0] if prim.kind == "sphere" else prim.size[2]])
    return prim.center - half, prim.center + half


def normalized_object(seed: int, index: int) -> SceneSpec:
    """The hero of procedural orbit scene `index`, alone, centred and scaled to a longest side of 1."""
    spec = generate_scene(seed, index, kind="orbit", views=1, size=16).spec
    hero = [p for p in spec.primitives if p.group == 1]
    lo = np.min([_bounds(p)[0] for p in hero], axis=0)
    hi = np.max([_bounds(p)[1] for p in hero], axis=0)
    center, scale = (lo + hi) / 2, 1.0 / float((hi - lo).max())
    moved = [replace(p, center=(p.center - center) * scale, size=p.size * scale) for p in hero]
    lights = [light if light.kind == "sun" else
              replace(light, vector=(light.vector - center) * scale, falloff=light.falloff * scale)
              for light in spec.lights]
    return replace(spec, primitives=moved, lights=lights, sky=None, objects=[], hero=(np.zeros(3), 0.5 * np.sqrt(3)))


def sample_camera_positions(rng: np.random.Generator, count: int, radius_range: tuple[float, float],
                            z_range: tuple[float, float]) -> np.ndarray:
    """(count, 3) MIRA-style camera centres: random directions at random distances, height within z_range."""
    out = []
    while len(out) < count:
        direction = rng.uniform(-1, 1, 3)
        norm = np.linalg.norm(direction)
        if norm < 1e-6:
            continue
        eye = direction / norm * rng.uniform(*radius_range)
        if z_range[0] < eye[2] < z_range[1]:
            out.append(eye)
    return np.array(out)


def render_object(seed: int, index: int, renders: int, size: int = 128, fov_deg: float = MIRA_FOV_DEG,
                  radius_range: tuple[float, float] = (1.5, 3.0), z_range: tuple[float, float] = (-0.75, 1.6)
                  ) -> dict[str, np.ndarray]:
    """Render object `index`: `rgba` (V, S, S, 4) uint8, `world_to_camera` (V, 3, 4) Blender axes,
    `depth` (V, S, S) float32 and `points` (P, 3) float32 surface samples, in the normalised frame."""
    scene = normalized_object(seed, index)
    rng = np.random.default_rng([seed, index, 11])
    K = intrinsics_from_fov(fov_deg, size, size)
    rgba, world_to_camera, depths, points = [], [], [], []
    for eye in sample_camera_positions(rng, renders, radius_range, z_range):
        camera = Camera(size, size, K, look_at(eye, np.zeros(3)), "procedural", 32.0)
        # Auto-exposure over the object only: scale the key by the fraction of pixels it covers.
        grid = np.stack(np.meshgrid(np.linspace(0, size - 1, 24), np.linspace(0, size - 1, 24)), -1).reshape(-1, 2)
        coverage = max(float((render_depth(scene, camera, grid) > 0).mean()), 1e-3)
        view = render(replace(scene, exposure_key=scene.exposure_key * coverage), camera)
        alpha = np.where(view.foreground, 255, 0).astype(np.uint8)
        rgba.append(np.concatenate((np.where(view.foreground[..., None], view.rgb, 0), alpha[..., None]), axis=-1))
        blender_pose = camera.world_from_cam @ BLENDER_TO_OPENCV
        world_to_camera.append(np.linalg.inv(blender_pose)[:3])
        depth = np.where(view.foreground, view.depth, 0.0).astype(np.float32)
        depths.append(depth)
        rows, cols = np.nonzero(depth > 0)
        rays = np.stack(((cols - K[0, 2]) / K[0, 0], (rows - K[1, 2]) / K[1, 1], np.ones(len(rows))), axis=-1)
        cam_points = rays * depth[rows, cols, None]
        points.append(cam_points @ camera.world_from_cam[:3, :3].T + camera.world_from_cam[:3, 3])
    cloud = np.concatenate(points) if points else np.zeros((0, 3))
    if len(cloud) > POINTS_PER_OBJECT:
        cloud = cloud[rng.choice(len(cloud), POINTS_PER_OBJECT, replace=False)]
    return {"rgba": np.stack(rgba), "world_to_camera": np.stack(world_to_camera).astype(np.float32),
            "depth": np.stack(depths), "points": cloud.astype(np.float32)}


def write_rendered_objects(out: str | Path, objects: int, renders: int, *, size: int = 128, seed: int = 0,
                           fov_deg: float = MIRA_FOV_DEG, test_objects: int = 0,
                           on_object: Callable[[int], None] | None = None) -> Path:
    """Render `objects` procedural objects × `renders` views into `out` in MIRA's layout (see the module docstring)."""
    from PIL import Image

    if objects < 1 or renders < 1 or size < 16 or not 0 <= test_objects < objects:
        raise ValueError(f"need objects >= 1, renders >= 1, size >= 16 and 0 <= test_objects < objects, got "
                         f"{objects}, {renders}, {size}, {test_objects}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [object_name(i) for i in range(objects)]
    for index, name in enumerate(names):
        data = render_object(seed, index, renders, size, fov_deg)
        folder = out / name
        folder.mkdir(exist_ok=True)
        for v in range(renders):
            Image.fromarray(data["rgba"][v], "RGBA").save(folder / f"{v:03d}.png")
            np.save(folder / f"{v:03d}.npy", data["world_to_camera"][v])
            np.save(folder / f"{v:03d}_depth.npy", data["depth"][v])
        np.save(folder / "points.npy", data["points"])
        meta = {"generator": "recon3r.data.procedural.objects", "seed": seed, "index": index, "num_renders": renders,
                "resolution": size, "fov_deg": [fov_deg] * renders,
                "pose": "NNN.npy: 3x4 world-to-camera, Blender camera axes (x right, y up, -z forward), world z up",
                "normalization": "bounding box centred at the origin, longest side 1"}
        (folder / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
        if on_object:
            on_object(index)
    splits = {"train": names[:objects - test_objects], **({"test": names[objects - test_objects:]} if test_objects else {})}
    (out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n")
    return out
