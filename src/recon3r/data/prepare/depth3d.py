"""Raw ScanNet / 3D Ken Burns / Taskonomy depth → the depth-to-3D training layout (`recon3r data depth3d`).

Train-3D's `data_gen.py` with the same flags (`-ss/-sk/-st` roots, `-ns a,b,c` samples per dataset,
`--out`); the readers are `recon3r.data.depth3d_sources`. Output (read it with
`DepthSamples(ROOT=OUT, split=...)`, or `recon3r eval depth_to_3d` on the folder)::

    OUT/depths/NNNNNN.npz      one depth map per sample (np.savez_compressed), keys:
                                 depth            (H, W) float32 z-depth in metres, 0 where invalid
                                 valid            (H, W) bool, True where `depth` holds a measurement
                                 image            (H, W, 3) uint8 colour on the depth grid (when the dataset has it)
                                 world_from_cam   (4, 4) float64 cam-to-world, OpenCV axes (ScanNet only)
    OUT/intrinsics/NNNNNN.npy  (3, 3) float64 K of that depth map, pixels, pixel centres at integer coordinates
    OUT/dataset.json           provenance: format "recon3r-depth3d", the roots, -ns, and per sample its
                               file stem, dataset, scene and raw item (frame number or file); "complete"
    OUT/scales.npy             (S,) float64 median valid depth of each sample, metres
    OUT/focals.npy             (S,) float64 focal of each sample, pixels ((fx + fy) / 2, as Train-3D)
    OUT/distributions.png      histograms of both (and the summary is printed)

Sampling: each dataset's `n` samples are spread equally over its scenes (scenes with fewer maps
than their share give all they have and the others make up the difference); inside a scene the
maps are evenly spaced over its sorted list (frames of a video are close to their neighbours).
The plan depends only on the raw folders and `-ns`, so it is the same on every run.

Resuming: OUT is created and marked by the first run; a rerun on a folder this command marked
skips every sample whose npz and npy are both there (each is written to a temporary name and
renamed, so a present file is complete) and writes the rest, then the distributions again. A rerun
whose plan differs (other roots or -ns) is refused; `--overwrite` starts over (the previous folder
is kept until the new one is complete; an interrupted --overwrite run leaves it as it was).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recon3r.data.depth3d_sources import DATASETS, open_source
from recon3r.data.prepare import write_json_atomic
from recon3r.errors import ConfigError

FORMAT_NAME = "recon3r-depth3d"
COMMAND = "data depth3d"
#: The keys of depths/NNNNNN.npz (see the module docstring): always, and when the dataset has them.
NPZ_KEYS = ("depth", "valid")
NPZ_OPTIONAL_KEYS = ("image", "world_from_cam")


@dataclass
class Depth3DPrepareConfig:
    """`recon3r data depth3d` options (flag names follow Train-3D's data_gen.py)."""

    out: str
    samples: tuple[int, int, int]  # -ns: ScanNet, Ken Burns, Taskonomy
    scannet: str | None = None  # -ss
    kenburns: str | None = None  # -sk
    taskonomy: str | None = None  # -st
    kenburns_unit: float = 0.001  # metres per EXR unit
    overwrite: bool = False
    progress: bool = True


@dataclass
class PlannedSample:
    file: str  # NNNNNN
    dataset: str
    scene: str
    item: str


@dataclass
class Depth3DReport:
    written: int = 0
    resumed: int = 0
    scales: np.ndarray = field(default_factory=lambda: np.zeros(0))
    focals: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self, out: Path) -> str:
        lines = [f"{out}: {self.written} written, {self.resumed} already there (resumed), "
                 f"{self.written + self.resumed} samples"]
        for name, values, unit in (("scale (median depth)", self.scales, "m"), ("focal", self.focals, "px")):
            if len(values):
                q = np.percentile(values, [0, 25, 50, 75, 100])
                lines.append(f"  {name}: min {q[0]:.4g}, quartiles {q[1]:.4g} / {q[2]:.4g} / {q[3]:.4g}, "
                             f"max {q[4]:.4g} {unit}")
        return "\n".join(lines)


