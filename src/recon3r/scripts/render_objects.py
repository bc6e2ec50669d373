"""Render a 3D object with Blender into MIRA's rendered-objects layout (read by `recon3r.data.RenderedObjects`).

Run with Blender (3.6 or 4.x; not importable outside it):

    blender --background --python src/recon3r/scripts/render_objects.py -- \\
        --object_path model.glb --num_renders 32 --output_dir renders/ --engine CYCLES

Input: any file Blender imports: Objaverse's .glb / .gltf (the usual case), .obj (with its .mtl and
textures beside it), .fbx, .ply, .stl, .usd/.usdz, .dae, .abc, or a .blend. Objaverse objects
are downloaded with the `objaverse` package (`objaverse.load_objects(uids)` gives local .glb paths);
render each one with this script, e.g. in a shell loop or with GNU parallel (on a headless Linux
server with EEVEE, wrap Blender in `xvfb-run`).

Output, under OUTPUT_DIR/<file name without extension>/:
    000.png ...       RGBA renders (transparent film: alpha is the object), RESOLUTION²
    000.npy ...       3 × 4 world-to-camera [R | t] in Blender camera axes (x right, y up, −z forward)
    metadata.json     the source file, counts, bounding box before normalisation, lights, and
                      `fov_deg` (one per render, across the larger side)
    mesh.ply          with --export_mesh: the normalised scene (for Chamfer distances)

The scene is normalised as MIRA does: its bounding box centred at the origin and scaled to a longest
side of 1 (world z up). Cameras (35 mm lens on a 32 mm sensor by default: 49.1°) sit at a random
distance in [radius_min, radius_max] in a random direction whose height lies in (z_min, z_max),
tracking the origin with world z up; lighting is four fixed sun lamps (key, fill, rim, bottom).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

IMPORTERS = {
    ".glb": ("import_scene", "gltf"), ".gltf": ("import_scene", "gltf"), ".obj": ("wm", "obj_import"),
    ".fbx": ("import_scene", "fbx"), ".ply": ("wm", "ply_import"), ".stl": ("wm", "stl_import"),
    ".usd": ("wm", "usd_import"), ".usda": ("wm", "usd_import"), ".usdz": ("wm", "usd_import"),
    ".dae": ("wm", "collada_import"), ".abc": ("wm", "alembic_import"),
}
# Blender 3.x names of the importers that moved in 4.x.
LEGACY_IMPORTERS = {"obj_import": ("import_scene", "obj"), "ply_import": ("import_mesh", "ply"),
                    "stl_import": ("import_mesh", "stl")}
SUNS = (  # (name, rotation_euler in radians, energy)
    ("key", (0.79, 0.0, -0.79), 4.0), ("fill", (0.79, 0.0, 2.36), 3.0),
    ("rim", (-0.79, 0.0, -3.93), 4.0), ("bottom", (3.14, 0.0, 0.0), 2.0),
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Render an object into MIRA's rendered-objects layout.")
    parser.add_argument("--object_path", required=True, help="the 3D file (.glb, .obj, .fbx, ... or .blend)")
    parser.add_argument("--output_dir", required=True, help="renders go to OUTPUT_DIR/<object name>/")
    parser.add_argument("--num_renders", type=int, default=32)
    parser.add_argument("--engine", choices=("CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"), default="CYCLES")
    parser.add_argument("--resolution", type=int, default=1024, help="square render side in pixels")
    parser.add_argument("--samples", type=int, default=128, help="Cycles samples per pixel")
    parser.add_argument("--lens_mm", type=float, default=35.0)
    parser.add_argument("--sensor_mm", type=float, default=32.0)
    parser.add_argument("--radius_min", type=float, default=1.5)
    parser.add_argument("--radius_max", type=float, default=3.0)
    parser.add_argument("--z_min", type=float, default=-0.75)
    parser.add_argument("--z_max", type=float, default=1.6)
    parser.add_argument("--only_northern_hemisphere", action="store_true", help="cameras above the ground plane")
    parser.add_argument("--seed", type=int, default=0, help="seed of the camera positions")
    parser.add_argument("--export_mesh", action="store_true", help="also write the normalised scene as mesh.ply")
    parser.add_argument("--gpu", action="store_true", help="render Cycles on the GPU (CUDA / OptiX / Metal)")
    return parser.parse_args(argv)


def clear_scene(bpy) -> None:
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for collection in (bpy.data.meshes, bpy.data.materials, bpy.data.textures, bpy.data.images, bpy.data.lights,
                       bpy.data.cameras):
        for block in list(collection):
            collection.remove(block)


def import_object(bpy, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(path))
        for obj in list(bpy.data.objects):
            if obj.type in ("CAMERA", "LIGHT"):
                bpy.data.objects.remove(obj, do_unlink=True)
        return
    if suffix not in IMPORTERS:
        raise SystemExit(f"error: {path}: unsupported file type {suffix!r} (known: {', '.join(sorted(IMPORTERS))}, .blend)")
    module, name = IMPORTERS[suffix]
    operator = getattr(getattr(bpy.ops, module), name)
    if not operator.poll() and name in LEGACY_IMPORTERS:
        legacy_module, legacy_name = LEGACY_IMPORTERS[name]
        operator = getattr(getattr(bpy.ops, legacy_module), legacy_name)
    operator(filepath=str(path))


def mesh_objects(bpy) -> list:
    return [obj for obj in bpy.context.scene.objects if obj.type == "MESH"]


def scene_bounds(bpy) -> tuple[list[float], list[float]]:
    from mathutils import Vector

    lo, hi = [math.inf] * 3, [-math.inf] * 3
    for obj in mesh_objects(bpy):
        for corner in obj.bound_box:
            world = obj.matrix_world @ Vector(corner)
            lo = [min(a, b) for a, b in zip(lo, world)]
            hi = [max(a, b) for a, b in zip(hi, world)]
    if not math.isfinite(lo[0]):
        raise SystemExit("error: the file has no mesh to render")
    return lo, hi


def normalize_scene(bpy) -> tuple[list[float], list[float]]:
    """Parent every root to one empty, then centre the bounding box and scale its longest side to 1."""
    lo, hi = scene_bounds(bpy)
    roots = [obj for obj in bpy.context.scene.objects if obj.parent is None]
    holder = bpy.data.objects.new("normalization", None)
    bpy.context.scene.collection.objects.link(holder)
    for obj in roots:
        obj.parent = holder
    scale = 1.0 / max(h - low for h, low in zip(hi, lo))
    holder.scale = (scale, scale, scale)
    holder.location = tuple(-scale * (h + low) / 2 for h, low in zip(hi, lo))
    bpy.context.view_layer.update()
    return lo, hi


def add_lights(bpy) -> list[dict]:
    lights = []
    for name, rotation, energy in SUNS:
        data = bpy.data.lights.new(name=name, type="SUN")
        data.energy = energy
        obj = bpy.data.objects.new(name, data)
        obj.rotation_euler = rotation
        bpy.context.scene.collection.objects.link(obj)
        lights.append({"name": name, "rotation": list(rotation), "energy": energy})
    return lights


def add_camera(bpy, lens_mm: float, sensor_mm: float):
    data = bpy.data.cameras.new("camera")
    data.lens, data.sensor_width, data.sensor_fit = lens_mm, sensor_mm, "AUTO"
    camera = bpy.data.objects.new("camera", data)
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.scene.camera = camera
    target = bpy.data.objects.new("target", None)
    bpy.context.scene.collection.objects.link(target)
    constraint = camera.constraints.new(type="TRACK_TO")
    constraint.target, constraint.track_axis, constraint.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
    return camera


def camera_positions(args: argparse.Namespace) -> list[tuple[float, float, float]]:
    """Random directions at random distances, kept when their height lies in (z_min, z_max)."""
    import random

    rng = random.Random(args.seed)
    positions = []
    while len(positions) < args.num_renders:
        direction = [rng.uniform(-1, 1) for _ in range(3)]
        norm = math.sqrt(sum(v * v for v in direction))
        if norm < 1e-6:
            continue
        radius = rng.uniform(args.radius_min, args.radius_max)
        eye = [v / norm * radius for v in direction]
        if args.only_northern_hemisphere:
            eye[2] = abs(eye[2])
        if args.z_min < eye[2] < args.z_max:
            positions.append(tuple(eye))
    return positions


def configure_render(bpy, args: argparse.Namespace) -> None:
    scene = bpy.context.scene
    scene.render.engine = args.engine
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.resolution_x = scene.render.resolution_y = args.resolution
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    if args.engine == "CYCLES":
        scene.cycles.samples = args.samples
        scene.cycles.use_denoising = True
        scene.cycles.diffuse_bounces = scene.cycles.glossy_bounces = 1
        scene.cycles.transparent_max_bounces = scene.cycles.transmission_bounces = 3
        scene.cycles.device = "GPU" if args.gpu else "CPU"
        if args.gpu:
            preferences = bpy.context.preferences.addons["cycles"].preferences
            preferences.get_devices()
            for device in preferences.devices:
                device.use = True


def world_to_camera(camera) -> list[list[float]]:
    """3 × 4 [R | t] mapping world points into the camera frame (Blender camera axes)."""
    location, rotation = camera.matrix_world.decompose()[:2]
    R = rotation.to_matrix().transposed()
    t = -(R @ location)
    return [list(R[i]) + [t[i]] for i in range(3)]


def export_scene_mesh(bpy, path: Path) -> None:
    if hasattr(bpy.ops.wm, "ply_export") and bpy.ops.wm.ply_export.poll():
        bpy.ops.wm.ply_export(filepath=str(path), export_selected_objects=False, apply_modifiers=True)
    else:
        bpy.ops.export_mesh.ply(filepath=str(path), use_selection=False)


def main(argv: list[str]) -> None:
    import bpy
    import numpy as np

    args = parse_args(argv)
    source = Path(args.object_path)
    if not source.is_file():
        raise SystemExit(f"error: object not found: {source}")
    out = Path(args.output_dir) / source.name.split(".")[0]
    out.mkdir(parents=True, exist_ok=True)
    clear_scene(bpy)
    import_object(bpy, source)
    bounds_lo, bounds_hi = normalize_scene(bpy)
    lights = add_lights(bpy)
    camera = add_camera(bpy, args.lens_mm, args.sensor_mm)
    configure_render(bpy, args)
    fov_deg = math.degrees(2 * math.atan(args.sensor_mm / 2 / args.lens_mm))
    for index, eye in enumerate(camera_positions(args)):
        camera.location = eye
        bpy.context.view_layer.update()
        bpy.context.scene.render.filepath = str(out / f"{index:03d}.png")
        bpy.ops.render.render(write_still=True)
        np.save(out / f"{index:03d}.npy", np.array(world_to_camera(camera), dtype=np.float32))
    if args.export_mesh:
        export_scene_mesh(bpy, out / "mesh.ply")
    metadata = {
        "generator": "recon3r/scripts/render_objects.py", "object_path": str(source), "num_renders": args.num_renders,
        "resolution": args.resolution, "engine": args.engine, "lens_mm": args.lens_mm, "sensor_mm": args.sensor_mm,
        "fov_deg": [fov_deg] * args.num_renders, "seed": args.seed,
        "scene_size": {"bbox_min": bounds_lo, "bbox_max": bounds_hi}, "lights": lights,
        "pose": "NNN.npy: 3x4 world-to-camera, Blender camera axes (x right, y up, -z forward), world z up",
        "normalization": "bounding box centred at the origin, longest side 1",
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
    print(f"rendered {args.num_renders} views of {source} into {out}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
