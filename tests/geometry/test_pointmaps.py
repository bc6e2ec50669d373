import pytest
import torch

from recon3r.geometry import gather_views, joint_center_and_scale, joint_depth_quantile, normalize_pointmaps


@pytest.fixture
def views(golden_more):
    points = [golden_more["normalize_pointcloud__pts1"], golden_more["normalize_pointcloud__pts2"]]
    valid = [golden_more["normalize_pointcloud__valid1"], golden_more["normalize_pointcloud__valid2"]]
    return points, valid


@pytest.mark.parametrize(("mode", "case"), [("avg_dis", "avg_dis_masked"), ("median_dis", "median_dis_masked")])
def test_joint_normalisation_with_masks_matches_reference(golden_more, views, mode, case):
    (out1, out2), factor = normalize_pointmaps(*views, mode=mode)
    torch.testing.assert_close(out1, golden_more[f"normalize_pointcloud__{case}__out1"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out2, golden_more[f"normalize_pointcloud__{case}__out2"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(factor, golden_more[f"normalize_pointcloud__{case}__factor"], rtol=1e-5, atol=0)


def test_unmasked_average_counts_coordinates_like_the_reference(golden_more, views):
    points, _ = views
    (out1, out2), factor = normalize_pointmaps(points)
    torch.testing.assert_close(factor, golden_more["normalize_pointcloud__avg_dis_nomask__factor"], rtol=1e-5, atol=0)
    torch.testing.assert_close(out1, golden_more["normalize_pointcloud__avg_dis_nomask__out1"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out2, golden_more["normalize_pointcloud__avg_dis_nomask__out2"], rtol=1e-5, atol=1e-6)
    all_valid = [torch.ones(p.shape[:-1], dtype=torch.bool) for p in points]
    _, plain = normalize_pointmaps(points, all_valid)
    mean_norm = torch.cat([p.norm(dim=-1).flatten(1) for p in points], 1).mean(1)
    torch.testing.assert_close(plain.flatten(), mean_norm)
    torch.testing.assert_close(factor * 3, plain)


def test_single_view_normalisation_matches_reference(golden_more, views):
    points, valid = views
    (out1,), factor = normalize_pointmaps(points[:1], valid[:1])
    torch.testing.assert_close(out1, golden_more["normalize_pointcloud__avg_dis_single__out1"], rtol=1e-5, atol=1e-6)
    assert factor.shape == (2, 1, 1, 1)


def test_joint_median_depth_matches_reference(golden_more, views):
    points, valid = views
    depth = joint_depth_quantile([p[..., 2] for p in points], valid)
    torch.testing.assert_close(depth, golden_more["get_joint_pointcloud_depth__out"], rtol=1e-6, atol=0)
    low = joint_depth_quantile([p[..., 2] for p in points], valid, quantile=0.1)
    assert low.shape == (2,) and torch.all(low < depth)


def test_joint_center_and_scale_matches_reference(golden_more, views):
    center, scale = joint_center_and_scale(*views)
    torch.testing.assert_close(center, golden_more["get_joint_pointcloud_center_scale__center"], rtol=1e-6, atol=0)
    torch.testing.assert_close(scale, golden_more["get_joint_pointcloud_center_scale__scale"], rtol=1e-6, atol=0)
    z_center, _ = joint_center_and_scale(*views, z_only=True)
    assert torch.all(z_center[..., :2] == 0) and torch.equal(z_center[..., 2], center[..., 2])


def test_invalid_pixels_do_not_change_statistics(views):
    points, valid = views
    corrupted = [torch.where(v[..., None], p, torch.full_like(p, 1e6)) for p, v in zip(points, valid)]
    for mode in ("avg_dis", "median_dis"):
        torch.testing.assert_close(normalize_pointmaps(corrupted, valid, mode=mode)[1], normalize_pointmaps(points, valid, mode=mode)[1])
    torch.testing.assert_close(joint_center_and_scale(corrupted, valid), joint_center_and_scale(points, valid))
    assert gather_views(corrupted, valid).isnan().any(-1).sum() == sum(int((~v).sum()) for v in valid)


def test_batch_cardinality_matches_per_sample(views):
    points, valid = views
    _, factor = normalize_pointmaps(points, valid)
    for i in range(2):
        _, single = normalize_pointmaps([p[i : i + 1] for p in points], [v[i : i + 1] for v in valid])
        torch.testing.assert_close(single[0], factor[i])


def test_pointmap_functions_bad_input_raise(views):
    points, valid = views
    with pytest.raises(ValueError, match="norm mode 'avg_log'"):
        normalize_pointmaps(points, valid, mode="avg_log")
    with pytest.raises(ValueError, match="2 validity masks for 1 views"):
        normalize_pointmaps(points[:1], valid)
    with pytest.raises(ValueError, match="batch size"):
        normalize_pointmaps([points[0], points[1][:1]])
    with pytest.raises(ValueError, match="does not fit"):
        joint_center_and_scale(points, [valid[0][:, :3], valid[1]])
    with pytest.raises(ValueError, match="at least one view"):
        joint_depth_quantile([])
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        normalize_pointmaps([points[0][..., :2]])


def test_average_normalisation_gradcheck():
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(2, 3, 2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    second = torch.randn(2, 2, 3, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 3, 2, generator=generator) > 0.3
    assert torch.autograd.gradcheck(lambda a, b: tuple(normalize_pointmaps([a, b], [mask, None])[0]), (first, second))
