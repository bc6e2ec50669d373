"""Two small PointNets that read a distorted point cloud: one predicts the depth shift, one the focal scale.

Input clouds are (B, N, 3) camera-frame points unprojected from a depth map normalised to median 1
with a guessed focal (see `recon3r.depth3d.recover`). Outputs follow `recon3r.geometry.depth_shift`:
`shift` is the correction to add to that normalised depth (so it is relative to the median depth),
`log_focal_scale` is log(true focal / guessed focal). Trained by the `depth_to_3d` task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from recon3r.models.registry import register_model


# ---------------------------------------------------------------- blocks
def _mlp(dims: Sequence[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if final_activation or k < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PointNetRegressor(nn.Module):
    """Shared per-point MLP → max and mean pooling over points → MLP head → one scalar per cloud.

    The per-point MLP sees each point alone; pooling makes the output independent of point order.
    Coordinates are clamped to ±`clip` so that a few far points (sky-like background) cannot dominate.
    """

    def __init__(self, in_dim: int = 3, point_widths: Sequence[int] = (64, 128, 256),
                 head_widths: Sequence[int] = (128, 64), clip: float = 8.0):
        super().__init__()
        self.clip = float(clip)
        self.point_mlp = _mlp([in_dim, *point_widths], final_activation=True)
        self.head = _mlp([2 * point_widths[-1], *head_widths, 1], final_activation=False)
        # Start near the identity correction (0 shift, focal scale 1), with every layer still learning.
        with torch.no_grad():
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.zero_()

    def forward(self, points: Tensor) -> Tensor:
        """(B, N, 3) points → (B,) predictions."""
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] < 1:
            raise ValueError(f"expected points (B, N, 3) with N >= 1, got {tuple(points.shape)}")
        features = self.point_mlp(points.clamp(-self.clip, self.clip))
        pooled = torch.cat([features.amax(dim=1), features.mean(dim=1)], dim=-1)
        return self.head(pooled).squeeze(-1)


# ---------------------------------------------------------------- the model
@register_model
class Depth3DModel(nn.Module):
    """LeReS-style point-cloud module: a shift PointNet and a focal PointNet with the same layout.

    Constructor keywords are the fields of `Depth3DConfig` and are kept in `self.config` so that
    `recon3r.models.save_model` / `load_model` can write and rebuild the model (safetensors + JSON).
    `num_points` and `focal_guess_fov` are how the model is used at inference (points sampled per
    image, field of view of the default focal guess), stored with the weights.
    """

    task_name: ClassVar[str] = "depth_to_3d"
    tiny_config: ClassVar[dict] = {"point_widths": [16, 32], "head_widths": [16], "num_points": 256}

    def __init__(self, point_widths: Sequence[int] = (64, 128, 256), head_widths: Sequence[int] = (128, 64),
                 clip: float = 8.0, num_points: int = 2048, focal_guess_fov: float = 60.0):
        super().__init__()
        self.config = asdict(Depth3DConfig(tuple(point_widths), tuple(head_widths), clip, num_points, focal_guess_fov))
        self.num_points = int(num_points)
        self.focal_guess_fov = float(focal_guess_fov)
        self.shift_net = PointNetRegressor(3, point_widths, head_widths, clip)
        self.focal_net = PointNetRegressor(3, point_widths, head_widths, clip)

    @classmethod
    def from_config(cls, config: Depth3DConfig) -> Depth3DModel:
        return cls(**asdict(config))

    def predict_shift(self, points: Tensor) -> Tensor:
        """(B, N, 3) cloud from median-1 depth → (B,) shift to add to that depth."""
        return self.shift_net(points)

    def predict_log_focal_scale(self, points: Tensor) -> Tensor:
        """(B, N, 3) cloud (shift already corrected) → (B,) log(true focal / guessed focal)."""
        return self.focal_net(points)

    def forward(self, points: Tensor, focal_points: Tensor | None = None) -> dict[str, Tensor]:
        """{"shift": (B,), "log_focal_scale": (B,)} from (B, N, 3) clouds.

        The shift network reads `points`; the focal network reads `focal_points` (the shift-corrected
        cloud, as in training and in `recover_shift_and_focal`), or `points` when None.
        """
        focal_points = points if focal_points is None else focal_points
        return {"shift": self.predict_shift(points), "log_focal_scale": self.predict_log_focal_scale(focal_points)}


# ---------------------------------------------------------------- configs
@dataclass(frozen=True)
class Depth3DConfig:
    """Typed constructor arguments of `Depth3DModel` (JSON-able through `dataclasses.asdict`)."""

    point_widths: tuple[int, ...] = (64, 128, 256)
    head_widths: tuple[int, ...] = (128, 64)
    clip: float = 8.0
    num_points: int = 2048
    focal_guess_fov: float = 60.0

