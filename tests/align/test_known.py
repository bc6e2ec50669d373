import numpy as np
import pytest
import torch

from recon3r.align.known import parse_known_cameras
from recon3r.errors import Recon3rError

K = [[50.0, 0.0, 23.5], [0.0, 52.0, 15.5], [0.0, 0.0, 1.0]]


def test_nothing_known_by_default():
    known = parse_known_cameras(3)
    assert not known.any and known.num_poses == 0
    assert known.intrinsics.shape == (3, 3, 3) and known.poses.shape == (3, 4, 4)


def test_dict_list_and_array_forms_agree():
    pose = np.eye(4)
    pose[:3, 3] = [1, 2, 3]
    by_dict = parse_known_cameras(3, known_intrinsics={1: K}, known_poses={2: pose})
    by_list = parse_known_cameras(3, known_intrinsics=[None, K, None], known_poses=[None, None, pose])
    assert torch.equal(by_dict.intrinsics, by_list.intrinsics) and torch.equal(by_dict.poses, by_list.poses)
    assert by_dict.intrinsics_mask.tolist() == [False, True, False]
    assert by_dict.focal_mask.tolist() == [False, True, False]
    assert by_dict.focals[1].tolist() == [50.0, 52.0]
    full = parse_known_cameras(2, known_poses=np.stack([pose, pose]), known_focals=torch.tensor([40.0, 41.0]))
    assert full.pose_mask.all() and full.focals[:, 0].tolist() == [40.0, 41.0]
    assert full.focals[:, 1].tolist() == [40.0, 41.0]


def test_focal_pairs_are_fx_fy():
    known = parse_known_cameras(2, known_focals={0: (30.0, 31.0)})
    assert known.focals[0].tolist() == [30.0, 31.0] and not known.intrinsics_mask[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"known_poses": {5: np.eye(4)}}, r"known_poses: image index 5 is out of range"),
        ({"known_poses": [np.eye(4)]}, r"known_poses has 1 entries but there are 3 images"),
        ({"known_poses": {0: np.eye(3)}}, r"known_poses\[0\]: a pose must be a 4×4"),
        ({"known_poses": {1: np.diag([2.0, 1, 1, 1])}}, r"known_poses\[1\]: the 3×3 block is not a rotation"),
        (
            {"known_poses": {1: np.diag([-1.0, 1, 1, 1])}},
            r"known_poses\[1\]: the 3×3 block is not a rotation",
        ),
        ({"known_poses": {0: np.full((4, 4), np.nan)}}, r"known_poses\[0\]: contains NaN"),
        (
            {"known_intrinsics": {2: np.diag([-5.0, 5, 1])}},
            r"known_intrinsics\[2\]: focal lengths must be positive",
        ),
        ({"known_intrinsics": {2: np.ones((3, 3))}}, r"known_intrinsics\[2\]: intrinsics must look like"),
        ({"known_focals": {0: (1.0, 2.0, 3.0)}}, r"known_focals\[0\]: a focal is one number or a pair"),
        ({"known_focals": {0: 0.0}}, r"known_focals\[0\]: focal lengths must be positive"),
        ({"known_focals": {"a": 1.0}}, r"known_focals: image index 'a' is not an integer"),
        ({"known_focals": 3.0}, r"known_focals must be a dict"),
        ({"known_intrinsics": {0: K}, "known_focals": {0: 5.0}}, r"image 0 also has known intrinsics"),
    ],
)
def test_bad_known_values_are_named(kwargs, message):
    with pytest.raises(Recon3rError, match=message):
        parse_known_cameras(3, **kwargs)
