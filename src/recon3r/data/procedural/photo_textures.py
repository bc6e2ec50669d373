"""Photo textures for procedural surfaces and far backgrounds: random crops, scales, tiling and colour shifts.

A `PhotoMaterial` maps a crop of a real photo onto a primitive by planar projection in the
primitive's local frame (tri-planar blending on curved surfaces), repeated with mirrored tiling so
that tiles meet without seams. Sampling is bilinear on a mip pyramid, with the level chosen from
the pixel's footprint on the surface (trilinear), which keeps single-sample renders free of
aliasing as the solid textures' band limit does. A `Backdrop` is a photo (or a plain colour) at
infinity, seen where rays escape: like the sky, those pixels carry no depth.

Materials hold the photo's path, not its pixels, so scenes stay small to pickle; pixels come from
`texture_library.load_photo`'s per-process cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recon3r.data.procedural.texture_library import TextureFile, load_photo, srgb_to_linear
from recon3r.data.procedural.textures import Material, random_material


@dataclass
class PhotoMaterial:
    """A crop of a photo, tiled over a surface.

    crop: (u0, v0, u1, v1) in [0, 1] image coordinates; tile_m: metres one tile spans; angle:
    rotation of the tiling on the surface (radians); gain: linear RGB multipliers (colour shift);
    saturation: 0 grey … 1 as shot … >1 more colourful; specular / shininess: Blinn-Phong highlight.
    """

    path: str
    texture_id: str
    crop: np.ndarray
    tile_m: float
    angle: float
    offset: np.ndarray
    gain: np.ndarray
    saturation: float = 1.0
    specular: float = 0.0
    shininess: float = 32.0

    def albedo(self, points: np.ndarray, footprint: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """Linear RGB albedo (N, 3) at local surface points (N, 3) with local unit normals (N, 3)."""
        if normals is None:
            normals = np.tile(np.array([0.0, 0.0, 1.0]), (len(points), 1))
        weights = np.abs(normals) ** 4
        weights /= weights.sum(axis=1, keepdims=True)
        color = np.zeros((len(points), 3), dtype=np.float32)
        c, s = np.cos(self.angle), np.sin(self.angle)
        for axis, (a, b) in enumerate(((1, 2), (0, 2), (0, 1))):
            use = weights[:, axis] > 0.02
            if not use.any():
                continue
            u0, v0 = points[use, a], points[use, b]
            u = (c * u0 - s * v0) / self.tile_m + self.offset[0]
            v = (s * u0 + c * v0) / self.tile_m + self.offset[1]
            color[use] += weights[use, axis, None] * self._sample(u, v, footprint[use] / self.tile_m)
        used_weight = (weights * (weights > 0.02)).sum(axis=1, keepdims=True)
        color /= np.maximum(used_weight, 1e-6).astype(np.float32)
        return _grade(color, self.gain, self.saturation)

    def _sample(self, u: np.ndarray, v: np.ndarray, footprint_tiles: np.ndarray) -> np.ndarray:
        """Linear RGB at tile coordinates (u, v) (1 = one tile), mirrored-repeat, trilinear."""
        pyramid = load_photo(self.path)
        height, width = pyramid[0].shape[:2]
        u0, v0, u1, v1 = self.crop
        x = (u0 + _mirror(u) * (u1 - u0)) * (width - 1)
        y = (v0 + (1.0 - _mirror(v)) * (v1 - v0)) * (height - 1)  # v up on the surface → rows down
        texels_per_pixel = footprint_tiles * max((u1 - u0) * width, (v1 - v0) * height)
        return sample_pyramid(pyramid, x, y, np.log2(np.maximum(texels_per_pixel, 1.0)))


@dataclass
class Backdrop:
    """A far background: a photo crop wrapped around the horizon (or a plain `color`), at infinity.

    `repeats` mirrored copies of the crop span 360° of azimuth; `elevation_span` (radians) of
    elevation maps onto the crop's height, centred on `elevation_center`.
    """

    color: np.ndarray  # linear RGB of a plain backdrop, and the tint of a photo one
    path: str | None = None
    texture_id: str | None = None
    crop: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0, 1.0]))
    repeats: int = 4
    elevation_center: float = 0.1
    elevation_span: float = 1.2
    azimuth0: float = 0.0
    saturation: float = 1.0

    def radiance(self, unit_dirs: np.ndarray, pixel_angle: float) -> np.ndarray:
        """Linear RGB (N, 3) seen along unit world directions; `pixel_angle`: radians per pixel."""
        if self.path is None:
            return np.broadcast_to(self.color.astype(np.float32), unit_dirs.shape).copy()
        azimuth = np.arctan2(unit_dirs[:, 1], unit_dirs[:, 0]) - self.azimuth0
        elevation = np.arcsin(np.clip(unit_dirs[:, 2], -1.0, 1.0))
        tiles_per_radian = self.repeats / (2 * np.pi)
        u = azimuth * tiles_per_radian  # an even number of mirrored tiles closes the circle seamlessly
        v = np.clip((elevation - self.elevation_center) / self.elevation_span + 0.5, 0.0, 1.0)
        pyramid = load_photo(self.path)
        height, width = pyramid[0].shape[:2]
        u0, v0, u1, v1 = self.crop
        x = (u0 + _mirror(u) * (u1 - u0)) * (width - 1)
        y = (v0 + (1.0 - v) * (v1 - v0)) * (height - 1)
        texels = pixel_angle * max(tiles_per_radian * (u1 - u0) * width, (v1 - v0) * height / self.elevation_span)
        lod = np.full(len(unit_dirs), np.log2(max(texels, 1.0)))
        return _grade(sample_pyramid(pyramid, x, y, lod), self.color, self.saturation)


def _mirror(t: np.ndarray) -> np.ndarray:
    """Triangle wave in [0, 1] with period 2: mirrored repeat, continuous across tile borders."""
    t = np.mod(t, 2.0)
    return np.where(t > 1.0, 2.0 - t, t)


def _grade(color: np.ndarray, gain: np.ndarray, saturation: float) -> np.ndarray:
    luminance = color @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    color = luminance[:, None] + saturation * (color - luminance[:, None])
    return np.clip(color * gain[None, :].astype(np.float32), 0.0, 1.0).astype(np.float32)


def sample_pyramid(pyramid: tuple[np.ndarray, ...], x: np.ndarray, y: np.ndarray, lod: np.ndarray) -> np.ndarray:
    """Trilinear lookup: bilinear at levels floor(lod) and floor(lod) + 1, blended; linear RGB (N, 3).

    (x, y) are level-0 pixel coordinates (pixel centres at integers), lod ≥ 0 the mip level.
    """
    lod = np.clip(lod, 0.0, len(pyramid) - 1.0)
    low = np.floor(lod).astype(np.int64)
    blend = (lod - low).astype(np.float32)[:, None]
    out = np.zeros((len(x), 3), dtype=np.float32)
    for level in np.unique(low):
        sel = low == level
        here = _bilinear(pyramid[level], x[sel] / 2.0**level, y[sel] / 2.0**level)
        if level + 1 < len(pyramid):
            up = _bilinear(pyramid[level + 1], x[sel] / 2.0 ** (level + 1), y[sel] / 2.0 ** (level + 1))
            here = here * (1.0 - blend[sel]) + up * blend[sel]
        out[sel] = here
    return out


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    x = np.clip(x, 0.0, width - 1.0)
    y = np.clip(y, 0.0, height - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 2 if width > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2 if height > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0).astype(np.float32)[:, None], (y - y0).astype(np.float32)[:, None]
    top = srgb_to_linear(image[y0, x0]) * (1 - fx) + srgb_to_linear(image[y0, x1]) * fx
    bottom = srgb_to_linear(image[y1, x0]) * (1 - fx) + srgb_to_linear(image[y1, x1]) * fx
    return top * (1 - fy) + bottom * fy


def random_crop(rng: np.random.Generator, aspect: float = 1.0) -> np.ndarray:
    """(u0, v0, u1, v1): a random crop covering 15–100% of the photo's width, of roughly `aspect` (w/h)."""
    width = rng.uniform(0.15, 1.0)
    height = float(np.clip(width * aspect * rng.uniform(0.7, 1.4), 0.1, 1.0))
    u0, v0 = rng.uniform(0.0, 1.0 - width), rng.uniform(0.0, 1.0 - height)
    return np.array([u0, v0, u0 + width, v0 + height])


