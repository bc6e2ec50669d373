"""Pinhole cameras for procedural scenes: random intrinsics, look-at poses and camera paths.

Poses are cam-to-world (`world_from_cam`, 4×4) with OpenCV axes (x right, y down, z forward);
the world is z up. Intrinsics have square pixels and the principal point at the image centre,
((W - 1) / 2, (H - 1) / 2), with pixel centres at integer coordinates.

Paths:
- `pairs`: every camera looks at one object from a different direction (≤ 50° apart) and distance;
- `sequence`: a walk-through, the camera moving forward a small step per frame while looking around;
- `orbit`: cameras on a ring around the scene's hero object, looking at it;
- `object`: an object-centric capture: a ring (or a sphere) of views around the hero, framed on
  it, covering up to 360° (so pairs up to 180° apart), some views rolled as in turntable sets;
- `forward`: a forward-facing capture: cameras spread over a small patch of a plane, all facing
  the same way into the scene (as hand-held LLFF captures);
- `indoor`: a walk-through of a room with longer strides and wider turns than `sequence`.
- `isolated`: the hero object alone (no room, ground or sky: depth only on the object), seen from
  orbit cameras at a wider range of distances and heights, each view with its own camera body
  (object-centric single views, e.g. for depth-to-3D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon3r.data.procedural.scenes import SceneSpec

KINDS = ("pairs", "sequence", "orbit", "object", "forward", "indoor", "isolated")
# (width, height) ratios and how often each is drawn: landscape first, then square and portrait.
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (9, 16))
ASPECT_WEIGHTS = (0.3, 0.15, 0.15, 0.12, 0.12, 0.08, 0.08)
# (model name, sensor long side in mm) used to write EXIF-style captions.
SENSORS = (("PX-FF", 36.0), ("PX-APSC", 23.5), ("PX-43", 17.3), ("PX-1IN", 13.2), ("PX-PHONE", 6.17))


@dataclass
class Camera:
    """Intrinsics, pose and the virtual camera body (for captions) of one view."""

    width: int
    height: int
    intrinsics: np.ndarray  # (3, 3) float64, pixels
    world_from_cam: np.ndarray  # (4, 4) float64
    model: str
    sensor_mm: float  # physical length of the sensor's long side


def image_size(size: int, aspect: tuple[int, int]) -> tuple[int, int]:
    """(width, height) for an aspect ratio, as DUSt3R's preprocessing sizes images.

    The short side is round(0.75·size); if the long side then falls below `size`, the long side
    is `size` instead (so 4:3 at 224 → 224×168, 16:9 → 299×168, 1:1 → 224×224).
    """
    aw, ah = aspect
    ratio = max(aw, ah) / min(aw, ah)
    short = round(0.75 * size)
    long = round(short * ratio)
    if long < size:
        long, short = size, round(size / ratio)
    return (long, short) if aw >= ah else (short, long)


def sample_camera_body(rng: np.random.Generator, size: int, fov_range: tuple[float, float]
                       ) -> tuple[int, int, np.ndarray, str, float]:
    """Random (width, height, K, model, sensor_mm): aspect from ASPECTS, horizontal FOV from `fov_range` (deg)."""
    aspect = ASPECTS[int(rng.choice(len(ASPECTS), p=np.array(ASPECT_WEIGHTS) / sum(ASPECT_WEIGHTS)))]
    width, height = image_size(size, aspect)
    fov = np.radians(rng.uniform(*fov_range))
    focal = (width / 2) / np.tan(fov / 2)
    k = np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    model, sensor = SENSORS[int(rng.integers(len(SENSORS)))]
    return width, height, k, model, sensor


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Cam-to-world (4, 4) of a camera at `eye` looking at `target`, z up, rolled by `roll` radians."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
    return pose


def make_cameras(scene: SceneSpec, rng: np.random.Generator, kind: str, views: int, size: int,
                 fov_range: tuple[float, float] = (35.0, 80.0)) -> list[Camera]:
    """`views` cameras along a path of the given kind (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown camera path {kind!r}; expected one of {KINDS}")
    if kind in ("pairs", "isolated"):
        # Pairs come from different cameras: every view draws its own body and focal length.
        bodies = [sample_camera_body(rng, size, fov_range) for _ in range(views)]
        poses = _pairs_path(scene, rng, views) if kind == "pairs" else _orbit_path(scene, rng, views)
    else:
        bodies = [sample_camera_body(rng, size, fov_range)] * views  # one video camera
        if kind == "object":
            poses = _object_path(scene, rng, views, bodies[0])
        elif kind == "forward":
            poses = _forward_path(scene, rng, views)
        elif kind == "orbit":
            poses = _orbit_path(scene, rng, views)
        else:
            poses = _sequence_path(scene, rng, views, stride=2.5 if kind == "indoor" else 1.0)
    return [Camera(w, h, k, pose, model, sensor) for (w, h, k, model, sensor), pose in zip(bodies, poses)]


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    return np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])


