"""A small synthetic Scene with exact geometry for the export tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recon3r.io import plan_resize
from recon3r.scene import Scene


def _rotation(axis, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def make_scene(with_transforms: bool = True, seed: int = 0) -> Scene:
    """Three cameras (two landscape, one portrait network size) looking at points 2-3 units away."""
    rng = np.random.default_rng(seed)
    originals = [(1000, 750), (1000, 667), (480, 640)]
    transforms = [plan_resize(o, size=64) for o in originals]
    names, images, poses, intrinsics, depths, points, confs, masks = [], [], [], [], [], [], [], []
    for i, t in enumerate(transforms):
        w, h = t.network_size
        k_orig = np.array([[0.9 * t.original_size[0], 0, t.original_size[0] / 2 + 3.3],
                           [0, 0.95 * t.original_size[0], t.original_size[1] / 2 - 2.1], [0, 0, 1]])
        k = t.intrinsics_to_network(k_orig)
        pose = np.eye(4)
        pose[:3, :3] = _rotation(rng.normal(size=3), 0.4 + 0.5 * i)
        pose[:3, 3] = rng.normal(size=3)
        depth = (2.0 + rng.uniform(0, 1, size=(h, w))).astype(np.float32)
        ys, xs = np.mgrid[0:h, 0:w]
        cam = np.stack([(xs - k[0, 2]) / k[0, 0] * depth, (ys - k[1, 2]) / k[1, 1] * depth, depth], -1)
        names.append(f"photo_{i}.jpg")
        images.append(rng.uniform(0, 1, size=(h, w, 3)).astype(np.float32))
        poses.append(pose)
        intrinsics.append(k)
        depths.append(depth)
        points.append((cam @ pose[:3, :3].T + pose[:3, 3]).astype(np.float32))
        confs.append((1 + rng.uniform(0, 5, size=(h, w))).astype(np.float32))
        masks.append(rng.uniform(size=(h, w)) < 0.7)
    return Scene(names=names, images=images, world_from_cam=np.stack(poses), intrinsics=np.stack(intrinsics),
                 depths=depths, points=points, confidences=confs, masks=masks,
                 transforms=transforms if with_transforms else None, metadata={"graph": "complete", "niter": 3})


@pytest.fixture
def scene() -> Scene:
    return make_scene()


@pytest.fixture
def scene_factory():
    """`make_scene` itself, for tests that need variants (no transforms, another seed)."""
    return make_scene
