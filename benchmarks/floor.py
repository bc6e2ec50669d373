"""Pair inference against its ideal floor (measured FLOPs ÷ measured matmul peak); prints a Markdown table.

For each configuration the script
1. measures this machine's matrix-product peak in float32 and bfloat16 (`torch.nn.functional.linear`
   on transformer-sized shapes, best of several shapes, median of repeats);
2. counts the FLOPs of one pair forward with `torch.utils.flop_counter.FlopCounterMode`;
3. times, per ordered pair of a symmetrized complete graph of N images:
   - `symmetrized forward`: `model(view1, view2)` on the graph's pairs, batched by `batch` with each
     pair next to its reverse: the reference DUSt3R's cost model (it encodes one image of each
     symmetrized pair, as `encode_pair` does here);
   - `run_pairs`: `recon3r.inference.run_pairs` (each image encoded once for the whole graph),
   both with the float32 model and with `set_inference_dtype(model, bfloat16)`, and for a DPT head also
   `run_pairs` with `set_inference_dtype(model, bfloat16, head_dtype=bfloat16)` (row "bfloat16 + head");
4. prints, per row, seconds per pair, GFLOP per pair actually computed, the floor (GFLOP ÷ peak of
   the row's dtype; bfloat16 rows use the bfloat16 peak for all FLOPs, a lower bound) and the
   speed-up over the float32 symmetrized forward measured in the same run.

With `--reference-src DIR` (a clone of naver/dust3r with its croco submodule; it needs the packages
the reference imports, e.g. einops and huggingface_hub) the reference `AsymmetricCroCo3DStereo` is
built with the same arguments, given recon3r's float32 weights (`load_state_dict(strict=True)`),
checked against recon3r's outputs on the first pair and its reverse, and timed as one more row
("reference float32 | symmetrized forward", batched the same way); a last column gives every row's
speed-up over it.

Timings are medians over `--repeats` interleaved rounds (every row once per round), so a load spike
on a shared machine hits all rows alike.

    .venv/bin/python benchmarks/floor.py --threads 1                       # ViT-B/B linear at 224
    .venv/bin/python benchmarks/floor.py --threads 1 --config vitl-dpt-512  # ViT-L/B DPT at 512×384
    .venv/bin/python benchmarks/floor.py --threads 1 --reference-src ~/src/dust3r  # and the reference
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import shlex
import statistics
import sys
import time

import torch
from _machine import cpu_name  # benchmarks/_machine.py (scripts run from benchmarks/)

from recon3r.inference import run_pairs
from recon3r.io.images import View
from recon3r.models import AsymmetricCroCo3DStereo
from recon3r.models.precision import set_inference_dtype
from recon3r.pairs import make_pairs

INF = math.inf
COMMON = dict(pos_embed="RoPE100", depth_mode=("exp", -INF, INF), conf_mode=("exp", 1, INF), landscape_only=False)
CONFIGS = {
    "vitb-linear-224": (dict(COMMON, enc_embed_dim=768, enc_depth=12, enc_num_heads=12, dec_embed_dim=512,
                             dec_depth=8, dec_num_heads=16, head_type="linear", img_size=(224, 224)), (224, 224)),
    "vitl-dpt-512": (dict(COMMON, enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768,
                          dec_depth=12, dec_num_heads=12, head_type="dpt", img_size=(512, 512)), (384, 512)),
    "tiny": (dict(COMMON, enc_embed_dim=64, enc_depth=2, enc_num_heads=4, dec_embed_dim=48, dec_depth=2,
                  dec_num_heads=4, head_type="linear", img_size=(224, 224)), (224, 224)),
}
PEAK_SHAPES = [(1568, 768, 3072), (1568, 3072, 768), (1536, 1024, 4096), (2048, 2048, 2048)]


def matmul_peak(dtype: torch.dtype, repeats: int = 5) -> float:
    """GFLOP/s of the best of `PEAK_SHAPES` (median of `repeats` runs each)."""
    best = 0.0
    for m, k, n in PEAK_SHAPES:
        a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
        torch.nn.functional.linear(a, w)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.nn.functional.linear(a, w)
            times.append(time.perf_counter() - start)
        best = max(best, 2 * m * k * n / statistics.median(times) / 1e9)
    return best


def views_of(count: int, hw: tuple[int, int], seed: int = 0) -> list[View]:
    gen = torch.Generator().manual_seed(seed)
    h, w = hw
    return [View(img=torch.rand(1, 3, h, w, generator=gen) * 2 - 1, true_shape=torch.tensor([[h, w]]), idx=i,
                 instance=str(i), name=f"{i}", transform=None) for i in range(count)]


def symmetrized_forward(model, pairs, batch: int) -> None:
    """The reference cost model: `model(view1, view2)` per batch of (a, b), (b, a), ... pairs."""
    with torch.inference_mode():
        for start in range(0, len(pairs), batch):
            chunk = pairs[start:start + batch]
            views = [{"img": torch.cat([p[s].img for p in chunk]), "true_shape": torch.cat([p[s].true_shape for p in chunk]),
                      "instance": [p[s].instance for p in chunk]} for s in (0, 1)]
            model(*views)


def pair_order(views: list[View]) -> list[tuple[View, View]]:
    """Every ordered pair, each followed by its reverse (as `run_pairs` batches them)."""
    pairs = make_pairs(views, graph="complete", symmetrize=False)
    return [p for a, b in pairs for p in ((a, b), (b, a))]


def flops_per_pair(model, hw: tuple[int, int]) -> tuple[float, float]:
    """(GFLOP of one pair forward, GFLOP of its encoder for one image), counted on the model."""
    from torch.utils.flop_counter import FlopCounterMode

    view1, view2 = ({"img": v.img, "true_shape": v.true_shape} for v in views_of(2, hw))
    with torch.inference_mode():
        with FlopCounterMode(display=False) as total:
            model(view1, view2)
        with FlopCounterMode(display=False) as encoder:
            model.encode_image(view1["img"], view1["true_shape"])
    return total.get_total_flops() / 1e9, encoder.get_total_flops() / 1e9


def reference_folder(source: str) -> str:
    """`source` as an absolute path; exits with an error naming it unless it holds dust3r/model.py."""
    folder = os.path.abspath(os.path.expanduser(source))
    if not os.path.isfile(os.path.join(folder, "dust3r", "model.py")):
        raise SystemExit(f"error: --reference-src {source}: no dust3r/model.py there (a naver/dust3r clone)")
    return folder


def reference_model(folder: str, kwargs: dict, state_dict: dict) -> torch.nn.Module:
    """The reference DUSt3R model from the checkout `folder`, with recon3r's weights.

    The checkout is importable only while its model is built: `folder` is put in front of `sys.path`
    for the import and the construction, then the path is restored (the reference's own
    `path_to_croco` may still add its croco submodule, as it does in the reference's scripts).
    """
    import importlib

    saved = list(sys.path)
    sys.path.insert(0, folder)
    try:
        reference = importlib.import_module("dust3r.model").AsymmetricCroCo3DStereo
        model = reference(**kwargs).eval()
    finally:
        sys.path[:] = [entry for entry in sys.path if entry != folder or entry in saved]
    model.load_state_dict(state_dict, strict=True)
    return model


def largest_difference(ours: torch.nn.Module, theirs: torch.nn.Module, pair: list) -> float:
    """max |ours − theirs| / max |theirs| over both views' points and confidences of one batch."""
    worst = 0.0
    with torch.inference_mode():
        views = [{"img": torch.cat([p[s].img for p in pair]), "true_shape": torch.cat([p[s].true_shape for p in pair]),
                  "instance": [p[s].instance for p in pair]} for s in (0, 1)]
        for mine, ref in zip(ours(*views), theirs(*views)):
            for key in ("pts3d", "pts3d_in_other_view", "conf"):
                if key in ref:
                    worst = max(worst, float((mine[key] - ref[key]).abs().max() / ref[key].abs().max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="vitb-linear-224")
    parser.add_argument("--images", type=int, default=None, help="N images of the complete graph (default: 4, or 3 "
                        "for vitl-dpt-512)")
    parser.add_argument("--batch", type=int, default=2, help="pairs per forward (default: 2, a pair and its reverse)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--reference-src", default=None, help="a naver/dust3r checkout: time the reference too")
    args = parser.parse_args(argv)
    reference_src = reference_folder(args.reference_src) if args.reference_src else None
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs, hw = CONFIGS[args.config]
    count = args.images or (3 if args.config == "vitl-dpt-512" else 4)
    load_before = os.getloadavg()

    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
    torch.manual_seed(0)
    model32 = AsymmetricCroCo3DStereo(**kwargs).eval()
    model16 = set_inference_dtype(copy.deepcopy(model32), torch.bfloat16)
    pair_gflop, image_gflop = flops_per_pair(model32, hw)
    views = views_of(count, hw, seed=1)
    pairs = pair_order(views)
    # Computed per ordered pair: decoder + heads (pair - 2 encoders) plus the encoders each way runs.
    decode_gflop = pair_gflop - 2 * image_gflop
    rows = {
        ("float32", "symmetrized forward"): (model32, "forward", decode_gflop + image_gflop),
        ("float32", "run_pairs"): (model32, "run_pairs", decode_gflop + image_gflop * count / len(pairs)),
        ("bfloat16", "symmetrized forward"): (model16, "forward", decode_gflop + image_gflop),
        ("bfloat16", "run_pairs"): (model16, "run_pairs", decode_gflop + image_gflop * count / len(pairs)),
    }
    difference = None
    if reference_src:
        reference = reference_model(reference_src, kwargs, model32.state_dict())
        difference = largest_difference(model32, reference, pairs[:2])
        rows = {("reference float32", "symmetrized forward"): (reference, "forward", decode_gflop + image_gflop),
                **rows}
    if kwargs["head_type"] == "dpt":
        model16h = set_inference_dtype(copy.deepcopy(model32), torch.bfloat16, head_dtype=torch.bfloat16)
        rows[("bfloat16 + head", "run_pairs")] = (model16h, "run_pairs", rows[("float32", "run_pairs")][2])
    times: dict[tuple[str, str], list[float]] = {key: [] for key in rows}
    for model in {id(m): m for m, _, _ in rows.values()}.values():  # warm-up: one pair each way
        symmetrized_forward(model, pairs[:2], 2)
    for _ in range(args.repeats):
        for key, (model, how, _) in rows.items():
            start = time.perf_counter()
            if how == "forward":
                symmetrized_forward(model, pairs, args.batch)
            else:
                run_pairs(model, pairs, batch_size=args.batch, progress=False)
            times[key].append((time.perf_counter() - start) / len(pairs))

    base = statistics.median(times[("float32", "symmetrized forward")])
    print(f"- command: `{shlex.join([os.path.basename(sys.executable), *sys.argv])}`")
    print(f"- machine: {platform.machine()} {cpu_name()} ({os.cpu_count()} logical CPUs), {platform.platform()}; "
          f"Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"- load average before / after: {', '.join(f'{v:.2f}' for v in load_before)} / "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"- matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s "
          f"(best of {len(PEAK_SHAPES)} shapes)")
    print(f"- {args.config} at {hw[1]}×{hw[0]}: {pair_gflop:.1f} GFLOP per pair forward, of which "
          f"{image_gflop:.1f} per image encoded; graph: complete, {count} images, {len(pairs)} ordered pairs, "
          f"batch {args.batch}, median of {args.repeats} rounds")
    reference_time = None
    if difference is not None:
        reference_time = statistics.median(times[("reference float32", "symmetrized forward")])
        print(f"- reference: {args.reference_src}; recon3r float32 against it on the first pair and its reverse: "
              f"max |difference| / max |value| = {difference:.1e} (points and confidences)")
    print()
    extra = (" speed-up vs reference float32 |", "---:|") if reference_time else ("", "")
    print("| dtype | path | s / pair | GFLOP / pair | floor s / pair | floor ÷ time | speed-up vs float32 symmetrized "
          f"forward |{extra[0]}")
    print(f"|---|---|---:|---:|---:|---:|---:|{extra[1]}")
    for (dtype, how), (_, _, gflop) in rows.items():
        seconds = statistics.median(times[(dtype, how)])
        floor = gflop / peaks[next(word for word in dtype.split() if word in peaks)]
        last = f" {reference_time / seconds:.2f}× |" if reference_time else ""
        print(f"| {dtype} | {how} | {seconds:.3f} | {gflop:.1f} | {floor:.3f} | {floor / seconds:.0%} | "
              f"{base / seconds:.2f}× |{last}")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
