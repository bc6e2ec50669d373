import numpy as np
import pytest
import torch

from recon3r.align import global_align
from recon3r.align.synthetic import make_scene, oracle_predictions
from recon3r.errors import Recon3rError
from recon3r.eval.metrics import relative_pose_errors, relpose_metrics
from recon3r.geometry import depth_to_world_points
from recon3r.pairs import pair_indices
from recon3r.scene import ImageTransform, Scene

NOISY = dict(noise=0.01, outliers=0.03)  # 1 % of depth noise, 3 % outliers, a random scale per pair


def _focal_error(scene: Scene, truth) -> np.ndarray:
    return np.abs(scene.intrinsics[:, [0, 1], [0, 1]] / truth.intrinsics[:, [0, 1], [0, 1]].numpy() - 1)


@pytest.mark.parametrize(
    ("num_images", "graph", "arc"),
    [(5, "complete", 120), (6, "swin-2", 360), (5, "oneref-0", 120)],
    ids=["complete", "swin-ring", "oneref"],
)
def test_optimisation_recovers_relative_poses_and_focals(num_images, graph, arc):
    truth = make_scene(num_images, 32, 48, arc_degrees=arc, seed=1)
    preds = oracle_predictions(truth, pair_indices(num_images, graph), **NOISY, seed=2)
    scene = global_align(preds, truth.images, niter=200, progress=False)
    metrics = relpose_metrics(scene.world_from_cam, truth.world_from_cam)
    assert metrics["RRA@5"] == 100.0
    assert metrics["RTA@5"] >= 95.0
    assert _focal_error(scene, truth).max() < 0.02
    alignment = scene.metadata["alignment"]
    assert alignment["mode"] == "optimize" and alignment["iterations"] == 200
    assert alignment["final_loss"] < alignment["initial_loss"]


def test_scene_holds_consistent_outputs(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), **NOISY, seed=2)
    transforms = [ImageTransform((96, 64), 0.5, (0.0, 0.0), (48, 32))] * 5
    names = [f"view{k}.jpg" for k in range(5)]
    scene = global_align(
        preds, five_views.images, names, niter=20, min_conf=2.5, transforms=transforms, progress=False
    )
    assert len(scene) == 5 and scene.names == names and scene.transforms == transforms
    assert scene.world_from_cam.shape == (5, 4, 4) and scene.world_from_cam.dtype == np.float64
    assert scene.intrinsics.shape == (5, 3, 3) and scene.intrinsics.dtype == np.float64
    rotations = scene.world_from_cam[:, :3, :3]
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-5
    )
    for k in range(5):
        assert scene.depths[k].shape == (32, 48) and scene.points[k].shape == (32, 48, 3)
        assert scene.images[k].dtype == np.float32 and scene.points[k].dtype == np.float32
        expected_conf = np.maximum.reduce(
            [p.conf_i.numpy() for p in preds if p.i == k] + [p.conf_j.numpy() for p in preds if p.j == k]
        )
        np.testing.assert_array_equal(scene.confidences[k], expected_conf)
        np.testing.assert_array_equal(scene.masks[k], expected_conf >= 2.5)
        unprojected = depth_to_world_points(
            torch.from_numpy(scene.depths[k])[None].double(),
            torch.from_numpy(scene.intrinsics[k])[None],
            torch.from_numpy(scene.world_from_cam[k])[None],
        )[0]
        np.testing.assert_allclose(scene.points[k], unprojected.numpy(), rtol=1e-4, atol=1e-4)
    assert scene.intrinsics_original()[0, 0, 0] == pytest.approx(2 * scene.intrinsics[0, 0, 0])
    info = scene.metadata["alignment"]
    assert len(info["losses"]) == 20 and info["time_total_s"] >= info["time_optimize_s"] > 0
    assert len(info["spanning_tree"]) == 4


