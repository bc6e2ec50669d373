"""Photos in, 3D scene out: load images → pair graph → pair inference → global alignment → exports.

`reconstruct(ReconstructConfig(...))` is what `recon3r reconstruct` and the demo call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon3r.errors import ConfigError
from recon3r.scene import Scene
from recon3r.utils.cancel import CancelCheck, raise_if_cancelled


@dataclass
class ReconstructConfig:
    """Inputs and options of one reconstruction: the library's config and the source of every
    `recon3r reconstruct` flag (`recon3r.utils.config_cli`)."""

    images: list[str] = field(metadata={"flag": "images", "nargs": "+",
                                        "help": "image files and/or folders of images (two or more images)"})
    out: str | None = field(default=None, metadata={
        "required": True, "help": "output folder: new or empty, or an earlier reconstruction's with --overwrite; never "
        "an input folder or one holding inputs. Results appear there only once complete (library: None writes no files)"})
    weights: str | None = field(default=None, metadata={
        "help": "checkpoint: official .pth, or a folder with model.safetensors + config.json (default: the shipped "
        "example model)"})
    size: int | None = field(default=None, metadata={
        "choices": (224, 512), "help": "network image size (default: the model's training size)"})
    graph: str = field(default="complete", metadata={
        "help": "pair graph: complete, swin-K, swin-K-noncyclic, logwin-K, oneref-I"})
    batch_size: int = field(default=8, metadata={"help": "pairs per forward pass"})
    dtype: str | None = field(default=None, metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of the pair model's transformer blocks (default: float32): bfloat16 runs their matrix "
        "products about twice as fast on CPUs with bf16 support, weights cast once, norms, heads and confidence "
        "kept float32 (see recon3r.models.precision); float16 needs an accelerator. The library leaves a model "
        "passed in as it is when this is None"})
    head_dtype: str | None = field(default=None, metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of a DPT head's convolutions (default: float32; its output layer, exp depth and confidence "
        "always float32): bfloat16 makes a ViT-L DPT pair about 1.25x faster on CPU for a little more rounding error "
        "(see recon3r.models.precision); no effect on linear heads"})
    align_mode: str = field(default="auto", metadata={
        "choices": ("auto", "optimize", "fast", "pair"),
        "help": "global alignment: optimize (dense: every pixel's depth by gradient descent, --niter steps), fast "
        "(poses and depth scales by a second-order solve on a confident-pixel subsample; seconds for 50 images on a "
        "CPU), pair (two images), auto (pair for two images, fast on the CPU from 12 images, optimize otherwise)"})
    niter: int = field(default=300, metadata={"help": "global alignment iterations"})
    lr: float = field(default=0.01, metadata={"help": "global alignment learning rate"})
    schedule: str = field(default="cosine", metadata={"choices": ("cosine", "linear"),
                                                       "help": "global alignment learning-rate schedule"})
    min_conf: float | str = field(default="auto", metadata={
        "parse": str, "metavar": "CONF|auto",
        "help": "keep points whose confidence is >= CONF; 'auto' uses min(3, the scene's median confidence), which "
        "suits any model's confidence scale (see recon3r.align.confidence)"})
    max_depth_ratio: float | None = field(default=None, metadata={
        "help": "also drop points deeper than this times their image's median kept depth (sky, far background); "
        "applied to the masks, so every export leaves them out (default: keep them)"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:1, ... (auto: the accelerator if present)"})
    intrinsics: str | None = field(default=None, metadata={
        "help": "JSON of known intrinsics at the original resolution, held fixed (see recon3r.io.camera_files)"})
    poses: str | None = field(default=None, metadata={
        "help": "JSON of known cam-to-world poses (OpenCV axes), held fixed"})
    captions: str | None = field(default=None, metadata={
        "help": "JSON mapping image names to captions (multimodal models)"})
    exif: bool = field(default=True, metadata={
        "negate": "--no-exif", "help": "do not read captions from EXIF when an image has none in --captions"})
    formats: tuple[str, ...] = field(default=("ply", "glb", "colmap", "nerfstudio", "npz"), metadata={
        "help": "comma-separated exports: ply, glb, colmap, nerfstudio, npz"})
    glb_geometry: str = field(default="points", metadata={"flag": "--glb", "choices": ("points", "mesh"),
                                                           "help": "GLB geometry"})
    progress: bool = field(default=True, metadata={"negate": "--quiet", "help": "no progress bars"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace an output folder an earlier `recon3r reconstruct` wrote (kept until the new results are "
        "complete)"})


@dataclass
class ReconstructResult:
    scene: Scene
    files: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. too few points kept


def resolve_weights(weights: str | None) -> Path:
    if weights:
        return Path(weights)
    from recon3r.assets import example_model_path

    path = example_model_path()
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"no --weights given and the example model is missing from {path}")
    return path


def model_image_size(model: torch.nn.Module) -> int:
    """224 or 512, following the model's training resolution (`img_size` in its config)."""
    img_size = getattr(model, "config", {}).get("img_size", 512)
    longest = max(img_size) if isinstance(img_size, (tuple, list)) else int(img_size)
    return 224 if longest <= 224 else 512


