"""The Blender script's pure parts (it only runs inside Blender): MIRA's flags and its camera shell."""

import math

from recon3r.scripts.render_objects import IMPORTERS, camera_positions, parse_args


def test_mira_flags_parse_and_cameras_stay_in_the_shell():
    args = parse_args(["--object_path", "chair.glb", "--num_renders", "32", "--output_dir", "out", "--engine", "CYCLES"])
    positions = camera_positions(args)
    assert len(positions) == 32
    for eye in positions:
        assert 1.5 <= math.dist(eye, (0, 0, 0)) <= 3.0 and -0.75 < eye[2] < 1.6
    assert camera_positions(args) == positions  # seeded
    north = camera_positions(parse_args(["--object_path", "x.obj", "--output_dir", "o", "--only_northern_hemisphere"]))
    assert all(eye[2] >= 0 for eye in north)
    assert {".glb", ".gltf", ".obj", ".fbx"} <= set(IMPORTERS)
