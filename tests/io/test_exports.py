"""Exports: each format read back by the tool that consumes it, compared with the scene."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.errors import ConfigError
from recon3r.io import export_scene
from recon3r.io.exports import (
    export_colmap,
    export_glb,
    export_nerfstudio,
    export_npz,
    export_ply,
    image_file_names,
    load_scene_npz,
    rotation_to_quaternion,
)
from recon3r.io.exports._common import to_uint8
from recon3r.io.exports.glb import viewer_from_world

OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def _masked(scene):
    xyz = np.concatenate([p[m] for p, m in zip(scene.points, scene.masks)])
    rgb = np.concatenate([to_uint8(im[m]) for im, m in zip(scene.images, scene.masks)])
    return xyz, rgb


# --- PLY ------------------------------------------------------------------------------------------

def test_ply_reloads_masked_points_with_their_colours(scene, tmp_path):
    from plyfile import PlyData

    path = export_ply(scene, tmp_path / "cloud.ply")
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    vertex = PlyData.read(str(path))["vertex"]
    xyz, rgb = _masked(scene)
    assert vertex.count == sum(int(m.sum()) for m in scene.masks) == len(xyz)
    got_xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], -1)
    got_rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], -1)
    np.testing.assert_array_equal(got_xyz, xyz.astype(np.float32))
    np.testing.assert_array_equal(got_rgb, rgb)
    assert vertex["red"].dtype == np.uint8


# --- COLMAP ---------------------------------------------------------------------------------------

def _colmap_image(reconstruction, name):
    image = reconstruction.find_image_with_name(name)
    assert image is not None, name
    return image


def test_colmap_model_reads_back_with_equal_poses_and_original_intrinsics(scene, tmp_path):
    import pycolmap

    export_colmap(scene, tmp_path)
    rec = pycolmap.Reconstruction(str(tmp_path))
    assert rec.num_images() == len(scene) and rec.num_cameras() == len(scene)
    k_original = scene.intrinsics_original()
    for i, name in enumerate(scene.names):
        image = _colmap_image(rec, name)
        cam_from_world = np.linalg.inv(scene.world_from_cam[i])[:3]
        np.testing.assert_allclose(image.cam_from_world().matrix(), cam_from_world, atol=1e-6)
        camera = rec.cameras[image.camera_id]
        assert camera.model_name == "PINHOLE"
        assert (camera.width, camera.height) == scene.transforms[i].original_size
        k = k_original[i]
        # COLMAP's pixel centres sit at +0.5.
        np.testing.assert_allclose(camera.params, [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5], atol=1e-9)


def test_colmap_points_project_to_their_original_pixels(scene, tmp_path):
    import pycolmap

    export_colmap(scene, tmp_path, max_points=500)
    rec = pycolmap.Reconstruction(str(tmp_path))
    assert rec.num_points3D() == 500
    total = sum(int(m.sum()) for m in scene.masks)
    assert total > 500
    images = {image_id: image for image_id, image in rec.images.items()}
    for point in rec.points3D.values():
        assert point.track.length() == 1
        element = point.track.elements[0]
        image = images[element.image_id]
        i = scene.names.index(image.name)
        observed = image.points2D[element.point2D_idx].xy
        # The network pixel the point came from, found from its stored position.
        net = np.argwhere(np.all(np.abs(scene.points[i] - point.xyz.astype(np.float32)) < 1e-5, axis=-1))
        assert len(net) == 1
        y, x = net[0]
        assert scene.masks[i][y, x]
        t = scene.transforms[i]
        expected = (np.array([x, y]) + np.array(t.crop_offset) + 0.5) / t.scale  # original pixel + 0.5
        np.testing.assert_allclose(observed, expected, atol=1e-6)
        # and pycolmap's own projection of the 3D point lands there
        projected = rec.cameras[image.camera_id].img_from_cam(image.cam_from_world() * point.xyz)
        np.testing.assert_allclose(projected, expected, atol=1e-3)
        np.testing.assert_array_equal(point.color, to_uint8(scene.images[i][y, x]))


def test_colmap_network_resolution_uses_network_intrinsics_and_png_names(scene_factory, tmp_path):
    import pycolmap

    scene = scene_factory(with_transforms=False)
    export_colmap(scene, tmp_path, resolution="auto")
    rec = pycolmap.Reconstruction(str(tmp_path))
    for i, name in enumerate(image_file_names(scene)):
        image = _colmap_image(rec, name)
        camera = rec.cameras[image.camera_id]
        assert (camera.width, camera.height) == (scene.images[i].shape[1], scene.images[i].shape[0])
        k = scene.intrinsics[i]
        np.testing.assert_allclose(camera.params, [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5], atol=1e-9)
    with pytest.raises(ConfigError, match="original"):
        export_colmap(scene, tmp_path, resolution="original")
    with pytest.raises(ConfigError, match="'full'"):
        export_colmap(scene, tmp_path, resolution="full")  # type: ignore[arg-type]


def test_rotation_to_quaternion_matches_scipy_including_half_turns():
    from scipy.spatial.transform import Rotation

    rotations = list(Rotation.random(50, random_state=1).as_matrix())
    rotations += [np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1]), np.eye(3)]
    for r in rotations:
        q = rotation_to_quaternion(r)
        x, y, z, w = Rotation.from_matrix(r).as_quat()
        expected = np.array([w, x, y, z]) * (1 if w >= 0 else -1)
        if abs(q[0]) < 1e-12:  # w = 0: q and -q are the same rotation
            expected *= np.sign(expected @ q)
        np.testing.assert_allclose(q, expected, atol=1e-12)
        assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12


# --- nerfstudio -----------------------------------------------------------------------------------

def test_transforms_json_poses_match_after_the_axis_flip(scene, tmp_path):
    path = export_nerfstudio(scene, tmp_path / "transforms.json", ply_path="points.ply")
    meta = json.loads(path.read_text())
    assert meta["ply_file_path"] == "points.ply"
    assert len(meta["frames"]) == len(scene)
    for i, (frame, name) in enumerate(zip(meta["frames"], image_file_names(scene))):
        gl = np.array(frame["transform_matrix"])
        np.testing.assert_allclose(gl @ OPENGL_FROM_OPENCV, scene.world_from_cam[i], atol=1e-12)
        # OpenGL camera axes: the camera looks down its -z, and its +y points up (= -y of OpenCV).
        np.testing.assert_allclose(-gl[:3, 2], scene.world_from_cam[i][:3, 2], atol=1e-12)
        k = scene.intrinsics[i]
        h, w = scene.images[i].shape[:2]
        assert (frame["w"], frame["h"]) == (w, h)
        assert frame["fl_x"] == pytest.approx(k[0, 0]) and frame["fl_y"] == pytest.approx(k[1, 1])
        assert frame["cx"] == pytest.approx(k[0, 2] + 0.5) and frame["cy"] == pytest.approx(k[1, 2] + 0.5)
        assert frame["file_path"] == f"images/{name}"


def test_transforms_json_at_original_resolution(scene, tmp_path):
    meta = json.loads(export_nerfstudio(scene, tmp_path / "t.json", resolution="original").read_text())
    k = scene.intrinsics_original()
    for i, frame in enumerate(meta["frames"]):
        assert (frame["w"], frame["h"]) == scene.transforms[i].original_size
        assert frame["fl_x"] == pytest.approx(k[i, 0, 0]) and frame["cx"] == pytest.approx(k[i, 0, 2] + 0.5)
        assert frame["file_path"] == scene.names[i]


# --- GLB ------------------------------------------------------------------------------------------

def _apply(t, xyz):
    return xyz @ t[:3, :3].T + t[:3, 3]


def test_glb_holds_the_points_and_one_frustum_per_camera(scene, tmp_path):
    import trimesh

    path = export_glb(scene, tmp_path / "scene.glb", frustum_depth=0.5)
    loaded = trimesh.load(path)
    to_viewer = viewer_from_world(scene)
    xyz, rgb = _masked(scene)
    cloud = loaded.geometry["points"]
    assert isinstance(cloud, trimesh.PointCloud)
    np.testing.assert_allclose(cloud.vertices, _apply(to_viewer, xyz.astype(np.float64)), atol=1e-5)
    np.testing.assert_array_equal(cloud.colors[:, :3], rgb)
    # The first camera sits at the origin of the viewer frame, looking down -z.
    np.testing.assert_allclose(_apply(to_viewer, scene.world_from_cam[0][:3, 3]), 0, atol=1e-12)
    for i in range(len(scene)):
        frustum = loaded.geometry[f"camera_{i:03d}"]
        assert isinstance(frustum, trimesh.path.Path3D)
        # Back in camera i's frame: the apex at the centre and 4 corners at depth 0.5 that project to
        # the image corners.
        cam_from_viewer = np.linalg.inv(to_viewer @ scene.world_from_cam[i])
        cam = np.unique(np.round(_apply(cam_from_viewer, frustum.vertices), 6), axis=0)
        assert len(cam) == 5
        apex = cam[np.abs(cam[:, 2]) < 1e-6]
        np.testing.assert_allclose(apex, np.zeros((1, 3)), atol=1e-5)
        corners = cam[np.abs(cam[:, 2] - 0.5) < 1e-5]
        pixels = corners @ scene.intrinsics[i].T
        pixels = pixels[:, :2] / pixels[:, 2:]
        h, w = scene.images[i].shape[:2]
        expected = np.array([(-0.5, -0.5), (-0.5, h - 0.5), (w - 0.5, -0.5), (w - 0.5, h - 0.5)])
        np.testing.assert_allclose(pixels[np.lexsort(pixels.T[::-1])], expected, atol=1e-3)  # float32 in glTF


def test_glb_mesh_mode_triangulates_valid_pixel_blocks(scene, tmp_path):
    import trimesh

    path = export_glb(scene, tmp_path / "mesh.glb", geometry="mesh", frusta=False, viewer_frame=False)
    loaded = trimesh.load(path)
    assert not any(name.startswith("camera_") for name in loaded.geometry)
    for i in range(len(scene)):
        m = scene.masks[i]
        blocks = int((m[:-1, :-1] & m[:-1, 1:] & m[1:, :-1] & m[1:, 1:]).sum())
        mesh = loaded.geometry[f"mesh_{i:03d}"]
        assert len(mesh.faces) == 2 * blocks
        # every vertex is one of the image's masked points
        valid = scene.points[i][m].astype(np.float64)
        d = np.abs(mesh.vertices[:, None, :] - valid[None]).max(-1).min(-1)
        assert d.max() < 1e-5
    with pytest.raises(ConfigError, match="'cloud'"):
        export_glb(scene, tmp_path / "x.glb", geometry="cloud")  # type: ignore[arg-type]


# --- npz and export_scene ------------------------------------------------------------------------

def test_npz_round_trips_the_whole_scene(scene, tmp_path):
    path = export_npz(scene, tmp_path / "scene.npz")
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_allclose(data["intrinsics_original"], scene.intrinsics_original())
        np.testing.assert_allclose(data["cam_from_world"] @ scene.world_from_cam, np.broadcast_to(np.eye(4), (3, 4, 4)),
                                   atol=1e-12)
    back = load_scene_npz(path)
    assert back.names == scene.names and back.transforms == scene.transforms
    assert back.metadata == scene.metadata
    np.testing.assert_array_equal(back.world_from_cam, scene.world_from_cam)
    np.testing.assert_array_equal(back.intrinsics, scene.intrinsics)
    for attr in ("images", "depths", "points", "confidences", "masks"):
        for a, b in zip(getattr(back, attr), getattr(scene, attr)):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype


def test_export_scene_writes_every_format(scene, tmp_path):
    import pycolmap
    from PIL import Image

    written = export_scene(scene, tmp_path / "out")
    assert set(written) == {"images", "ply", "glb", "colmap", "nerfstudio", "npz"}
    for path in written.values():
        assert path.exists()
    assert written["colmap"] == tmp_path / "out" / "sparse" / "0"
    assert pycolmap.Reconstruction(str(written["colmap"])).num_images() == len(scene)
    meta = json.loads(written["nerfstudio"].read_text())
    assert (tmp_path / "out" / meta["ply_file_path"]).is_file()
    for i, frame in enumerate(meta["frames"]):
        png = Image.open(tmp_path / "out" / frame["file_path"])
        assert png.size == (frame["w"], frame["h"])
        np.testing.assert_array_equal(np.asarray(png), to_uint8(scene.images[i]))


def test_export_scene_subset_and_unknown_format(scene, tmp_path):
    written = export_scene(scene, tmp_path, formats=["ply"])
    assert set(written) == {"ply"} and not (tmp_path / "images").exists()
    with pytest.raises(ConfigError, match="'obj'"):
        export_scene(scene, tmp_path, formats=["ply", "obj"])


def test_image_file_names_are_unique_and_safe(scene):
    scene.names = ["a/b/x.jpg", "c/x.png", "we ird:name.tif"]
    assert image_file_names(scene) == ["x.png", "x_0001.png", "we_ird_name.png"]