def test_two_images_use_the_pnp_pair_mode(two_views):
    preds = oracle_predictions(two_views, [(0, 1), (1, 0)], **NOISY, seed=2)
    scene = global_align(preds, two_views.images, progress=False)
    info = scene.metadata["alignment"]
    assert info["mode"] == "pair" and info["iterations"] == 0
    reference = info["reference_pair"][0]
    np.testing.assert_array_equal(scene.world_from_cam[reference], np.eye(4))
    rot, trans = relative_pose_errors(scene.world_from_cam, two_views.world_from_cam)
    assert rot.max() < 1.0 and trans.max() < 5.0
    assert _focal_error(scene, two_views).max() < 0.02


def test_pair_mode_works_from_a_single_ordering(two_views):
    preds = oracle_predictions(two_views, [(1, 0)], **NOISY, seed=3)
    scene = global_align(preds, two_views.images, mode="pair", progress=False)
    rot, trans = relative_pose_errors(scene.world_from_cam, two_views.world_from_cam)
    assert rot.max() < 1.0 and trans.max() < 5.0
    assert _focal_error(scene, two_views).max() < 0.02  # image 0's focal comes from PnP


def test_pair_mode_uses_known_intrinsics(two_views):
    preds = oracle_predictions(two_views, [(0, 1), (1, 0)], **NOISY, seed=2)
    given = two_views.intrinsics[1].numpy().copy()
    given[0, 0] = given[1, 1] = 60.0
    scene = global_align(preds, two_views.images, known_intrinsics={1: given}, progress=False)
    np.testing.assert_array_equal(scene.intrinsics[1], given)
    assert abs(scene.intrinsics[0, 0, 0] / two_views.intrinsics[0, 0, 0].item() - 1) < 0.02


def test_known_poses_stay_fixed_and_place_the_others_in_their_frame(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), **NOISY, seed=2)
    known = {0: five_views.world_from_cam[0].numpy(), 3: five_views.world_from_cam[3].numpy()}
    scene = global_align(preds, five_views.images, niter=200, known_poses=known, progress=False)
    for k, pose in known.items():
        np.testing.assert_array_equal(scene.world_from_cam[k], pose)
    # the free cameras land in the known poses' frame and unit (the ring has radius 3)
    centres = scene.world_from_cam[:, :3, 3]
    assert np.linalg.norm(centres - five_views.world_from_cam[:, :3, 3].numpy(), axis=-1).max() < 0.05
    metrics = relpose_metrics(scene.world_from_cam, five_views.world_from_cam)
    assert metrics["RRA@5"] == 100.0 and metrics["RTA@5"] >= 95.0
    assert _focal_error(scene, five_views).max() < 0.02


def test_one_known_pose_fixes_the_frame(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), **NOISY, seed=2)
    pose = five_views.world_from_cam[2].numpy()
    scene = global_align(preds, five_views.images, niter=100, known_poses={2: pose}, progress=False)
    np.testing.assert_array_equal(scene.world_from_cam[2], pose)
    # every camera is rotated into the given frame: absolute rotations match the truth
    rotations = scene.world_from_cam[:, :3, :3]
    truth = five_views.world_from_cam[:, :3, :3].numpy()
    cos = (np.trace(rotations.transpose(0, 2, 1) @ truth, axis1=1, axis2=2) - 1) / 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0


def test_known_intrinsics_and_focals_stay_fixed(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), **NOISY, seed=2)
    intrinsics = {1: five_views.intrinsics[1].numpy(), 4: five_views.intrinsics[4].numpy()}
    focal = float(five_views.intrinsics[0, 0, 0])
    scene = global_align(
        preds,
        five_views.images,
        niter=200,
        known_intrinsics=intrinsics,
        known_focals={0: focal},
        progress=False,
    )
    for k, value in intrinsics.items():
        np.testing.assert_array_equal(scene.intrinsics[k], value)
    assert scene.intrinsics[0, 0, 0] == focal and scene.intrinsics[0, 1, 1] == focal
    free = [2, 3]
    assert _focal_error(scene, five_views)[free].max() < 0.02
    metrics = relpose_metrics(scene.world_from_cam, five_views.world_from_cam)
    assert metrics["RRA@5"] == 100.0 and metrics["RTA@5"] >= 95.0


