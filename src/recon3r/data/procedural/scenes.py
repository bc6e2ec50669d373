"""Random scene layouts: a furnished room, an outdoor yard, a hero object for orbits, or the hero alone.

World frame: z up, metres; the floor or ground is z = 0. Every surface carries a procedural texture
so that views can be matched, and objects get distinct `group` ids for foreground masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recon3r.data.procedural.photo_textures import Backdrop
from recon3r.data.procedural.primitives import Primitive
from recon3r.data.procedural.textures import Material, random_material

LAYOUTS = ("room", "yard", "studio", "isolated")
# A material factory: (rng, object size in metres) → a material (`textures.random_material` by default).
MaterialFactory = Callable[[np.random.Generator, float], Any]


@dataclass
class Light:
    """A sun (`vector` = unit direction towards it) or a point light (`vector` = position)."""

    kind: str
    vector: np.ndarray
    color: np.ndarray  # linear RGB intensity
    falloff: float = 1.0  # point lights: distance at which intensity halves


@dataclass
class Sky:
    """A vertical colour gradient with fBm clouds, seen where rays escape (invalid depth)."""

    horizon: np.ndarray
    zenith: np.ndarray
    cloud_color: np.ndarray
    cloudiness: float
    seed: int


@dataclass
class Realism:
    """Costlier shading for sim-to-real scenes: soft shadows from lights of a finite size, and highlights.

    `shadow_samples` shadow rays per light and pixel spread over the light (the sun's angular
    radius `sun_radius` in radians, a lamp's radius `lamp_radius` in metres); the spread is rotated
    per surface point by a hash of its position, so every view sees the same penumbra.
    """

    shadow_samples: int = 3
    sun_radius: float = 0.03
    lamp_radius: float = 0.15
    specular: bool = True


@dataclass
class SceneSpec:
    """Everything needed to render a scene; `objects` lists (center, radius, group) of things to look at."""

    layout: str
    primitives: list[Primitive]
    lights: list[Light]
    ambient: np.ndarray
    sky: Sky | Backdrop | None  # what rays that escape see: a sky, a far backdrop, or black
    exposure_key: float  # target mean luminance before tone mapping
    free_lo: np.ndarray  # (3,) camera positions are drawn inside [free_lo, free_hi]
    free_hi: np.ndarray
    objects: list[tuple[np.ndarray, float, int]] = field(default_factory=list)
    hero: tuple[np.ndarray, float] | None = None  # (center, radius) of the orbit subject, if any
    realism: Realism | None = None  # soft shadows and highlights (None: the plain shading)

    def is_free(self, point: np.ndarray, margin: float = 0.25) -> bool:
        """Whether a camera may stand at `point`: inside the free box and clear of every object."""
        if np.any(point < self.free_lo) or np.any(point > self.free_hi):
            return False
        return all(np.linalg.norm(point - c) > r + margin for c, r, _ in self.objects)


def make_scene(rng: np.random.Generator, layout: str, hero_object: bool = False,
               materials: MaterialFactory = random_material) -> SceneSpec:
    """A random scene of the given layout; `hero_object` puts an orbit subject at the origin.

    With a hero, other objects keep clear of the ring the orbit cameras fly on (rooms grow to fit it).
    `materials` makes every surface's material (photo textures for sim-to-real scenes). The
    `studio` layout is an object-centric capture: a hero object (always) on an optional support,
    before a plain backdrop (`Sky` is None; the generator sets one).
    The "isolated" layout is the hero alone, lit by a sun, with nothing behind it (no floor, no sky):
    every ray that misses it has no depth, as in an object-centric depth map.
    """
    if layout == "room":
        return _room(rng, hero_object, materials)
    if layout == "yard":
        return _yard(rng, hero_object, materials)
    if layout == "studio":
        return _studio(rng, materials)
    if layout == "isolated":
        return _isolated(rng, materials)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def _room(rng: np.random.Generator, hero_object: bool, materials: MaterialFactory) -> SceneSpec:
    prims: list[Primitive] = []
    objects: list[tuple[np.ndarray, float, int]] = []
    hero = _add_hero(rng, prims, objects, materials) if hero_object else None
    keep_out = (hero[1] * 3.2 + 0.6) if hero is not None else 0.0
    half_x, half_y = rng.uniform(2.0, 4.5), rng.uniform(2.0, 4.5)
    half_x, half_y = max(half_x, keep_out + 1.2), max(half_y, keep_out + 1.2)
    height = rng.uniform(2.4, 3.6)
    wall = materials(rng, 2.0)
    walls = [wall, wall, wall, wall] if rng.uniform() < 0.5 else [materials(rng, 2.0) for _ in range(4)]
    faces = walls + [materials(rng, 1.5), materials(rng, 3.0)]  # -x +x -y +y floor ceiling
    prims.insert(0, Primitive("room", np.array([0.0, 0.0, height / 2]), np.array([half_x, half_y, height / 2]), faces))
    _scatter_objects(rng, prims, objects, count=int(rng.integers(4, 10)), lo=(-half_x + 0.3, -half_y + 0.3),
                     hi=(half_x - 0.3, half_y - 0.3), size=(0.15, 0.7), keep_out=keep_out, materials=materials)
    _add_wall_panels(rng, prims, half_x, half_y, height, materials)
    lights = []
    for _ in range(int(rng.integers(1, 3))):
        pos = np.array([rng.uniform(-half_x, half_x) * 0.7, rng.uniform(-half_y, half_y) * 0.7, height - 0.3])
        lights.append(Light("point", pos, _warm_white(rng) * rng.uniform(1.5, 3.0), falloff=rng.uniform(2.0, 5.0)))
    return SceneSpec(
        layout="room", primitives=prims, lights=lights, ambient=_warm_white(rng) * rng.uniform(0.15, 0.35),
        sky=None, exposure_key=float(rng.uniform(0.18, 0.32)),
        free_lo=np.array([-half_x + 0.35, -half_y + 0.35, 0.5]),
        free_hi=np.array([half_x - 0.35, half_y - 0.35, min(2.0, height - 0.3)]),
        objects=objects, hero=hero,
    )


def _yard(rng: np.random.Generator, hero_object: bool, materials: MaterialFactory) -> SceneSpec:
    ground = Primitive("ground", np.zeros(3), np.array([60.0, 60.0, 0.0]), [materials(rng, 4.0)])
    prims = [ground]
    objects: list[tuple[np.ndarray, float, int]] = []
    hero = _add_hero(rng, prims, objects, materials) if hero_object else None
    keep_out = (hero[1] * 3.2 + 1.0) if hero is not None else 1.5
    _scatter_objects(rng, prims, objects, count=int(rng.integers(6, 14)), lo=(-12.0, -12.0), hi=(12.0, 12.0),
                     size=(0.3, 2.0), keep_out=keep_out, materials=materials)
    if rng.uniform() < 0.6:  # distant buildings around the yard
        for k in range(int(rng.integers(5, 12))):
            angle = 2 * np.pi * (k + rng.uniform(0, 0.6)) / 12
            dist = rng.uniform(18, 28)
            half = np.array([rng.uniform(1.5, 5), rng.uniform(1.5, 5), rng.uniform(2, 8)])
            center = np.array([dist * np.cos(angle), dist * np.sin(angle), half[2]])
            prims.append(Primitive("box", center, half, [materials(rng, 4.0)], yaw=rng.uniform(0, np.pi)))
    elevation = np.radians(rng.uniform(20, 70))
    azimuth = rng.uniform(0, 2 * np.pi)
    sun_dir = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    zenith = np.array([0.15, 0.3, 0.8]) * rng.uniform(0.6, 1.2)
    horizon = np.array([0.7, 0.8, 0.95]) * rng.uniform(0.7, 1.1)
    sky = Sky(horizon=horizon, zenith=zenith, cloud_color=np.array([0.95, 0.95, 0.97]),
              cloudiness=float(rng.uniform(0.1, 0.6)), seed=int(rng.integers(0, 2**31)))
    return SceneSpec(
        layout="yard", primitives=prims, lights=[Light("sun", sun_dir, _warm_white(rng) * rng.uniform(1.5, 2.5))],
        ambient=(zenith * 0.5 + 0.15) * rng.uniform(0.4, 0.8), sky=sky, exposure_key=float(rng.uniform(0.2, 0.35)),
        free_lo=np.array([-10.0, -10.0, 0.5]), free_hi=np.array([10.0, 10.0, 2.5]),
        objects=objects, hero=hero,
    )


def _isolated(rng: np.random.Generator, materials: MaterialFactory) -> SceneSpec:
    """The hero object alone, lit by a sun, with nothing behind it (no floor, no sky)."""
    prims: list[Primitive] = []
    objects: list[tuple[np.ndarray, float, int]] = []
    hero = _add_hero(rng, prims, objects, materials)
    elevation, azimuth = np.radians(rng.uniform(25, 75)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return SceneSpec(
        layout="isolated", primitives=prims, lights=[Light("sun", sun, _warm_white(rng) * rng.uniform(1.5, 2.5))],
        ambient=_warm_white(rng) * rng.uniform(0.25, 0.45), sky=None, exposure_key=float(rng.uniform(0.2, 0.35)),
        free_lo=np.full(3, -50.0), free_hi=np.full(3, 50.0), objects=objects, hero=hero,
    )


def _studio(rng: np.random.Generator, materials: MaterialFactory) -> SceneSpec:
    """One hero object of 1-4 pieces at the origin, on a support slab (most of the time), nothing else."""
    prims: list[Primitive] = []
    objects: list[tuple[np.ndarray, float, int]] = []
    center, radius = _add_object_hero(rng, prims, objects, materials)
    supported = rng.uniform() < 0.75
    if supported:  # a table top or turntable: a thin slab (box) or disc (cylinder) just below z = 0
        half = radius * rng.uniform(1.6, 4.0)
        kind = "cylinder" if rng.uniform() < 0.5 else "box"
        prims.insert(0, Primitive(kind, np.array([0.0, 0.0, -0.02]), np.array([half, half, 0.02]),
                                  [materials(rng, 2 * half)], yaw=rng.uniform(0, np.pi)))
    lights = []
    for _ in range(int(rng.integers(1, 4))):
        direction = np.array([rng.normal(), rng.normal(), abs(rng.normal()) + 0.3])
        position = center + radius * rng.uniform(3.0, 6.0) * direction / np.linalg.norm(direction)
        lights.append(Light("point", position, _warm_white(rng) * rng.uniform(1.0, 3.0), falloff=radius * rng.uniform(3, 8)))
    reach = radius * 12.0
    return SceneSpec(
        layout="studio", primitives=prims, lights=lights, ambient=_warm_white(rng) * rng.uniform(0.1, 0.35), sky=None,
        exposure_key=float(rng.uniform(0.18, 0.32)),
        free_lo=np.array([-reach, -reach, 0.05 if supported else -reach]), free_hi=np.array([reach, reach, reach]),
        objects=objects, hero=(center, radius),
    )


def _add_object_hero(rng: np.random.Generator, prims: list[Primitive], objects: list, materials: MaterialFactory
                     ) -> tuple[np.ndarray, float]:
    """A hero of 1-4 pieces (group 1) standing on z = 0 at the origin: stacked, or side by side."""
    start = len(prims)
    base_half = rng.uniform(0.15, 0.45)
    kinds = ("box", "cylinder", "sphere")
    top = _stack_piece(rng, prims, kinds[int(rng.integers(3))], base_half, rng.uniform(0.15, 0.5), 0.0, 0.0, 0.0, 1,
                       materials)
    for _ in range(int(rng.integers(0, 4))):
        half = base_half * rng.uniform(0.3, 0.8)
        if rng.uniform() < 0.6:  # on top
            top = _stack_piece(rng, prims, kinds[int(rng.integers(3))], half, rng.uniform(0.08, 0.3),
                               rng.uniform(-0.3, 0.3) * base_half, rng.uniform(-0.3, 0.3) * base_half, top, 1, materials)
        else:  # beside the base, touching it
            angle = rng.uniform(0, 2 * np.pi)
            reach = base_half + half * rng.uniform(0.6, 1.0)
            _stack_piece(rng, prims, kinds[int(rng.integers(3))], half, rng.uniform(0.08, 0.3),
                         reach * np.cos(angle), reach * np.sin(angle), 0.0, 1, materials)
    pieces = prims[start:]
    center = np.array([0.0, 0.0, max(p.center[2] + p.radius for p in pieces) / 2])
    radius = float(max(np.linalg.norm(p.center - center) + p.radius for p in pieces))
    objects.append((center, radius, 1))
    return center, radius


def _add_hero(rng: np.random.Generator, prims: list[Primitive], objects: list, materials: MaterialFactory
              ) -> tuple[np.ndarray, float]:
    """A composite object at the origin (group 1): a base with an optional smaller piece on top."""
    kind = ("box", "cylinder", "sphere")[int(rng.integers(3))]
    base_half = rng.uniform(0.2, 0.5)
    height_half = rng.uniform(0.15, 0.5)
    top = _stack_piece(rng, prims, kind, base_half, height_half, x=0.0, y=0.0, z=0.0, group=1, materials=materials)
    if rng.uniform() < 0.7:
        piece = ("box", "cylinder", "sphere")[int(rng.integers(3))]
        top = _stack_piece(rng, prims, piece, base_half * rng.uniform(0.4, 0.8), rng.uniform(0.1, 0.3),
                           x=rng.uniform(-0.3, 0.3) * base_half, y=rng.uniform(-0.3, 0.3) * base_half, z=top, group=1,
                           materials=materials)
    center = np.array([0.0, 0.0, top / 2])
    radius = float(np.hypot(base_half * np.sqrt(2), top / 2))
    objects.append((center, radius, 1))
    return center, radius


def _stack_piece(rng: np.random.Generator, prims: list[Primitive], kind: str, half: float, height_half: float,
                 x: float, y: float, z: float, group: int, materials: MaterialFactory = random_material) -> float:
    """Add one primitive standing on height z; return the height of its top."""
    material = [materials(rng, 2 * half)]
    if kind == "sphere":
        prims.append(Primitive("sphere", np.array([x, y, z + half]), np.array([half, half, half]), material, group=group))
        return z + 2 * half
    if kind == "cylinder":
        prims.append(Primitive("cylinder", np.array([x, y, z + height_half]), np.array([half, half, height_half]),
                               material, group=group))
        return z + 2 * height_half
    size = np.array([half, half * rng.uniform(0.6, 1.0), height_half])
    prims.append(Primitive("box", np.array([x, y, z + height_half]), size, material, yaw=rng.uniform(0, np.pi),
                           group=group))
    return z + 2 * height_half


def _scatter_objects(rng: np.random.Generator, prims: list[Primitive], objects: list, count: int,
                     lo: tuple[float, float], hi: tuple[float, float], size: tuple[float, float], keep_out: float,
                     materials: MaterialFactory = random_material) -> None:
    """Place up to `count` objects on the floor without overlaps, outside a disc of `keep_out` metres."""
    placed = 0
    for _ in range(count * 20):
        if placed == count:
            break
        half = rng.uniform(*size)
        x, y = rng.uniform(lo[0] + half, hi[0] - half), rng.uniform(lo[1] + half, hi[1] - half)
        if np.hypot(x, y) < keep_out + half * 1.5:
            continue
        footprint = half * 1.5
        if any(np.hypot(x - c[0], y - c[1]) < footprint + r * 0.8 + 0.1 for c, r, _ in objects):
            continue
        group = len(objects) + 2
        kind = ("box", "box", "sphere", "cylinder")[int(rng.integers(4))]
        top = _stack_piece(rng, prims, kind, half, rng.uniform(0.5, 1.2) * half, x, y, 0.0, group, materials)
        if kind == "box" and rng.uniform() < 0.35:  # something standing on the box
            piece = ("box", "sphere", "cylinder")[int(rng.integers(3))]
            top = _stack_piece(rng, prims, piece, half * rng.uniform(0.3, 0.6), half * rng.uniform(0.2, 0.5), x, y,
                               top, group, materials)
        objects.append((np.array([x, y, top / 2]), float(np.hypot(footprint, top / 2)), group))
        placed += 1


def _add_wall_panels(rng: np.random.Generator, prims: list[Primitive], half_x: float, half_y: float, height: float,
                     materials: MaterialFactory = random_material) -> None:
    """Thin textured panels (pictures, doors) on the walls, which add texture and parallax."""
    for _ in range(int(rng.integers(2, 6))):
        wall = int(rng.integers(4))
        w, h = rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.0)
        z = rng.uniform(h + 0.2, max(h + 0.25, height - h - 0.1))
        depth = 0.03
        if wall < 2:
            x = (-1 if wall == 0 else 1) * (half_x - depth)
            center, size = np.array([x, rng.uniform(-half_y + w, half_y - w), z]), np.array([depth, w, h])
        else:
            y = (-1 if wall == 2 else 1) * (half_y - depth)
            center, size = np.array([rng.uniform(-half_x + w, half_x - w), y, z]), np.array([w, depth, h])
        prims.append(Primitive("box", center, size, [materials(rng, w)]))


def _warm_white(rng: np.random.Generator) -> np.ndarray:
    tint = rng.uniform(-0.1, 0.1)
    return np.array([1.0 + tint, 1.0, 1.0 - tint])


def solid_material(color: np.ndarray) -> Material:
    """A nearly flat material (for tests): the palette is the same colour three times."""
    return Material("noise", np.stack([color, color, color]), 1.0, 0.0, 0)

