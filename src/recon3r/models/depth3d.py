"""Small PointNets that read a distorted point cloud: the depth shift, the focal scale and, optionally, the scale.

Input clouds are (B, N, C) features of N pixels of a depth map normalised to median 1 and
unprojected with a guessed focal (`cloud_features`; C = 3: x, y, z, or C = 5: x, y, z plus the
pixel's normalised image coordinates u, v). Outputs follow `recon3r.geometry.depth_shift`:

- `shift`: the correction to add to that normalised depth (so it is relative to the median depth);
- `log_focal_scale`: log(true focal / guessed focal), so that f = f_guess · exp(log_focal_scale);
- `log_scale` (with `predict_scale=True`): log of the true median depth in metres.

Which pixels make a cloud is the model's choice too (`select_pixels`: random valid pixels, or one
per cell of a voxel grid), stored with the weights so that training (`recon3r.tasks.depth_to_3d`)
and inference (`recon3r.depth3d.recover`) build the same clouds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from recon3r.geometry.cameras import unproject_pixels
from recon3r.geometry.voxels import voxel_representatives
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
    Features are clamped to ±`clip` so that a few far points (sky-like background) cannot dominate.
    """

    def __init__(self, in_dim: int = 3, point_widths: Sequence[int] = (64, 128, 256),
                 head_widths: Sequence[int] = (128, 64), clip: float = 8.0):
        super().__init__()
        self.in_dim = int(in_dim)
        self.clip = float(clip)
        self.point_mlp = _mlp([in_dim, *point_widths], final_activation=True)
        self.head = _mlp([2 * point_widths[-1], *head_widths, 1], final_activation=False)
        # Start near the identity correction (0 shift, focal scale 1), with every layer still learning.
        with torch.no_grad():
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.zero_()

    def forward(self, points: Tensor) -> Tensor:
        """(B, N, in_dim) features → (B,) predictions."""
        if points.ndim != 3 or points.shape[-1] != self.in_dim or points.shape[1] < 1:
            raise ValueError(f"expected points (B, N, {self.in_dim}) with N >= 1, got {tuple(points.shape)}")
        features = self.point_mlp(points.clamp(-self.clip, self.clip))
        pooled = torch.cat([features.amax(dim=1), features.mean(dim=1)], dim=-1)
        return self.head(pooled).squeeze(-1)


# ---------------------------------------------------------------- the model
@register_model
class Depth3DModel(nn.Module):
    """LeReS-style point-cloud module: a shift PointNet and a focal PointNet (and a scale one) with one layout.

    Constructor keywords are the fields of `Depth3DConfig` and are kept in `self.config` so that
    `recon3r.models.save_model` / `load_model` can write and rebuild the model (safetensors + JSON).
    Besides the layers they say how the model is used, so inference matches training:
    `num_points` per cloud, `focal_guess_fov` (field of view of the default focal guess),
    `input_channels` (3 or 5, see `cloud_features`), `voxel_size` (0: random pixels; else one
    pixel per voxel of that side, in units of the median depth), `init_scale` (the xyz features
    are multiplied by it before the networks), `predict_scale` (a third network for the metric
    scale) and `refine_iterations` (rounds of shift-then-focal recovery, see `recon3r.depth3d.recover`).
    """

    task_name: ClassVar[str] = "depth_to_3d"
    tiny_config: ClassVar[dict] = {"point_widths": [16, 32], "head_widths": [16], "num_points": 256}

    def __init__(self, point_widths: Sequence[int] = (64, 128, 256), head_widths: Sequence[int] = (128, 64),
                 clip: float = 8.0, num_points: int = 2048, focal_guess_fov: float = 60.0, input_channels: int = 3,
                 voxel_size: float = 0.0, init_scale: float = 1.0, predict_scale: bool = False,
                 refine_iterations: int = 1):
        super().__init__()
        config = Depth3DConfig(tuple(point_widths), tuple(head_widths), float(clip), int(num_points),
                               float(focal_guess_fov), int(input_channels), float(voxel_size), float(init_scale),
                               bool(predict_scale), int(refine_iterations))
        config.check()
        self.config = asdict(config)
        self.num_points = config.num_points
        self.focal_guess_fov = config.focal_guess_fov
        self.input_channels = config.input_channels
        self.voxel_size = config.voxel_size
        self.init_scale = config.init_scale
        self.predict_scale = config.predict_scale
        self.refine_iterations = config.refine_iterations
        self.shift_net = PointNetRegressor(self.input_channels, point_widths, head_widths, clip)
        self.focal_net = PointNetRegressor(self.input_channels, point_widths, head_widths, clip)
        self.scale_net = (PointNetRegressor(self.input_channels, point_widths, head_widths, clip)
                          if self.predict_scale else None)

    @classmethod
    def from_config(cls, config: Depth3DConfig) -> Depth3DModel:
        return cls(**asdict(config))

    @property
    def heads(self) -> tuple[str, ...]:
        """The outputs this model predicts: "shift", "focal" and, with `predict_scale`, "scale"."""
        return ("shift", "focal", "scale") if self.predict_scale else ("shift", "focal")

    def _scaled(self, points: Tensor) -> Tensor:
        if self.init_scale == 1.0:
            return points
        return torch.cat([points[..., :3] * self.init_scale, points[..., 3:]], dim=-1)

    def predict_shift(self, points: Tensor) -> Tensor:
        """(B, N, C) cloud from median-1 depth → (B,) shift to add to that depth."""
        return self.shift_net(self._scaled(points))

    def predict_log_focal_scale(self, points: Tensor) -> Tensor:
        """(B, N, C) cloud (shift already corrected) → (B,) log(true focal / guessed focal)."""
        return self.focal_net(self._scaled(points))

    def predict_log_scale(self, points: Tensor) -> Tensor:
        """(B, N, C) cloud (shift already corrected) → (B,) log(median depth in metres); needs `predict_scale`."""
        if self.scale_net is None:
            raise ValueError("this Depth3DModel has no scale network (build it with predict_scale=True)")
        return self.scale_net(self._scaled(points))

    def forward(self, points: Tensor, focal_points: Tensor | None = None) -> dict[str, Tensor]:
        """{"shift", "log_focal_scale"[, "log_scale"]: (B,)} from (B, N, C) clouds.

        The shift network reads `points`; the focal (and scale) network reads `focal_points` (the
        shift-corrected cloud, as in training and in `recover_shift_and_focal`), or `points` when None.
        """
        focal_points = points if focal_points is None else focal_points
        out = {"shift": self.predict_shift(points), "log_focal_scale": self.predict_log_focal_scale(focal_points)}
        if self.scale_net is not None:
            out["log_scale"] = self.predict_log_scale(focal_points)
        return out


