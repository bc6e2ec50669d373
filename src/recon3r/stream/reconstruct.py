"""`reconstruct_stream`: frames → per-frame world points, depth, cameras and the pointer memory, online.

Frames come one at a time (a folder, image files or a video: `recon3r.io.frames.iter_frames`) and
each goes through `Point3R.step` once: encode, decode against the pointer memory, update the memory.
The work per frame is constant as long as the memory is: inference caps it at `max_pointers`
(default `DEFAULT_MAX_POINTERS`; see `recon3r.models.layers.pointer_memory` for the rule; None is
the official unbounded behaviour, whose merge rule already makes it grow with the space explored
rather than with time).

Conventions: the world frame is frame 0's camera frame (OpenCV axes, the model's unit).
- points: the model's `pts3d_in_other_view`; conf its confidence;
- poses world_from_cam: the pose head's `camera_pose` ([t, q real first], camera-to-world) as 4×4;
- depth: z of `pts3d_in_self_view` (the frame's own camera frame);
- intrinsics: focal from `recon3r.geometry.estimate_focal` on the camera-frame points (principal
  point at the image centre).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.geometry.focal import estimate_focal
from recon3r.geometry.rotations import pose_encoding_to_world_from_cam

#: Default memory cap for inference: about 10 frames of entirely new patches at 512×384.
DEFAULT_MAX_POINTERS = 8192

FramesInput = str | os.PathLike | Sequence[str | os.PathLike] | Tensor

NO_WEIGHTS = (
    "no streaming model given and none is shipped: pass --weights with the released Point3R checkpoint "
    "(point3r_512.pth), a folder made from it by `recon3r convert`, or any saved Point3R folder "
    "(model.safetensors + config.json)"
)


@dataclass
class StreamConfig:
    """Inputs and options of one streaming reconstruction: the library's config (`run_stream`) and the
    source of every `recon3r stream` flag (`recon3r.utils.config_cli`)."""

    frames: list[str] = field(metadata={
        "flag": "frames", "nargs": "+",
        "help": "a video file, a folder of frames (sorted by file name), or image files in stream order"})
    weights: str | None = field(default=None, metadata={
        "help": "Point3R checkpoint: the official .pth (e.g. point3r_512.pth) or a model.safetensors + config.json "
        "folder"})
    model: str | None = field(default=None, metadata={
        "help": "constructor string for a .pth that names no model, e.g. \"Point3R(Point3RConfig(...))\" (default "
        "for a Point3R state dict without one: the released 512 configuration)"})
    out: str | None = field(default=None, metadata={
        "required": True, "help": "output folder: points.ply, sparse/0 (COLMAP), transforms.json, scene.npz, "
        "depth/*.npy, memory.npz, stream.json (library: None writes no files)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an earlier `recon3r stream` result"})
    size: int | None = field(default=None, metadata={
        "help": "long side frames are resized to (default: the model's training size, 224 or 512)"})
    max_pointers: int = field(default=DEFAULT_MAX_POINTERS, metadata={
        "help": "cap on the pointer memory, so the work per frame stays constant; 0: the official unbounded memory"})
    every: int = field(default=1, metadata={"help": "keep one frame in EVERY"})
    max_frames: int | None = field(default=None, metadata={"help": "stop after this many frames"})
    min_conf: float = field(default=1.0, metadata={"help": "keep points with confidence >= this in exports"})
    formats: tuple[str, ...] = field(default=("ply", "colmap", "nerfstudio", "npz"), metadata={
        "help": "comma-separated scene exports among ply, glb, colmap, nerfstudio, npz"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda, or auto"})
    dtype: str = field(default="float32", metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of the transformer blocks: bfloat16 about twice as fast on CPUs with bf16 support "
        "(weights cast once; norms, heads, memory and poses stay float32); float16 needs an accelerator"})
    head_dtype: str = field(default="float32", metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of the DPT heads' convolutions (output layer always float32): bfloat16 is faster on CPU "
        "for a little more rounding error"})
    progress: bool = field(default=True, metadata={"negate": "--quiet", "help": "no progress bar"})

    @property
    def memory_cap(self) -> int | None:
        """The cap `reconstruct_stream` takes: None for `max_pointers` 0 (unbounded)."""
        return self.max_pointers or None


@dataclass
class StreamResult:
    """Per-frame outputs of a stream of T frames at network resolution (H, W).

    images (T, H, W, 3) RGB in [0, 1]; points (T, H, W, 3) world frame; conf (T, H, W) ≥ 1;
    points_cam (T, H, W, 3) own camera frame; conf_cam (T, H, W); depths (T, H, W);
    world_from_cam (T, 4, 4) float64; intrinsics (T, 3, 3) float64; camera_pose (T, 7) the raw
    [t, q] encoding; pointer_counts / merged / added (T,): the memory after each frame and what
    its update did; seconds_per_frame (T,): model time per frame; memory_positions (M, 3) and
    memory_features (M, d): the pointer memory after the last frame.
    """

    names: list[str]
    images: np.ndarray
    points: np.ndarray
    conf: np.ndarray
    points_cam: np.ndarray
    conf_cam: np.ndarray
    depths: np.ndarray
    world_from_cam: np.ndarray
    intrinsics: np.ndarray
    camera_pose: np.ndarray
    pointer_counts: np.ndarray
    merged: np.ndarray
    added: np.ndarray
    seconds_per_frame: np.ndarray
    memory_positions: np.ndarray
    memory_features: np.ndarray
    max_pointers: int | None = None
    transforms: list | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return float(len(self.names) / max(self.seconds_per_frame.sum(), 1e-12))

    def to_scene(self, min_conf: float = 1.0):
        """A `recon3r.scene.Scene` for the exporters (points with conf ≥ `min_conf` are kept)."""
        from recon3r.scene import Scene

        return Scene(names=list(self.names), images=list(self.images), world_from_cam=self.world_from_cam,
                     intrinsics=self.intrinsics, depths=list(self.depths), points=list(self.points),
                     confidences=list(self.conf), masks=[c >= min_conf for c in self.conf],
                     transforms=self.transforms, metadata=self.metadata)


@dataclass
class StreamRun:
    """What `run_stream` made: the stream's outputs and the files written ({what: path}; empty without `out`)."""

    result: StreamResult
    files: dict[str, Path] = field(default_factory=dict)


