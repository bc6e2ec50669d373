import pytest
import torch

from recon3r.geometry import (
    align_poses,
    apply_transform,
    fit_scale,
    make_transform,
    median_camera_distance,
    umeyama,
)


def _random_rotation(generator, batch=(), dtype=torch.float64):
    q, r = torch.linalg.qr(torch.randn(*batch, 3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[..., None, :]
    return q * torch.sign(torch.linalg.det(q))[..., None, None]


def _random_poses(generator, count, dtype=torch.float64):
    rotation = _random_rotation(generator, (count,), dtype)
    return make_transform(rotation, torch.randn(count, 3, generator=generator, dtype=dtype))


# --- umeyama -----------------------------------------------------------------------------------


def test_weighted_similarity_matches_reference(golden_more):
    scale, rotation, translation = umeyama(
        golden_more["rigid_points_registration__pts1"].reshape(-1, 3),
        golden_more["rigid_points_registration__pts2"].reshape(-1, 3),
        golden_more["rigid_points_registration__conf"].reshape(-1),
    )
    torch.testing.assert_close(scale, golden_more["rigid_points_registration__out_s"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rotation, golden_more["rigid_points_registration__out_R"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(translation, golden_more["rigid_points_registration__out_T"], rtol=1e-5, atol=1e-5)
    matrix = make_transform(rotation, translation, scale)
    torch.testing.assert_close(matrix, golden_more["sRT_to_4x4__out"], rtol=1e-5, atol=1e-5)


def test_recovers_exact_similarity_batched_in_float64():
    generator = torch.Generator().manual_seed(0)
    rotation = _random_rotation(generator, (4,))
    scale = 0.5 + torch.rand(4, generator=generator, dtype=torch.float64)
    translation = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    source = torch.randn(4, 20, 3, generator=generator, dtype=torch.float64)
    target = apply_transform(make_transform(rotation, translation, scale), source)
    weights = torch.rand(4, 20, generator=generator, dtype=torch.float64)
    s, r, t = umeyama(source, target, weights)
    assert s.shape == (4,) and r.shape == (4, 3, 3) and t.shape == (4, 3)
    torch.testing.assert_close(s, scale)
    torch.testing.assert_close(r, rotation)
    torch.testing.assert_close(t, translation)
    for i in range(4):  # batch cardinality: each sample alone gives the same answer
        single = umeyama(source[i], target[i], weights[i])
        torch.testing.assert_close(single[1], r[i])


def test_zero_weights_ignore_outliers():
    generator = torch.Generator().manual_seed(1)
    rotation = _random_rotation(generator)
    source = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    target = 2.0 * source @ rotation.T + 1.0
    target[:5] += 10 * torch.randn(5, 3, generator=generator, dtype=torch.float64)
    weights = torch.ones(30, dtype=torch.float64)
    weights[:5] = 0
    s, r, t = umeyama(source, target, weights)
    assert s.item() == pytest.approx(2.0)
    torch.testing.assert_close(r, rotation)
    _, r_all, _ = umeyama(source, target)
    assert not torch.allclose(r_all, rotation, atol=1e-3)


def test_mirrored_target_still_gives_a_proper_rotation():
    generator = torch.Generator().manual_seed(2)
    source = torch.randn(15, 3, generator=generator, dtype=torch.float64)
    target = source * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    _, rotation, _ = umeyama(source, target)
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=torch.float64))


def test_rigid_fit_keeps_unit_scale():
    generator = torch.Generator().manual_seed(3)
    rotation = _random_rotation(generator)
    source = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    s, r, t = umeyama(source, 3.0 * source @ rotation.T, with_scale=False)
    assert s.item() == 1.0
    torch.testing.assert_close(r, rotation)


def test_umeyama_bad_shapes_raise():
    with pytest.raises(ValueError, match="source and target"):
        umeyama(torch.rand(5, 3), torch.rand(6, 3))
    with pytest.raises(ValueError, match="weights"):
        umeyama(torch.rand(5, 3), torch.rand(5, 3), torch.rand(4))


def test_umeyama_gradcheck():
    generator = torch.Generator().manual_seed(4)
    source = torch.randn(6, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    weights = torch.rand(6, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: umeyama(x, target, w), (source, weights))


# --- camera poses --------------------------------------------------------------------------------


def test_pose_alignment_matches_reference(golden_more):
    scale, rotation, translation = align_poses(
        golden_more["align_multiple_poses__src"], golden_more["align_multiple_poses__tgt"]
    )
    torch.testing.assert_close(scale, golden_more["align_multiple_poses__out_s"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rotation, golden_more["align_multiple_poses__out_R"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(translation, golden_more["align_multiple_poses__out_T"], rtol=1e-5, atol=1e-5)


def test_pose_alignment_recovers_a_similarity_of_the_poses():
    generator = torch.Generator().manual_seed(5)
    source = _random_poses(generator, 5)
    similarity = make_transform(_random_rotation(generator), torch.tensor([1.0, -2.0, 0.5]).double(), 1.7)
    target = similarity @ source
    target[..., :3, :3] /= 1.7  # poses keep orthonormal rotations
    batched = align_poses(torch.stack([source, target]), torch.stack([target, source]))
    s, r, t = align_poses(source, target)
    torch.testing.assert_close(make_transform(r, t, s), similarity)
    torch.testing.assert_close(make_transform(batched[1][0], batched[2][0], batched[0][0]), similarity)
    with pytest.raises(ValueError, match="same shape"):
        align_poses(source, target[:4])


def test_median_camera_distance_averages_the_middle_pair_distances():
    poses = torch.eye(4).repeat(4, 1, 1)
    poses[:, 0, 3] = torch.tensor([0.0, 1.0, 3.0, 7.0])  # pair distances 1,3,7,2,6,4
    assert median_camera_distance(poses).item() == pytest.approx(3.5)
    assert median_camera_distance(poses[:3]).item() == pytest.approx(2.0)  # 1,3,2
    with pytest.raises(ValueError, match="N >= 2"):
        median_camera_distance(poses[:1])


# --- scale only ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["avg", "median", "weiszfeld_stop_grad"])
def test_scale_fit_matches_reference(golden_more, mode):
    scale = fit_scale(
        [golden_more["find_opt_scaling__gt1"], golden_more["find_opt_scaling__gt2"]],
        [golden_more["find_opt_scaling__pr1"], golden_more["find_opt_scaling__pr2"]],
        [golden_more["normalize_pointcloud__valid1"], golden_more["normalize_pointcloud__valid2"]],
        mode=mode,
    )
    torch.testing.assert_close(scale, golden_more[f"find_opt_scaling__{mode}"], rtol=1e-5, atol=0)


def test_scale_fit_gradients_follow_stop_grad_suffix():
    generator = torch.Generator().manual_seed(6)
    source = torch.randn(2, 3, 4, 3, generator=generator, dtype=torch.float64)
    target = (1.5 * source + 0.01 * torch.randn(source.shape, generator=generator, dtype=torch.float64))
    target.requires_grad_(True)
    assert not fit_scale(source, target, mode="weiszfeld_stop_grad").requires_grad
    assert torch.autograd.gradcheck(lambda p: fit_scale(source, p, mode="weiszfeld"), (target,))
    torch.testing.assert_close(fit_scale(source, 1.5 * source, mode="median"), torch.full((2,), 1.5).double())
    with pytest.raises(ValueError, match="scale fit mode 'l2'"):
        fit_scale(source, target, mode="l2")
    with pytest.raises(ValueError, match="matching"):
        fit_scale(source, target[:, :2])
