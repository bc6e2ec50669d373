"""Solid (3D) procedural textures: hashed value noise, fBm and a few patterns, band-limited per pixel.

Every texture is a function of a surface point in the primitive's local frame (metres), so no
UV parameterisation is needed and a texture continues seamlessly across the faces of a box.
Each pattern fades its frequencies above the pixel's Nyquist limit to their mean (`footprint`
is the pixel's size on the surface in metres), which keeps 1-sample-per-pixel renders from aliasing
into noise that would make matching between views impossible.

All arithmetic on hashes is uint32 with wrap-around, so results are bit-identical across runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PATTERNS = ("noise", "checker", "stripes", "marble", "tiles", "spots")

_PRIMES = np.array([0x8DA6B343, 0xD8163841, 0xCB1AB31F], dtype=np.uint32)


def hash3(cells: np.ndarray, seed: int) -> np.ndarray:
    """Uniform floats in [0, 1) from integer lattice cells (N, 3) int64 and a seed (N,) float32."""
    with np.errstate(over="ignore"):
        c = cells.astype(np.int64).astype(np.uint32)
        h = (c[:, 0] * _PRIMES[0]) ^ (c[:, 1] * _PRIMES[1]) ^ (c[:, 2] * _PRIMES[2])
        h ^= np.uint32(seed & 0xFFFFFFFF)
        # A murmur-style finaliser decorrelates neighbouring cells.
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x7FEB352D)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x846CA68B)
        h ^= h >> np.uint32(16)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(points: np.ndarray, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1] at points (N, 3), one lattice cell per unit."""
    base = np.floor(points)
    frac = (points - base).astype(np.float32)
    cell = base.astype(np.int64)
    w = frac * frac * (3.0 - 2.0 * frac)  # smoothstep weights
    out = np.zeros(points.shape[0], dtype=np.float32)
    for dx in (0, 1):
        wx = w[:, 0] if dx else 1.0 - w[:, 0]
        for dy in (0, 1):
            wy = w[:, 1] if dy else 1.0 - w[:, 1]
            for dz in (0, 1):
                wz = w[:, 2] if dz else 1.0 - w[:, 2]
                out += wx * wy * wz * hash3(cell + np.array([dx, dy, dz]), seed)
    return out


