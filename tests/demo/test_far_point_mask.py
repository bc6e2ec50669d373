"""`recon3r.reconstruct.mask_far_points`: the demo's sky / far-background mask."""

import numpy as np
import pytest

from recon3r.errors import ConfigError
from recon3r.reconstruct import ReconstructConfig, mask_far_points, reconstruct
from recon3r.scene import Scene


def scene_with_depths(depths, masks):
    n = len(depths)
    shapes = [np.shape(d) for d in depths]
    return Scene(names=[f"im{i}" for i in range(n)], images=[np.zeros((*s, 3), np.float32) for s in shapes],
                 world_from_cam=np.stack([np.eye(4)] * n), intrinsics=np.stack([np.eye(3)] * n),
                 depths=[np.asarray(d, np.float32) for d in depths],
                 points=[np.zeros((*s, 3), np.float32) for s in shapes],
                 confidences=[np.ones(s, np.float32) for s in shapes], masks=[np.asarray(m, bool) for m in masks])


def test_points_beyond_ratio_times_median_kept_depth_are_dropped():
    depth = [[1.0, 1.0, 1.0, 2.9, 3.1, 100.0]]
    kept = [[True, True, True, True, True, False]]
    # Median of the kept depths is 1.0: 3.1 goes, 2.9 stays, the masked 100 stays masked.
    masks = mask_far_points(scene_with_depths([depth], [kept]), 3.0)
    np.testing.assert_array_equal(masks[0], [[True, True, True, True, False, False]])


def test_each_image_uses_its_own_median_and_the_input_masks_are_untouched():
    near, far = np.full((2, 2), 1.0), np.full((2, 2), 50.0)
    far[0, 0] = 400.0
    scene = scene_with_depths([near, far], [np.ones((2, 2)), np.ones((2, 2))])
    masks = mask_far_points(scene, 2.0)
    assert masks[0].all() and masks[1].sum() == 3 and not masks[1][0, 0]
    assert scene.masks[1].all()


def test_an_empty_mask_uses_all_pixels_and_stays_empty():
    masks = mask_far_points(scene_with_depths([[[1.0, 10.0]]], [[[False, False]]]), 2.0)
    assert not masks[0].any()


@pytest.mark.parametrize("ratio", [0, -1.0, float("nan"), float("inf"), True, "3"])
def test_bad_ratios_are_config_errors(ratio):
    with pytest.raises(ConfigError, match="max_depth_ratio must be a finite number > 0"):
        mask_far_points(scene_with_depths([[[1.0]]], [[[True]]]), ratio)


def test_reconstruct_checks_the_ratio_before_loading_anything(tmp_path):
    config = ReconstructConfig(images=[str(tmp_path)], weights=str(tmp_path / "missing"), max_depth_ratio=-2.0)
    with pytest.raises(ConfigError, match="max_depth_ratio must be a finite number > 0, got -2.0"):
        reconstruct(config)