def _tensor_frames(frames: Tensor) -> Iterable:
    from recon3r.io.images import View
    from recon3r.scene import ImageTransform

    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ConfigError(f"a frame tensor must be (T, 3, H, W) in [-1, 1], got {tuple(frames.shape)}")
    H, W = frames.shape[-2:]
    transform = ImageTransform((W, H), 1.0, (0.0, 0.0), (W, H))
    for t in range(frames.shape[0]):
        yield View(img=frames[t : t + 1], true_shape=torch.tensor([[H, W]]), idx=t, instance=str(t),
                   name=f"frame_{t:06d}", transform=transform)


@torch.no_grad()
def reconstruct_stream(
    frames: FramesInput,
    model: nn.Module,
    *,
    size: int | None = None,
    device: str | torch.device | None = None,
    max_pointers: int | None = DEFAULT_MAX_POINTERS,
    every: int = 1,
    max_frames: int | None = None,
    show_progress: bool = False,
) -> StreamResult:
    """Reconstruct a stream online with a `Point3R`, one frame at a time.

    Args:
        frames: a folder (sorted by file name), image files in stream order, a video file, or a
            (T, 3, H, W) tensor in [-1, 1].
        model: a `recon3r.models.point3r.Point3R` (e.g. `recon3r.load_model("point3r_512.pth")`).
        size: long side frames are resized to (default: the model's training size, 224 or 512).
        device: where to run (default: the model's device).
        max_pointers: memory cap (None: the official unbounded memory).
        every, max_frames: keep one frame in `every`, at most `max_frames` of them.
        show_progress: a progress bar in frames per second on stderr.
    """
    if not (hasattr(model, "step") and hasattr(model, "init_state")):
        raise ConfigError(f"{type(model).__name__} is not a streaming model (expected recon3r's Point3R)")
    from recon3r.io.frames import iter_frames
    from recon3r.reconstruct import model_image_size
    from recon3r.utils.progress import progress

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    if isinstance(frames, Tensor):
        source: Iterable = _tensor_frames(frames)
    else:
        source = iter_frames(frames, size or model_image_size(model), every=every, max_frames=max_frames)
    names, transforms, images, seconds = [], [], [], []
    outputs: dict[str, list[np.ndarray]] = {}
    counts, merged, added = [], [], []
    state = None
    for view in progress(source, desc="streaming", unit="frame", enabled=show_progress):
        if images and view.img.shape[-2:] != images[0].shape[:2]:
            raise ImageLoadError(f"frame {view.name} resizes to {view.width}x{view.height}, unlike the first frame "
                                 f"({images[0].shape[1]}x{images[0].shape[0]}): a stream needs one frame size")
        start = time.perf_counter()
        out, state = model.step({"img": view.img.to(device), "true_shape": view.true_shape}, state,
                                max_pointers=max_pointers)
        if device.type != "cpu":
            torch.accelerator.synchronize(device)
        seconds.append(time.perf_counter() - start)
        for key, value in out.items():
            outputs.setdefault(key, []).append(value[0].float().cpu().numpy())
        counts.append(state.memory.counts[0])
        stats = state.last_update[0] if state.last_update else None
        merged.append(0 if stats is None else stats.merged)
        added.append(counts[-1] if stats is None else stats.added)
        names.append(view.name)
        transforms.append(view.transform)
        images.append(view.rgb())
    if state is None:
        raise ImageLoadError(f"no frames in {frames}")
    arrays = {key: np.stack(values) for key, values in outputs.items()}
    camera_pose = arrays["camera_pose"]
    poses = pose_encoding_to_world_from_cam(torch.from_numpy(camera_pose).double())
    points_cam = torch.from_numpy(arrays["pts3d_in_self_view"])
    T, H, W, _ = points_cam.shape
    focal = estimate_focal(points_cam.double(), min_focal=0.2, max_focal=20.0)
    intrinsics = torch.zeros(T, 3, 3, dtype=torch.float64)
    intrinsics[:, 0, 0] = intrinsics[:, 1, 1] = focal
    intrinsics[:, 0, 2], intrinsics[:, 1, 2], intrinsics[:, 2, 2] = W / 2, H / 2, 1.0
    memory = state.memory
    result = StreamResult(
        names=names, images=np.stack(images), points=arrays["pts3d_in_other_view"], conf=arrays["conf"],
        points_cam=arrays["pts3d_in_self_view"], conf_cam=arrays["conf_self"], depths=arrays["pts3d_in_self_view"][..., 2],
        world_from_cam=poses.numpy(), intrinsics=intrinsics.numpy(), camera_pose=camera_pose,
        pointer_counts=np.asarray(counts), merged=np.asarray(merged), added=np.asarray(added),
        seconds_per_frame=np.asarray(seconds), memory_positions=memory.positions[0].float().cpu().numpy(),
        memory_features=memory.features[0].float().cpu().numpy(), max_pointers=max_pointers,
        transforms=transforms, metadata={"model": type(model).__name__, "max_pointers": max_pointers},
    )
    result.metadata["frames_per_second"] = result.frames_per_second
    return result