def _sees(scene: SceneSpec, eye: np.ndarray, target: np.ndarray, group: int) -> bool:
    """Whether the first surface on the segment eye → target belongs to object `group`."""
    direction = (target - eye)[None, :]
    best_t, best_group = np.inf, -1
    for prim in scene.primitives:
        t = float(prim.intersect(eye, direction)[0])
        if t < best_t:
            best_t, best_group = t, prim.group
    return best_group == group


def _roll(rng: np.random.Generator, degrees: float) -> float:
    return float(np.radians(np.clip(rng.normal(0.0, degrees), -3 * degrees, 3 * degrees)))


def _pairs_path(scene: SceneSpec, rng: np.random.Generator, views: int) -> list[np.ndarray]:
    for attempt in range(200):
        strict = attempt < 150  # late attempts drop the visibility check rather than fail
        center, radius, group = scene.objects[int(rng.integers(len(scene.objects)))]
        target = center + rng.normal(0.0, 0.25 * radius, size=3)
        base_dist = rng.uniform(max(0.8, 1.6 * radius), max(1.6, 1.6 * radius) + 2.5)
        base_dir = _direction(rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(-5, 40)))
        poses: list[np.ndarray] = []
        for _ in range(views * 30):
            if len(poses) == views:
                break
            if poses:  # later views: rotate the first view's direction by up to 50 degrees
                axis = np.cross(base_dir, rng.normal(size=3))
                axis /= np.linalg.norm(axis)
                direction = _rotate(base_dir, axis, np.radians(rng.uniform(0, 50)))
                dist = base_dist * rng.uniform(0.7, 1.3)
            else:
                direction, dist = base_dir, base_dist
            eye = target + dist * direction
            if not scene.is_free(eye) or (strict and not _sees(scene, eye, center, group)):
                if not poses:
                    break  # the first view failed: pick another object
                continue
            aim = target + rng.normal(0.0, 0.08 * dist, size=3)
            poses.append(look_at(eye, aim, _roll(rng, 4.0)))
        if len(poses) == views:
            return poses
    raise RuntimeError("could not place pair cameras in this scene")


def _sequence_path(scene: SceneSpec, rng: np.random.Generator, views: int, stride: float = 1.0) -> list[np.ndarray]:
    step = stride * (rng.uniform(0.08, 0.25) if scene.layout == "room" else rng.uniform(0.2, 0.6))
    for _ in range(200):
        eye = rng.uniform(scene.free_lo, scene.free_hi)
        eye[2] = rng.uniform(max(scene.free_lo[2], 1.0), min(scene.free_hi[2], 1.9))
        if scene.is_free(eye, margin=0.4):
            break
    heading = rng.uniform(0, 2 * np.pi)
    swing, swing_rate, phase = np.radians(rng.uniform(0, 35) * stride**0.5), rng.uniform(0.2, 0.6), rng.uniform(0, 2 * np.pi)
    pitch0, pitch_swing = np.radians(rng.uniform(-20, 5)), np.radians(rng.uniform(0, 8))
    poses = []
    for frame in range(views):
        yaw = heading + swing * np.sin(swing_rate * frame + phase)
        pitch = pitch0 + pitch_swing * np.sin(0.5 * swing_rate * frame)
        poses.append(look_at(eye, eye + _direction(yaw, pitch), _roll(rng, 2.0)))
        heading += np.radians(rng.normal(0.0, 4.0))
        for turn in range(24):  # walk on; turn away from walls and objects, and from a wall right ahead
            direction = np.array([np.cos(heading), np.sin(heading), 0.0])
            candidate = eye + step * direction + np.array([0.0, 0.0, rng.normal(0.0, 0.02)])
            if scene.is_free(candidate, margin=0.4) and scene.is_free(candidate + direction * 0.8, margin=0.1):
                eye = candidate
                break
            heading += np.radians(25.0) * (1 if turn % 2 == 0 else -1) * (turn + 1)
    return poses


