"""Exports of a `recon3r.scene.Scene` in formats other tools read.

`export_scene(scene, out_dir)` writes, by default, every format:
- `images/*.png`: the network-resolution images (what COLMAP/nerfstudio reference in network mode);
- `points.ply`: coloured masked points; `scene.glb`: points (or mesh) and camera frusta;
- `sparse/0/{cameras,images,points3D}.txt`: a COLMAP text model;
- `transforms.json`: nerfstudio cameras; `scene.npz`: every array of the scene.
Heavy dependencies (plyfile, trimesh) are imported only by the exporter that needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recon3r.errors import ConfigError
from recon3r.io.exports._common import Resolution, image_file_names, write_images
from recon3r.io.exports.colmap import export_colmap, rotation_to_quaternion
from recon3r.io.exports.glb import export_glb
from recon3r.io.exports.nerfstudio import export_nerfstudio
from recon3r.io.exports.npz import export_npz, load_scene_npz
from recon3r.io.exports.ply import export_ply, write_ply
from recon3r.scene import Scene

FORMATS = ("ply", "glb", "colmap", "nerfstudio", "npz")

__all__ = [
    "FORMATS",
    "check_formats",
    "export_colmap",
    "export_glb",
    "export_nerfstudio",
    "export_npz",
    "export_ply",
    "export_scene",
    "image_file_names",
    "load_scene_npz",
    "rotation_to_quaternion",
    "write_images",
    "write_ply",
]


def check_formats(formats: Iterable[str]) -> list[str]:
    """The export formats as a list; ConfigError naming any unknown one, or when none is given."""
    formats = [str(f).strip().lower() for f in formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {', '.join(map(repr, unknown))}; choose from {', '.join(FORMATS)}")
    if not formats:
        raise ConfigError(f"no export format given; choose from {', '.join(FORMATS)}")
    return formats


def export_scene(
    scene: Scene,
    out_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    *,
    colmap_resolution: Resolution = "auto",
    nerfstudio_resolution: Resolution = "network",
    glb_geometry: str = "points",
    max_colmap_points: int | None = 100_000,
) -> dict[str, Path]:
    """Write `scene` into `out_dir` in each of `formats`; returns {format: path written}.

    Also writes the network-resolution images under `images/` (key "images") whenever COLMAP or
    nerfstudio output is asked for. Raises ConfigError naming an unknown format.
    """
    formats = check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "colmap" in formats or "nerfstudio" in formats:
        write_images(scene, out_dir / "images")
        written["images"] = out_dir / "images"
    if "ply" in formats:
        written["ply"] = export_ply(scene, out_dir / "points.ply")
    if "glb" in formats:
        written["glb"] = export_glb(scene, out_dir / "scene.glb", geometry=glb_geometry)  # type: ignore[arg-type]
    if "colmap" in formats:
        written["colmap"] = export_colmap(scene, out_dir / "sparse" / "0", resolution=colmap_resolution,
                                          max_points=max_colmap_points)
    if "nerfstudio" in formats:
        written["nerfstudio"] = export_nerfstudio(scene, out_dir / "transforms.json",
                                                  resolution=nerfstudio_resolution,
                                                  ply_path="points.ply" if "ply" in written else None)
    if "npz" in formats:
        written["npz"] = export_npz(scene, out_dir / "scene.npz")
    return written
