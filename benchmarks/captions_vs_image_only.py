"""Do captions that carry the focal length help? Image-only vs image+caption pair models, trained identically.

Both models are trained with the real trainer (`recon3r.train.trainer.train` + `TrainConfig`): same
architecture for the image part, same procedural scenes (every view has its own camera, horizontal
field of view drawn from 35-80 degrees, so focal lengths vary by 2.6x), same steps, batch, learning
rate and seed. The caption model reads each view's EXIF-style caption ("Make: Procedural, Model:
PX-APSC, FocalLength: 18.3 mm, FocalLengthIn35mmFilm: 27, ImageWidth: 64, ImageHeight: 48"),
synthesised by `Procedural` from the true intrinsics of the image before it was cropped to the
training resolution.

On held-out pairs (`split='test'`, scenes never seen in training) it reports, for view 1 of each pair:
- focal error: the focal length estimated from the predicted pointmap (`estimate_focal`, median
  mode, true principal point), relative to the true one; the estimate is scale-free, so no further
  alignment is needed. Median and mean over the pairs;
- `Regr3D(L21, norm_mode='avg_dis')` and `Regr3D_ScaleShiftInv(L21, gt_scale=True)` (both views);
- depth AbsRel of view 1 after per-image median scaling (`depth_metrics(..., align='median')`).
The caption model is evaluated with true captions, wrong ones (focal length x2 in the text) and
none. A reference row gives the best constant focal (the median true focal/width of the test views).

Every seed (`--seeds`, default 0,1,2,3,7) trains its own models and draws its own test pairs; the
script prints one full table per seed, then a summary: per seed the median focal errors, their
ratios, and the median over seeds, with the acceptance checks of issue 18 (true captions < 0.6x
image only; doubled focal > 1.5x true; missing within 10% of image only) per seed.
`--out DIR` keeps the runs; a model whose folder (named by a hash of its settings) already holds
a finished run is not trained again.

    .venv/bin/python benchmarks/captions_vs_image_only.py            # 5 seeds: about 1.5 h on 2 busy cores
    .venv/bin/python benchmarks/captions_vs_image_only.py --seeds 0 --steps 40 --scenes 40 --test-pairs 32  # smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PAIR_MODEL = (
    "patch_size=8, img_size=(48, 64), enc_embed_dim=64, enc_depth=3, enc_num_heads=4, dec_embed_dim=64, "
    "dec_depth=3, dec_num_heads=4, head_type='linear', pos_embed='RoPE100'"
)
RESOLUTION = (64, 48)  # (W, H)


def dataset_spec(split: str, scenes: int, views: int) -> str:
    return (f"Procedural(scenes={scenes}, views={views}, size=64, resolution={RESOLUTION}, split={split!r}, "
            f"kind='pairs', cache_views=100000)")


def train_model(name: str, model: str, args: argparse.Namespace, root: Path, seed: int) -> tuple[Path, float]:
    """Train one model with the real trainer (run in its own process); returns (checkpoint, seconds)."""
    import contextlib

    import torch

    from recon3r.train.config import TrainConfig
    from recon3r.train.trainer import train

    torch.set_num_threads(args.threads)
    config = TrainConfig(
        # N @ dataset: one epoch of exactly steps x batch pairs, so the cosine schedule spans the run.
        model=model, train_dataset=f"{args.steps * args.batch_size} @ {dataset_spec('train', args.scenes, args.views)}",
        train_criterion="Regr3D(L21, norm_mode='avg_dis')", epochs=1, max_steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, warmup_epochs=0.05, min_lr=args.lr / 50, output_dir=str(root / name), device="cpu",
        log_freq=50, seed=seed,
    )
    done = root / name / "train_seconds.txt"
    if done.is_file() and (root / name / "checkpoint-last").is_dir():  # finished earlier (--out)
        return root / name / "checkpoint-last", float(done.read_text())
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the table
        train(config, show_progress=False)
    seconds = time.perf_counter() - start
    done.write_text(f"{seconds:.1f}")
    return root / name / "checkpoint-last", seconds


def with_captions(items: list, indices: list[int], dataset, mode: str) -> list:
    """Replace each view's caption: 'true' keeps it, 'wrong' doubles its focal length, 'missing' drops it."""
    if mode in ("true", "-"):
        return items
    for index, item in zip(indices, items):
        scene, views = dataset.items[index]
        for view_index, view in zip(views, item):
            view["caption"] = dataset.generated[scene].caption(view_index, 2.0) if mode == "wrong" else ""
    return items


