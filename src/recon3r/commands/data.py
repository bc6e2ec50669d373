"""`recon3r data make-procedural --out DIR --scenes N --views V`: write procedural scenes to disk."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    make = sub.add_parser(
        "make-procedural",
        help="render seeded procedural scenes with exact depth and cameras in the recon3r multi-view format",
        description="Render seeded procedural scenes (rooms, yards, orbit objects) with exact depth, masks, "
        "intrinsics, poses and EXIF-style captions, in the recon3r multi-view format "
        "(see recon3r.data.format). Read them back with Procedural(ROOT='DIR').",
    )
    make.add_argument("--out", required=True,
                      help="output folder: new or empty, or a dataset recon3r wrote before with --overwrite. The "
                      "dataset is rendered into a temporary sibling and appears there only once complete, so an "
                      "interrupted run leaves the previous folder untouched (and a rerun starts over)")
    make.add_argument("--scenes", type=int, required=True, help="number of scenes")
    make.add_argument("--views", type=int, required=True, help="views per scene")
    make.add_argument("--size", type=int, default=224,
                      help="image size: short side round(0.75·size), long side at least size (default 224)")
    make.add_argument("--seed", type=int, default=0, help="generator seed; the same seed gives identical files")
    make.add_argument("--kind", choices=("pairs", "sequence", "orbit"), default="pairs",
                      help="camera paths: views around one object, a walk-through, or an orbit (default pairs)")
    make.add_argument("--split", default="train",
                      help="split name recorded in dataset.json; names other than 'train' draw a disjoint "
                      "stream of scenes, as Procedural(split=...) does on the fly (default train)")
    make.add_argument("--workers", type=int, default=1, help="parallel processes (the output does not depend on it)")
    make.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                      help="replace a dataset an earlier `recon3r data make-procedural` wrote")
    make.set_defaults(_data_run=run_make_procedural)


def run(args: argparse.Namespace) -> int:
    return int(args._data_run(args) or 0)


def run_make_procedural(args: argparse.Namespace) -> int:
    import time

    from recon3r.errors import ConfigError
    from recon3r.io.output_dir import check_output_dir

    for name in ("scenes", "views", "workers"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.size < 16:
        raise ConfigError(f"--size must be at least 16, got {args.size}")
    if args.size > 4096:
        raise ConfigError(f"--size must be at most 4096, got {args.size}")
    output = check_output_dir(args.out, "data make-procedural", overwrite=args.overwrite, legacy=_is_recon3r_dataset)

    from recon3r.data.format import read_dataset, write_dataset
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import write_procedural
    from recon3r.utils.progress import progress

    start = time.monotonic()
    bar = iter(progress(range(args.scenes), desc="scenes", total=args.scenes))
    with output.staged() as staging:
        write_procedural(staging, args.scenes, args.views, size=args.size, seed=split_seed(args.seed, args.split),
                         kind=args.kind, workers=args.workers, on_scene=lambda _: next(bar, None))
        next(bar, None)  # let the progress bar finish
        index = read_dataset(staging)
        write_dataset(staging, index.scenes, splits={args.split: index.scenes},
                      meta={**index.meta, "split": args.split, "base_seed": args.seed})
    elapsed = time.monotonic() - start
    print(f"wrote {args.scenes} scenes × {args.views} views ({args.kind}, size {args.size}) to {output.path} "
          f"in {elapsed:.1f} s")
    return 0


def _is_recon3r_dataset(folder: Path) -> bool:
    """A dataset folder written before output markers existed: its dataset.json is in recon3r's format."""
    import json

    from recon3r.data.format import FORMAT_NAME

    try:
        return json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False
