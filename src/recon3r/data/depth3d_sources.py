"""Readers of the raw depth datasets Train-3D prepares: ScanNet `.sens`, 3D Ken Burns EXR, Taskonomy PNG.

Each source lists its scenes and the depth maps of each, and reads one map into a `DepthRecord`:
z-depth in metres (float32, 0 where invalid), the valid mask, 3×3 pixel intrinsics (pixel centres at
integer coordinates, OpenCV axes), the colour image on the depth map's pixel grid when the dataset
has one, and the cam-to-world pose when it has one. Invalid depth (0, a dataset's sentinel, NaN,
±inf) is masked and stored as 0, never turned into points.

**ScanNet** (`ROOT/scans/<scene>/<scene>.sens`, or `ROOT/<scene>/<scene>.sens`): the SensorData
stream, little-endian. Header: version (uint32, 4), sensor name (uint64 length + bytes), four
4×4 float32 matrices (colour intrinsics, colour extrinsics, depth intrinsics, depth extrinsics),
colour and depth compression (int32: colour -1 unknown, 0 raw, 1 PNG, 2 JPEG; depth -1 unknown,
0 raw uint16, 1 zlib uint16, 2 OCCI), colour width, height, depth width, height (uint32), depth
shift (float32: raw units per metre, 1000), frame count (uint64). Each frame: cam-to-world 4×4
float32, colour and depth timestamps (uint64), colour and depth byte counts (uint64), then the
colour bytes and the depth bytes. Depth = value / depth shift; K = the depth intrinsics. The colour
image is resampled onto the depth grid through both intrinsics (nearest pixel; the small baseline
between the two sensors is ignored). Poses with non-finite entries are left out.

**3D Ken Burns** (`ROOT/depths/<scene>/<name>.exr` with `ROOT/rgb/<scene>/<name>.json`, as the
Train-3D README draws it; or the dataset as downloaded: `ROOT/<scene>-depth/<id>-<view>-depth.exr`
with `ROOT/<scene>/<id>-meta.json` and `<id>-<view>-image.png`; Train-3D's `depths/<scene>-depth/`
works too). The EXR holds one float depth channel (read with the OpenEXR package: `pip install
recon3r[exr]`); its unit is taken as millimetres (`kenburns_unit`, metres per EXR unit, 0.001 as
Train-3D reads it). The JSON's `fltFov` is the field of view in degrees across the image's larger
side (the dataset's images are square), principal point at the image centre.

**Taskonomy** (`ROOT/depth_zbuffer/taskonomy/<scene>/<name>.png` with
`ROOT/point_info/taskonomy/<scene>/<name>.json`; the dataset's names
`point_<p>_view_<v>_domain_depth_zbuffer.png` pair with `..._domain_point_info.json`): 16-bit PNG
depth in 1/512 m, 65535 = no depth; the JSON's `field_of_view_rads` spans the larger image side
(the images are square), principal point at the centre. Colour, when present, is
`ROOT/rgb/taskonomy/<scene>/<prefix>_domain_rgb.png`.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from recon3r.errors import ConfigError, Recon3rError

#: Taskonomy's depth_zbuffer: value / 512 is metres, 65535 marks pixels without depth.
TASKONOMY_UNITS_PER_METRE = 512.0
TASKONOMY_INVALID = 65535
SENS_VERSION = 4
SENS_COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
SENS_DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
DATASETS = ("scannet", "kenburns", "taskonomy")


class RawDepthError(Recon3rError):
    """A raw dataset file could not be read; the message names it."""


@dataclass
class DepthRecord:
    """One depth map read from a raw dataset (see the module docstring for the conventions)."""

    depth: np.ndarray  # (H, W) float32 metres, 0 where invalid
    valid: np.ndarray  # (H, W) bool
    intrinsics: np.ndarray  # (3, 3) float64 pixels
    image: np.ndarray | None = None  # (H, W, 3) uint8 on the depth grid
    world_from_cam: np.ndarray | None = None  # (4, 4) float64, OpenCV axes


def mask_invalid(depth: np.ndarray, sentinel: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(depth with 0 where invalid (float32), valid mask): invalid is ≤ 0, NaN, ±inf or `sentinel`."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    if sentinel is not None:
        valid &= depth != sentinel
    return np.where(valid, depth, 0.0).astype(np.float32), valid


def intrinsics_from_fov(fov_deg: float, height: int, width: int) -> np.ndarray:
    """(3, 3) K with the field of view `fov_deg` across the larger side, square pixels, centred."""
    if not 0 < fov_deg < 180:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = max(height, width) / 2 / math.tan(math.radians(fov_deg) / 2)
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])


# ---------------------------------------------------------------- ScanNet .sens
@dataclass
class SensHeader:
    version: int
    sensor_name: str
    color_intrinsics: np.ndarray  # (4, 4)
    color_extrinsics: np.ndarray
    depth_intrinsics: np.ndarray
    depth_extrinsics: np.ndarray
    color_compression: str
    depth_compression: str
    color_size: tuple[int, int]  # (width, height)
    depth_size: tuple[int, int]
    depth_shift: float
    num_frames: int


@dataclass
class SensFrame:
    world_from_cam: np.ndarray  # (4, 4) float32 as stored
    color_timestamp: int
    depth_timestamp: int
    color_bytes: bytes
    depth_bytes: bytes


class SensFile:
    """A ScanNet `.sens` stream: its header on opening, frames read on demand by seeking past the others."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with self.path.open("rb") as handle:
                self.header = self._read_header(handle)
                self.offsets = self._index_frames(handle)
        except (OSError, struct.error, UnicodeDecodeError) as err:
            raise RawDepthError(f"{self.path}: not a readable ScanNet .sens file ({err})") from None

    def _read_header(self, handle) -> SensHeader:
        version = _unpack(handle, "<I")[0]
        if version != SENS_VERSION:
            raise RawDepthError(f"{self.path}: .sens version {version}, expected {SENS_VERSION}")
        name = handle.read(_unpack(handle, "<Q")[0]).decode("utf-8", errors="replace")
        matrices = [np.array(_unpack(handle, "<16f"), dtype=np.float64).reshape(4, 4) for _ in range(4)]
        color_c, depth_c = _unpack(handle, "<ii")
        cw, ch, dw, dh = _unpack(handle, "<IIII")
        shift = _unpack(handle, "<f")[0]
        frames = _unpack(handle, "<Q")[0]
        return SensHeader(version, name, *matrices, SENS_COLOR_COMPRESSION.get(color_c, str(color_c)),
                          SENS_DEPTH_COMPRESSION.get(depth_c, str(depth_c)), (cw, ch), (dw, dh), float(shift),
                          int(frames))

    def _index_frames(self, handle) -> list[int]:
        offsets = []
        for _ in range(self.header.num_frames):
            offsets.append(handle.tell())
            handle.seek(64 + 16, 1)
            color_size, depth_size = _unpack(handle, "<QQ")
            handle.seek(color_size + depth_size, 1)
        end = handle.tell()
        handle.seek(0, 2)
        if handle.tell() < end:
            raise RawDepthError(f"{self.path}: truncated ({self.header.num_frames} frames announced)")
        return offsets

    def __len__(self) -> int:
        return self.header.num_frames

    def frame(self, index: int) -> SensFrame:
        with self.path.open("rb") as handle:
            handle.seek(self.offsets[index])
            pose = np.array(_unpack(handle, "<16f"), dtype=np.float32).reshape(4, 4)
            t_color, t_depth, color_size, depth_size = _unpack(handle, "<QQQQ")
            return SensFrame(pose, t_color, t_depth, handle.read(color_size), handle.read(depth_size))

    def depth(self, frame: SensFrame) -> np.ndarray:
        """(H, W) uint16 raw depth of a frame (divide by `header.depth_shift` for metres)."""
        width, height = self.header.depth_size
        kind = self.header.depth_compression
        if kind == "zlib_ushort":
            try:
                data = zlib.decompress(frame.depth_bytes)
            except zlib.error as err:
                raise RawDepthError(f"{self.path}: corrupt zlib depth ({err})") from None
        elif kind == "raw_ushort":
            data = frame.depth_bytes
        else:
            raise RawDepthError(f"{self.path}: depth compression {kind!r} is not supported (raw or zlib uint16)")
        if len(data) != 2 * width * height:
            raise RawDepthError(f"{self.path}: a depth frame holds {len(data)} bytes, expected {2 * width * height}")
        return np.frombuffer(data, dtype="<u2").reshape(height, width)

    def color(self, frame: SensFrame) -> np.ndarray:
        """(H, W, 3) uint8 colour of a frame."""
        width, height = self.header.color_size
        kind = self.header.color_compression
        if kind in ("jpeg", "png"):
            try:
                with Image.open(BytesIO(frame.color_bytes)) as image:
                    return np.asarray(image.convert("RGB"))
            except OSError as err:
                raise RawDepthError(f"{self.path}: corrupt {kind} colour ({err})") from None
        if kind == "raw" and len(frame.color_bytes) == 3 * width * height:
            return np.frombuffer(frame.color_bytes, dtype=np.uint8).reshape(height, width, 3)
        raise RawDepthError(f"{self.path}: colour compression {kind!r} is not supported")