def _orbit_path(scene: SceneSpec, rng: np.random.Generator, views: int) -> list[np.ndarray]:
    if scene.hero is None:
        raise ValueError("orbit cameras need a scene made with hero_object=True")
    center, radius = scene.hero
    alone = scene.layout == "isolated"
    dist = radius * (rng.uniform(1.5, 3.0) if alone else rng.uniform(2.2, 3.0))
    elevation0 = rng.uniform(-10, 60) if alone else rng.uniform(10, 40)
    span = 360.0 if rng.uniform() < 0.5 else rng.uniform(120, 300)
    azimuth0 = rng.uniform(0, 360)
    poses = []
    for k in range(views):
        fraction = k / views if span == 360.0 else k / max(views - 1, 1)
        azimuth = np.radians(azimuth0 + span * fraction + rng.uniform(-3, 3))
        elevation = np.radians(elevation0 + rng.uniform(-5, 5))
        eye = center + dist * _direction(azimuth, elevation)
        eye[2] = eye[2] if alone else max(eye[2], 0.3)
        if scene.layout == "room":  # stay below the ceiling
            eye[2] = min(eye[2], scene.free_hi[2])
        aim = center + rng.normal(0.0, 0.05 * radius, size=3)
        poses.append(look_at(eye, aim, _roll(rng, 2.0)))
    return poses


def _object_path(scene: SceneSpec, rng: np.random.Generator, views: int, body: tuple) -> list[np.ndarray]:
    """Views around the hero, framed on it: a ring (70%) or random directions on a sphere cap.

    The distance makes the hero span 45-90% of the shorter image side. Rings cover 360° (half of
    them) or 90-360°; in a third of the scenes each view is rolled by 90°, 180° or 270° with
    probability 0.3 (turntable sets often hold the camera sideways or upside down).
    """
    if scene.hero is None:
        raise ValueError("object cameras need a scene with a hero object")
    center, radius = scene.hero
    width, height, k = body[0], body[1], body[2]
    half_fov = np.arctan(min(width, height) / 2 / k[0, 0])
    low = np.radians(5.0) if scene.free_lo[2] > -1 else np.radians(-20.0)
    on_ring = rng.uniform() < 0.7
    span = 2 * np.pi if rng.uniform() < 0.5 else np.radians(rng.uniform(90, 360))
    azimuth0, elevation0 = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(5, 45))
    rolled = rng.uniform() < 1 / 3
    poses = []
    for k_view in range(views):
        fraction = k_view / views if span == 2 * np.pi else k_view / max(views - 1, 1)
        if on_ring:
            azimuth = azimuth0 + span * fraction + np.radians(rng.uniform(-4, 4))
            elevation = elevation0 + np.radians(rng.uniform(-4, 4))
        else:
            azimuth = azimuth0 + span * fraction + np.radians(rng.uniform(-15, 15))
            elevation = np.radians(rng.uniform(-10, 75))
        elevation = max(elevation, low)
        dist = radius / np.sin(half_fov * rng.uniform(0.45, 0.9))
        if scene.layout != "studio":  # around a hero, rooms and yards keep clear a ring of 3.2 radii
            dist = min(dist, 3.0 * radius)
        for _ in range(20):
            eye = center + dist * _direction(azimuth, elevation)
            if scene.is_free(eye, margin=0.05):
                break
            elevation = min(elevation + np.radians(4), np.radians(80))
            dist = max(dist * 0.95, 1.3 * radius)
        else:  # the last resort: the nearest point of the free box
            eye = np.clip(eye, scene.free_lo, scene.free_hi)
        roll = _roll(rng, 2.0)
        if rolled and rng.uniform() < 0.3:
            roll += np.radians(float(rng.choice([90.0, 180.0, 270.0])))
        aim = center + rng.normal(0.0, 0.1 * radius, size=3)
        poses.append(look_at(eye, aim, roll))
    return poses


