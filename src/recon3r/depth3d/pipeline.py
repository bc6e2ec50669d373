"""`depth_to_3d(DepthTo3DConfig(...))`: depth files in, coloured point clouds and recovered cameras out.

What `recon3r depth-to-3d` runs; the config's fields are the command's flags (`recon3r.utils.config_cli`).
A depth file gives `out` (.ply) and the recovered shift and focal beside it (`out` with .json); a
folder of maps gives `out`/<name>.ply per map and `out`/recovery.json listing every map's numbers.
Outputs appear only once complete (written to a temporary path, then moved into place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recon3r.errors import ConfigError


@dataclass
class DepthTo3DConfig:
    """Inputs and options of `depth_to_3d`; the source of every `recon3r depth-to-3d` flag."""

    depth: str = field(metadata={
        "flag": "depth", "help": "depth map known up to scale and shift (.npy H×W, single-channel 16-bit .png, .exr, "
        ".pfm; 0, NaN or inf mark missing pixels), or a folder of them"})
    out: str = field(metadata={
        "help": "for a file: the coloured point cloud to write (binary PLY, camera frame, OpenCV axes) and the "
        "recovered shift and focal beside it (same name, .json); for a folder: a new output folder (one PLY per "
        "map, recovery.json). Existing outputs are replaced only with --overwrite"})
    overwrite: bool = field(default=False, metadata={"help": "replace existing outputs"})
    image: str | None = field(default=None, metadata={
        "help": "RGB image to colour the points (resized to the depth map if needed), or, with a folder of maps, a "
        "folder of images matched by file name; default: grey shading by depth"})
    disparity: bool = field(default=False, metadata={
        "help": "the maps hold disparity (inverse depth, as MiDaS-style networks output): depth = 1 / value"})
    focal: float | None = field(default=None, metadata={
        "help": "starting focal guess in pixels (default: the model's 60° horizontal field of view)"})
    weights: str | None = field(default=None, metadata={
        "help": "a saved Depth3DModel folder (model.safetensors + config.json); default: the shipped model trained "
        "on procedural scenes and objects"})
    progress: bool = field(default=True, metadata={"negate": "--quiet", "help": "no progress bar for folders"})


@dataclass
class DepthTo3DResult:
    """`summaries`: one `recovery_summary` dict per map (a PLY name under "ply" for folders);
    `files`: {what: absolute path} written; `out`: the output path as given; `folder`: whether
    `depth` was a folder of maps."""

    summaries: list[dict]
    files: dict[str, Path]
    out: str
    folder: bool = False


def depth_to_3d(config: DepthTo3DConfig, model=None) -> DepthTo3DResult:
    """Recover every map's shift and focal and write the clouds; `model` (a `Depth3DModel`) may be
    passed to reuse a loaded one (default: `config.weights`, else the shipped model)."""
    depth = Path(config.depth)
    if depth.is_dir():
        return _run_folder(config, depth, model)
    return _run_file(config, depth, model)


def format_depth_to_3d_summary(result: DepthTo3DResult) -> str:
    """What the command prints: a file's shift and focal, or a folder's count."""
    if result.folder:
        return (f"wrote {len(result.summaries)} point clouds and recovery.json (shift and focal of each map) to "
                f"{result.files['folder']}")
    summary = result.summaries[0]
    return "\n".join([
        f"shift: {summary['shift']:+.4g} (depth units; {summary['relative_shift']:+.3f} × median depth)",
        f"focal: {summary['focal_px']:.1f} px (guess {summary['focal_guess_px']:.1f} px × "
        f"{summary['focal_scale']:.3f}; horizontal FOV {summary['horizontal_fov_deg']:.1f}°)",
        f"wrote {result.out} ({summary['points']:,} points) and {result.files['summary'].name}",
    ])


def _model(config: DepthTo3DConfig, model):
    if model is not None:
        return model
    from recon3r.depth3d.recover import load_default_model, load_depth3d_model

    return load_depth3d_model(config.weights) if config.weights is not None else load_default_model()


def _run_file(config: DepthTo3DConfig, depth: Path, model) -> DepthTo3DResult:
    from recon3r.depth3d.io import DepthJob, recover_depth_file, write_summary
    from recon3r.io.output_dir import atomic_write, check_output_file

    inputs = [config.depth, config.image, config.weights]
    out = check_output_file(config.out, inputs=inputs, overwrite=config.overwrite, suffixes=(".ply",))
    sidecar = check_output_file(out.with_suffix(".json"), inputs=inputs, overwrite=config.overwrite,
                                flag="--out (its .json)")
    model = _model(config, model)
    with atomic_write(out) as temporary:
        summary = recover_depth_file(DepthJob(depth, temporary, config.image), model, focal=config.focal,
                                     disparity=config.disparity)
    summary["depth"] = str(depth)
    with atomic_write(sidecar) as temporary:
        write_summary(temporary, summary)
    return DepthTo3DResult([summary], {"ply": out, "summary": sidecar}, config.out)


def _run_folder(config: DepthTo3DConfig, depth: Path, model) -> DepthTo3DResult:
    from recon3r.depth3d.io import depth_jobs, recover_depth_folder, write_summary
    from recon3r.io.output_dir import check_output_dir
    from recon3r.utils.progress import progress

    if config.image is not None and not Path(config.image).is_dir():
        raise ConfigError(f"--image {config.image}: with a folder of depth maps, give a folder of images")
    output = check_output_dir(config.out, "depth-to-3d", inputs=[config.depth, config.image, config.weights],
                              overwrite=config.overwrite)
    model = _model(config, model)
    image_dir = Path(config.image) if config.image is not None else None
    with output.staged() as staging:
        jobs = depth_jobs(depth, staging, image_dir)
        bar = iter(progress(range(len(jobs)), desc="depth maps", total=len(jobs), enabled=config.progress))
        summaries = recover_depth_folder(jobs, model, focal=config.focal, disparity=config.disparity,
                                         on_map=lambda _: next(bar, None))
        next(bar, None)
        for job, summary in zip(jobs, summaries):
            summary["ply"] = job.ply.name
        write_summary(staging / "recovery.json", summaries)
    return DepthTo3DResult(summaries, {"folder": output.path, "summary": output.path / "recovery.json"}, config.out,
                           folder=True)