def export_stream(result: StreamResult, out_dir: str | Path, formats: Sequence[str] = ("ply", "colmap", "nerfstudio", "npz"),
                  min_conf: float = 1.0) -> dict[str, Path]:
    """Write a stream's outputs into `out_dir`; returns {what: path}.

    - the scene exports of `recon3r.io.exports.export_scene` (`formats`: points.ply, sparse/0 COLMAP,
      transforms.json, scene.npz, scene.glb) with points of confidence ≥ `min_conf`;
    - `depth/<name>.npy`: per-frame depth (H, W) float32 (z in the frame's camera, the model's unit);
    - `memory.npz`: the pointer memory after the last frame (`positions` (M, 3), `features` (M, d))
      and per frame `pointer_counts`, `merged`, `added`; `max_pointers` (-1: unbounded);
    - `stream.json`: frame names, model seconds per frame, frames per second, pointer counts.
    """
    from recon3r.io.exports import export_scene

    out = Path(out_dir)
    written = export_scene(result.to_scene(min_conf), out, formats)
    depth_dir = out / "depth"
    depth_dir.mkdir(parents=True, exist_ok=True)
    for name, depth in zip(result.names, result.depths):
        np.save(depth_dir / f"{Path(name).stem}.npy", depth.astype(np.float32))
    written["depth"] = depth_dir
    written["memory"] = out / "memory.npz"
    np.savez_compressed(written["memory"], positions=result.memory_positions, features=result.memory_features,
                        pointer_counts=result.pointer_counts, merged=result.merged, added=result.added,
                        max_pointers=np.int64(-1 if result.max_pointers is None else result.max_pointers))
    written["stream"] = out / "stream.json"
    written["stream"].write_text(json.dumps({
        "names": result.names, "seconds_per_frame": result.seconds_per_frame.tolist(),
        "frames_per_second": result.frames_per_second, "pointer_counts": result.pointer_counts.tolist(),
        "max_pointers": result.max_pointers}, indent=1) + "\n")
    return written


