"""glTF binary (`.glb`) scenes for 3D viewers: coloured points or a pointmap mesh, plus camera frusta."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from recon3r.errors import ConfigError
from recon3r.io.exports._common import masked_points, to_uint8
from recon3r.scene import Scene

# OpenCV axes to glTF's (y up, looking down -z).
_OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def viewer_from_world(scene: Scene) -> np.ndarray:
    """(4, 4) transform into the first camera's frame with OpenGL axes, so viewers open on its view."""
    return _OPENGL_FROM_OPENCV @ np.linalg.inv(np.asarray(scene.world_from_cam[0], dtype=np.float64))


def export_glb(
    scene: Scene,
    path: str | Path,
    geometry: Literal["points", "mesh"] = "points",
    frusta: bool = True,
    viewer_frame: bool = True,
    frustum_depth: float | None = None,
) -> Path:
    """Write a `.glb` with the masked points (`geometry='points'`, node "points") or a triangle mesh
    over each pointmap's grid (`'mesh'`, nodes "mesh_{i:03d}"), and one wireframe frustum per camera
    (nodes "camera_{i:03d}", apex at the camera centre, base at `frustum_depth`, by default a tenth of
    the median camera-to-point distance).

    With `viewer_frame`, everything is expressed in `viewer_from_world(scene)` coordinates (first
    camera at the origin, y up); otherwise in the scene's world frame.
    """
    import trimesh

    if geometry not in ("points", "mesh"):
        raise ConfigError(f"unknown glb geometry {geometry!r}; expected 'points' or 'mesh'")
    to_viewer = viewer_from_world(scene) if viewer_frame else np.eye(4)
    out = trimesh.Scene()
    if geometry == "points":
        xyz, rgb, _, _ = masked_points(scene)
        if len(xyz):
            colors = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
            out.add_geometry(trimesh.PointCloud(_apply(to_viewer, xyz), colors=colors), geom_name="points",
                             node_name="points")
    else:
        for i in range(len(scene)):
            mesh = pointmap_mesh(scene.points[i], scene.images[i], scene.masks[i])
            if mesh is not None:
                mesh.apply_transform(to_viewer)
                out.add_geometry(mesh, geom_name=f"mesh_{i:03d}", node_name=f"mesh_{i:03d}")
    if frusta:
        depth = frustum_depth if frustum_depth is not None else default_frustum_depth(scene)
        for i in range(len(scene)):
            lines = frustum_lines(scene.intrinsics[i], scene.images[i].shape[:2], scene.world_from_cam[i], depth)
            path3d = trimesh.load_path(_apply(to_viewer, lines.reshape(-1, 3)).reshape(-1, 2, 3))
            out.add_geometry(path3d, geom_name=f"camera_{i:03d}", node_name=f"camera_{i:03d}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.export(file_type="glb"))
    return path


def frustum_lines(intrinsics: np.ndarray, shape: tuple[int, int], world_from_cam: np.ndarray, depth: float
                  ) -> np.ndarray:
    """(8, 2, 3) world-frame segments of a camera frustum: apex to the 4 image corners, and the base."""
    h, w = shape
    k_inv = np.linalg.inv(np.asarray(intrinsics, dtype=np.float64))
    corners_px = np.array([[-0.5, -0.5, 1.0], [w - 0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0], [-0.5, h - 0.5, 1.0]])
    corners = (corners_px @ k_inv.T) * depth  # camera frame, z = depth
    pose = np.asarray(world_from_cam, dtype=np.float64)
    corners = _apply(pose, corners)
    apex = pose[:3, 3]
    sides = [(apex, c) for c in corners]
    base = [(corners[k], corners[(k + 1) % 4]) for k in range(4)]
    return np.array(sides + base)


def default_frustum_depth(scene: Scene) -> float:
    """A tenth of the median distance from the cameras to the masked points (1.0 if none)."""
    xyz, _, owner, _ = masked_points(scene, max_points=20_000)
    if not len(xyz):
        return 1.0
    centres = np.asarray(scene.world_from_cam, dtype=np.float64)[owner, :3, 3]
    dist = float(np.median(np.linalg.norm(xyz - centres, axis=-1)))
    return 0.1 * dist if dist > 0 else 1.0


def pointmap_mesh(points: np.ndarray, image: np.ndarray, mask: np.ndarray):
    """A trimesh.Trimesh with two triangles per 2×2 block of valid pixels, vertex-coloured (None if empty)."""
    import trimesh

    h, w = mask.shape
    mask = np.asarray(mask, dtype=bool)
    index = np.arange(h * w).reshape(h, w)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    valid = mask[:-1, :-1] & mask[:-1, 1:] & mask[1:, :-1] & mask[1:, 1:]
    # Counter-clockwise seen from the camera in OpenCV axes (y down): a, c, b then b, c, d.
    faces = np.concatenate([np.stack([a, c, b], -1)[valid], np.stack([b, c, d], -1)[valid]])
    if not len(faces):
        return None
    used = np.unique(faces)
    remap = np.full(h * w, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    rgb = to_uint8(np.asarray(image).reshape(-1, 3)[used])
    colors = np.concatenate([rgb, np.full((len(used), 1), 255, np.uint8)], axis=1)
    return trimesh.Trimesh(vertices=np.asarray(points, dtype=np.float64).reshape(-1, 3)[used],
                           faces=remap[faces], vertex_colors=colors, process=False)


def _apply(transform: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    return np.asarray(xyz, dtype=np.float64) @ transform[:3, :3].T + transform[:3, 3]