def _unpack(handle, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise struct.error(f"unexpected end of file reading {size} bytes")
    return struct.unpack(fmt, data)


def resample_to_grid(image: np.ndarray, source_k: np.ndarray, target_k: np.ndarray, shape: tuple[int, int]
                     ) -> np.ndarray:
    """Nearest-pixel resampling of an (h, w, 3) image seen with `source_k` onto a grid `shape` seen with `target_k`."""
    height, width = shape
    xs = (np.arange(width) - target_k[0, 2]) / target_k[0, 0] * source_k[0, 0] + source_k[0, 2]
    ys = (np.arange(height) - target_k[1, 2]) / target_k[1, 1] * source_k[1, 1] + source_k[1, 2]
    cols = np.clip(np.round(xs).astype(int), 0, image.shape[1] - 1)
    rows = np.clip(np.round(ys).astype(int), 0, image.shape[0] - 1)
    return image[rows[:, None], cols[None, :]]


# ---------------------------------------------------------------- sources
class ScanNetSource:
    """ScanNet scenes under ROOT (module docstring); items are frame numbers."""

    name = "scannet"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        base = self.root / "scans" if (self.root / "scans").is_dir() else self.root
        self.files = {d.name: d / f"{d.name}.sens" for d in sorted(base.iterdir()) if (d / f"{d.name}.sens").is_file()} \
            if base.is_dir() else {}
        self._open: dict[str, SensFile] = {}

    def sens(self, scene: str) -> SensFile:
        if scene not in self._open:
            self._open = {scene: SensFile(self.files[scene])}  # keep one file's index at a time
        return self._open[scene]

    def scenes(self) -> dict[str, list[str]]:
        return {scene: [str(i) for i in range(len(self.sens(scene)))] for scene in self.files}

    def read(self, scene: str, item: str) -> DepthRecord:
        sens = self.sens(scene)
        frame = sens.frame(int(item))
        depth, valid = mask_invalid(sens.depth(frame).astype(np.float64) / sens.header.depth_shift)
        k = sens.header.depth_intrinsics[:3, :3].copy()
        image = resample_to_grid(sens.color(frame), sens.header.color_intrinsics[:3, :3], k, depth.shape)
        pose = frame.world_from_cam.astype(np.float64)
        return DepthRecord(depth, valid, k, image, pose if np.isfinite(pose).all() else None)


class KenBurnsSource:
    """3D Ken Burns scenes under ROOT (module docstring); items are EXR paths relative to ROOT."""

    name = "kenburns"

    def __init__(self, root: str | Path, unit: float = 0.001):
        self.root = Path(root)
        self.unit = float(unit)
        base = self.root / "depths" if (self.root / "depths").is_dir() else self.root
        self.depth_dirs = {}
        if base.is_dir():
            for folder in sorted(d for d in base.iterdir() if d.is_dir()):
                scene = folder.name[:-len("-depth")] if folder.name.endswith("-depth") else folder.name
                if any(folder.glob("*.exr")):
                    self.depth_dirs[scene] = folder

    def scenes(self) -> dict[str, list[str]]:
        return {scene: [str(p.relative_to(self.root)) for p in sorted(folder.glob("*.exr"))]
                for scene, folder in self.depth_dirs.items()}

    def _companions(self, scene: str, exr: Path) -> tuple[Path, list[Path]]:
        """(meta JSON, candidate colour images) of one depth file."""
        folders = [self.root / "rgb" / scene, self.root / scene]
        stem = exr.stem  # <name> or <id>-<view>-depth
        parts = stem.split("-")
        names = [(f"{stem}.json", [f"{stem}.png", f"{stem}.jpg"])]
        if len(parts) >= 3 and parts[-1] == "depth":
            ident, view = "-".join(parts[:-2]), parts[-2]
            names.append((f"{ident}-meta.json", [f"{ident}-{view}-image.png"]))
        for folder in folders:
            for meta, images in names:
                if (folder / meta).is_file():
                    return folder / meta, [folder / image for image in images]
        raise RawDepthError(f"{exr}: no field-of-view JSON beside it (looked for {names[-1][0]} in "
                            f"{', '.join(str(f) for f in folders)})")

    def read(self, scene: str, item: str) -> DepthRecord:
        exr = self.root / item
        raw = read_exr_depth(exr)
        depth, valid = mask_invalid(raw * self.unit)
        meta_path, images = self._companions(scene, exr)
        fov = _json_number(meta_path, "fltFov")
        k = intrinsics_from_fov(fov, *depth.shape)
        image = next((_read_rgb(p, depth.shape) for p in images if p.is_file()), None)
        return DepthRecord(depth, valid, k, image)


class TaskonomySource:
    """Taskonomy scenes under ROOT (module docstring); items are PNG paths relative to ROOT."""

    name = "taskonomy"
    SUFFIX = "_domain_depth_zbuffer"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        base = self.root / "depth_zbuffer" / "taskonomy"
        self.depth_dirs = {d.name: d for d in sorted(base.iterdir()) if d.is_dir() and any(d.glob("*.png"))} \
            if base.is_dir() else {}

    def scenes(self) -> dict[str, list[str]]:
        return {scene: [str(p.relative_to(self.root)) for p in sorted(folder.glob("*.png"))]
                for scene, folder in self.depth_dirs.items()}

    def read(self, scene: str, item: str) -> DepthRecord:
        png = self.root / item
        stem = png.stem
        prefix = stem[:-len(self.SUFFIX)] if stem.endswith(self.SUFFIX) else None
        info_dir = self.root / "point_info" / "taskonomy" / scene
        info = info_dir / (f"{prefix}_domain_point_info.json" if prefix is not None else f"{stem}.json")
        try:
            with Image.open(png) as image:
                if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
                    raise RawDepthError(f"{png}: expected a 16-bit depth PNG, got mode {image.mode}")
                raw = np.array(image).astype(np.float64)
        except OSError as err:
            raise RawDepthError(f"{png}: not a readable PNG ({err})") from None
        depth, valid = mask_invalid(np.where(raw == TASKONOMY_INVALID, 0.0, raw / TASKONOMY_UNITS_PER_METRE))
        fov = math.degrees(_json_number(info, "field_of_view_rads"))
        k = intrinsics_from_fov(fov, *depth.shape)
        rgb = self.root / "rgb" / "taskonomy" / scene / f"{prefix}_domain_rgb.png" if prefix is not None else None
        image = _read_rgb(rgb, depth.shape) if rgb is not None and rgb.is_file() else None
        return DepthRecord(depth, valid, k, image)


def read_exr_depth(path: str | Path) -> np.ndarray:
    """(H, W) float64 depth of a one-channel EXR (or the channel named Z, R, Y or depth of a multi-channel one)."""
    try:
        import OpenEXR
    except ImportError:
        raise ConfigError("reading .exr depth needs the OpenEXR package: pip install 'recon3r[exr]'") from None
    path = Path(path)
    try:
        with OpenEXR.File(str(path)) as handle:
            channels = handle.channels()
            if len(channels) == 1:
                pixels = next(iter(channels.values())).pixels
            else:
                name = next((n for n in ("Z", "depth", "R", "Y") if n in channels), None)
                if name is None:
                    name = next(iter(channels))
                pixels = channels[name].pixels
    except Exception as err:  # the bindings raise RuntimeError / OSError for unreadable files
        raise RawDepthError(f"{path}: not a readable EXR depth file ({err})") from None
    array = np.asarray(pixels, dtype=np.float64)
    if array.ndim == 3:
        array = array[..., 0]
    if array.ndim != 2:
        raise RawDepthError(f"{path}: expected an (H, W) depth channel, got shape {array.shape}")
    return array


def _json_number(path: Path, key: str) -> float:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))[key]
        return float(value)
    except FileNotFoundError:
        raise RawDepthError(f"{path}: missing (it holds the field of view)") from None
    except (ValueError, KeyError, TypeError):
        raise RawDepthError(f"{path}: expected a JSON object with a number {key!r}") from None


def _read_rgb(path: Path, shape: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        if rgb.size != (shape[1], shape[0]):
            rgb = rgb.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
        return np.asarray(rgb)


def open_source(dataset: str, root: str | Path, kenburns_unit: float = 0.001):
    """The source of `dataset` ("scannet", "kenburns", "taskonomy") at `root`; ConfigError when it is not a folder."""
    if not Path(root).is_dir():
        raise ConfigError(f"{dataset} root {root} is not a folder")
    if dataset == "scannet":
        return ScanNetSource(root)
    if dataset == "kenburns":
        return KenBurnsSource(root, kenburns_unit)
    if dataset == "taskonomy":
        return TaskonomySource(root)
    raise ConfigError(f"unknown depth dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
