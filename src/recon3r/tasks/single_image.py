"""The single-image task (OpenLRM's `ModelLRM`): one image of an object in, its triplane rendered from other views.

Samples are K ≥ 2 views of one object with `object_mask` (`RenderedObjects`, or `Procedural(kind='orbit')`);
view 0 is the source. The world must be object-centred, the object inside the renderer's [-1, 1]³ box
(RenderedObjects: a unit bounding box at the origin). The collator builds what `ModelLRM.forward` takes,
as OpenLRM's training (`ObjaverseDataset` and `LRMTrainer`) does:

1. source image: view 0 recomposited with its object mask on white (`source_background`), resized to
   the model's source size (bicubic, align_corners=True, clamped: OpenLRM's and `recon3r single-image`'s
   resize), RGB in [0, 1];
2. cameras: every pose moved by the one rigid motion that puts the source on OpenLRM's canonical pose
   (`recon3r.lrm.cameras.normalize_to_source`, keeping its distance to the origin: OpenLRM's 'auto'),
   then written as OpenLRM's camera vectors (OpenGL axes; intrinsics normalised by the image size,
   principal point (c + 0.5) / size since recon3r's pixel centres sit at integer coordinates);
3. render targets: every view, the source included (OpenLRM supervises it too), each recomposited with
   its object mask on its own grey drawn from `backgrounds` (OpenLRM: 0, 0.5 or 1), resized to a full
   side S_r drawn once per item in [render_low, render_high], and cropped to a random R × R region
   (`render_anchors`). The targets are resized with align_corners=False and antialiasing, which matches
   the renderer's pixel centres ((j + 0.5) / S_r) exactly; OpenLRM resizes them as its source image.
   Masks go the same way and stay soft (in [0, 1]).

All random choices come from the item's `rng_seed`, so a batch is a function of (dataset seed, epoch,
item) and a resumed or distributed run sees the same batches. The renderer's own sampling noise comes
from torch's generator (saved in training checkpoints).

Loss (`NovelViewLoss`): OpenLRM's pixel MSE, an MSE between the accumulated opacity and the object
mask, and OpenLRM's total variation on the triplane (weight 5e-4). No LPIPS: OpenLRM's perceptual term
uses the `lpips` package, whose VGG / AlexNet backbones come from torchvision's weight download; no
well-kept package ships LPIPS weights for offline use, so recon3r leaves the term out.
Held-out metrics: PSNR and mask IoU (opacity > 0.5 against mask > 0.5) over the novel views, and the
PSNR of the source view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon3r.data.sample import Sample
from recon3r.errors import ConfigError
from recon3r.tasks.base import Task

#: OpenLRM's render-region side and the largest training render side of its small model.
OPENLRM_REGION = 64


# ------------------------------------------------------------------------------------------ metrics
def psnr(prediction: Tensor, target: Tensor, max_value: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio (dB) of images (..., C, H, W) in [0, max_value]: one value per image (...).

    A perfect match is capped at 100 dB instead of +inf."""
    mse = (prediction - target).pow(2).flatten(-3).mean(-1)
    return 10 * torch.log10(max_value ** 2 / mse.clamp_min(1e-10))


