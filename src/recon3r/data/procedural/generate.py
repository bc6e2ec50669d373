"""Seeded generation of whole procedural scenes and writing them in the recon3r multi-view format.

Scene `index` of a dataset with seed `seed` and path kind `kind` depends only on those three values
(its random stream is `default_rng([seed, index, kind_id])`), so scenes can be generated in any
order, in parallel, or on the fly, and always come out identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recon3r.data.procedural.cameras import KINDS, Camera, exif_caption, make_cameras
from recon3r.data.procedural.render import RenderedView, occluded, render, render_depth
from recon3r.data.procedural.scenes import SceneSpec, make_scene

FOV_RANGE = (35.0, 80.0)
#: Object-centric views (kind "object") come from longer lenses, as object renders and product shots do.
OBJECT_FOV_RANGE = (25.0, 60.0)
OVERLAP_SAMPLES = 24  # samples along the long side of the grid used to measure overlap


@dataclass
class ProceduralScene:
    """A scene and its cameras, ready to render."""

    name: str
    kind: str
    spec: SceneSpec
    cameras: list[Camera]

    def render(self, view: int) -> RenderedView:
        return render(self.spec, self.cameras[view])

    def caption(self, view: int, focal_scale: float = 1.0) -> str:
        return exif_caption(self.cameras[view], focal_scale)


def scene_name(index: int) -> str:
    return f"scene_{index:05d}"


def generate_scene(seed: int, index: int, kind: str = "pairs", views: int = 2, size: int = 224,
                   fov_range: tuple[float, float] | None = None) -> ProceduralScene:
    """Scene `index` of the dataset (`seed`, `kind`): layout, objects, lights and `views` cameras.

    Layouts: pairs and sequences alternate at random between rooms and yards; orbits add a hero
    object at the origin of either; `object` is the hero alone, with no background. Horizontal fields
    of view are drawn from `fov_range` (default: FOV_RANGE, OBJECT_FOV_RANGE for `object`). `size` sets the image size as `cameras.image_size` describes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if views < 1 or size < 16:
        raise ValueError(f"need views >= 1 and size >= 16, got views={views}, size={size}")
    if fov_range is None:
        fov_range = OBJECT_FOV_RANGE if kind == "object" else FOV_RANGE
    rng = np.random.default_rng([seed, index, KINDS.index(kind)])
    if kind == "object":
        layout = "object"
    else:
        layout = "room" if rng.uniform() < (0.6 if kind == "sequence" else 0.5) else "yard"
    spec = make_scene(rng, layout, hero_object=kind in ("orbit", "object"))
    cameras = make_cameras(spec, rng, kind, views, size, fov_range)
    return ProceduralScene(name=scene_name(index), kind=kind, spec=spec, cameras=cameras)


def overlap_matrix(scene: SceneSpec, cameras: list[Camera], samples: int = OVERLAP_SAMPLES) -> np.ndarray:
    """(V, V) overlap[i, j]: fraction of view i's valid pixels (on a sparse grid) that view j sees.

    A point seen by i counts for j when it projects inside j's image, in front of j, and nothing
    lies between j's centre and the point. overlap[i, i] = 1 where view i sees anything.
    """
    points, counts = [], []
    for cam in cameras:
        step = max(cam.width, cam.height) / samples
        xs = np.arange(step / 2, cam.width, step)
        ys = np.arange(step / 2, cam.height, step)
        grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
        depth = render_depth(scene, cam, grid)
        valid = depth > 0
        k_inv = np.linalg.inv(cam.intrinsics)
        rays = np.concatenate([grid[valid], np.ones((int(valid.sum()), 1))], 1) @ k_inv.T
        cam_points = rays * depth[valid, None]
        points.append(cam_points @ cam.world_from_cam[:3, :3].T + cam.world_from_cam[:3, 3])
        counts.append(int(valid.sum()))
    n = len(cameras)
    out = np.zeros((n, n))
    for i in range(n):
        if counts[i] == 0:
            continue
        for j in range(n):
            if i == j:
                out[i, j] = 1.0
                continue
            cam = cameras[j]
            pose = cam.world_from_cam
            local = (points[i] - pose[:3, 3]) @ pose[:3, :3]
            z = local[:, 2]
            front = z > 1e-6
            pix = local[front] @ cam.intrinsics.T
            pix = pix[:, :2] / pix[:, 2:3]
            inside = (pix[:, 0] > -0.5) & (pix[:, 0] < cam.width - 0.5) & (pix[:, 1] > -0.5) & (pix[:, 1] < cam.height - 0.5)
            candidates = points[i][front][inside]
            if len(candidates) == 0:
                continue
            blocked = occluded(scene, pose[:3, 3], candidates - pose[:3, 3], 1.0 - 1e-3)
            out[i, j] = float((~blocked).sum()) / counts[i]
    return np.round(out, 3)


def write_procedural(
    out: str | Path,
    scenes: int,
    views: int,
    *,
    size: int = 224,
    seed: int = 0,
    kind: str = "pairs",
    workers: int = 1,
    on_scene: Callable[[int], None] | None = None,
) -> Path:
    """Generate `scenes` scenes of `views` views and write them in the recon3r multi-view format.

    Each scene stores RGB, depth, the foreground mask, intrinsics, poses, an EXIF-style caption per
    view (with the camera body in the view's meta), and the overlap matrix. `workers` > 1 renders
    scenes in parallel processes; the bytes written do not depend on it. `on_scene(i)` is called as
    each scene finishes (progress bars).
    """
    from recon3r.data.format import write_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, index, kind, views, size) for index in range(scenes)]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for index in pool.imap_unordered(_write_one, jobs):
                if on_scene:
                    on_scene(index)
    else:
        for job in jobs:
            _write_one(job)
            if on_scene:
                on_scene(job[2])
    meta = {"generator": "recon3r.data.procedural", "seed": seed, "kind": kind, "views": views, "size": size,
            "fov_range": list(OBJECT_FOV_RANGE if kind == "object" else FOV_RANGE)}
    write_dataset(out, [scene_name(i) for i in range(scenes)], meta=meta)
    return out


def _write_one(job: tuple) -> int:
    from recon3r.data.format import write_scene

    out, seed, index, kind, views, size = job
    scene = generate_scene(seed, index, kind, views, size)
    rendered = [scene.render(v) for v in range(views)]
    write_scene(
        out / scene.name,
        images=[r.rgb for r in rendered],
        intrinsics=[c.intrinsics for c in scene.cameras],
        world_from_cam=[c.world_from_cam for c in scene.cameras],
        depths=[r.depth for r in rendered],
        masks=[r.foreground for r in rendered],
        captions=[scene.caption(v) for v in range(views)],
        kind="orbit" if kind == "object" else kind,  # the format's kinds name camera paths: an object's is an orbit
        overlap=overlap_matrix(scene.spec, scene.cameras),
        view_meta=[{"camera_model": c.model, "sensor_mm": c.sensor_mm} for c in scene.cameras],
        meta={"layout": scene.spec.layout, "seed": seed, "index": index},
    )
    return index
