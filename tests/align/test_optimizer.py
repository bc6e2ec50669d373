import math

import pytest
import torch

from recon3r.align.graph import build_pair_graph
from recon3r.align.init import Initialization
from recon3r.align.known import parse_known_cameras
from recon3r.align.optimizer import SceneOptimizer, learning_rate, run_optimization
from recon3r.align.synthetic import oracle_predictions
from recon3r.pairs import pair_indices


def _truth_init(scene) -> Initialization:
    return Initialization(
        world_from_cam=scene.world_from_cam.clone(),
        focals=scene.intrinsics[:, [0, 1], [0, 1]].clone(),
        principal_points=scene.intrinsics[:, :2, 2].clone(),
        points=[scene.world_points(k) for k in range(scene.num_images)],
        tree=[],
    )


@pytest.fixture
def exact_model(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "swin-2"), dtype=torch.float64, seed=6)
    graph = build_pair_graph(preds, [(32, 48)] * 5)
    model = SceneOptimizer(graph, parse_known_cameras(5))
    model.initialize(_truth_init(five_views))
    return model


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_learning_rate_decays_from_lr_to_lr_min(schedule):
    assert learning_rate(0, 100, 0.01, schedule) == pytest.approx(0.01)
    assert learning_rate(100, 100, 0.01, schedule) == pytest.approx(1e-6)
    middle = learning_rate(50, 100, 0.01, schedule)
    assert middle == pytest.approx((0.01 + 1e-6) / 2)
    quarter = learning_rate(25, 100, 0.01, schedule)
    expected = 1e-6 + (0.01 - 1e-6) * ((1 + math.cos(math.pi / 4)) / 2 if schedule == "cosine" else 0.75)
    assert quarter == pytest.approx(expected)
    with pytest.raises(ValueError, match="'step'"):
        learning_rate(0, 10, 0.01, "step")


def test_loss_vanishes_at_the_true_scene(exact_model, five_views):
    # Pairwise similarities are fitted to the true points; the scene is only rescaled.
    assert float(exact_model().detach()) < 1e-9
    intrinsics = exact_model.intrinsics()
    torch.testing.assert_close(intrinsics, five_views.intrinsics)
    depths = exact_model.depth_maps()
    ratio = depths[0] / five_views.depths[0]
    torch.testing.assert_close(ratio, ratio.mean().expand_as(ratio))


def test_pairwise_scales_are_normalised_to_the_base_scale(exact_model):
    scales = exact_model.pair_transforms().detach()[:, :3, :3].det().pow(1 / 3)
    assert float(scales.log().mean().exp()) == pytest.approx(0.5)
    with torch.no_grad():
        exact_model.pair_log_scales.add_(3.0)  # a global shift changes nothing
    torch.testing.assert_close(exact_model.pair_transforms().detach()[:, :3, :3].det().pow(1 / 3), scales)


def test_gradients_reach_every_free_parameter_but_not_fixed_ones(five_views):
    preds = oracle_predictions(
        five_views, pair_indices(5, "complete"), noise=0.01, dtype=torch.float64, seed=7
    )
    graph = build_pair_graph(preds, [(32, 48)] * 5)
    known = parse_known_cameras(5, known_poses={2: five_views.world_from_cam[2]}, known_focals={4: 60.0})
    model = SceneOptimizer(graph, known)
    model.initialize(_truth_init(five_views))
    model().backward()
    assert not model.principal_offsets.requires_grad
    for name in ("quaternions", "translations", "focals"):
        grad = getattr(model, name).grad
        fixed = 2 if name != "focals" else 4
        assert grad[fixed].abs().max() == 0, name
        free = [k for k in range(5) if k != fixed]
        assert (grad[free].abs().flatten(1).amax(-1) if grad.ndim > 1 else grad[free].abs()).min() > 0, name
    for name in ("pair_quaternions", "pair_translations", "pair_log_scales"):
        assert getattr(model, name).grad.abs().max() > 0, name
    assert all(p.grad.abs().max() > 0 for p in model.log_depths)


def test_optimisation_lowers_the_loss_and_keeps_fixed_values(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), noise=0.01, outliers=0.02, seed=8)
    graph = build_pair_graph(preds, [(32, 48)] * 5)
    known = parse_known_cameras(5, known_focals={1: 50.0})
    model = SceneOptimizer(graph, known)
    init = _truth_init(five_views)
    init.world_from_cam = init.world_from_cam.float()
    init.focals = init.focals.float() * 1.1  # a wrong start
    model.initialize(init)
    losses = run_optimization(model, niter=40, lr=0.01, progress=False)
    assert losses[-1] < 0.8 * losses[0]
    assert float(model.intrinsics().detach()[1, 0, 0]) == 50.0


def test_alignment_distance_sum_matches_plain_autograd():
    from recon3r.align.optimizer import _AlignmentDistanceSum

    gen = torch.Generator().manual_seed(0)
    f64 = dict(generator=gen, dtype=torch.float64)
    world = torch.randn(3, 3, 7, **f64, requires_grad=True)  # 3 images, 7 pixels, channels first
    m = torch.randn(4, 3, 3, **f64, requires_grad=True)
    t = torch.randn(4, 3, **f64, requires_grad=True)
    x, w, slots = torch.randn(4, 3, 7, **f64), torch.rand(4, 7, **f64), torch.tensor([0, 2, 2, 1])
    assert torch.autograd.gradcheck(lambda *a: _AlignmentDistanceSum.apply(*a, x, w, slots), (world, m, t))

    def plain(world, m, t):
        residual = world[slots] - (m @ x + t[..., None])
        return (residual.norm(dim=1) * w).sum()

    fused = torch.autograd.grad(_AlignmentDistanceSum.apply(world, m, t, x, w, slots), (world, m, t))
    for ours, theirs in zip(fused, torch.autograd.grad(plain(world, m, t), (world, m, t))):
        torch.testing.assert_close(ours, theirs)
    zero = torch.zeros(1, 3, 2, dtype=torch.float64, requires_grad=True)
    eye, none = torch.eye(3, dtype=torch.float64)[None], torch.zeros(1, 3, dtype=torch.float64)
    loss = _AlignmentDistanceSum.apply(zero, eye, none, torch.zeros(1, 3, 2, dtype=torch.float64),
                                       torch.ones(1, 2, dtype=torch.float64), torch.tensor([0]))
    grad = torch.autograd.grad(loss, zero)[0]
    assert torch.equal(grad, torch.zeros_like(grad))  # no NaN at a zero residual