def check_stream_config(config: StreamConfig, *, model_given: bool = False):
    """Check every option and the output folder before any model is loaded; returns the checked
    `OutputDir` (None when `config.out` is None). Raises a Recon3rError subclass naming the flag.
    `model_given`: the caller has a model, so no `weights` are needed."""
    from recon3r.errors import CheckpointError
    from recon3r.io.exports import check_formats
    from recon3r.io.output_dir import check_output_dir, inputs_of
    from recon3r.utils.checks import check_float

    if config.weights is None and not model_given:
        raise CheckpointError(NO_WEIGHTS)
    if config.max_pointers < 0:
        raise ConfigError(f"--max-pointers must be >= 0 (0: unbounded), got {config.max_pointers}")
    check_float("--min-conf", config.min_conf)
    check_formats(config.formats)
    if config.out is None:
        return None
    frames = [config.frames] if isinstance(config.frames, (str, os.PathLike)) else list(config.frames)
    return check_output_dir(config.out, "stream", inputs=inputs_of(frames, config.weights),
                            overwrite=config.overwrite)


def run_stream(config: StreamConfig, model: nn.Module | None = None) -> StreamRun:
    """Load the model (unless `model` is given), stream the frames and write the exports.

    What `recon3r stream` runs. Options and the output folder are checked first (`check_stream_config`);
    files are written into a temporary sibling of `config.out` that replaces it once complete.
    """
    output = check_stream_config(config, model_given=model is not None)
    if model is None:
        from recon3r.models.checkpoint import load_model

        model = load_model(config.weights, device=config.device, expect="Point3R", model=config.model,
                           dtype=config.dtype, head_dtype=config.head_dtype)
    frames = config.frames
    if not isinstance(frames, (str, os.PathLike)) and len(frames) == 1:
        frames = frames[0]
    result = reconstruct_stream(frames, model, size=config.size, max_pointers=config.memory_cap,
                                every=config.every, max_frames=config.max_frames, show_progress=config.progress)
    if output is None:
        return StreamRun(result)
    with output.staged() as staging:
        written = export_stream(result, staging, config.formats, min_conf=config.min_conf)
    return StreamRun(result, {key: output.relocate(path, staging) for key, path in written.items()})


def format_stream_summary(run: StreamRun) -> str:
    """Two lines for the terminal: frames, speed and memory; the files written."""
    result = run.result
    cap = "unbounded" if result.max_pointers is None else f"cap {result.max_pointers}"
    lines = [f"{len(result.names)} frames, {result.frames_per_second:.1f} frames/s "
             f"({1000 * float(result.seconds_per_frame.mean()):.1f} ms/frame), memory {result.pointer_counts[0]} → "
             f"{result.pointer_counts[-1]} pointers ({cap})"]
    if run.files:
        lines.append("wrote " + ", ".join(str(p) for p in run.files.values()))
    return "\n".join(lines)
