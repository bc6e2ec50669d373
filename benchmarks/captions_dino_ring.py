"""Real photos, real captions: pair models with and without EXIF-style captions on the Middlebury dino ring.

The ring's calibration (`cameras_512x384.json`) gives each photo's focal length, so each photo gets
the caption its camera would write. The camera body and sensor size are unknown, so the caption
holds what the calibration fixes: the 35 mm equivalent focal length (diagonal convention,
`recon3r.text.focal_35mm_equivalent`) and the image size, in `recon3r.text.captions` format, e.g.
"FocalLengthIn35mmFilm: 179, ImageWidth: 512, ImageHeight: 384". Wrong captions double the focal
length in the text (`scale_caption_focal`). The caption files are written to `--out` as
`captions_true.json` and `captions_wrong.json`, the format `recon3r reconstruct --captions` and
`recon3r eval --captions` read.

Every method reconstructs the 16 photos with the reconstruct pipeline (complete pair graph, global
alignment, no known camera), exactly as `recon3r eval relpose` runs it; a model that reads captions
runs three times: true captions, wrong captions, none. Reported per run: relative pose over all
120 image pairs (`relpose_metrics`, as `recon3r eval relpose`), and the focal length global
alignment found for each photo (at the file's resolution) against the calibrated one: median and
mean relative error.

    python benchmarks/captions_dino_ring.py --method "image only=example" \\
        --method "multimodal=runs/ring_multimodal/checkpoint-last" --out runs/ring_eval
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

RING = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "middlebury_dino_sparse_ring"
WRONG_FACTOR = 2.0


def ring_captions(ring, factor: float = 1.0) -> dict[str, str]:
    """Image file name → EXIF-style caption of its calibrated camera, the focal length × `factor`."""
    from recon3r.text import caption_from_intrinsics, scale_caption_focal

    captions = {}
    for path, k, (width, height) in zip(ring.image_paths, ring.intrinsics, ring.image_sizes):
        caption = caption_from_intrinsics(float(k[0, 0]), int(width), image_height_px=int(height), include_focal_mm=False)
        captions[Path(path).name] = scale_caption_focal(caption, factor) if factor != 1.0 else caption
    return captions


def reads_captions(model) -> bool:
    return callable(getattr(model, "fusion_gates", None))


def run_one(model, ring, captions_file: Path | None, args: argparse.Namespace) -> dict[str, float]:
    import numpy as np

    from recon3r.eval.metrics import relpose_metrics
    from recon3r.eval.tasks import RELPOSE_THRESHOLDS
    from recon3r.reconstruct import ReconstructConfig, reconstruct

    config = ReconstructConfig(images=[str(p) for p in ring.image_paths], size=args.size, graph="complete",
                               niter=args.niter, device="cpu", formats=(), progress=False,
                               captions=None if captions_file is None else str(captions_file), exif=False)
    start = time.perf_counter()
    scene = reconstruct(config, model=model).scene
    seconds = time.perf_counter() - start
    metrics = relpose_metrics(np.asarray(scene.world_from_cam), ring.world_from_cam, thresholds=RELPOSE_THRESHOLDS)
    focal = scene.intrinsics_original()[:, 0, 0]
    errors = np.abs(focal - ring.intrinsics[:, 0, 0]) / ring.intrinsics[:, 0, 0]
    return {**metrics, "focal_median": float(np.median(errors)), "focal_mean": float(errors.mean()),
            "focal_found_median": float(np.median(focal)), "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ring", default=str(RING), help="the dino ring folder (default: ../shared/data/...)")
    parser.add_argument("--method", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="repeatable: a row name and a checkpoint folder, or 'example' for the shipped model")
    parser.add_argument("--out", required=True, help="folder for the caption files and results.json")
    parser.add_argument("--size", type=int, choices=(224, 512), default=224)
    parser.add_argument("--niter", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import torch

    import recon3r
    from recon3r.eval.realsets import load_real_set
    from recon3r.models import load_model

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    ring = load_real_set(args.ring)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"true": out / "captions_true.json", "wrong (focal ×2)": out / "captions_wrong.json"}
    files["true"].write_text(json.dumps(ring_captions(ring), indent=1))
    files["wrong (focal ×2)"].write_text(json.dumps(ring_captions(ring, WRONG_FACTOR), indent=1))

    rows = []
    for spec in args.method:
        name, _, checkpoint = spec.partition("=")
        if not checkpoint:
            parser.error(f"--method {spec!r}: expected NAME=CHECKPOINT")
        if checkpoint == "example":
            from recon3r.assets import example_model_path

            checkpoint = str(example_model_path())
        model = load_model(checkpoint, task="pair").eval()
        modes = ({**files, "none": None} if reads_captions(model) else {"-": None})
        for mode, captions_file in modes.items():
            print(f"{name}: captions {mode}", file=sys.stderr, flush=True)
            rows.append((name, mode, run_one(model, ring, captions_file, args)))

    truth = float(np.median(ring.intrinsics[:, 0, 0]))
    example = next(iter(json.loads(files["true"].read_text()).values()))
    print(f"- command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`")
    print(f"- machine: {platform.machine()} ({os.cpu_count()} logical CPUs); load average before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- versions: recon3r {getattr(recon3r, '__version__', '?')}, torch {torch.__version__}, "
          f"Python {platform.python_version()}; {args.threads} torch thread(s), CPU")
    print(f"- set: {len(ring)} photos of {args.ring} ({ring.image_sizes[0][0]}×{ring.image_sizes[0][1]}), network size "
          f"{args.size}, complete graph, {args.niter} alignment iterations; calibrated focal {truth:.0f} px "
          f"(horizontal FOV {np.degrees(2 * np.arctan(ring.image_sizes[0][0] / 2 / truth)):.1f}°); true caption: "
          f"\"{example}\"\n")
    print("| model | captions | RRA@15 | RTA@15 | mAA@30 | RRA@5 | RTA@5 | focal rel. error (median) | focal rel. error (mean) "
          "| focal found (median, px) | time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, mode, m in rows:
        print(f"| {name} | {mode} | {m['RRA@15']:.1f} | {m['RTA@15']:.1f} | {m['mAA@30']:.1f} | {m['RRA@5']:.1f} "
              f"| {m['RTA@5']:.1f} | {m['focal_median']:.3f} | {m['focal_mean']:.3f} | {m['focal_found_median']:.0f} "
              f"| {m['seconds']:.0f} s |")
    (out / "results.json").write_text(json.dumps([{"model": n, "captions": c, **m} for n, c, m in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