def check_config(config: ReconstructConfig):
    """Check every option and the output folder before any compute; returns the checked `OutputDir`
    (None when `config.out` is None). Raises a Recon3rError subclass naming the option and value.
    """
    from recon3r.align.confidence import parse_min_conf
    from recon3r.align.optimizer import SCHEDULES
    from recon3r.io.output_dir import check_output_dir, inputs_of
    from recon3r.pairs import parse_graph
    from recon3r.utils.checks import check_float, check_int

    if config.size is not None and config.size not in (224, 512):
        raise ConfigError(f"--size must be 224 or 512, got {config.size!r}")
    check_int("--batch-size", config.batch_size, 1)
    if config.dtype is not None or config.head_dtype is not None:
        from recon3r.models.precision import parse_dtype

        parse_dtype(config.dtype)
        parse_dtype(config.head_dtype, flag="--head-dtype")
    from recon3r.align.aligner import MODES

    if config.align_mode not in MODES:
        raise ConfigError(f"--align-mode must be one of {', '.join(MODES)}, got {config.align_mode!r}")
    check_int("--niter", config.niter, 0)
    check_float("--lr", config.lr, 0, low_open=True)
    if config.schedule not in SCHEDULES:
        raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {config.schedule!r}")
    parse_graph(config.graph)
    parse_min_conf(config.min_conf)
    if config.max_depth_ratio is not None:
        _check_depth_ratio(config.max_depth_ratio)
    for flag, path in (("--intrinsics", config.intrinsics), ("--poses", config.poses), ("--captions", config.captions)):
        if path is not None:
            _check_input_file(flag, path)
    if config.out is None:
        return None
    from recon3r.io.exports import check_formats

    check_formats(config.formats)
    if config.glb_geometry not in ("points", "mesh"):
        raise ConfigError(f"--glb must be 'points' or 'mesh', got {config.glb_geometry!r}")
    images = [config.images] if isinstance(config.images, (str, Path)) else list(config.images)
    inputs = inputs_of(images, config.weights, config.intrinsics, config.poses, config.captions)
    return check_output_dir(config.out, "reconstruct", inputs=inputs, overwrite=config.overwrite)


