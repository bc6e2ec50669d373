"""Camera rays, ray/box limits, look-at and orbit poses against closed forms."""

from __future__ import annotations

import math

import torch

from recon3r.geometry import (
    look_at,
    opencv_opengl_pose,
    orbit_poses,
    pixel_rays,
    ray_box_limits,
    region_pixel_centers,
)


def test_region_pixel_centers_follow_the_crop_anchor():
    centers = region_pixel_centers(torch.tensor([16.0]), torch.tensor([[2.0, 5.0]]), 3)
    assert centers.shape == (1, 9, 2)
    torch.testing.assert_close(centers[0, 0], torch.tensor([5.5 / 16, 2.5 / 16]))  # (x, y) of row 0, col 0
    torch.testing.assert_close(centers[0, 5], torch.tensor([7.5 / 16, 3.5 / 16]))  # row 1, col 2


def test_pixel_rays_project_back_to_their_pixels_with_skew():
    g = torch.Generator().manual_seed(0)
    K = torch.tensor([[[0.9, 0.05, 0.48], [0.0, 1.1, 0.52], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    pose = look_at(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64),
                   torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    pixels = torch.rand(1, 10, 2, generator=g, dtype=torch.float64)
    origins, directions = pixel_rays(pose, K, pixels)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(1, 10, dtype=torch.float64))
    cam = (origins + 3.0 * directions - pose[:, None, :3, 3]) @ pose[0, :3, :3]  # world → camera frame
    projected = cam @ K[0].T
    torch.testing.assert_close(projected[..., :2] / projected[..., 2:], pixels)


def test_ray_box_limits_are_the_slab_entry_and_exit():
    origins = torch.tensor([[0.0, 0.0, -3.0], [0.0, 3.0, -3.0], [0.0, 0.0, 3.0]])
    directions = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far, hit = ray_box_limits(origins, directions)
    assert hit.tolist() == [True, False, True]
    torch.testing.assert_close(near[[0, 2]], torch.tensor([2.0, -4.0]))  # box behind the origin: negative, still a hit
    torch.testing.assert_close(far[[0, 2]], torch.tensor([4.0, -2.0]))


def test_look_at_is_a_rotation_facing_the_target_with_up_upwards():
    eye = torch.tensor([[2.0, -1.0, 1.5]], dtype=torch.float64)
    pose = look_at(eye, torch.zeros(1, 3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    R = pose[0, :3, :3]
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=torch.float64))
    assert abs(torch.linalg.det(R).item() - 1) < 1e-12
    torch.testing.assert_close(R[:, 2], -eye[0] / eye[0].norm())
    assert R[2, 1] < 0  # world +z projects to the image's upward (−y) direction
    assert abs(R[2, 0]) < 1e-12  # no roll


def test_orbit_starts_in_front_and_closes_at_the_given_radius_and_height():
    poses = orbit_poses(5, 2.0, 0.8, dtype=torch.float64)
    centres = poses[:, :3, 3]
    torch.testing.assert_close(centres.norm(dim=-1), torch.full((5,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(centres[:, 2], torch.full((5,), 0.8, dtype=torch.float64))
    torch.testing.assert_close(centres[0], torch.tensor([0.0, -math.sqrt(4 - 0.64), 0.8], dtype=torch.float64))
    torch.testing.assert_close(poses[0], poses[-1])


def test_opencv_opengl_pose_flips_y_and_z_and_is_its_own_inverse():
    pose = orbit_poses(3, 2.0, 0.5, dtype=torch.float64)
    gl = opencv_opengl_pose(pose)
    torch.testing.assert_close(gl[:, :3, 2], -pose[:, :3, 2])
    torch.testing.assert_close(gl[:, :3, 3], pose[:, :3, 3])
    torch.testing.assert_close(opencv_opengl_pose(gl), pose)
