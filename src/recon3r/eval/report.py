"""Reports of `recon3r eval`: one Markdown table (methods as rows) and a JSON file with every number.

The table prints the aggregate metrics rounded for reading; the JSON holds them unrounded, per
scene and aggregated, with the settings of each method and the software versions.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recon3r.eval.tasks import EvalResult, MethodResult


def _fixed(digits: int) -> Callable[[float], str]:
    return lambda value: "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


#: Per task: (column header, aggregate key, formatter). Registered, scene counts and time are added.
COLUMNS: dict[str, list[tuple[str, str, Callable[[float], str]]]] = {
    "relpose": [("RRA@15", "RRA@15", _fixed(1)), ("RTA@15", "RTA@15", _fixed(1)), ("mAA@30", "mAA@30", _fixed(1)),
                ("RRA@5", "RRA@5", _fixed(1)), ("RTA@5", "RTA@5", _fixed(1))],
    "mv_recon": [("Acc ↓", "acc", _fixed(4)), ("Acc med ↓", "acc_med", _fixed(4)), ("Comp ↓", "comp", _fixed(4)),
                 ("Comp med ↓", "comp_med", _fixed(4)), ("NC ↑", "nc", _fixed(3)), ("NC med ↑", "nc_med", _fixed(3))],
    "depth": [("AbsRel ↓", "abs_rel", _fixed(4)), ("δ<1.25 ↑", "delta_1", _fixed(1)),
              ("δ<1.25² ↑", "delta_2", _fixed(1)), ("RMSE ↓", "rmse", _fixed(4))],
    "video_depth": [("AbsRel ↓", "abs_rel", _fixed(4)), ("δ<1.25 ↑", "delta_1", _fixed(1)),
                    ("δ<1.25² ↑", "delta_2", _fixed(1)), ("RMSE ↓", "rmse", _fixed(4)),
                    ("AbsRel s&s ↓", "abs_rel_ss", _fixed(4)), ("δ<1.25 s&s ↑", "delta_1_ss", _fixed(1))],
    "trajectory": [("ATE ↓", "ate", _fixed(4)), ("RPE trans ↓", "rpe_trans", _fixed(4)),
                   ("RPE rot (°) ↓", "rpe_rot", _fixed(2))],
    "novel_view": [("PSNR ↑", "psnr", _fixed(2)), ("SSIM ↑", "ssim", _fixed(3)), ("mask IoU ↑", "mask_iou", _fixed(3)),
                   ("Chamfer ↓", "chamfer", _fixed(4))],
    "depth_to_3d": [("shift error ↓", "shift_error", _fixed(3)), ("focal error (%) ↓", "focal_error_pct", _fixed(1)),
                    ("point error ↓", "point_error", _fixed(3))],
}

#: Per task: the scene-count column and the time column (header, seconds → shown value).
COUNT_HEADER = {"relpose": "registered", "novel_view": "objects ok", "depth_to_3d": "maps ok"}
TIME_COLUMN: dict[str, tuple[str, Callable[[float], float]]] = {
    "novel_view": ("time / object (s)", lambda s: s),
    "depth_to_3d": ("time / map (ms)", lambda s: 1000 * s),
}
DEFAULT_TIME_COLUMN = ("time / scene (s)", lambda s: s)

NOTES = {
    "relpose": "RRA/RTA@τ: % of image pairs i<j with rotation / translation-direction error below τ°; "
               "mAA@30: mean over τ = 1..30° of the % with max(rot, trans) error below τ. Mean over scenes; "
               "images a method does not register fail every pair they belong to.",
    "mv_recon": "Acc/Comp: mean (med: median) nearest-neighbour distance from predicted to GT points and back, "
                "in the GT unit, after a Sim(3) Umeyama fit on corresponding pixels{icp}; NC: normal consistency "
                "({normals} normals). Mean over scenes.",
    "depth": "Per-frame depth after `{depth_align}` alignment; AbsRel = mean |d−d*|/d*, δ<1.25^k in %, "
             "RMSE in the GT unit. Mean over frames.",
    "video_depth": "Depth of each whole sequence after one `{depth_align}` alignment per sequence; AbsRel, "
                   "δ<1.25^k in %, RMSE in the GT unit; s&s: after one scale&shift fit per sequence instead. "
                   "Mean over sequences.",
    "trajectory": "ATE: RMSE of camera centres after Sim(3) Umeyama (GT unit); RPE at Δ=1 after the same "
                  "alignment: translation RMSE (GT unit), rotation RMSE (°). Mean over sequences.",
    "novel_view": "View 0 is the input; views 1…V−1 are rendered at their cameras and compared on white: PSNR "
                  "(dB), SSIM (11×11 Gaussian, σ 1.5), IoU of the rendered opacity > 0.5 with the GT mask; "
                  "Chamfer: (Acc + Comp) / 2 between the marching-cubes surface and the GT points (GT unit, no "
                  "alignment; n/a without a surface or GT points). Means over views, then objects. LPIPS: not "
                  "reported (no package gives it offline with shipped weights).",
    "depth_to_3d": "Each map distorted once (seed {distortion_seed}): a random shift and a `{focal_guess}` focal "
                   "guess; shift error in units of the observed median depth, focal error |f̂/f − 1|, point error "
                   "mean ‖s·p − g‖ / mean ‖g‖ after the least-squares scale. Medians over maps. no-correction: "
                   "shift 0 and the guess; fov-60: shift 0 and a 60° horizontal field of view.",
}


def _row(task: str, method: MethodResult) -> list[str]:
    agg = method.aggregate
    cells = [method.method] + [fmt(agg.get(key)) for _, key, fmt in COLUMNS[task]]
    if task == "relpose":
        cells.append(f"{int(agg.get('registered', 0))}/{int(agg.get('images', 0))}")
    else:
        cells.append(f"{int(agg['scenes'] - agg['failed'])}/{int(agg['scenes'])}")
    to_shown = TIME_COLUMN.get(task, DEFAULT_TIME_COLUMN)[1]
    seconds = agg.get("seconds")
    cells.append(_fixed(1)(None if seconds is None else to_shown(seconds)))
    return cells


def _cost_line(method: MethodResult) -> str | None:
    """Per-frame latency and peak memory of a method that reported them (streaming models)."""
    agg = method.aggregate
    if "ms_per_frame" not in agg:
        return None
    line = f"- {method.method}: {agg['ms_per_frame']:.1f} ms / frame (model time, mean over frames)"
    if "peak_memory_mb" in agg:
        measure = next((s.info.get("memory_measure") for s in method.scenes if s.info.get("memory_measure")), "")
        line += f"; peak memory {agg['peak_memory_mb']:.0f} MB, max over scenes ({measure})"
    return line


def format_table(result: EvalResult) -> str:
    """The Markdown report: a heading naming task and benchmark, the table, and how it was computed."""
    task = result.task
    headers = ["method"] + [h for h, _, _ in COLUMNS[task]]
    headers += [COUNT_HEADER.get(task, "scenes ok"), TIME_COLUMN.get(task, DEFAULT_TIME_COLUMN)[0]]
    lines = [
        f"### {task} on `{result.benchmark['name']}`" + (f": {result.benchmark['description']}"
                                                         if result.benchmark.get("description") else ""),
        "",
        "| " + " | ".join(headers) + " |",
        "|---|" + "---:|" * (len(headers) - 1),
    ]
    lines += ["| " + " | ".join(_row(task, m)) + " |" for m in result.methods]
    options = result.options
    note = NOTES[task].format(depth_align=options.get("depth_align"), normals=options.get("normals"),
                              icp=" and ICP" if options.get("icp") else "", focal_guess=options.get("focal_guess"),
                              distortion_seed=options.get("distortion_seed"))
    lines += ["", note]
    costs = [line for line in map(_cost_line, result.methods) if line]
    if costs:
        lines += [""] + costs
    failures = [(m.method, s.scene, s.error) for m in result.methods for s in m.scenes if s.error]
    if failures:
        lines.append("")
        lines += [f"- {method} failed on {scene}: {error}" for method, scene, error in failures]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of recon3r and the libraries whose numerics the results depend on."""
    import numpy
    import torch

    import recon3r

    out = {"recon3r": recon3r.__version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "torch": torch.__version__}
    for name in ("scipy", "pycolmap"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            pass
    return out


def to_json(result: EvalResult) -> dict[str, Any]:
    """A JSON-ready dict: task, benchmark, options, per method its settings, aggregate and scenes."""

    def clean(value: Any) -> Any:  # NaN/inf are not JSON; null says "not available"
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    methods = []
    for m in result.methods:
        scenes = []
        for s in m.scenes:
            entry: dict[str, Any] = {"scene": s.scene, "metrics": s.metrics, "seconds": s.seconds}
            if s.error:
                entry["error"] = s.error
            if s.frames is not None:
                entry["frames"] = s.frames
            if s.info:
                entry["info"] = s.info
            scenes.append(entry)
        methods.append({"method": m.method, "settings": m.settings, "aggregate": m.aggregate, "scenes": scenes})
    return clean({
        "task": result.task,
        "benchmark": result.benchmark,
        "options": result.options,
        "methods": methods,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
    })


def write_json(result: EvalResult, path: str | Path) -> Path:
    """Write `to_json(result)` to `path` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path
