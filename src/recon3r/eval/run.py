"""`run_eval`: one evaluation from a typed config — methods over a benchmark set, a table and JSON.

`EvalConfig` is the library's config and the source of every `recon3r eval` flag
(`recon3r.utils.config_cli`); it extends `MethodSettings`, so how learned methods run is stated once.
Everything a run can refuse (output paths, captions file, dtype on the device, a checkpoint of the
wrong system or a broken one) is refused before any scene is rendered or evaluated.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from recon3r.errors import ConfigError
from recon3r.eval.benchmarks import TASKS
from recon3r.eval.methods import MethodSettings

if TYPE_CHECKING:
    from recon3r.eval.tasks import EvalResult, MethodResult


@dataclass
class EvalConfig(MethodSettings):
    """One `recon3r eval` run: the task, the benchmark set, the methods and what is written.

    task (or the positional task_arg, the command line's spelling): one of `TASKS`. benchmark: a
    set spec (`recon3r.eval.benchmarks.load_benchmark`). methods: checkpoint paths, 'example',
    'depth3d' or baseline names. The `MethodSettings` fields say how learned methods run.
    """

    task_arg: str | None = field(default=None, metadata={
        "flag": "task_arg", "nargs": "?", "choices": TASKS, "metavar": "TASK", "help": "the task (or --task)"})
    task: str | None = field(default=None, metadata={"choices": TASKS, "help": f"the task: {', '.join(TASKS)}"})
    benchmark: str | None = field(default=None, metadata={
        "metavar": "SET",
        "help": "procedural:N[:views=V,kind=K,size=S,seed=S] (held-out procedural data with exact GT: scenes; objects "
        "for novel_view; single depth maps for depth_to_3d, kind=object for object-centric maps), a folder in the "
        "recon3r multi-view format, a rendered-objects folder (recon3r data make-objects; novel_view), a Train-3D "
        "depths/ + intrinsics/ folder (recon3r data depth3d; depth_to_3d), or a real set folder "
        "(../shared/data/middlebury_dino_sparse_ring, ../shared/data/middlebury2003_teddy)"})
    methods: list[str] = field(default_factory=list, metadata={
        "flag": "--method", "metavar": "METHOD",
        "help": "repeatable: a checkpoint path (its model's system picks how it runs), 'example' (the shipped example "
        "pair model), 'depth3d' (the shipped depth-to-3D model), or a baseline: 'colmap' (pycolmap SfM, relpose), "
        "'constant-plane' (depth 1 everywhere; depth, video_depth, mv_recon), 'constant-velocity' (trajectory), "
        "'mean-colour' (novel_view), 'no-correction' or 'fov-60' (depth_to_3d)"})
    baselines: bool = field(default=True, metadata={
        "negate": "--no-baselines",
        "help": "do not add the task's baseline rows (COLMAP, constant-plane, constant-velocity, mean-colour, "
        "no-correction and fov-60)"})
    out: str | None = field(default=None, metadata={
        "help": "write every number (per scene and aggregate) to this JSON file (checked before evaluating; an "
        "existing file is replaced only with --overwrite)"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace an existing --out file and an earlier --save-predictions folder"})
    depth_align: str | None = field(default=None, metadata={
        "choices": ("none", "median", "scale", "scale&shift"),
        "help": "depth alignment (default: median per frame for depth, scale per sequence for video_depth)"})
    normals: str = field(default="grid", metadata={
        "choices": ("grid", "pca"), "help": "mv_recon normals: from each point map's pixel grid, or PCA of 30 neighbours"})
    icp: bool = field(default=False, metadata={"help": "mv_recon: refine the Sim(3) fit with ICP"})
    max_points: int | None = field(default=None, metadata={
        "help": "mv_recon: evaluate every k-th GT-valid pixel so at most this many per scene (default: all)"})
    focal_guess: str = field(default="random", metadata={
        "choices": ("random", "fov60"),
        "help": "depth_to_3d: the focal guess methods are given: off the truth by a random factor in [1/1.9, 1.9] "
        "(the training distribution) or a 60° field of view (what `recon3r depth-to-3d` assumes without --focal)"})
    distortion_seed: int = field(default=1, metadata={
        "help": "depth_to_3d: seed of the per-map shift and focal distortions"})
    cache: str | None = field(default=None, metadata={
        "help": "folder where procedural sets are rendered and reused (default: a temporary folder)"})
    save_predictions: str | None = field(default=None, metadata={
        "metavar": "DIR",
        "help": "also write each prediction and the GT on its grid to DIR/<method>/<scene>.npz (a new or empty "
        "folder; it appears once the evaluation is complete)"})
    progress: bool = field(default=True, metadata={"negate": "--quiet", "help": "no progress bars"})

    def method_settings(self) -> MethodSettings:
        """The `MethodSettings` part of this config."""
        return MethodSettings(**{item.name: getattr(self, item.name) for item in fields(MethodSettings)})

    def chosen_task(self) -> str:
        """`task` or `task_arg`; ConfigError when both differ or neither is given."""
        if self.task and self.task_arg and self.task != self.task_arg:
            raise ConfigError(f"two different tasks given: {self.task_arg!r} and --task {self.task!r}")
        task = self.task or self.task_arg
        if task is None:
            raise ConfigError(f"no task given; pass --task with one of {', '.join(TASKS)}")
        return task


@dataclass
class EvalRun:
    """What `run_eval` made: every number (`recon3r.eval.report.format_table` prints it), and the files
    written (None: not asked)."""

    result: EvalResult
    out: Path | None = None
    predictions_dir: Path | None = None

    @property
    def failed(self) -> list[MethodResult]:
        """Learned methods that failed on every scene (a setup problem, not a score)."""
        return [m for m in self.result.methods
                if m.settings.get("type") == "learned" and m.scenes and all(s.error for s in m.scenes)]


def run_eval(config: EvalConfig) -> EvalRun:
    """Evaluate `config.methods` (and the task's baselines) on `config.benchmark`; write `config.out`."""
    from recon3r.io.output_dir import atomic_write, check_output_dir, check_output_file

    if config.benchmark is None:
        raise ConfigError("--benchmark is required: procedural:N[:...], a dataset folder or a real set folder")
    if not config.methods:
        raise ConfigError("--method is required (repeatable): a checkpoint path, 'example', or a baseline name")

    # The output paths first, before any model is loaded or scene rendered.
    inputs = [config.benchmark, config.cache, config.captions, *config.methods]
    out = None if config.out is None else check_output_file(config.out, inputs=inputs, overwrite=config.overwrite,
                                                            suffixes=(".json",))
    predictions_dir = None if config.save_predictions is None else check_output_dir(
        config.save_predictions, "eval", inputs=inputs, overwrite=config.overwrite, flag="--save-predictions")

    from recon3r.eval.benchmarks import load_benchmark
    from recon3r.eval.methods import check_method, default_baselines, resolve_method
    from recon3r.eval.report import write_json
    from recon3r.eval.tasks import evaluate

    task = config.chosen_task()
    if config.niter < 0:
        raise ConfigError(f"--niter must be >= 0, got {config.niter}")
    from recon3r.models.precision import check_dtype_for_device, parse_dtype
    from recon3r.utils.device import resolve_device

    check_dtype_for_device(parse_dtype(config.dtype), resolve_device(config.device))
    check_dtype_for_device(parse_dtype(config.head_dtype, flag="--head-dtype"), resolve_device(config.device),
                           flag="--head-dtype")
    if config.captions is not None:
        from recon3r.text.captions import load_captions_file

        load_captions_file(config.captions)  # a broken file fails here, in one line, before any scene
    settings = config.method_settings()
    methods = [resolve_method(spec, settings) for spec in config.methods]
    names = [m.name for m in methods]
    for k, method in enumerate(methods):  # two checkpoints with the same folder name: tell them apart
        if names.count(method.name) > 1:
            method.name = f"{method.name} ({config.methods[k]})"
    for method in methods:
        check_method(method, task)  # before any loading: a checkpoint of the wrong system is one line
    for method in methods:
        if callable(getattr(method, "load", None)):
            method.load()  # a broken checkpoint fails here, in one line, not as a row of failed scenes
    if config.baselines:
        taken = {m.name for m in methods}
        methods += [b for b in default_baselines(task) if b.name not in taken]
    benchmark = load_benchmark(config.benchmark, task, size=config.size, cache_dir=config.cache)
    try:
        with predictions_dir.staged() if predictions_dir else contextlib.nullcontext() as staging:
            saver = _prediction_saver(staging) if staging else None
            result = evaluate(task, benchmark, methods, depth_align=config.depth_align, normals=config.normals,
                              icp=config.icp, max_points=config.max_points, on_prediction=saver,
                              progress=config.progress, focal_guess=config.focal_guess,
                              distortion_seed=config.distortion_seed)
    finally:
        benchmark.close()
    if out is not None:
        with atomic_write(out) as temporary:
            write_json(result, temporary)
    return EvalRun(result, None if out is None else Path(out),
                   None if predictions_dir is None else Path(predictions_dir.path))


def _prediction_saver(folder: str):
    """A callback writing DIR/<method>/<scene>.npz: the prediction's arrays, and the GT on its grid."""
    import re

    import numpy as np

    from recon3r.eval.tasks import gt_depth_on_grid

    def save(method, scene, prediction) -> None:
        def safe(name: str) -> str:
            return re.sub(r"[^\w.+-]+", "_", name)

        out = Path(folder) / safe(method.name)
        out.mkdir(parents=True, exist_ok=True)
        arrays = {}
        if prediction.world_from_cam is not None:
            arrays["world_from_cam"] = prediction.world_from_cam
        if getattr(scene, "world_from_cam", None) is not None:
            arrays["gt_world_from_cam"] = scene.world_from_cam
        for key, prefix in (("depths", "depth"), ("points", "points"), ("renders", "render"),
                            ("render_masks", "render_mask")):
            for v, value in enumerate(getattr(prediction, key) or []):
                if value is not None:
                    arrays[f"{prefix}_{v:03d}"] = value
        if prediction.surface is not None:
            arrays["surface"] = prediction.surface
        if prediction.transforms is not None and hasattr(scene, "has_depth"):
            for v in range(len(scene)):
                if scene.has_depth(v):
                    gt, valid = gt_depth_on_grid(scene.depths[v], prediction.transforms[v])
                    arrays[f"gt_depth_{v:03d}"], arrays[f"gt_valid_{v:03d}"] = gt, valid
        if hasattr(scene, "distorted"):  # depth_to_3d: the map given to the method, and the truth
            arrays["input_depth"], arrays["gt_depth"] = scene.distorted.depth, scene.view.depth
            arrays.update({k: np.float64(v) for k, v in prediction.info.items() if isinstance(v, float)})
        np.savez(out / f"{safe(scene.name)}.npz", **arrays)

    return save
