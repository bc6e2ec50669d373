"""The procedural generator: exact, consistent geometry; determinism; variety of cameras; captions."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from recon3r.data.procedural import (
    ASPECTS,
    KINDS,
    generate_scene,
    image_size,
    look_at,
    overlap_matrix,
    render,
    render_depth,
    write_procedural,
)
from recon3r.data.procedural.cameras import Camera
from recon3r.data.procedural.primitives import Primitive
from recon3r.data.procedural.scenes import SceneSpec, solid_material


@pytest.mark.parametrize("kind", KINDS)
def test_points_unprojected_from_one_view_land_on_the_depth_of_another(kind, reproject):
    candidates = agreeing = in_front = 0
    for index in range(2):
        scene = generate_scene(seed=5, index=index, kind=kind, views=3, size=96)
        renders = [scene.render(v) for v in range(3)]
        for a, b in [(0, 1), (1, 2), (0, 2), (2, 0)]:
            c, ok, front = reproject(scene, renders, a, b)
            candidates, agreeing, in_front = candidates + c, agreeing + ok, in_front + front
    # Points either lie on b's surface or behind it (occluded); none may float in front of it.
    assert in_front <= 0.001 * candidates
    # Isolated views orbit a lone object from independent directions: most of a's surface is b's far side.
    assert agreeing >= (0.3 if kind != "isolated" else 0.002) * candidates > 0


def test_depth_is_z_depth_of_a_plane_seen_head_on():
    wall = Primitive("box", np.array([0.0, 5.0, 1.0]), np.array([10.0, 0.5, 10.0]), [solid_material(np.ones(3) * 0.5)])
    spec = SceneSpec(layout="room", primitives=[wall], lights=[], ambient=np.ones(3), sky=None, exposure_key=0.2,
                     free_lo=-np.ones(3) * 10, free_hi=np.ones(3) * 10)
    k = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])
    camera = Camera(64, 48, k, look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])), "PX-FF", 36.0)
    view = render(spec, camera)
    # The wall's near face is the plane y = 4.5, perpendicular to the optical axis: z-depth 4.5 everywhere.
    np.testing.assert_allclose(view.depth, 4.5, rtol=1e-6)
    assert view.valid.all() and not view.foreground.any()
    sparse = render_depth(spec, camera, np.array([[0.0, 0.0], [63.0, 47.0]]))
    np.testing.assert_allclose(sparse, 4.5, rtol=1e-9)


def test_look_at_follows_opencv_axes_with_z_up_world():
    pose = look_at(np.array([0.0, 0.0, 1.0]), np.array([3.0, 0.0, 1.0]))
    np.testing.assert_allclose(pose[:3, 2], [1, 0, 0], atol=1e-12)  # z forward
    np.testing.assert_allclose(pose[:3, 1], [0, 0, -1], atol=1e-12)  # y down
    np.testing.assert_allclose(pose[:3, 0], [0, -1, 0], atol=1e-12)  # x right
    np.testing.assert_allclose(np.linalg.det(pose[:3, :3]), 1.0)


def test_same_seed_gives_identical_scenes_and_another_seed_differs():
    a = generate_scene(seed=3, index=1, kind="pairs", views=2, size=48)
    b = generate_scene(seed=3, index=1, kind="pairs", views=2, size=48)
    c = generate_scene(seed=4, index=1, kind="pairs", views=2, size=48)
    ra, rb = a.render(0), b.render(0)
    assert np.array_equal(ra.rgb, rb.rgb) and np.array_equal(ra.depth, rb.depth)
    assert not np.array_equal(a.cameras[0].world_from_cam, c.cameras[0].world_from_cam)


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_write_procedural_is_byte_identical_for_a_seed(tmp_path):
    write_procedural(tmp_path / "a", scenes=2, views=2, size=40, seed=11, kind="sequence")
    write_procedural(tmp_path / "b", scenes=2, views=2, size=40, seed=11, kind="sequence")
    write_procedural(tmp_path / "c", scenes=2, views=2, size=40, seed=12, kind="sequence")
    da, db, dc = (_tree_digest(tmp_path / n) for n in "abc")
    assert da == db
    assert len(da) == 1 + 2 * (1 + 2 * 3)  # dataset.json + per scene: scene.json, 2 × (image, depth, mask)
    assert da["scene_00000/images/000.png"] != dc["scene_00000/images/000.png"]


def test_cameras_vary_in_focal_length_and_aspect_ratio():
    fovs, shapes = [], set()
    for index in range(40):
        scene = generate_scene(seed=0, index=index, kind="pairs", views=2, size=224)
        for cam in scene.cameras:
            fovs.append(np.degrees(2 * np.arctan(cam.width / 2 / cam.intrinsics[0, 0])))
            shapes.add((cam.width, cam.height))
            np.testing.assert_allclose(cam.intrinsics[:2, 2], [(cam.width - 1) / 2, (cam.height - 1) / 2])
            assert cam.intrinsics[0, 0] == cam.intrinsics[1, 1]
    assert 35 <= min(fovs) < 45 and 70 < max(fovs) <= 80
    assert any(w < h for w, h in shapes) and any(w > h for w, h in shapes) and any(w == h for w, h in shapes)
    assert len(shapes) >= 5


def test_image_size_follows_the_dust3r_preprocessing_rule():
    assert image_size(224, (4, 3)) == (224, 168)
    assert image_size(224, (16, 9)) == (299, 168)
    assert image_size(224, (1, 1)) == (224, 224)
    assert image_size(224, (3, 4)) == (168, 224)
    assert all(min(image_size(512, a)) >= 384 for a in ASPECTS)


def test_every_visible_surface_is_textured():
    # Matching needs texture: almost every 8×8 block of valid pixels shows intensity variation.
    flat = total = 0
    for index in range(4):
        scene = generate_scene(seed=2, index=index, kind="pairs", views=1, size=128)
        view = scene.render(0)
        gray = view.rgb.astype(np.float32).mean(-1)
        h, w = gray.shape
        for y in range(0, h - 7, 8):
            for x in range(0, w - 7, 8):
                if view.valid[y:y + 8, x:x + 8].all():
                    total += 1
                    flat += gray[y:y + 8, x:x + 8].std() < 1.0
    assert total > 0 and flat <= 0.05 * total


def test_orbit_cameras_look_at_the_hero_object():
    scene = generate_scene(seed=1, index=0, kind="orbit", views=6, size=64)
    center, _ = scene.spec.hero
    for cam in scene.cameras:
        local = (center - cam.world_from_cam[:3, 3]) @ cam.world_from_cam[:3, :3]
        pixel = cam.intrinsics @ local / local[2]
        assert abs(pixel[0] - cam.intrinsics[0, 2]) < 0.25 * cam.width
        assert abs(pixel[1] - cam.intrinsics[1, 2]) < 0.25 * cam.height
    assert scene.render(0).foreground.mean() > 0.02


def test_overlap_matrix_is_one_on_the_diagonal_and_high_between_sequence_neighbours():
    scene = generate_scene(seed=0, index=0, kind="sequence", views=4, size=64)
    overlap = overlap_matrix(scene.spec, scene.cameras)
    np.testing.assert_array_equal(np.diag(overlap), 1.0)
    assert ((overlap >= 0) & (overlap <= 1)).all()
    assert np.mean([overlap[i, i + 1] for i in range(3)]) > 0.3


def test_exif_caption_encodes_the_true_focal_length():
    scene = generate_scene(seed=0, index=3, kind="pairs", views=2, size=224)
    for v, cam in enumerate(scene.cameras):
        caption = scene.caption(v)
        assert caption.startswith("Make: Procedural, Model: PX-")
        focal_mm = float(re.search(r"FocalLength: ([\d.]+) mm", caption).group(1))
        focal_35 = int(re.search(r"FocalLengthIn35mmFilm: (\d+)", caption).group(1))
        fx = cam.intrinsics[0, 0]
        assert focal_mm == pytest.approx(fx * cam.sensor_mm / max(cam.width, cam.height), abs=0.05)
        assert focal_35 == round(fx * np.hypot(36, 24) / np.hypot(cam.width, cam.height))
        assert f"ImageWidth: {cam.width}, ImageHeight: {cam.height}" in caption


@pytest.mark.parametrize("kind", KINDS)
def test_cameras_stand_in_free_space(kind):
    for index in range(12):
        scene = generate_scene(seed=9, index=index, kind=kind, views=6, size=32)
        room = scene.spec.primitives[0] if scene.spec.layout == "room" else None
        for cam in scene.cameras:
            eye = cam.world_from_cam[:3, 3]
            assert all(np.linalg.norm(eye - c) > r for c, r, _ in scene.spec.objects)
            if room is not None:
                assert (np.abs(eye - room.center) < room.size).all()
            assert eye[2] > 0.0


def test_isolated_kind_is_one_object_with_depth_only_on_it():
    from recon3r.data import Procedural
    from recon3r.data.procedural import generate_scene
    from recon3r.data.procedural.generate import ISOLATED_FOV_RANGE

    dataset = Procedural(scenes=6, views=1, kind="isolated", size=32, num_views=1, resolution=None)
    for s in range(6):
        view = dataset.scene(s)[0]
        valid = view["depthmap"] > 0
        assert 0 < valid.mean() < 1  # the object, and nothing behind it
        np.testing.assert_array_equal(view["object_mask"], valid)
        width = view["depthmap"].shape[1]
        fov = np.degrees(2 * np.arctan(width / 2 / view["camera_intrinsics"][0, 0]))
        assert ISOLATED_FOV_RANGE[0] - 1e-3 <= fov <= ISOLATED_FOV_RANGE[1] + 1e-3
    scene = generate_scene(0, 0, "isolated", views=1, size=32)
    assert scene.spec.layout == "isolated" and {p.group for p in scene.spec.primitives} == {1}
    # The other kinds' scenes are unchanged by the new kind (their seeds do not depend on it).
    assert generate_scene(0, 3, "pairs", views=2, size=32).spec.layout in ("room", "yard")