def random_gain(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB multipliers: a brightness change and a colour cast (occasionally a strong one)."""
    brightness = np.exp(rng.normal(0.0, 0.25))
    cast = np.exp(rng.normal(0.0, 0.35 if rng.uniform() < 0.2 else 0.08, size=3))
    return (brightness * cast).astype(np.float32)


@dataclass
class PhotoMaterials:
    """A material factory for `scenes.make_scene`: a photo material with probability `photo_share`,
    else a procedural one. Records which photos it used (`used`, texture ids in order of first use)."""

    library: tuple[TextureFile, ...]
    photo_share: float = 0.85
    used: list[str] = field(default_factory=list)

    def __call__(self, rng: np.random.Generator, scale: float = 1.0) -> PhotoMaterial | Material:
        if not self.library or rng.uniform() >= self.photo_share:
            return random_material(rng, scale)
        texture = self.library[int(rng.integers(len(self.library)))]
        self._note(texture.id)
        shiny = rng.uniform() < 0.35
        return PhotoMaterial(
            path=texture.path, texture_id=texture.id, crop=random_crop(rng),
            tile_m=float(max(scale, 0.2) * rng.uniform(0.4, 2.0)), angle=float(rng.uniform(0, 2 * np.pi)),
            offset=rng.uniform(0, 2, size=2), gain=random_gain(rng), saturation=float(rng.uniform(0.6, 1.3)),
            specular=float(rng.uniform(0.15, 0.6)) if shiny else 0.0, shininess=float(np.exp(rng.uniform(2.5, 5.0))),
        )

    def backdrop(self, rng: np.random.Generator) -> Backdrop:
        """A far background from a random photo: the horizon at a random height in the crop."""
        texture = self.library[int(rng.integers(len(self.library)))]
        self._note(texture.id)
        return Backdrop(color=random_gain(rng) * rng.uniform(0.8, 1.3), path=texture.path, texture_id=texture.id,
                        crop=random_crop(rng, aspect=1.6), repeats=int(rng.choice([2, 4, 6])),
                        elevation_center=float(np.radians(rng.uniform(-5, 25))),
                        elevation_span=float(np.radians(rng.uniform(40, 90))), azimuth0=float(rng.uniform(0, 2 * np.pi)),
                        saturation=float(rng.uniform(0.7, 1.2)))

    def _note(self, texture_id: str) -> None:
        if texture_id not in self.used:
            self.used.append(texture_id)
