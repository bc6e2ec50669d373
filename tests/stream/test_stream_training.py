"""The streaming loss and trainer: exact GT scores zero, scale invariance, training lowers held-out error."""

import torch

from recon3r.stream.train import load_sequences, stream_loss, window


def _gt_window():
    seq = load_sequences("test", scenes=1, views=4, image_size=(24, 32))[0]
    return seq, window(seq, 1, 3)


def test_window_gt_is_in_the_first_frames_camera_frame():
    seq, (frames, gt) = _gt_window()
    assert frames.shape == (3, 3, 24, 32)
    torch.testing.assert_close(gt["world_from_cam"][0], torch.eye(4), atol=1e-5, rtol=0)
    valid = gt["valid"][0]
    # in frame 0 the world frame is the camera frame: world points = camera points, z = depth
    torch.testing.assert_close(gt["pts3d"][0][valid], gt["pts3d_cam"][0][valid], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gt["pts3d_cam"][..., 2][gt["valid"]], gt["depth"][gt["valid"]], atol=1e-4, rtol=1e-4)


def test_loss_is_scale_invariant_and_zero_regression_on_ground_truth():
    _, (_, gt) = _gt_window()
    exact = [{"pts3d": 5.0 * gt["pts3d"][t : t + 1], "pts3d_cam": 5.0 * gt["pts3d_cam"][t : t + 1],
              "conf": torch.ones(1, 24, 32), "conf_cam": torch.ones(1, 24, 32)} for t in range(3)]
    _, details = stream_loss(exact, gt)
    assert details["regr_world"] < 1e-5 and details["regr_cam"] < 1e-5
    wrong = [dict(o, pts3d=o["pts3d"].flip(1)) for o in exact]
    _, details = stream_loss(wrong, gt)
    assert details["regr_world"] > 0.05


def test_tiny_training_run_lowers_the_held_out_error_clearly(trained_stream):
    result, out = trained_stream
    assert result.test_regr_final < 0.6 * result.test_regr_initial
    assert len(result.losses) == 150
    assert sum(result.losses[-20:]) < sum(result.losses[:20])
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