def test_images_of_different_shapes_align_together():
    shapes = [(32, 48), (48, 32), (32, 48), (40, 40)]
    truth = make_scene(4, arc_degrees=100, shapes=shapes, seed=1)
    preds = oracle_predictions(truth, pair_indices(4, "complete"), **NOISY, seed=2)
    scene = global_align(preds, truth.images, niter=150, progress=False)
    assert [d.shape for d in scene.depths] == shapes
    metrics = relpose_metrics(scene.world_from_cam, truth.world_from_cam)
    assert metrics["RRA@5"] == 100.0 and metrics["RTA@5"] >= 95.0
    assert _focal_error(scene, truth).max() < 0.02


def test_float64_predictions_and_an_explicit_device(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "swin-2"), dtype=torch.float64, seed=2)
    scene = global_align(preds, five_views.images, niter=0, device="cpu", progress=False)
    assert scene.metadata["alignment"]["device"] == "cpu"
    rot, _ = relative_pose_errors(scene.world_from_cam, five_views.world_from_cam)
    assert rot.max() < 1e-4  # noise-free: the initialisation is already exact
    assert scene.metadata["alignment"]["initial_loss"] < 1e-4


def test_views_with_image_name_and_transform_attributes(two_views):
    class View:
        def __init__(self, image, name):
            self.image = (image * 255).astype(np.uint8)
            self.name = name
            self.transform = ImageTransform((48, 32), 1.0, (0.0, 0.0), (48, 32))

    views = [View(image, f"v{k}") for k, image in enumerate(two_views.images)]
    preds = oracle_predictions(two_views, [(0, 1), (1, 0)], seed=2)
    scene = global_align(preds, views, progress=False)
    assert scene.names == ["v0", "v1"] and scene.transforms is not None
    assert scene.images[0].dtype == np.float32 and scene.images[0].max() <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "bundle"}, r"unknown alignment mode 'bundle'"),
        ({"schedule": "step"}, r"unknown learning-rate schedule 'step'"),
        ({"conf_mode": "cube"}, r"unknown confidence transform 'cube'"),
        ({"niter": -1}, r"niter must be a non-negative integer"),
        ({"lr": 0.0}, r"lr must be positive"),
        ({"mode": "pair"}, r"mode 'pair' aligns exactly two images, got 5"),
        ({"names": ["a", "b"]}, r"got 2 names for 5 images"),
    ],
)
def test_bad_arguments_are_named(five_views, kwargs, message):
    preds = oracle_predictions(five_views, pair_indices(5, "swin-1"), seed=2)
    with pytest.raises(Recon3rError, match=message):
        global_align(preds, five_views.images, progress=False, **kwargs)


def test_inconsistent_inputs_are_rejected(five_views, two_views):
    preds = oracle_predictions(five_views, pair_indices(5, "swin-1"), seed=2)
    with pytest.raises(Recon3rError, match="two or more images"):
        global_align(preds[:1], five_views.images[:1], progress=False)
    with pytest.raises(Recon3rError, match=r"out of range; there are 4 images"):
        global_align(preds, five_views.images[:4], progress=False)
    with pytest.raises(Recon3rError, match="not connected"):
        global_align([p for p in preds if 4 not in (p.i, p.j)] + [], five_views.images, progress=False)
    with pytest.raises(Recon3rError, match=r"image 1: expected an \(H, W, 3\) RGB array"):
        global_align(
            preds, [five_views.images[0], np.zeros((32, 48))] + five_views.images[2:], progress=False
        )
    pair = oracle_predictions(two_views, [(0, 1)], seed=2)
    with pytest.raises(Recon3rError, match="cannot hold known poses fixed"):
        global_align(pair, two_views.images, mode="pair", known_poses={0: np.eye(4)}, progress=False)