# ---------------------------------------------------------------- building clouds
def select_pixels(depth: np.ndarray, valid: np.ndarray, intrinsics: np.ndarray, count: int,
                  rng: np.random.Generator, voxel_size: float = 0.0) -> np.ndarray:
    """(count, 2) integer (x, y) pixels that make one cloud of a median-1 depth map (H, W).

    `voxel_size` 0 draws random valid pixels; > 0 unprojects every valid pixel with `intrinsics`
    (3, 3) and keeps one random pixel per voxel of that side (in units of the median depth) before
    drawing. Draws repeat pixels only when there are fewer candidates than `count`.
    """
    rows, cols = np.nonzero(valid)
    if len(rows) == 0:
        raise ValueError("no valid pixels to sample")
    if voxel_size > 0:
        pixels = torch.as_tensor(np.stack([cols, rows], axis=1)[None], dtype=torch.float64)
        z = torch.as_tensor(depth[rows, cols][None], dtype=torch.float64)
        points = unproject_pixels(pixels, z, torch.as_tensor(intrinsics[None], dtype=torch.float64))[0]
        order = torch.as_tensor(rng.permutation(len(rows)))
        keep = voxel_representatives(points, voxel_size, order).numpy()
        rows, cols = rows[keep], cols[keep]
    pick = rng.choice(len(rows), size=count, replace=len(rows) < count)
    return np.stack([cols[pick], rows[pick]], axis=1)


def cloud_features(points: Tensor, pixels: Tensor, principal_point: Tensor, image_size: tuple[int, int],
                   channels: int) -> Tensor:
    """The network input (B, N, channels) of camera-frame points (B, N, 3) at pixels (B, N, 2).

    3 channels: x, y, z. 5 channels: x, y, z, u, v with (u, v) = (pixel − principal point (B, 2))
    / (max(H, W) / 2): where the pixel lies in the image, whatever the guessed focal (with the xyz
    that guess unprojected, the network can tell the guessed field of view). `image_size` is (H, W).
    """
    if channels == 3:
        return points
    if channels != 5:
        raise ValueError(f"channels must be 3 or 5, got {channels}")
    half = max(image_size) / 2
    uv = (pixels.to(points.dtype) - principal_point.to(points.dtype)[:, None, :]) / half
    return torch.cat([points, uv], dim=-1)


# ---------------------------------------------------------------- configs
@dataclass(frozen=True)
class Depth3DConfig:
    """Typed constructor arguments of `Depth3DModel` (JSON-able through `dataclasses.asdict`)."""

    point_widths: tuple[int, ...] = (64, 128, 256)
    head_widths: tuple[int, ...] = (128, 64)
    clip: float = 8.0
    num_points: int = 2048
    focal_guess_fov: float = 60.0
    input_channels: int = 3
    voxel_size: float = 0.0
    init_scale: float = 1.0
    predict_scale: bool = False
    refine_iterations: int = 1

    def check(self) -> None:
        """ConfigError naming the field when a value cannot work."""
        from recon3r.errors import ConfigError

        if self.input_channels not in (3, 5):
            raise ConfigError(f"input_channels must be 3 (x, y, z) or 5 (x, y, z, u, v), got {self.input_channels}")
        if self.num_points < 1 or self.refine_iterations < 1:
            raise ConfigError(f"num_points and refine_iterations must be >= 1, got {self.num_points}, "
                             f"{self.refine_iterations}")
        if self.voxel_size < 0 or not self.init_scale > 0 or not 0 < self.focal_guess_fov < 180:
            raise ConfigError(f"need voxel_size >= 0, init_scale > 0 and 0 < focal_guess_fov < 180, got "
                             f"{self.voxel_size}, {self.init_scale}, {self.focal_guess_fov}")
