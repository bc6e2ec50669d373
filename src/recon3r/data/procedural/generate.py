"""Seeded generation of whole procedural scenes and writing them in the recon3r multi-view format.

Scene `index` of a dataset with seed `seed` and path kind `kind` depends only on those three values
(its random stream is `default_rng([seed, index, kind_id])`), so scenes can be generated in any
order, in parallel, or on the fly, and always come out identical.

Sim-to-real options: `textures="photo"` textures surfaces (and some far backgrounds) with real
photos from Debian packages (`texture_library`); a scene then also depends on which photos are
installed, and falls back to procedural textures with a warning when none is. `photometric=True`
adds soft shadows, highlights, coloured lights and a simulated camera per view (`photometric`).
Both draw from their own random streams, so the layout and cameras of scene `index` do not change
with the photometric option.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recon3r.data.procedural.cameras import KINDS, Camera, exif_caption, make_cameras
from recon3r.data.procedural.photo_textures import Backdrop, PhotoMaterials
from recon3r.data.procedural.photometric import CameraEffects, draw_camera_effects
from recon3r.data.procedural.render import RenderedView, occluded, render, render_depth
from recon3r.data.procedural.scenes import Realism, SceneSpec, make_scene
from recon3r.data.procedural.texture_library import find_photo_textures, missing_textures_message

FOV_RANGE = (35.0, 80.0)
#: Isolated object views (kind "isolated") come from longer lenses, as object renders and product shots do.
ISOLATED_FOV_RANGE = (25.0, 60.0)
TEXTURES = ("procedural", "photo")
# The multi-view format's scene kind of each capture kind (the capture kind goes into the scene's meta).
FORMAT_KINDS = {"object": "orbit", "forward": "unordered", "indoor": "sequence", "isolated": "orbit"}
OVERLAP_SAMPLES = 24  # samples along the long side of the grid used to measure overlap


@dataclass
class ProceduralScene:
    """A scene and its cameras, ready to render."""

    name: str
    kind: str
    spec: SceneSpec
    cameras: list[Camera]
    effects: list[CameraEffects] | None = None  # per-view simulated camera (photometric scenes)
    texture_files: list[str] = field(default_factory=list)  # ids of the photos this scene uses

    def render(self, view: int) -> RenderedView:
        return render(self.spec, self.cameras[view], self.effects[view] if self.effects else None)

    def caption(self, view: int, focal_scale: float = 1.0) -> str:
        return exif_caption(self.cameras[view], focal_scale)


def scene_name(index: int) -> str:
    return f"scene_{index:05d}"


def generate_scene(seed: int, index: int, kind: str = "pairs", views: int = 2, size: int = 224,
                   fov_range: tuple[float, float] | None = None, *, textures: str = "procedural",
                   photometric: bool = False, texture_root: str | Path = "/") -> ProceduralScene:
    """Scene `index` of the dataset (`seed`, `kind`): layout, objects, lights and `views` cameras.

    Layouts: pairs and sequences alternate at random between rooms and yards; orbits add a hero
    object at the origin of either; `object` captures use a studio (one hero before a plain or photo
    backdrop) or a cluttered room or yard around a hero; `forward` a room or a yard; `indoor` a room;
    `isolated` the hero alone, with no background. Horizontal fields of view are drawn from
    `fov_range` (default: FOV_RANGE, ISOLATED_FOV_RANGE for `isolated`). `size` sets the image size as
    `cameras.image_size` describes. `textures` and `photometric`: see the module docstring;
    `texture_root` is where the photo packages are looked up ("/").
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if textures not in TEXTURES:
        raise ValueError(f"unknown textures {textures!r}; expected one of {TEXTURES}")
    if views < 1 or size < 16:
        raise ValueError(f"need views >= 1 and size >= 16, got views={views}, size={size}")
    if fov_range is None:
        fov_range = ISOLATED_FOV_RANGE if kind == "isolated" else FOV_RANGE
    kind_id = KINDS.index(kind)
    library = photo_library(texture_root) if textures == "photo" else ()
    materials = PhotoMaterials(library) if library else None
    rng = np.random.default_rng([seed, index, kind_id] + ([1] if materials else []))
    if kind == "isolated":
        layout = "isolated"
    elif kind == "object":
        layout = "studio" if rng.uniform() < 0.5 else ("room" if rng.uniform() < 0.5 else "yard")
    elif kind == "indoor":
        layout = "room"
    else:
        layout = "room" if rng.uniform() < (0.6 if kind == "sequence" else 0.5) else "yard"
    hero = kind in ("orbit", "object", "isolated")
    spec = make_scene(rng, layout, hero_object=hero, materials=materials) if materials else \
        make_scene(rng, layout, hero_object=hero)
    if layout == "studio":
        spec.sky = _studio_backdrop(rng, materials)
    elif materials and layout == "yard" and rng.uniform() < 0.5:
        spec.sky = materials.backdrop(rng)  # a far photo background instead of the sky
    cameras = make_cameras(spec, rng, kind, views, size, fov_range)
    effects = None
    if photometric:
        look = np.random.default_rng([seed, index, kind_id, 2])
        spec.realism = Realism(shadow_samples=3, sun_radius=float(look.uniform(0.01, 0.08)),
                               lamp_radius=float(look.uniform(0.05, 0.4)))
        for light in spec.lights:
            light.color = light.color * _light_tint(look)
        effects = [draw_camera_effects(look) for _ in range(views)]
    return ProceduralScene(name=scene_name(index), kind=kind, spec=spec, cameras=cameras, effects=effects,
                           texture_files=list(materials.used) if materials else [])


