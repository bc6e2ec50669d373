"""Single-image reconstruction on held-out procedural object orbits: a tiny trained LRM vs untrained vs mean colour.

Trains `recon3r.models.lrm.LRM` (the 'tiny' config) with `recon3r.lrm.train_lrm` on procedural
object-centric orbits (one source view + `--views - 1` supervising views per object, on one CPU
thread), then encodes the source view of each held-out orbit (scene indices from
`recon3r.lrm.train.TEST_SCENE_OFFSET`, disjoint from training) and renders its other views:

- novel-view PSNR (dB): 10·log10(1 / MSE) per object over all pixels of its novel views, RGB in
  [0, 1] on the white background, averaged over objects; MSE likewise;
- mask IoU: rendered opacity > 0.5 vs the exact object mask over the novel views;
- ms / image: source image → triplane → all its novel views rendered (32 samples per ray).
Rows: `LRM tiny (trained)`, `LRM tiny (untrained)` (the same seed-0 initialisation before
training) and `mean colour of the source` (every novel pixel gets the source image's mean colour;
it predicts no object, IoU 0).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lrm.py [--steps 3000] [--save-weights DIR]   # about 2 min
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch


def evaluate(name: str, model, test) -> dict:
    from recon3r.lrm.train import mean_color_metrics, novel_view_metrics

    start = time.perf_counter()
    metrics = mean_color_metrics(test) if model is None else novel_view_metrics(model, test)
    ms = 1000 * (time.perf_counter() - start) / test["images"].shape[0]
    return {"method": name, **metrics, "ms": ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--train-scenes", type=int, default=200, help="procedural training objects (default 200)")
    parser.add_argument("--test-scenes", type=int, default=16, help="held-out objects evaluated (default 16)")
    parser.add_argument("--views", type=int, default=6, help="views per orbit, the first is the source (default 6)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-weights", default=None, help="also save the trained model (safetensors + config.json) here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from recon3r.lrm.data import load_orbits
    from recon3r.lrm.train import TEST_SCENE_OFFSET, LRMTrainConfig, train_lrm
    from recon3r.models.lrm import build_lrm

    config = LRMTrainConfig(steps=args.steps, train_scenes=args.train_scenes, test_scenes=args.test_scenes,
                            views=args.views, lr=args.lr, seed=args.seed, out_dir=args.save_weights)
    torch.manual_seed(config.seed)
    untrained = build_lrm("tiny", **config.model).eval()  # train_lrm starts from exactly this initialisation
    size = untrained.cfg.img_size
    result = train_lrm(config)
    test = load_orbits(config.test_scenes, config.views, size, config.scene_seed, first=TEST_SCENE_OFFSET)
    rows = [evaluate("LRM tiny (trained)", result.model, test),
            evaluate("LRM tiny (untrained)", untrained, test),
            evaluate("mean colour of the source", None, test)]

    n_params = sum(p.numel() for p in untrained.parameters())
    print(f"Held-out procedural object orbits: {config.test_scenes} objects, 1 source + {config.views - 1} novel views "
          f"each at {size}×{size}. Training: {config.steps} steps × {config.batch_scenes} objects × {config.rays} rays "
          f"from {config.train_scenes} objects, {result.seconds:.0f} s on 1 CPU thread (data included); "
          f"{n_params / 1e6:.2f} M parameters.\n")
    print("| method | novel-view PSNR (dB) ↑ | novel-view MSE ↓ | mask IoU ↑ | ms / image |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['psnr']:.2f} | {r['mse']:.4f} | {r['mask_iou']:.3f} | {r['ms']:.1f} |")
    print(f"\nCommand: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lrm.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, 1 torch thread.")


if __name__ == "__main__":
    main()
