import pytest
import torch

from recon3r.geometry import depth_to_points, depth_to_world_points, pixel_grid, project_points
from recon3r.geometry.cameras import depth_to_points_with_focal


def test_pixel_grid_is_column_then_row(golden_more):
    grid = pixel_grid(12, 20, dtype=torch.int64)
    assert torch.equal(grid, golden_more["xy_grid__W20_H12"])


def test_unprojection_with_intrinsics_matches_reference(golden_geometry, golden_more):
    points = depth_to_points(golden_geometry["depth"], golden_geometry["K"])
    torch.testing.assert_close(points, golden_geometry["pts3d_cam"], rtol=1e-5, atol=1e-5)
    depth = golden_more["depthmap_to_camera_coordinates__depth_HW"][None]
    intrinsics = golden_more["depthmap_to_camera_coordinates__K"][None]
    points = depth_to_points(depth, intrinsics)[0]
    torch.testing.assert_close(points, golden_more["depthmap_to_camera_coordinates__out_pts"], rtol=1e-5, atol=1e-5)
    # pixels without depth unproject to the camera centre; the reference flags them invalid
    invalid = ~golden_more["depthmap_to_camera_coordinates__out_valid"]
    assert invalid.any() and torch.equal(invalid, depth[0] <= 0)
    assert torch.all(points[invalid] == 0)


def test_unprojection_to_world_matches_reference(golden_more):
    points = depth_to_world_points(
        golden_more["depthmap_to_camera_coordinates__depth_HW"][None],
        golden_more["depthmap_to_camera_coordinates__K"][None],
        golden_more["depthmap_to_absolute_camera_coordinates__cam2world"][None],
    )[0]
    torch.testing.assert_close(
        points, golden_more["depthmap_to_absolute_camera_coordinates__out_pts"], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("expected", "focal", "with_pp"),
    [
        ("out_pp_none", "pseudo_focal_BHW", False),
        ("out_pp", "pseudo_focal_BHW", True),
        ("out_fxfy_pp", "pseudo_focal_B2HW", True),
    ],
)
def test_unprojection_with_focal_maps_matches_reference(golden_more, expected, focal, with_pp):
    principal_point = golden_more["depthmap_to_pts3d__pp"] if with_pp else None
    points = depth_to_points_with_focal(
        golden_more["depthmap_to_pts3d__depth"], golden_more[f"depthmap_to_pts3d__{focal}"], principal_point
    )
    torch.testing.assert_close(points, golden_more[f"depthmap_to_pts3d__{expected}"], rtol=1e-5, atol=1e-5)


def test_focal_map_with_one_channel_equals_plain_map(golden_more):
    depth = golden_more["depthmap_to_pts3d__depth"]
    focal = golden_more["depthmap_to_pts3d__pseudo_focal_BHW"]
    torch.testing.assert_close(depth_to_points_with_focal(depth, focal[:, None]), depth_to_points_with_focal(depth, focal))


def test_projection_matches_reference_and_inverts_unprojection(golden_more):
    pixels, depth = project_points(golden_more["geotrf__pts_BHW3"], golden_more["geotrf__K_B33"])
    torch.testing.assert_close(pixels, golden_more["geotrf__out_project_norm1_ncol2"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(depth, golden_more["geotrf__pts_BHW3"][..., 2])
    intrinsics = golden_more["geotrf__K_B33"].double()
    z = 1 + torch.rand(2, 5, 7, dtype=torch.float64)
    pixels, depth = project_points(depth_to_points(z, intrinsics), intrinsics)
    torch.testing.assert_close(pixels, pixel_grid(5, 7, dtype=torch.float64).expand(2, 5, 7, 2))
    torch.testing.assert_close(depth, z)


def test_camera_functions_bad_shapes_raise():
    depth = torch.rand(2, 4, 5)
    with pytest.raises(ValueError, match="focal must be"):
        depth_to_points_with_focal(depth, torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="principal_point"):
        depth_to_points_with_focal(depth, torch.rand(2, 4, 5), torch.rand(2, 3))
    with pytest.raises(ValueError, match="depth must be"):
        depth_to_points_with_focal(depth[0], torch.rand(4, 5))
    with pytest.raises(ValueError, match="expected depth"):
        depth_to_points(depth, torch.eye(3))
    with pytest.raises(ValueError, match="expected points"):
        project_points(torch.rand(2, 4, 3), torch.eye(3).repeat(3, 1, 1))


def test_unprojection_gradcheck():
    generator = torch.Generator().manual_seed(0)
    depth = (1 + torch.rand(2, 3, 4, generator=generator, dtype=torch.float64)).requires_grad_(True)
    focal = (5 + torch.rand(2, 2, 3, 4, generator=generator, dtype=torch.float64)).requires_grad_(True)
    principal_point = torch.rand(2, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(depth_to_points_with_focal, (depth, focal, principal_point))
    intrinsics = torch.tensor([[5.0, 0, 1.5], [0, 6.0, 1.0], [0, 0, 1]], dtype=torch.float64).repeat(2, 1, 1)
    assert torch.autograd.gradcheck(depth_to_points, (depth, intrinsics.requires_grad_(True)))


def test_intrinsics_to_unit_image_matches_region_pixel_centers():
    from recon3r.geometry.cameras import intrinsics_to_unit_image
    from recon3r.geometry.rays import region_pixel_centers

    K = torch.tensor([[[50.0, 0.0, 31.5], [0.0, 40.0, 23.5], [0.0, 0.0, 1.0]],
                      [[30.0, 0.0, 20.0], [0.0, 30.0, 28.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    unit = intrinsics_to_unit_image(K, height=48, width=64)
    torch.testing.assert_close(unit[0], torch.tensor([[50 / 64, 0, 0.5], [0, 40 / 48, 0.5], [0, 0, 1.0]],
                                                     dtype=torch.float64))
    # A point seen at pixel (row i, col j) through K projects, through the unit K, onto that pixel's centre.
    rows, cols = torch.tensor([0.0, 7.0, 47.0], dtype=torch.float64), torch.tensor([0.0, 40.0, 63.0], dtype=torch.float64)
    for k, u in zip(K, unit):
        rays = torch.stack(((cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], torch.ones(3, dtype=torch.float64)), -1)
        projected = (rays @ u.T)[:, :2]
        torch.testing.assert_close(projected, torch.stack(((cols + 0.5) / 64, (rows + 0.5) / 48), -1))
    square = intrinsics_to_unit_image(torch.tensor([[8.0, 0, 3.5], [0, 8.0, 3.5], [0, 0, 1]]), 8, 8)
    centers = region_pixel_centers(torch.tensor([8.0]), torch.zeros(1, 2), 8)[0]  # (64, 2) (x, y)
    torch.testing.assert_close(centers.mean(dim=0), square[:2, 2])  # a centred K stays centred: (0.5, 0.5)