def mask_iou(prediction: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """Intersection over union of soft masks (..., 1, H, W) thresholded at `threshold`: one value per mask (...).

    Two empty masks agree fully (IoU 1)."""
    a, b = (prediction > threshold).flatten(-3), (target > threshold).flatten(-3)
    union = (a | b).sum(-1)
    intersection = (a & b).sum(-1)
    return torch.where(union > 0, intersection / union.clamp_min(1), torch.ones_like(union, dtype=torch.float32))


# --------------------------------------------------------------------------------------------- loss
def triplane_total_variation(planes: Tensor) -> Tensor:
    """OpenLRM's TV of planes (N, 3, C, H, W): mean squared difference of rows plus that of columns."""
    rows = planes[..., 1:, :] - planes[..., :-1, :]
    cols = planes[..., :, 1:] - planes[..., :, :-1]
    return rows.pow(2).mean() + cols.pow(2).mean()


class NovelViewLoss(nn.Module):
    """rgb_weight · MSE(rendered RGB, target) + mask_weight · MSE(opacity, mask) + tv_weight · TV(triplane).

    The MSEs average over pixels, views and items (OpenLRM's `PixelLoss`: every crop has the same
    size). OpenLRM's defaults: pixel 1, TV 5e-4 (and LPIPS 1, not available here; see the module).
    """

    def __init__(self, rgb_weight: float = 1.0, mask_weight: float = 1.0, tv_weight: float = 5e-4):
        super().__init__()
        for name, value in (("rgb_weight", rgb_weight), ("mask_weight", mask_weight), ("tv_weight", tv_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"NovelViewLoss {name} must be a number >= 0, got {value!r}")
        self.rgb_weight, self.mask_weight, self.tv_weight = float(rgb_weight), float(mask_weight), float(tv_weight)

    def forward(self, batch: Mapping[str, Any], predictions: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        rgb = (predictions["images_rgb"] - batch["target_rgb"]).pow(2).mean()
        mask = (predictions["images_weight"] - batch["target_mask"]).pow(2).mean()
        tv = triplane_total_variation(predictions["planes"])
        loss = self.rgb_weight * rgb + self.mask_weight * mask + self.tv_weight * tv
        return loss, {"rgb_loss": float(rgb.detach()), "mask_loss": float(mask.detach()), "tv_loss": float(tv.detach())}

    def __repr__(self) -> str:
        return (f"NovelViewLoss(rgb_weight={self.rgb_weight!r}, mask_weight={self.mask_weight!r}, "
                f"tv_weight={self.tv_weight!r})")


# ------------------------------------------------------------------------------------------ batches
def composite(image: Tensor, mask: Tensor, background: float) -> Tensor:
    """RGB (3, H, W) in [0, 1] with the object mask (H, W) kept and the rest set to grey `background`."""
    keep = mask.to(image.dtype)[None]
    return image * keep + background * (1 - keep)


class SingleImageTask(Task):
    """OpenLRM-style training of a `ModelLRM` on rendered objects (see the module docstring).

    Args (None: from the model in `configure`, see `recon3r.lrm.cameras.inference_sizes`):
        source_size: side of the model's input image (the model's: 224 / 336 / 448 for OpenLRM's sizes).
        render_region: side R of each rendered crop (default min(64, the model's render size): OpenLRM's 64).
        render_low, render_high: range of the full render side S_r (default R and max(R, render size):
            OpenLRM's small model trains on 64 to 192).
        backgrounds: greys the targets are composited on, one drawn per view.
        source_background: grey behind the source image (white, as at inference).
        supervise_source: also render the source view (OpenLRM does).
    """

    name = "single_image"
    min_views = 2
    default_criterion = "NovelViewLoss()"
    commands = ("single-image",)

    def __init__(self, source_size: int | None = None, render_region: int | None = None, render_low: int | None = None,
                 render_high: int | None = None, backgrounds: Sequence[float] = (0.0, 0.5, 1.0),
                 source_background: float = 1.0, supervise_source: bool = True):
        if not backgrounds or not all(0 <= float(b) <= 1 for b in backgrounds):
            raise ConfigError(f"backgrounds must be greys in [0, 1], got {backgrounds!r}")
        self.requested = (source_size, render_region, render_low, render_high)
        self.backgrounds = tuple(float(b) for b in backgrounds)
        self.source_background = float(source_background)
        self.supervise_source = bool(supervise_source)
        self.patch_size = 1
        self._set_sizes(224, 192)

    def _set_sizes(self, source_default: int, render_default: int) -> None:
        source_size, region, low, high = self.requested
        self.source_size = int(source_size or source_default)
        self.render_region = int(region or min(OPENLRM_REGION, render_default))
        self.render_low = int(low or self.render_region)
        self.render_high = int(high or max(self.render_region, render_default))
        if not 1 <= self.render_region <= self.render_low <= self.render_high:
            raise ConfigError(f"need 1 <= render_region ({self.render_region}) <= render_low ({self.render_low}) "
                              f"<= render_high ({self.render_high})")
        if self.source_size % self.patch_size:
            raise ConfigError(f"the source size {self.source_size} is not a multiple of the encoder's patch "
                              f"{self.patch_size}")

    def configure(self, model: nn.Module) -> None:
        from recon3r.lrm.cameras import inference_sizes

        self.patch_size = int(getattr(model, "patch_size", 1))
        self._set_sizes(*inference_sizes(model))

    def check_sample(self, sample: Sample, source: str = "dataset") -> None:
        super().check_sample(sample, source)
        if bool(np.asarray(sample[0]["object_mask"]).all()):
            raise ConfigError(f"{source}: the source view's object_mask covers the whole image; the single-image task "
                              "needs object masks (RenderedObjects(ROOT=...), or Procedural(kind='orbit'))")

    # -- batches ---------------------------------------------------------------------------------
    def collate(self, samples: list[Sample]) -> dict[str, Any]:
        """Samples of K views each → `ModelLRM.forward`'s inputs plus targets (M = K, or K − 1 without the source).

        Returns `image` (N, 3, S, S), `source_camera` (N, 16), `render_cameras` (N, M, 25),
        `render_anchors` (N, M, 2) (row, col), `render_resolutions` and `render_bg_colors` (N, M, 1),
        `render_region_size` R (int), `target_rgb` (N, M, 3, R, R) in [0, 1], `target_mask`
        (N, M, 1, R, R) in [0, 1] and `novel` (N, M) bool (False for the source view).
        """
        counts = {len(sample) for sample in samples}
        if len(counts) != 1:
            raise ConfigError(f"a single-image batch needs the same number of views per sample, got {sorted(counts)}: "
                              "set num_views on every dataset of the mix")
        items = [self.collate_one(sample) for sample in samples]
        batch = {key: torch.stack([item[key] for item in items]) for key in items[0]}
        batch["render_region_size"] = self.render_region
        return batch

    def collate_one(self, sample: Sample) -> dict[str, Tensor]:
        """One sample → the per-item tensors of `collate` (without the batch dimension)."""
        from recon3r.geometry.cameras import intrinsics_to_unit_image, opencv_opengl_pose
        from recon3r.lrm.cameras import normalize_to_source
        from recon3r.models.lrm import render_camera_vector, source_camera_vector

        rng = np.random.default_rng([int(sample[0]["rng_seed"]), int(sample[0]["idx"][0]), 0x1A4])
        images = [(torch.as_tensor(view["img"], dtype=torch.float32) + 1) / 2 for view in sample]
        masks = [torch.as_tensor(np.asarray(view["object_mask"], dtype=bool)) for view in sample]
        poses = normalize_to_source(torch.as_tensor(np.stack([view["camera_pose"] for view in sample]),
                                                    dtype=torch.float64))
        intrinsics = torch.stack([intrinsics_to_unit_image(torch.as_tensor(view["camera_intrinsics"], dtype=torch.float64),
                                                           *image.shape[-2:]) for view, image in zip(sample, images)])
        poses_gl = opencv_opengl_pose(poses)

        source = composite(images[0], masks[0], self.source_background)[None]
        source = F.interpolate(source, size=(self.source_size, self.source_size), mode="bicubic", align_corners=True)
        views = list(range(len(sample))) if self.supervise_source else list(range(1, len(sample)))
        side = int(rng.integers(self.render_low, self.render_high + 1))
        region = self.render_region
        anchors = rng.integers(0, side - region + 1, size=(len(views), 2))
        greys = rng.choice(self.backgrounds, size=len(views))
        targets, target_masks = [], []
        for v, (row, col), grey in zip(views, anchors, greys):
            full = torch.cat((composite(images[v], masks[v], float(grey)), masks[v][None].float()))[None]
            full = F.interpolate(full, size=(side, side), mode="bicubic", align_corners=False, antialias=True)
            crop = full[0, :, row:row + region, col:col + region].clamp(0, 1)
            targets.append(crop[:3])
            target_masks.append(crop[3:])
        return {
            "image": source[0].clamp(0, 1),
            "source_camera": source_camera_vector(poses_gl[0], intrinsics[0]).float(),
            "render_cameras": render_camera_vector(poses_gl[views], intrinsics[views]).float(),
            "render_anchors": torch.as_tensor(anchors, dtype=torch.float32),
            "render_resolutions": torch.full((len(views), 1), float(side)),
            "render_bg_colors": torch.as_tensor(greys, dtype=torch.float32)[:, None],
            "target_rgb": torch.stack(targets),
            "target_mask": torch.stack(target_masks),
            "novel": torch.tensor([v != 0 for v in views]),
        }

    # -- model, loss, metrics ----------------------------------------------------------------------
    def forward(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        return model(image=batch["image"], source_camera=batch["source_camera"], render_cameras=batch["render_cameras"],
                     render_anchors=batch["render_anchors"], render_resolutions=batch["render_resolutions"],
                     render_bg_colors=batch["render_bg_colors"], render_region_size=int(batch["render_region_size"]))

    def criteria(self) -> Mapping[str, Any]:
        return {"NovelViewLoss": NovelViewLoss}

    @torch.no_grad()
    def metrics(self, batch: Mapping[str, Any], predictions: Mapping[str, Tensor]) -> dict[str, float]:
        """`psnr` and `mask_iou` averaged over the novel views; `psnr_source` over the source views (if rendered)."""
        novel = batch["novel"]
        view_psnr = psnr(predictions["images_rgb"].clamp(0, 1), batch["target_rgb"])
        view_iou = mask_iou(predictions["images_weight"], batch["target_mask"])
        out = {}
        if bool(novel.any()):
            out["psnr"] = float(view_psnr[novel].mean())
            out["mask_iou"] = float(view_iou[novel].mean())
        if bool((~novel).any()):
            out["psnr_source"] = float(view_psnr[~novel].mean())
        return {k: v for k, v in out.items() if math.isfinite(v)}
