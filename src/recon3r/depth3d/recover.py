"""Public API: recover the depth shift and focal length of an affine-invariant depth map.

    from recon3r.depth3d import recover_shift_and_focal
    result = recover_shift_and_focal(depth)          # (H, W) or (B, H, W), numpy or torch
    result.points                                    # camera-frame cloud, OpenCV axes, input's depth unit

Steps (LeReS, Yin et al. CVPR 2021): normalise the depth to median 1 over valid pixels, pick
`num_points` pixels the model's way (random, or one per voxel), unproject them with the guessed
focal, let the shift network predict the shift, apply it, unproject again and let the focal
network predict the focal scale (f = f_guess · scale). A model saved with `refine_iterations` = k
repeats this k times, each round from the previous round's corrected depth and focal, as LeReS's
demo refines its focal and shift in turn; the shipped model's `config.json` says how many rounds it
was validated with. The depth's overall scale stays unknown (a model with a scale network also
predicts the median depth in metres); the outputs keep the input's unit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from recon3r.geometry.cameras import depth_to_points, image_center, intrinsics_from_focal, unproject_pixels
from recon3r.geometry.depth_shift import apply_correction
from recon3r.geometry.focal import focal_from_fov
from recon3r.models.depth3d import Depth3DModel, cloud_features, select_pixels

MIN_VALID_PIXELS = 16


@dataclass
class Recovery:
    """Result of `recover_shift_and_focal`; (B, ...) shapes, or without B for an unbatched input."""

    depth: Tensor  # (B, H, W) corrected depth, input's unit; 0 where invalid
    focal: Tensor  # (B,) recovered focal, pixels
    shift: Tensor  # (B,) added to the input depth, input's unit
    relative_shift: Tensor  # (B,) shift / median valid input depth (what the network predicts)
    focal_scale: Tensor  # (B,) recovered focal / focal guess
    focal_guess: Tensor  # (B,) pixels
    points: Tensor  # (B, H, W, 3) camera-frame points (OpenCV axes); 0 where invalid
    valid: Tensor  # (B, H, W) bool: input depth > 0, finite, and corrected depth > 0
    median_depth_m: Tensor | None = None  # (B,) metres: the scale network's median depth (models with one)


@functools.lru_cache(maxsize=1)
def load_default_model() -> Depth3DModel:
    """The shipped model (`recon3r.assets.depth3d_model_path()`), loaded once, CPU, eval mode."""
    from recon3r.assets import depth3d_model_path

    return load_depth3d_model(depth3d_model_path())


def load_depth3d_model(path: str | Path, device: str | torch.device = "cpu") -> Depth3DModel:
    """Load a saved `Depth3DModel` folder (model.safetensors + config.json); CheckpointError otherwise."""
    from recon3r.models.checkpoint import load_model

    return load_model(path, device=device, expect="Depth3DModel")


def _as_batch(value: Tensor | np.ndarray | float | None, batch: int, name: str) -> Tensor | None:
    if value is None:
        return None
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value, dtype=torch.float64)
    if tensor.ndim == 0:
        tensor = tensor.expand(batch)
    if tensor.shape != (batch,):
        raise ValueError(f"{name} must be a scalar or shape ({batch},), got {tuple(tensor.shape)}")
    return tensor


@torch.no_grad()
def recover_shift_and_focal(
    depth: Tensor | np.ndarray,
    focal_guess: float | Tensor | np.ndarray | None = None,
    model: Depth3DModel | None = None,
    *,
    valid: Tensor | np.ndarray | None = None,
    principal_point: Tensor | np.ndarray | None = None,
    seed: int = 0,
) -> Recovery:
    """Correct the shift and focal of depth maps known only up to scale and shift.

    Args:
        depth: (H, W) or (B, H, W) depth (z, not disparity), any unit; pixels ≤ 0 are invalid.
            NaN or infinite values raise ValueError.
        focal_guess: pixels, scalar or (B,); None guesses the model's field of view
            (`model.focal_guess_fov`, 60° for the shipped model) across the image width.
        model: a `Depth3DModel`; None uses the shipped one.
        valid: optional (H, W) / (B, H, W) bool mask of usable pixels (combined with depth > 0).
        principal_point: (2,) or (B, 2) (cx, cy) pixels; None = ((W-1)/2, (H-1)/2).
        seed: seed of the random pixel sample (results are deterministic for a given seed).
    """
    depth_t = torch.as_tensor(depth)
    unbatched = depth_t.ndim == 2
    if unbatched:
        depth_t = depth_t[None]
    if depth_t.ndim != 3 or min(depth_t.shape[1:]) < 2:
        raise ValueError(f"depth must be (H, W) or (B, H, W) with H, W >= 2, got shape {tuple(torch.as_tensor(depth).shape)}")
    if not depth_t.is_floating_point():
        depth_t = depth_t.to(torch.float32)
    if not torch.isfinite(depth_t).all():
        raise ValueError("depth contains NaN or infinite values; mark missing pixels with 0 instead")
    batch, height, width = depth_t.shape
    mask = depth_t > 0
    if valid is not None:
        valid_t = torch.as_tensor(valid, device=depth_t.device).to(torch.bool)
        valid_t = valid_t[None] if valid_t.ndim == 2 else valid_t
        if valid_t.shape != depth_t.shape:
            raise ValueError(f"valid must match depth's shape {tuple(depth_t.shape)}, got {tuple(valid_t.shape)}")
        mask &= valid_t
    counts = mask.flatten(1).sum(1)
    if (counts < MIN_VALID_PIXELS).any():
        raise ValueError(f"each depth map needs at least {MIN_VALID_PIXELS} pixels with depth > 0; "
                         f"got {counts.tolist()}")
    model = model if model is not None else load_default_model()
    param = next(model.parameters())

    if principal_point is None:
        centre = image_center(height, width, pixel_centers=True, dtype=torch.float64).expand(batch, 2)
    else:
        centre = torch.as_tensor(np.asarray(principal_point) if not isinstance(principal_point, Tensor)
                                 else principal_point, dtype=torch.float64)
        centre = centre.expand(batch, 2) if centre.shape == (2,) else centre
        if centre.shape != (batch, 2):
            raise ValueError(f"principal_point must be (2,) or ({batch}, 2), got {tuple(centre.shape)}")
    guess = _as_batch(focal_guess, batch, "focal_guess")
    if guess is None:
        guess = focal_from_fov(width, model.focal_guess_fov).expand(batch)
    if not (guess > 0).all():
        raise ValueError(f"focal_guess must be positive, got {guess.tolist()}")

    depth64 = depth_t.detach().to("cpu", torch.float64)
    mask_cpu = mask.cpu()
    medians = torch.stack([depth64[b][mask_cpu[b]].median() for b in range(batch)])
    normalised = depth64 / medians[:, None, None]
    guess_k = intrinsics_from_focal(guess, height, width, centre)
    generator = np.random.default_rng(seed)
    pixels_t = torch.as_tensor(np.stack([
        select_pixels(normalised[b].numpy(), mask_cpu[b].numpy(), guess_k[b].numpy(), model.num_points, generator,
                      model.voxel_size) for b in range(batch)]), dtype=torch.float64)
    rows, cols = pixels_t[..., 1].long(), pixels_t[..., 0].long()
    sampled = torch.stack([depth64[b, rows[b], cols[b]] for b in range(batch)])  # (B, N), the input's unit

    def run(net, d: Tensor, focal: Tensor) -> Tensor:
        k = intrinsics_from_focal(focal, height, width, centre)
        points = cloud_features(unproject_pixels(pixels_t, d, k), pixels_t, centre, (height, width),
                                model.input_channels)
        return net(points.to(param.device, param.dtype)).to("cpu", torch.float64)

    # Rounds of shift-then-focal recovery (`model.refine_iterations`): each round renormalises the
    # current corrected depth to median 1, predicts the shift still missing with the current focal,
    # then the focal factor still missing on the shift-corrected cloud.
    shift = torch.zeros(batch, dtype=torch.float64)
    focal = guess.clone()
    log_scale = None
    for _ in range(model.refine_iterations):
        median = medians + shift  # the median of the current corrected depth (a shift keeps the order)
        current = (sampled + shift[:, None]) / median[:, None]
        step = run(model.predict_shift, current, focal)
        shift = shift + step * median
        corrected = (current + step[:, None]).clamp_min(1e-3)
        if model.predict_scale:
            log_scale = run(model.predict_log_scale, corrected, focal)
        focal = focal * run(model.predict_log_focal_scale, corrected, focal).exp()
    relative_shift = shift / medians
    focal_scale = focal / guess

    corrected, focal = apply_correction(depth64, guess, shift, focal_scale)
    out_valid = mask_cpu & (corrected > 0)
    corrected = torch.where(out_valid, corrected, torch.zeros_like(corrected))
    points = depth_to_points(corrected, intrinsics_from_focal(focal, height, width, centre)) * out_valid[..., None]
    metric = None
    if log_scale is not None:  # the predicted median depth in metres, of the corrected depth
        metric = log_scale.exp()

    dtype, device = depth_t.dtype, depth_t.device
    fields = dict(depth=corrected, focal=focal, shift=shift, relative_shift=relative_shift, focal_scale=focal_scale,
                  focal_guess=guess, points=points, valid=out_valid, median_depth_m=metric)
    fields = {k: None if v is None else v.to(device) if v.dtype == torch.bool else v.to(device, dtype)
              for k, v in fields.items()}
    if unbatched:
        fields = {k: None if v is None else v[0] for k, v in fields.items()}
    return Recovery(**fields)