def reconstruct(config: ReconstructConfig, model: torch.nn.Module | None = None, *,
                cancel: CancelCheck | None = None) -> ReconstructResult:
    """Run the whole pipeline; `model` may be passed to reuse an already loaded one.

    Options and the output folder are checked first (`check_config`); files are written into a
    temporary sibling of `config.out` that replaces it only once every export is complete.

    `cancel` (see `recon3r.utils.cancel`) is asked between stages, per inference batch and per
    alignment step; when it returns True the run stops there with `recon3r.errors.Cancelled`.
    """
    from recon3r import load_model
    from recon3r.align import global_align
    from recon3r.align.confidence import low_confidence_warning
    from recon3r.inference import run_pairs
    from recon3r.io import export_scene, load_images
    from recon3r.models.precision import head_inference_dtype, inference_dtype
    from recon3r.pairs import make_pairs
    from recon3r.utils.device import resolve_device

    output = check_config(config)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    device = resolve_device(config.device)
    if config.dtype is not None or config.head_dtype is not None:
        from recon3r.models.precision import check_dtype_for_device, parse_dtype

        check_dtype_for_device(parse_dtype(config.dtype), device)
        check_dtype_for_device(parse_dtype(config.head_dtype, flag="--head-dtype"), device, flag="--head-dtype")
    weights = None
    if model is None:
        weights = resolve_weights(config.weights)
        model = load_model(weights, device=device, task="pair", dtype=config.dtype, head_dtype=config.head_dtype)
    model.eval().to(device)
    if config.dtype is not None or config.head_dtype is not None:
        from recon3r.models.precision import set_inference_dtype

        set_inference_dtype(model, config.dtype or inference_dtype(model),
                            head_dtype=config.head_dtype or head_inference_dtype(model))
    size = config.size or model_image_size(model)
    if size not in (224, 512):
        raise ConfigError(f"--size must be 224 or 512, got {size}")
    views = load_images(config.images, size=size, show_progress=config.progress)
    names = [v.name for v in views]
    _attach_captions(views, config)
    timings["load"] = time.perf_counter() - start

    known = _known_cameras(config, views)
    pairs = make_pairs(views, graph=config.graph, symmetrize=True)
    tick = time.perf_counter()
    predictions = run_pairs(model, pairs, batch_size=config.batch_size, device=device, progress=config.progress,
                            cancel=cancel)
    timings["inference"] = time.perf_counter() - tick

    raise_if_cancelled(cancel, "global alignment")
    tick = time.perf_counter()
    scene = global_align(
        predictions,
        [v.rgb() for v in views],
        names,
        mode=config.align_mode,
        niter=config.niter,
        lr=config.lr,
        schedule=config.schedule,
        min_conf=config.min_conf,
        transforms=[v.transform for v in views],
        device=device,
        progress=config.progress,
        cancel=cancel,
        **known,
    )
    scene.sources = [str(v.path or v.name) for v in views]
    timings["alignment"] = time.perf_counter() - tick
    if config.max_depth_ratio is not None:
        scene.masks = mask_far_points(scene, config.max_depth_ratio)

    min_conf = float(scene.metadata["alignment"]["min_conf"])
    confidences = np.concatenate([c.reshape(-1) for c in scene.confidences])
    kept = int(sum(int(m.sum()) for m in scene.masks))
    messages = []
    low = low_confidence_warning(confidences, min_conf)
    if low is not None:
        messages.append(low + ("; the point exports (PLY, GLB, COLMAP points) will be empty" if kept == 0 else ""))
    raise_if_cancelled(cancel, "export")
    files: dict[str, Path] = {}
    if output is not None:
        tick = time.perf_counter()
        with output.staged() as staging:
            written = export_scene(scene, staging, formats=config.formats, glb_geometry=config.glb_geometry)
        files = {key: output.relocate(path, staging) for key, path in written.items()}
        timings["export"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start

    summary = {
        "images": len(views),
        "pairs": len(pairs),
        "image_size": size,
        "mean_confidence": float(confidences.mean()),
        "min_conf": min_conf,
        "min_conf_rule": str(config.min_conf),
        "points_kept": kept,
        "points_total": int(confidences.size),
        "weights": str(weights) if weights is not None else "(model passed in)",
        "device": str(device),
        "dtype": str(inference_dtype(model)).removeprefix("torch."),
        "head_dtype": str(head_inference_dtype(model)).removeprefix("torch."),
        "alignment": scene.metadata["alignment"]["mode"],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "files": {k: str(v) for k, v in files.items()},
    }
    scene.metadata.setdefault("reconstruct", summary)
    return ReconstructResult(scene=scene, files=files, summary=summary, warnings=messages)


def mask_far_points(scene: Scene, max_depth_ratio: float) -> list[np.ndarray]:
    """New masks: `scene.masks` less the pixels deeper than `max_depth_ratio` × that image's median depth.

    The median is taken over the pixels the mask keeps (all pixels when it keeps none), so with
    DUSt3R-style predictions, where sky and distant background come out far and low-confidence,
    this removes what survives the confidence threshold. Depth is z-depth in the scene's unit;
    masks are (H_i, W_i) bool. Raises ConfigError for a ratio that is not a number > 0.
    """
    _check_depth_ratio(max_depth_ratio)
    masks = []
    for depth, mask in zip(scene.depths, scene.masks):
        depth = np.asarray(depth)
        mask = np.asarray(mask, dtype=bool)
        reference = depth[mask] if mask.any() else depth.reshape(-1)
        reference = reference[np.isfinite(reference) & (reference > 0)]
        if not reference.size:
            masks.append(mask.copy())
            continue
        masks.append(mask & (depth <= max_depth_ratio * float(np.median(reference))))
    return masks


def _check_input_file(flag: str, path: str | Path) -> None:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{flag} file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"{flag} {path} is a folder, not a JSON file")