def evaluate(model, dataset, indices: list[int], mode: str, batch: int = 25) -> dict[str, float]:
    import numpy as np
    import torch
    from torch.utils.data import default_collate

    from recon3r.eval.metrics import depth_metrics
    from recon3r.geometry.focal import estimate_focal
    from recon3r.train.losses import L21, Regr3D, Regr3D_ScaleShiftInv

    regr3d, ssi = Regr3D(L21, norm_mode="avg_dis"), Regr3D_ScaleShiftInv(L21, gt_scale=True)
    focal_err, regr, scale_shift, abs_rel = [], [], [], []
    for start in range(0, len(indices), batch):
        chunk = indices[start : start + batch]
        view1, view2 = default_collate(with_captions([dataset[i] for i in chunk], chunk, dataset, mode))
        with torch.no_grad():
            pred1, pred2 = model(view1, view2)
        k = view1["camera_intrinsics"]
        focal = estimate_focal(pred1["pts3d"], principal_point=k[:, :2, 2])
        focal_err.append(((focal - k[:, 0, 0]).abs() / k[:, 0, 0]).numpy())
        for b in range(len(chunk)):
            one = [{key: value[b : b + 1] for key, value in v.items() if torch.is_tensor(value)}
                   for v in (view1, view2, pred1, pred2)]
            regr.append(float(regr3d(*one)[0]))
            scale_shift.append(float(ssi(*one)[0]))
            abs_rel.append(depth_metrics(pred1["pts3d"][b, ..., 2], view1["depthmap"][b], view1["valid_mask"][b],
                                         align="median")["abs_rel"])
    errors = np.concatenate(focal_err)
    return {"focal_median": float(np.median(errors)), "focal_mean": float(errors.mean()),
            "regr3d": float(np.mean(regr)), "ssi": float(np.mean(scale_shift)), "abs_rel": float(np.mean(abs_rel))}


def constant_focal_row(dataset, indices: list[int]) -> dict[str, float]:
    """The best constant guess: every view gets the median true focal/width of the test views."""
    import numpy as np

    ratios = np.array([dataset[i][0]["camera_intrinsics"][0, 0] / RESOLUTION[0] for i in indices])
    errors = np.abs(np.median(ratios) - ratios) / ratios
    return {"focal_median": float(np.median(errors)), "focal_mean": float(errors.mean())}


def run_folder(name: str, spec: str, args: argparse.Namespace, seed: int) -> str:
    """`seed{N}/<name>-<hash of the model string and training settings>`: a changed setting trains anew."""
    settings = f"{spec}|{args.steps}|{args.batch_size}|{args.lr}|{args.scenes}|{args.views}"
    digest = hashlib.sha1(settings.encode()).hexdigest()[:8]
    short = name.replace(" + ", "_and_").replace(" ", "_").replace("(", "").replace(")", "")
    return f"seed{seed}/{short}-{digest}"


