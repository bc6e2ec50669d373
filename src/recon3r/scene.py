"""The result of a reconstruction: what global alignment produces and exporters consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageTransform:
    """How a network-resolution image was made from the original file.

    With pixel centres at integer coordinates (OpenCV), a point maps as
    network = (original + 0.5) * scale - 0.5 - crop_offset, for (x, y); so fx' = s·fx and
    cx' = (cx + 0.5)·s - 0.5 - crop_x.
    """

    original_size: tuple[int, int]  # (width, height) of the file after EXIF orientation
    scale: float  # uniform resize factor applied to the original image
    crop_offset: tuple[float, float]  # (x, y) of the crop's top-left corner in the resized image
    network_size: tuple[int, int]  # (width, height) fed to the network

    def intrinsics_to_original(self, intrinsics: np.ndarray) -> np.ndarray:
        """Map (..., 3, 3) intrinsics at network resolution to the original image resolution."""
        out = np.array(intrinsics, dtype=np.float64, copy=True)
        out[..., 0, 2] += self.crop_offset[0] + 0.5
        out[..., 1, 2] += self.crop_offset[1] + 0.5
        out[..., :2, :] /= self.scale
        out[..., 0, 2] -= 0.5
        out[..., 1, 2] -= 0.5
        out[..., 2, :] = (0.0, 0.0, 1.0)
        return out

    def intrinsics_to_network(self, intrinsics: np.ndarray) -> np.ndarray:
        """Map (..., 3, 3) intrinsics at the original resolution to network resolution."""
        out = np.array(intrinsics, dtype=np.float64, copy=True)
        out[..., 0, 2] += 0.5
        out[..., 1, 2] += 0.5
        out[..., :2, :] *= self.scale
        out[..., 0, 2] -= self.crop_offset[0] + 0.5
        out[..., 1, 2] -= self.crop_offset[1] + 0.5
        out[..., 2, :] = (0.0, 0.0, 1.0)
        return out


@dataclass
class Scene:
    """A multi-view reconstruction in one world frame (OpenCV camera axes).

    N images; every per-image array is at network resolution (H_i, W_i), which may differ per image.
    """

    names: list[str]  # image names (file stems or paths), length N
    images: list[np.ndarray]  # (H_i, W_i, 3) float32 RGB in [0, 1]
    world_from_cam: np.ndarray  # (N, 4, 4) float64 cam-to-world poses
    intrinsics: np.ndarray  # (N, 3, 3) float64 at network resolution
    depths: list[np.ndarray]  # (H_i, W_i) float32 z-depth in the scene's unit
    points: list[np.ndarray]  # (H_i, W_i, 3) float32 world-frame points
    confidences: list[np.ndarray]  # (H_i, W_i) float32, >= 1 for DUSt3R-style confidence
    masks: list[np.ndarray]  # (H_i, W_i) bool, points kept for export
    transforms: list[ImageTransform] | None = None  # per-image original→network mapping, when known
    metadata: dict = field(default_factory=dict)  # free-form: model, graph, alignment loss, timings
    sources: list[str] | None = None  # the file each image was read from (as given), when known

    def __len__(self) -> int:
        return len(self.names)

    def intrinsics_original(self) -> np.ndarray:
        """(N, 3, 3) intrinsics at each image's original resolution (requires `transforms`)."""
        if self.transforms is None:
            raise ValueError("this scene has no original-resolution transforms; intrinsics are at network resolution")
        return np.stack([t.intrinsics_to_original(k) for t, k in zip(self.transforms, self.intrinsics)])
