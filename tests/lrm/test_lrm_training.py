"""Orbit data normalisation and the tiny trainer: training beats the untrained model and the mean colour."""

import torch

from recon3r.lrm.data import render_orbit
from recon3r.lrm.render import intersect_box
from recon3r.lrm.train import all_rays, mean_color_metrics


def test_orbit_views_are_normalised_around_the_object_with_the_source_at_the_canonical_pose():
    data = render_orbit(3, views=4, size=24)
    poses = data["world_from_cam"]
    torch.testing.assert_close(poses[0, :3, :3], torch.eye(3), atol=1e-5, rtol=0)  # source axes = model axes
    assert abs(poses[0, :3, 3].norm().item() - 2.2) < 1e-5  # source_distance
    assert poses[0, 2, 3] < -2.0  # source camera behind the object, looking along +z
    # every object pixel's ray enters the [-1, 1]^3 box, and the object is seen in every view
    origins, dirs = all_rays({k: v[None] for k, v in data.items()})
    _, _, hit = intersect_box(origins[0], dirs[0])
    mask = data["masks"].reshape(4, -1) > 0
    assert (mask & ~hit).sum() == 0 and (mask.float().mean(dim=1) > 0.02).all()
    # background pixels are white
    assert torch.all(data["images"].permute(1, 0, 2, 3)[:, data["masks"] == 0] == 1.0)


def test_mean_colour_baseline_is_exact_on_a_constant_scene():
    data = {"images": torch.full((1, 3, 3, 4, 4), 0.25), "masks": torch.zeros(1, 3, 4, 4)}
    assert mean_color_metrics(data)["mse"] == 0.0


def test_tiny_training_beats_the_untrained_model_and_the_mean_colour_baseline(trained_lrm):
    result, out = trained_lrm
    final, initial, mean = result.test_final, result.test_initial, result.test_mean_color
    assert final["mse"] < 0.6 * initial["mse"]
    assert final["mse"] < 0.9 * mean["mse"]
    assert final["psnr"] > mean["psnr"] + 0.5
    assert final["mask_iou"] > 0.4  # the baseline predicts no object (IoU 0)
    assert len(result.losses) == 300  # conftest.TINY_TRAINING
    assert sum(result.losses[-30:]) < 0.7 * sum(result.losses[:30])
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