def _check_depth_ratio(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"max_depth_ratio must be a finite number > 0, got {value!r}")


def _attach_captions(views: list, config: ReconstructConfig) -> None:
    """Per-image captions from the captions file, else from EXIF (when `config.exif`)."""
    if not config.captions and not config.exif:
        return
    from recon3r.text.captions import captions_for_images, load_captions_file

    mapping = load_captions_file(config.captions) if config.captions else None
    paths = [str(v.path or v.name) for v in views]
    captions = captions_for_images(mapping, paths, exif_fallback=config.exif, source=str(config.captions or "captions"))
    for view, caption in zip(views, captions):
        view.caption = caption


def _known_cameras(config: ReconstructConfig, views: list) -> dict[str, Any]:
    """Known intrinsics (mapped to network resolution) and poses, as `global_align` takes them."""
    from recon3r.io.camera_files import read_intrinsics_file, read_poses_file

    paths = [str(v.path or v.name) for v in views]
    known: dict[str, Any] = {}
    if config.intrinsics:
        sizes = [tuple(v.transform.original_size) for v in views]
        full, focal = read_intrinsics_file(config.intrinsics, paths, sizes=sizes)
        if full:
            known["known_intrinsics"] = {i: views[i].transform.intrinsics_to_network(K) for i, K in full.items()}
        if focal:
            known["known_focals"] = {i: f * views[i].transform.scale for i, f in focal.items()}
    if config.poses:
        known["known_poses"] = read_poses_file(config.poses, paths)
    return known


def format_summary(result: ReconstructResult) -> str:
    """The few lines `recon3r reconstruct` prints at the end."""
    s = result.summary
    rule = f" ({s['min_conf_rule']})" if s.get("min_conf_rule") == "auto" else ""
    head = s.get("head_dtype", "float32")
    head = f" (DPT head in {head})" if head != "float32" else ""
    lines = [
        f"images used: {s['images']} ({s['pairs']} pairs at {s['image_size']} px); model in {s.get('dtype', 'float32')}"
        f"{head}, {s.get('alignment', 'optimize')} alignment",
        f"mean confidence: {s['mean_confidence']:.2f}; min confidence {s['min_conf']:.3g}{rule}; "
        f"points kept: {s['points_kept']:,} of {s['points_total']:,}",
        "time: " + ", ".join(f"{k} {v:.1f}s" for k, v in s["seconds"].items()),
    ]
    if result.files:
        lines.append("written:")
        lines += [f"  {name:<10} {path}" for name, path in result.files.items()]
    return "\n".join(lines)