def equal_shares(counts: list[int], total: int) -> list[int]:
    """How many of `total` samples each scene gives, as equal as the scenes' `counts` allow.

    Scenes are filled from the smallest: each takes the ceiling of what is left over the scenes
    left, or all it has. ValueError when `total` exceeds the sum of `counts`.
    """
    if total > sum(counts):
        raise ValueError(f"{total} samples asked, {sum(counts)} available")
    shares = [0] * len(counts)
    remaining = total
    order = sorted(range(len(counts)), key=lambda i: (counts[i], i))
    for position, scene in enumerate(order):
        shares[scene] = min(counts[scene], math.ceil(remaining / (len(order) - position)))
        remaining -= shares[scene]
    return shares


def plan_samples(config: Depth3DPrepareConfig) -> tuple[list[PlannedSample], dict]:
    """The samples to write, in order, and each dataset's source; ConfigError for bad roots or counts."""
    roots = {"scannet": config.scannet, "kenburns": config.kenburns, "taskonomy": config.taskonomy}
    flags = {"scannet": "-ss", "kenburns": "-sk", "taskonomy": "-st"}
    if len(config.samples) != 3 or any(n < 0 for n in config.samples):
        raise ConfigError(f"-ns must be three counts >= 0 (ScanNet, Ken Burns, Taskonomy), got {config.samples}")
    plan: list[PlannedSample] = []
    sources = {}
    for dataset, count in zip(DATASETS, config.samples):
        if count == 0:
            continue
        if not roots[dataset]:
            raise ConfigError(f"-ns asks {count} {dataset} sample(s) but {flags[dataset]} gives no root")
        source = open_source(dataset, roots[dataset], config.kenburns_unit)
        scenes = source.scenes()
        if not scenes:
            raise ConfigError(f"{flags[dataset]} {roots[dataset]}: no {dataset} scene found "
                              "(see `recon3r data depth3d --help` for the layouts)")
        names = list(scenes)
        try:
            shares = equal_shares([len(scenes[s]) for s in names], count)
        except ValueError as err:
            raise ConfigError(f"-ns: {dataset} at {roots[dataset]}: {err}") from None
        for scene, share in zip(names, shares):
            items = scenes[scene]
            picks = np.round(np.linspace(0, len(items) - 1, share)).astype(int) if share > 1 else [0] * share
            plan += [PlannedSample("", dataset, scene, items[i]) for i in picks]
        sources[dataset] = source
    if not plan:
        raise ConfigError("-ns asks no samples")
    for index, sample in enumerate(plan):
        sample.file = f"{index:06d}"
    return plan, sources


def prepare_depth3d(config: Depth3DPrepareConfig) -> Depth3DReport:
    """Write (or finish) the dataset described by `config` (module docstring); returns counts and distributions."""
    from recon3r.io.output_dir import check_output_dir, prepare_resumable_dir

    inputs = [config.scannet, config.kenburns, config.taskonomy]
    if config.overwrite:
        output = check_output_dir(config.out, COMMAND, inputs=inputs, overwrite=True)
        plan, sources = plan_samples(config)
        with output.staged() as staging:
            report = _write(staging, config, plan, sources)
        return report
    plan, sources = plan_samples(config)
    out, resumed = prepare_resumable_dir(config.out, COMMAND, inputs=inputs)
    if resumed and (out / "dataset.json").is_file():
        _check_same_plan(out, plan)
    return _write(out, config, plan, sources)