def photo_library(texture_root: str | Path = "/") -> tuple:
    """The installed photo textures, warning once (per root) and returning () when there are none."""
    library = find_photo_textures(texture_root)
    if not library and str(texture_root) not in _WARNED:
        _WARNED.add(str(texture_root))
        warnings.warn(missing_textures_message(texture_root), RuntimeWarning, stacklevel=3)
    return library


_WARNED: set[str] = set()


def _studio_backdrop(rng: np.random.Generator, materials: PhotoMaterials | None) -> Backdrop:
    """Mostly plain (black, grey, white or a colour, as turntable sets are shot), sometimes a photo."""
    if materials is not None and rng.uniform() < 0.3:
        return materials.backdrop(rng)
    pick = rng.uniform()
    if pick < 0.4:
        color = np.full(3, rng.uniform(0.0, 0.02))  # black cloth
    elif pick < 0.75:
        color = np.full(3, rng.uniform(0.2, 1.0))  # grey to white paper
    else:
        color = rng.uniform(0.05, 0.8, size=3) ** 2.2  # coloured paper
    return Backdrop(color=color.astype(np.float32))


def _light_tint(rng: np.random.Generator) -> np.ndarray:
    """Colour temperature from candle-warm to overcast-blue, now and then a coloured lamp."""
    if rng.uniform() < 0.1:
        return rng.uniform(0.4, 1.0, size=3)
    t = rng.uniform(-1.0, 1.0)
    return np.array([1.0 + 0.3 * t, 1.0, 1.0 - 0.35 * t])


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
    textures: str = "procedural",
    photometric: bool = False,
    texture_root: str | Path = "/",
) -> Path:
    """Generate `scenes` scenes of `views` views and write them in the recon3r multi-view format.

    Each scene stores RGB, depth, the foreground mask, intrinsics, poses, an EXIF-style caption per
    view (with the camera body in the view's meta), and the overlap matrix. `workers` > 1 renders
    scenes in parallel processes; the bytes written do not depend on it. `on_scene(i)` is called as
    each scene finishes (progress bars).

    With `textures="photo"`, dataset.json's meta lists under `texture_files` the provenance of every
    photo the scenes use (package, version, licence, copyright holder, upstream source, sha256), and
    each scene's meta lists the ids it uses; `textures_used` says "procedural" when no photo package
    was installed (the fallback).
    """
    from recon3r.data.format import write_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    library = photo_library(texture_root) if textures == "photo" else ()
    options = {"textures": textures, "photometric": photometric, "texture_root": str(texture_root)}
    jobs = [(out, seed, index, kind, views, size, options) for index in range(scenes)]
    used: set[str] = set()
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for index, files in pool.imap_unordered(_write_one, jobs):
                used.update(files)
                if on_scene:
                    on_scene(index)
    else:
        for job in jobs:
            used.update(_write_one(job)[1])
            if on_scene:
                on_scene(job[2])
    meta = {"generator": "recon3r.data.procedural", "seed": seed, "kind": kind, "views": views, "size": size,
            "fov_range": list(ISOLATED_FOV_RANGE if kind == "isolated" else FOV_RANGE)}
    if textures != "procedural" or photometric:
        meta.update(textures=textures, textures_used="photo" if library else "procedural", photometric=photometric)
        if textures == "photo":
            meta["texture_files"] = [t.provenance() for t in library if t.id in used]
            if not library:
                meta["texture_fallback"] = missing_textures_message(texture_root)
    write_dataset(out, [scene_name(i) for i in range(scenes)], meta=meta)
    return out


def _write_one(job: tuple) -> tuple[int, list[str]]:
    from recon3r.data.format import write_scene

    out, seed, index, kind, views, size, options = job
    with warnings.catch_warnings():  # the caller has said it once already
        warnings.filterwarnings("ignore", message="no photo textures found")
        scene = generate_scene(seed, index, kind, views, size, **options)
    rendered = [scene.render(v) for v in range(views)]
    write_scene(
        out / scene.name,
        images=[r.rgb for r in rendered],
        intrinsics=[c.intrinsics for c in scene.cameras],
        world_from_cam=[c.world_from_cam for c in scene.cameras],
        depths=[r.depth for r in rendered],
        masks=[r.foreground for r in rendered],
        captions=[scene.caption(v) for v in range(views)],
        kind=FORMAT_KINDS.get(kind, kind),
        overlap=overlap_matrix(scene.spec, scene.cameras),
        view_meta=[{"camera_model": c.model, "sensor_mm": c.sensor_mm} for c in scene.cameras],
        meta={"layout": scene.spec.layout, "seed": seed, "index": index,
              **({"capture": kind} if kind in FORMAT_KINDS else {}),
              **({"texture_files": scene.texture_files} if options["textures"] == "photo" else {})},
    )
    return index, scene.texture_files