def _forward_path(scene: SceneSpec, rng: np.random.Generator, views: int) -> list[np.ndarray]:
    """Cameras on a small patch of a plane facing one object or wall point, with the same orientation
    up to a few degrees (hand-held forward-facing captures)."""
    for attempt in range(200):
        center, radius, group = scene.objects[int(rng.integers(len(scene.objects)))]
        dist = rng.uniform(max(1.0, 2.0 * radius), max(2.0, 2.0 * radius) + 3.0)
        direction = _direction(rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(0, 30)))
        eye0 = center + dist * direction
        if not scene.is_free(eye0, margin=0.4) or (attempt < 150 and not _sees(scene, eye0, center, group)):
            continue
        base = look_at(eye0, center + rng.normal(0.0, 0.2 * radius, size=3), _roll(rng, 3.0))
        spread = dist * rng.uniform(0.04, 0.15)
        poses = []
        for _ in range(views):
            offset = base[:3, 0] * rng.uniform(-1, 1) * spread + base[:3, 1] * rng.uniform(-0.6, 0.6) * spread
            eye = eye0 + offset + base[:3, 2] * rng.normal(0.0, 0.05 * spread)
            if not scene.is_free(eye, margin=0.1):
                eye = eye0
            pose = look_at(eye, eye + base[:3, 2] + rng.normal(0.0, 0.04, size=3), 0.0)
            roll = np.arctan2(base[:3, 0] @ pose[:3, 1], base[:3, 0] @ pose[:3, 0]) + _roll(rng, 1.0)
            poses.append(look_at(eye, eye + pose[:3, 2], roll))
        return poses
    raise RuntimeError("could not place forward-facing cameras in this scene")


def _rotate(vector: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of `vector` about unit `axis`."""
    return (vector * np.cos(angle) + np.cross(axis, vector) * np.sin(angle)
            + axis * np.dot(axis, vector) * (1 - np.cos(angle)))


def exif_caption(camera: Camera, focal_scale: float = 1.0) -> str:
    """An EXIF-as-language caption of the true camera, in `recon3r.text.captions` format, e.g.
    "Make: Procedural, Model: PX-APSC, FocalLength: 18.3 mm, FocalLengthIn35mmFilm: 27, ImageWidth: 224,
    ImageHeight: 168". `focal_scale` perturbs the focal length (caption noise).
    """
    return caption_from_intrinsics(camera.intrinsics, camera.width, camera.height, camera.model, camera.sensor_mm,
                                   focal_scale)


def caption_from_intrinsics(intrinsics: np.ndarray, width: int, height: int, model: str, sensor_mm: float,
                            focal_scale: float = 1.0) -> str:
    """See `exif_caption`; from stored values (K of the stored image, its size, the camera body).

    The sensor's long side spans the image's long side, so FocalLength (mm) = fx · sensor_mm / max(W, H);
    the 35 mm equivalent maps the image diagonal to the full-frame diagonal.
    """
    from recon3r.text.captions import caption_from_intrinsics as format_intrinsics

    sensor_width = sensor_mm * width / max(width, height)  # physical width spanned by the image's x axis
    return format_intrinsics(float(intrinsics[0][0]) * focal_scale, int(width), sensor_width,
                             image_height_px=int(height), make="Procedural", model=model)
