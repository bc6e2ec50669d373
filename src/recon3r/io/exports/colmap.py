"""COLMAP text models: cameras.txt (PINHOLE), images.txt, points3D.txt, readable by COLMAP and pycolmap.

COLMAP puts the centre of the top-left pixel at (0.5, 0.5) while recon3r (OpenCV) puts it at (0, 0),
so principal points and 2D observations are written shifted by +0.5 pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon3r.errors import ConfigError
from recon3r.io.exports._common import (
    Resolution,
    cameras_at,
    image_file_names,
    masked_points,
    network_to_original_pixels,
    resolve_resolution,
)
from recon3r.scene import Scene


def export_colmap(
    scene: Scene,
    out_dir: str | Path,
    resolution: Resolution = "auto",
    max_points: int | None = 100_000,
    image_names: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """Write a COLMAP text model of `scene` into `out_dir`; returns `out_dir`.

    `resolution`: 'original' writes cameras at each file's original size (needs `scene.transforms`),
    'network' at the network resolution, 'auto' picks original when it can. Image names default to
    the original file names (original) or the PNGs `export_scene` writes (network), so point COLMAP's
    image folder at the matching images. COLMAP's text format splits lines on whitespace, so names
    must be unique and hold no whitespace: 'auto' falls back to network resolution (and its safe PNG
    names) when the original file names do not qualify, and 'original' then raises ConfigError.
    Each point of the subsampled cloud (`max_points`) has a one-observation track: the pixel it came from.
    """
    requested = resolution
    resolution = resolve_resolution(scene, resolution)
    if image_names is None and resolution == "original":
        originals = [Path(str(n)).name for n in scene.names]
        problem = colmap_name_problem(originals)
        if problem and requested == "auto":
            resolution = "network"
        elif problem:
            raise ConfigError(f"cannot write a COLMAP model at original resolution: {problem}; "
                              "use resolution='network' (the exported PNGs have safe names)")
        else:
            image_names = originals
    if image_names is None:
        image_names = image_file_names(scene)
    if len(image_names) != len(scene):
        raise ConfigError(f"need {len(scene)} image names, got {len(image_names)}")
    problem = colmap_name_problem(image_names)
    if problem:
        raise ConfigError(f"cannot write a COLMAP model: {problem}")
    intrinsics, sizes = cameras_at(scene, resolution)
    xyz, rgb, owner, pixels = masked_points(scene, max_points=max_points, seed=seed)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "cameras.txt", "w", encoding="utf-8") as f:
        f.write("# Camera list with one line of data per camera:\n")
        f.write("#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[fx, fy, cx, cy]\n")
        f.write(f"# Number of cameras: {len(scene)}\n")
        for i, (k, (w, h)) in enumerate(zip(intrinsics, sizes)):
            params = (k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5)
            f.write(f"{i + 1} PINHOLE {w} {h} " + " ".join(_num(p) for p in params) + "\n")

    cam_from_world = np.linalg.inv(np.asarray(scene.world_from_cam, dtype=np.float64))
    point_ids = np.arange(1, len(xyz) + 1)
    point2d_idx = np.zeros(len(xyz), dtype=np.int64)
    with open(out_dir / "images.txt", "w", encoding="utf-8") as f:
        f.write("# Image list with two lines of data per image:\n")
        f.write("#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n")
        f.write("#   POINTS2D[] as (X, Y, POINT3D_ID)\n")
        f.write(f"# Number of images: {len(scene)}\n")
        for i, name in enumerate(image_names):
            q = rotation_to_quaternion(cam_from_world[i, :3, :3])
            t = cam_from_world[i, :3, 3]
            f.write(f"{i + 1} " + " ".join(_num(v) for v in (*q, *t)) + f" {i + 1} {name}\n")
            mine = np.nonzero(owner == i)[0]
            point2d_idx[mine] = np.arange(len(mine))
            xy = pixels[mine].astype(np.float64)
            if resolution == "original" and len(mine):
                xy = network_to_original_pixels(scene, i, xy)
            xy = xy + 0.5
            f.write(" ".join(f"{_num(x)} {_num(y)} {pid}" for (x, y), pid in zip(xy, point_ids[mine])) + "\n")

    with open(out_dir / "points3D.txt", "w", encoding="utf-8") as f:
        f.write("# 3D point list with one line of data per point:\n")
        f.write("#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
        f.write(f"# Number of points: {len(xyz)}\n")
        for pid, p, c, img, idx in zip(point_ids, xyz, rgb, owner, point2d_idx):
            f.write(f"{pid} {_num(p[0])} {_num(p[1])} {_num(p[2])} {c[0]} {c[1]} {c[2]} 0 {img + 1} {idx}\n")
    return out_dir


def colmap_name_problem(names: list[str]) -> str | None:
    """Why `names` cannot be image names of a COLMAP text model (None when they can).

    COLMAP reads `images.txt` by splitting lines on whitespace: a name must be non-empty, hold no
    whitespace, and be unique.
    """
    for name in names:
        if not name or any(ch.isspace() for ch in name):
            return f"image name {name!r} is empty or holds whitespace, which COLMAP's text format cannot store"
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return f"image name(s) {', '.join(map(repr, repeated))} occur more than once"
    return None


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix to a unit quaternion (w, x, y, z) with w >= 0 (Hamilton, as COLMAP)."""
    r = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(r)
    # Pick the largest of 4w², 4x², 4y², 4z² as the pivot for numerical stability.
    candidates = np.array([trace, r[0, 0], r[1, 1], r[2, 2]])
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * np.sqrt(max(1.0 + trace, 0.0))
        q = np.array([0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s])
    elif k == 1:
        s = 2.0 * np.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 0.0))
        q = np.array([(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s])
    elif k == 2:
        s = 2.0 * np.sqrt(max(1.0 - r[0, 0] + r[1, 1] - r[2, 2], 0.0))
        q = np.array([(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s])
    else:
        s = 2.0 * np.sqrt(max(1.0 - r[0, 0] - r[1, 1] + r[2, 2], 0.0))
        q = np.array([(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s])
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def _num(value: float) -> str:
    return repr(float(value))  # shortest round-trip representation: no precision lost
