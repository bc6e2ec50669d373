"""Camera pose from a pose token (CUT3R / Point3R `PoseDecoder` and `postprocess_pose`).

The head is an MLP d → 4d → 7 (exact GELU) with the official names `mlp.fc1`, `mlp.fc2`. Its raw
output [u (3), q (4)] becomes the camera-to-world encoding [t, q]:
- t = u · expm1(‖u‖) / max(‖u‖, 1e-8) (`pose_mode` ('exp', -inf, inf), like `depth_mode` 'exp');
- q is L2-normalised and negated where its real part is negative (real part first).
`recon3r.geometry.pose_encoding_to_world_from_cam` turns it into a 4×4 world_from_cam matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recon3r.models.heads.postprocess import Mode, reg_dense_depth
from recon3r.models.layers.mlp import Mlp


class PoseHead(nn.Module):
    """Pose token (B, d) → raw pose (B, 7)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.mlp = Mlp(dim, int(dim * mlp_ratio), 7)

    def forward(self, token: torch.Tensor) -> torch.Tensor:
        return self.mlp(token)


def postprocess_pose(raw: torch.Tensor, pose_mode: Mode) -> torch.Tensor:
    """Raw (..., 7) → [t (3), unit q (4), real part ≥ 0] according to `pose_mode` (translation only)."""
    translation = reg_dense_depth(raw[..., :3], pose_mode, dim=-1)
    quaternion = F.normalize(raw[..., 3:7], dim=-1)
    quaternion = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    return torch.cat((translation, quaternion), dim=-1)
