"""Patch embeddings of the pair model: a strided conv that turns an image into patch tokens.

Both return tokens (B, N, C) in row-major order and their integer (row, col) positions (B, N, 2).
- `PatchEmbedDust3R` embeds the tensor in the layout it is given (any H×W divisible by the patch).
- `ManyAR_PatchEmbed` expects landscape tensors (W ≥ H) and a per-sample `true_shape`
  (height, width): portrait samples, stored transposed by the reference data pipeline, are
  swapped back to their true orientation first, so their tokens and positions follow the real
  image (rows = true height / patch).
`img_size` is kept for the reference's bookkeeping only; it never shapes the token grid.
"""

from __future__ import annotations

import torch
from torch import nn

from recon3r.models.layers.rope import patch_positions


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a (height, width) pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


class PatchEmbedDust3R(nn.Module):
    """Conv patch embedding. `forward(img, true_shape=None)`: img (B, 3, H, W) → (tokens, pos)."""

    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.img_size = _pair(img_size)
        self.patch_size = _pair(patch_size)
        self.embed_dim = embed_dim
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def _check_divisible(self, img: torch.Tensor) -> None:
        H, W = img.shape[-2:]
        ph, pw = self.patch_size
        if H % ph or W % pw:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {ph}x{pw}")

    def _embed(self, img: torch.Tensor) -> torch.Tensor:
        return self.proj(img).flatten(2).transpose(1, 2)

    def forward(self, img: torch.Tensor, true_shape: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_divisible(img)
        B, _, H, W = img.shape
        tokens = self._embed(img)
        pos = patch_positions(B, H // self.patch_size[0], W // self.patch_size[1], img.device)
        return tokens, pos


class ManyAR_PatchEmbed(PatchEmbedDust3R):  # noqa: N801 (official class name)
    """Patch embedding for batches mixing landscape and (transposed) portrait images.

    img (B, 3, H, W) with W ≥ H; true_shape (B, 2) int (height, width) of each real image.
    Portrait samples (width < height) are embedded from `img.transpose(-1, -2)`, with a
    (W/p rows × H/p cols) position grid. Tokens come back in `img`'s dtype.
    """

    def forward(self, img: torch.Tensor, true_shape: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_divisible(img)
        B, _, H, W = img.shape
        if W < H:
            raise ValueError(f"ManyAR_PatchEmbed expects landscape tensors (width >= height), got {H}x{W}")
        if true_shape is None or tuple(true_shape.shape) != (B, 2):
            got = None if true_shape is None else tuple(true_shape.shape)
            raise ValueError(f"ManyAR_PatchEmbed needs true_shape of shape ({B}, 2), got {got}")
        rows, cols = H // self.patch_size[0], W // self.patch_size[1]
        is_portrait = (true_shape[:, 1] < true_shape[:, 0]).cpu()
        n_portrait = int(is_portrait.sum())
        if n_portrait == 0:
            return self._embed(img).to(img.dtype), patch_positions(B, rows, cols, img.device)
        if n_portrait == B:
            tokens = self._embed(img.transpose(-1, -2)).to(img.dtype)
            return tokens, patch_positions(B, cols, rows, img.device)
        # Mixed batch: embed each orientation separately and scatter back in batch order.
        tokens = img.new_empty((B, rows * cols, self.embed_dim))
        pos = torch.empty((B, rows * cols, 2), dtype=torch.int64, device=img.device)
        is_portrait = is_portrait.to(img.device)
        is_landscape = ~is_portrait
        tokens[is_landscape] = self._embed(img[is_landscape]).to(img.dtype)
        tokens[is_portrait] = self._embed(img[is_portrait].transpose(-1, -2)).to(img.dtype)
        pos[is_landscape] = patch_positions(1, rows, cols, img.device)
        pos[is_portrait] = patch_positions(1, cols, rows, img.device)
        return tokens, pos


PATCH_EMBEDS: dict[str, type[PatchEmbedDust3R]] = {
    "PatchEmbedDust3R": PatchEmbedDust3R,
    "ManyAR_PatchEmbed": ManyAR_PatchEmbed,
}


def make_patch_embed(name: str, img_size: int | tuple[int, int], patch_size: int, embed_dim: int) -> PatchEmbedDust3R:
    """Build a patch embedding by its reference class name."""
    if name not in PATCH_EMBEDS:
        raise ValueError(f"patch_embed_cls={name!r} is unknown (known: {', '.join(PATCH_EMBEDS)})")
    return PATCH_EMBEDS[name](img_size, patch_size, 3, embed_dim)
