"""Analytic primitives and their vectorised ray intersections (world frame, z up, metres).

Rays are `origins` (N, 3) or (3,) and `directions` (N, 3) (not necessarily unit length); every
intersection returns the ray parameter t (N,) with `inf` for a miss, so the hit point is
origin + t·direction. With camera rays whose direction has z = 1 in the camera frame, t is the
z-depth directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recon3r.data.procedural.textures import Material

KINDS = ("box", "room", "sphere", "cylinder", "ground")
EPS = 1e-6


@dataclass
class Primitive:
    """One textured shape.

    - box: oriented box, `size` = half extents (3,), rotated by `yaw` about z;
    - room: the inside of a box (visible from within), `materials` per face: -x, +x, -y, +y, floor, ceiling;
    - sphere: `size[0]` = radius;
    - cylinder: vertical axis, `size[0]` = radius, `size[2]` = half height;
    - ground: the plane z = center[2], limited to |x|, |y| <= size[0] around center.
    `group` tells objects apart (0 = environment) for foreground masks.
    """

    kind: str
    center: np.ndarray
    size: np.ndarray
    materials: list[Material]
    yaw: float = 0.0
    group: int = 0
    rotation: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown primitive kind {self.kind!r}; expected one of {KINDS}")
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        self.rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # local → world

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) → the primitive's local frame (centred, unrotated)."""
        return (points - self.center) @ self.rotation

    @property
    def radius(self) -> float:
        """Radius of a bounding sphere around `center` (inf for the environment)."""
        if self.kind in ("room", "ground"):
            return float("inf")
        if self.kind == "sphere":
            return float(self.size[0])
        if self.kind == "cylinder":
            return float(np.hypot(self.size[0], self.size[2]))
        return float(np.linalg.norm(self.size))

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Ray parameter t (N,) of the first hit in front of the origin (t > EPS), inf on a miss."""
        radius = self.radius
        if not np.isfinite(radius):
            with np.errstate(divide="ignore", invalid="ignore"):
                return _INTERSECT[self.kind](self, origins, directions)
        # Cheap bounding-sphere test first: most rays miss most objects.
        to_center = self.center - origins
        dd = np.einsum("ij,ij->i", directions, directions)
        along = np.einsum("...i,...i->...", to_center, directions) if to_center.ndim > 1 else directions @ to_center
        dist2 = np.einsum("...i,...i->...", to_center, to_center)
        close = (dist2 - along * along / dd <= radius * radius * 1.0001) & ((along > 0) | (dist2 <= radius * radius))
        t = np.full(directions.shape[0], np.inf)
        if close.any():
            o = origins[close] if origins.ndim > 1 else origins
            with np.errstate(divide="ignore", invalid="ignore"):
                t[close] = _INTERSECT[self.kind](self, o, directions[close])
        return t

    def normals(self, points: np.ndarray) -> np.ndarray:
        """Unit world-frame normals (N, 3) at surface points (N, 3), facing the visible side."""
        local = self.to_local(points)
        if self.kind == "sphere":
            n = local
        elif self.kind == "ground":
            n = np.broadcast_to(np.array([0.0, 0.0, 1.0]), local.shape).copy()
        elif self.kind == "cylinder":
            r, h = self.size[0], self.size[2]
            on_cap = np.abs(np.abs(local[:, 2]) - h) < 1e-4 * max(h, 1.0)
            n = np.where(on_cap[:, None], np.stack([0 * local[:, 0], 0 * local[:, 0], np.sign(local[:, 2])], 1),
                         np.stack([local[:, 0] / r, local[:, 1] / r, 0 * local[:, 0]], 1))
        else:
            axis, sign = self.face(points)
            n = np.zeros_like(local)
            n[np.arange(len(local)), axis] = sign
            if self.kind == "room":
                n = -n  # seen from inside
        n = n @ self.rotation.T
        return n / np.linalg.norm(n, axis=1, keepdims=True)

    def face(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For boxes: the axis (N,) int and sign (N,) ±1 of the face each surface point lies on."""
        scaled = self.to_local(points) / self.size
        axis = np.argmax(np.abs(scaled), axis=1)
        sign = np.sign(scaled[np.arange(len(scaled)), axis])
        return axis, np.where(sign == 0, 1.0, sign)

    def material_index(self, points: np.ndarray) -> np.ndarray:
        """Index into `materials` (N,) int for surface points: per face for rooms, else 0."""
        if len(self.materials) == 1:
            return np.zeros(len(points), dtype=np.int64)
        axis, sign = self.face(points)
        return axis * 2 + (sign > 0)  # -x, +x, -y, +y, -z (floor), +z (ceiling)


def _safe_inverse(d: np.ndarray) -> np.ndarray:
    # ±inf for axis-parallel rays; the slab tests then compare infinities, which is what we want.
    with np.errstate(divide="ignore"):
        return 1.0 / d


def _box_slabs(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = (origins - prim.center) @ prim.rotation
    d = directions @ prim.rotation
    inv = _safe_inverse(d)
    t1 = (-prim.size - o) * inv
    t2 = (prim.size - o) * inv
    return np.minimum(t1, t2).max(axis=-1), np.maximum(t1, t2).min(axis=-1)


def _intersect_box(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    near, far = _box_slabs(prim, origins, directions)
    hit = (far >= near) & (near > EPS)
    return np.where(hit, near, np.inf)


def _intersect_room(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    near, far = _box_slabs(prim, origins, directions)
    hit = (far >= near) & (far > EPS) & (near <= EPS)  # the origin is inside the box
    return np.where(hit, far, np.inf)


def _intersect_sphere(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    oc = origins - prim.center
    a = np.einsum("...i,...i->...", directions, directions)
    b = np.einsum("...i,...i->...", oc, directions)
    c = np.einsum("...i,...i->...", oc, oc) - prim.size[0] ** 2
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    t = (-b - root) / a
    return np.where((disc >= 0) & (t > EPS), t, np.inf)


def _intersect_cylinder(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    o = np.broadcast_to(origins - prim.center, directions.shape)
    d = directions
    r, h = prim.size[0], prim.size[2]
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.where(a > 1e-12, a, 1.0)
    z_side = o[:, 2] + t_side * d[:, 2]
    side_ok = (disc >= 0) & (a > 1e-12) & (t_side > EPS) & (np.abs(z_side) <= h)
    t = np.where(side_ok, t_side, np.inf)
    inv_dz = _safe_inverse(d[:, 2])
    for cap in (-h, h):
        t_cap = (cap - o[:, 2]) * inv_dz
        x = o[:, 0] + t_cap * d[:, 0]
        y = o[:, 1] + t_cap * d[:, 1]
        cap_ok = (t_cap > EPS) & (x * x + y * y <= r * r)
        t = np.where(cap_ok & (t_cap < t), t_cap, t)
    return t


def _intersect_ground(prim: Primitive, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    o = np.broadcast_to(origins, directions.shape)
    dz = directions[:, 2]
    t = (prim.center[2] - o[:, 2]) * _safe_inverse(dz)
    x = o[:, 0] + t * directions[:, 0] - prim.center[0]
    y = o[:, 1] + t * directions[:, 1] - prim.center[1]
    ok = (t > EPS) & (dz < 0) & (np.abs(x) <= prim.size[0]) & (np.abs(y) <= prim.size[0])
    return np.where(ok, t, np.inf)


_INTERSECT = {
    "box": _intersect_box,
    "room": _intersect_room,
    "sphere": _intersect_sphere,
    "cylinder": _intersect_cylinder,
    "ground": _intersect_ground,
}