def band_weight(frequency: float | np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """1 where `frequency` (cycles/m) is well below the pixel Nyquist limit, fading to 0 at it."""
    ratio = np.asarray(frequency, dtype=np.float32) * footprint
    return np.clip((0.5 - ratio) / 0.25, 0.0, 1.0).astype(np.float32)


def fbm(points: np.ndarray, frequency: float, footprint: np.ndarray, seed: int, octaves: int = 5) -> np.ndarray:
    """Fractal sum of value noise in [0, 1]; octaves above the pixel's Nyquist limit fade to 0.5."""
    total = np.zeros(points.shape[0], dtype=np.float32)
    norm = 0.0
    amplitude = 1.0
    for octave in range(octaves):
        f = frequency * 2.0**octave
        weight = band_weight(f, footprint)
        active = weight > 0
        n = np.full(points.shape[0], 0.5, dtype=np.float32)
        if active.any():
            n[active] = 0.5 + weight[active] * (value_noise(points[active] * f, seed + 7919 * octave) - 0.5)
        total += amplitude * n
        norm += amplitude
        amplitude *= 0.5
    return total / norm


@dataclass
class Material:
    """A solid texture: a pattern in [0, 1] mapped through a 3-colour palette, with fine detail noise."""

    pattern: str
    palette: np.ndarray  # (3, 3) linear RGB in [0, 1], low → mid → high pattern value
    frequency: float  # base frequency of the pattern in cycles per metre
    detail: float  # amplitude of the multiplicative detail noise (0..1)
    seed: int
    axis: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))  # stripes / marble direction
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # shifts the texture in space

    def albedo(self, points: np.ndarray, footprint: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """Linear RGB albedo (N, 3) float32 at local surface points (N, 3) metres (solid: `normals` unused)."""
        p = points + self.offset
        value = _pattern(self.pattern, p, self.frequency, footprint, self.seed, self.axis)
        value = np.clip(value, 0.0, 1.0)[:, None]
        low, mid, high = (c[None, :].astype(np.float32) for c in self.palette)
        color = np.where(value < 0.5, low + (mid - low) * (value * 2.0), mid + (high - mid) * (value * 2.0 - 1.0))
        # Fine detail at 4-32x the pattern frequency keeps even flat-looking patterns matchable up close.
        detail = _stretch(fbm(p, self.frequency * 4.0, footprint, self.seed + 101, octaves=4))
        color = color * (1.0 + self.detail * (detail[:, None] - 0.5) * 2.0)
        return np.clip(color, 0.0, 1.0).astype(np.float32)


def _pattern(name: str, p: np.ndarray, freq: float, footprint: np.ndarray, seed: int, axis: np.ndarray) -> np.ndarray:
    if name == "noise":
        return _stretch(fbm(p, freq, footprint, seed))
    if name == "checker":
        cells = np.floor(p * freq).astype(np.int64).sum(axis=1) & 1
        w = band_weight(freq, footprint)
        return 0.5 + w * (cells.astype(np.float32) - 0.5) * 0.9 + 0.25 * (fbm(p, freq * 3, footprint, seed) - 0.5)
    if name == "stripes":
        warp = fbm(p, freq * 0.5, footprint, seed)
        phase = p @ axis * freq + 1.5 * warp
        w = band_weight(freq, footprint)
        return 0.5 + 0.5 * w * np.sin(2 * np.pi * phase).astype(np.float32)
    if name == "marble":
        turbulence = fbm(p, freq, footprint, seed, octaves=6)
        phase = p @ axis * freq * 0.5 + 5.0 * turbulence
        w = band_weight(freq * 2.0, footprint)
        return 0.5 + 0.5 * w * np.sin(2 * np.pi * phase).astype(np.float32)
    if name == "tiles":
        # One random value per 3D cell with dark grout lines: distinctive for matching.
        scaled = p * freq
        cell_value = hash3(np.floor(scaled).astype(np.int64), seed)
        frac = scaled - np.floor(scaled)
        edge = np.minimum(frac, 1.0 - frac).min(axis=1)  # distance to the nearest cell face, in cells
        grout = (edge < 0.04) & (band_weight(freq * 12.0, footprint) > 0.5)
        w = band_weight(freq, footprint)
        value = 0.5 + w * (cell_value - 0.5)
        return np.where(grout, 0.05, value).astype(np.float32)
    if name == "spots":
        n = fbm(p, freq, footprint, seed)
        spots = np.clip((n - 0.52) / 0.06, 0.0, 1.0)
        return (0.15 + 0.7 * spots + 0.3 * (fbm(p, freq * 4, footprint, seed + 1) - 0.5)).astype(np.float32)
    raise ValueError(f"unknown texture pattern {name!r}; expected one of {PATTERNS}")


def _stretch(values: np.ndarray) -> np.ndarray:
    # fBm clusters around 0.5; widen its histogram so palettes show their full range.
    return np.clip(0.5 + (values - 0.5) * 2.5, 0.0, 1.0).astype(np.float32)


def random_palette(rng: np.random.Generator) -> np.ndarray:
    """Three linear-RGB colours with clear contrast between the first and the last."""
    hue = rng.uniform(0, 1)
    spread = rng.uniform(0.05, 0.5)
    hues = (hue + spread * np.array([0.0, 0.5, 1.0])) % 1.0
    sat = rng.uniform(0.15, 0.9, size=3)
    low, high = rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.95)
    values = np.array([low, (low + high) / 2, high])
    if rng.uniform() < 0.5:
        values = values[::-1]
    return np.stack([_hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sat, values)]) ** 2.2  # sRGB → linear


def random_material(rng: np.random.Generator, scale: float = 1.0) -> Material:
    """A random material; `scale` is the object's size in metres, so patterns fit the object."""
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return Material(
        pattern=pattern,
        palette=random_palette(rng),
        frequency=float(rng.uniform(2.0, 6.0) / max(scale, 0.2)),
        detail=float(rng.uniform(0.25, 0.5)),
        seed=int(rng.integers(0, 2**31)),
        axis=axis,
        offset=rng.uniform(-100, 100, size=3),
    )


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])