def run_seed(seed: int, runs: dict[str, str], args: argparse.Namespace, root: Path) -> list[tuple]:
    """Train every model of `runs` with `seed` (side by side), evaluate them; returns the table rows."""
    import numpy as np

    from recon3r.data import Procedural
    from recon3r.models import load_model

    with ProcessPoolExecutor(max_workers=min(len(runs), args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for name, spec in runs.items():
            print(f"seed {seed}: training {name}: {spec}", file=sys.stderr, flush=True)
            futures[name] = pool.submit(train_model, run_folder(name, spec, args, seed), spec, args, root, seed)
        results = {name: future.result() for name, future in futures.items()}

    test = Procedural(scenes=args.test_scenes, views=args.views, size=64, resolution=RESOLUTION, split="test")
    rng = np.random.default_rng(seed)
    indices = sorted(rng.choice(len(test), size=min(args.test_pairs, len(test)), replace=False).tolist())
    rows = [("best constant focal (reference)", "-", constant_focal_row(test, indices), None)]
    for name, (checkpoint, seconds) in results.items():
        model = load_model(checkpoint).eval()
        for mode in (("true", "wrong (focal x2)", "missing") if "caption" in name else ("-",)):
            print(f"seed {seed}: evaluating {name}, captions {mode}", file=sys.stderr, flush=True)
            rows.append((name, mode, evaluate(model, test, indices, mode.split(" ")[0]), seconds))
    return rows


def print_seed_table(seed: int, rows: list[tuple]) -> None:
    def cell(values: dict, key: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(values[key]) if key in values else "-"

    print(f"\n### seed {seed}\n")
    print("| model | test captions | focal rel. error (median) | focal rel. error (mean) | Regr3D | Regr3D_ScaleShiftInv "
          "| depth AbsRel (median-aligned) | train time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, mode, values, seconds in rows:
        train_time = f"{seconds / 60:.1f} min" if seconds is not None else "-"
        print(f"| {name} | {mode} | {cell(values, 'focal_median')} | {cell(values, 'focal_mean')} | {cell(values, 'regr3d')} "
              f"| {cell(values, 'ssi')} | {cell(values, 'abs_rel')} | {train_time} |", flush=True)


def print_summary(per_seed: dict[int, list[tuple]], caption_models: list[str]) -> bool:
    """Per seed and median over seeds: median focal errors, ratios and the acceptance checks; True if all pass."""
    import numpy as np

    all_pass = True
    for caption_model in caption_models:
        print(f"\n### {caption_model} vs image only: median focal error per seed\n")
        print("| seed | image only | caption true | caption wrong (focal ×2) | caption missing | true / image only "
              "| wrong / true | missing / image only | checks |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        table = []
        for seed, rows in per_seed.items():
            focal = {(name, mode.split(" ")[0]): values["focal_median"] for name, mode, values, _ in rows}
            image, true = focal[("image only", "-")], focal[(caption_model, "true")]
            wrong, missing = focal[(caption_model, "wrong")], focal[(caption_model, "missing")]
            table.append((image, true, wrong, missing, true / image, wrong / true, missing / image))
            checks = (true / image < 0.6, wrong / true > 1.5, abs(missing / image - 1) <= 0.1)
            all_pass &= all(checks)
            marks = ", ".join(f"{label} {'ok' if ok else 'FAIL'}" for label, ok in zip(("true", "wrong", "missing"), checks))
            print(f"| {seed} | {image:.3f} | {true:.3f} | {wrong:.3f} | {missing:.3f} | {true / image:.2f}× "
                  f"| {wrong / true:.2f}× | {missing / image:.2f}× | {marks} |")
        median = np.median(np.array(table), axis=0)
        print(f"| **median over {len(table)} seeds** | {median[0]:.3f} | {median[1]:.3f} | {median[2]:.3f} | {median[3]:.3f} "
              f"| {median[4]:.2f}× | {median[5]:.2f}× | {median[6]:.2f}× | |")
    return all_pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps per model")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scenes", type=int, default=400, help="training scenes (4 views each, one camera per view)")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--test-scenes", type=int, default=60)
    parser.add_argument("--test-pairs", type=int, default=200)
    parser.add_argument("--text-encoder", default="minilm", help="text_encoder of the caption model (frozen)")
    parser.add_argument("--fusion", default="token", help="comma-separated fusion modes, one caption model each")
    parser.add_argument("--caption-lr-scale", type=float, default=10.0, help="lr multiplier of the new caption parameters")
    parser.add_argument("--caption-dropout", type=float, default=0.3)
    parser.add_argument("--model-args", default="", help="extra keyword arguments of the caption models, e.g. "
                        "\"caption_share=None\" (the pre-issue-18 token fusion)")
    parser.add_argument("--seeds", default="0,1,2,3,7", help="comma-separated seeds: each trains and tests anew")
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    parser.add_argument("--jobs", type=int, default=4, help="models trained side by side (one process each)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 on a shared machine)")
    parser.add_argument("--out", default="", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    seeds = [args.seed] if args.seed is not None else [int(s) for s in args.seeds.split(",") if s.strip()]

    import numpy as np
    import torch

    import recon3r

    torch.set_num_threads(args.threads)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="captions_bench_"))
    load_before = os.getloadavg()
    start = time.perf_counter()
    runs = {"image only": f"AsymmetricCroCo3DStereo({PAIR_MODEL})"}
    extra = f", {args.model_args}" if args.model_args.strip() else ""
    for fusion in args.fusion.split(","):
        runs[f"image + caption ({fusion})"] = (
            f"AsymmetricCroCo3DStereoAndText({PAIR_MODEL}, text_encoder={args.text_encoder!r}, fusion={fusion!r}, "
            f"caption_dropout={args.caption_dropout}, caption_lr_scale={args.caption_lr_scale}, freeze_text=True{extra})"
        )

    print(f"- command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`")
    print(f"- versions: recon3r {getattr(recon3r, '__version__', '?')}, torch {torch.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}; {args.threads} torch thread(s), CPU, float32")
    print(f"- training (all models): {args.steps} steps x batch {args.batch_size}, AdamW lr {args.lr:g} cosine, "
          f"`Regr3D(L21, norm_mode='avg_dis')`, {args.scenes} procedural scenes x {args.views} views at "
          f"{RESOLUTION[0]}x{RESOLUTION[1]}; caption models: text encoder {args.text_encoder!r} (frozen), "
          f"caption dropout {args.caption_dropout}, caption parameters at {args.caption_lr_scale:g}x lr"
          f"{'; ' + args.model_args if extra else ''}; up to {args.jobs} models train side by side, one process each")
    print(f"- evaluation: {args.test_pairs} held-out pairs from {args.test_scenes} test scenes per seed; seeds {seeds}",
          flush=True)
    per_seed = {}
    for seed in seeds:
        per_seed[seed] = run_seed(seed, runs, args, root)
        print_seed_table(seed, per_seed[seed])
    all_pass = print_summary(per_seed, [name for name in runs if "caption" in name])
    print(f"\n- machine: {platform.machine()} ({os.cpu_count()} logical CPUs), {platform.platform()}; "
          f"load average before {', '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {(time.perf_counter() - start) / 60:.0f} min in all; "
          f"runs in {root}")
    print(f"- acceptance (every seed, every caption model): {'all pass' if all_pass else 'NOT all pass'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