def _check_same_plan(out: Path, plan: list[PlannedSample]) -> None:
    try:
        stored = json.loads((out / "dataset.json").read_text(encoding="utf-8"))["samples"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # written before dataset.json was: resume by file presence
    current = [[s.file, s.dataset, s.scene, s.item] for s in plan]
    if [[e.get("file"), e.get("dataset"), e.get("scene"), e.get("item")] for e in stored] != current:
        raise ConfigError(f"--out {out} holds an earlier `recon3r data depth3d` run with other roots or -ns; "
                          "pass --overwrite to start over, or choose another folder")


def _write(out: Path, config: Depth3DPrepareConfig, plan: list[PlannedSample], sources: dict) -> Depth3DReport:
    from recon3r.utils.progress import progress

    (out / "depths").mkdir(parents=True, exist_ok=True)
    (out / "intrinsics").mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT_NAME, "version": 1, "generator": "recon3r data depth3d",
        "roots": {"scannet": config.scannet, "kenburns": config.kenburns, "taskonomy": config.taskonomy},
        "samples_per_dataset": dict(zip(DATASETS, config.samples)), "kenburns_unit_m": config.kenburns_unit,
        "npz_keys": {"depth": "(H, W) float32 z-depth, metres, 0 where invalid", "valid": "(H, W) bool",
                     "image": "(H, W, 3) uint8 colour on the depth grid, optional",
                     "world_from_cam": "(4, 4) float64 cam-to-world, OpenCV axes, optional"},
        "intrinsics": "(3, 3) float64 pixels, pixel centres at integer coordinates",
        "samples": [{"file": s.file, "dataset": s.dataset, "scene": s.scene, "item": s.item} for s in plan],
        "complete": False,
    }
    write_json_atomic(out / "dataset.json", meta)
    report = Depth3DReport()
    scales, focals = np.zeros(len(plan)), np.zeros(len(plan))
    for index, sample in enumerate(progress(plan, desc="depth maps", total=len(plan), enabled=config.progress)):
        npz, npy = out / "depths" / f"{sample.file}.npz", out / "intrinsics" / f"{sample.file}.npy"
        if npz.is_file() and npy.is_file():
            with np.load(npz) as data:
                depth, valid = data["depth"], data["valid"]
            k = np.load(npy)
            report.resumed += 1
        else:
            record = sources[sample.dataset].read(sample.scene, sample.item)
            depth, valid, k = record.depth, record.valid, record.intrinsics
            arrays = {"depth": depth, "valid": valid}
            if record.image is not None:
                arrays["image"] = record.image
            if record.world_from_cam is not None:
                arrays["world_from_cam"] = record.world_from_cam
            _save_atomic(npy, np.save, np.asarray(k, dtype=np.float64))
            _save_atomic(npz, np.savez_compressed, **arrays)
            report.written += 1
        scales[index] = float(np.median(depth[valid])) if valid.any() else 0.0
        focals[index] = (float(k[0, 0]) + float(k[1, 1])) / 2
    report.scales, report.focals = scales, focals
    np.save(out / "scales.npy", scales)
    np.save(out / "focals.npy", focals)
    write_histograms(out / "distributions.png", [("scale: median depth (m)", scales), ("focal (px)", focals)])
    write_json_atomic(out / "dataset.json", {**meta, "complete": True})
    return report


def _save_atomic(path: Path, save, *args, **kwargs) -> None:
    """`save(temporary, *args, **kwargs)`, then rename onto `path`: a present file is a complete one."""
    temporary = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    save(temporary, *args, **kwargs)
    os.replace(temporary, path)


def write_histograms(path: Path, series: list[tuple[str, np.ndarray]], bins: int = 30) -> None:
    """A PNG with one bar histogram per (title, values) side by side (PIL only), min and max under each."""
    from PIL import Image, ImageDraw

    panel_w, panel_h, margin = 360, 240, 28
    image = Image.new("RGB", (panel_w * len(series), panel_h), "white")
    draw = ImageDraw.Draw(image)
    for k, (title, values) in enumerate(series):
        left = k * panel_w
        draw.text((left + margin, 6), f"{title}, n={len(values)}", fill="black")
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        lo, hi = float(values.min()), float(values.max())
        counts, _ = np.histogram(values, bins=bins, range=(lo, hi if hi > lo else lo + 1))
        plot_w, plot_h = panel_w - 2 * margin, panel_h - 2 * margin - 6
        bar = plot_w / bins
        for b, count in enumerate(counts):
            height = plot_h * count / max(int(counts.max()), 1)
            x0 = left + margin + b * bar
            draw.rectangle([x0, panel_h - margin - height, x0 + bar - 1, panel_h - margin], fill=(70, 110, 180))
        draw.line([left + margin, panel_h - margin, left + panel_w - margin, panel_h - margin], fill="black")
        draw.text((left + margin, panel_h - margin + 4), f"{lo:.3g}", fill="black")
        draw.text((left + panel_w - margin - 40, panel_h - margin + 4), f"{hi:.3g}", fill="black")
    image.save(path)
