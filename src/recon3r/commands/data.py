"""`recon3r data make-procedural|make-objects --out DIR ...`: write procedural scenes or rendered objects to disk."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    make = sub.add_parser(
        "make-procedural",
        help="render seeded procedural scenes with exact depth and cameras in the recon3r multi-view format",
        description="Render seeded procedural scenes (rooms, yards, orbit objects) with exact depth, masks, "
        "intrinsics, poses and EXIF-style captions, in the recon3r multi-view format "
        "(see recon3r.data.format). Read them back with Procedural(ROOT='DIR').",
    )
    make.add_argument("--out", required=True, help="output folder (created; must not already hold a dataset)")
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
    make.add_argument("--force", action="store_true", help="write into a folder that already holds a dataset")
    make.set_defaults(_data_run=run_make_procedural)

    objects = sub.add_parser(
        "make-objects",
        help="render procedural objects in MIRA's rendered-objects layout (RGBA renders + cameras), for RenderedObjects",
        description="Render procedural objects, each alone and normalised to a unit bounding box, from random "
        "viewpoints as MIRA's Blender script does, in its layout (see recon3r.data.rendered_objects): per object "
        "NNN.png (RGBA), NNN.npy (world-to-camera), NNN_depth.npy, metadata.json (fov_deg), points.npy; "
        "splits.json. Read them back with RenderedObjects(ROOT='DIR'). For real meshes (Objaverse GLB/OBJ), "
        "run `blender --background --python src/recon3r/scripts/render_objects.py -- --object_path X ...`.",
    )
    objects.add_argument("--out", required=True, help="output folder (created; must not already hold splits.json)")
    objects.add_argument("--objects", type=int, required=True, help="number of objects")
    objects.add_argument("--renders", type=int, default=32, help="renders per object (default 32)")
    objects.add_argument("--size", type=int, default=128, help="square render side in pixels (default 128)")
    objects.add_argument("--test-objects", type=int, default=0,
                         help="the last K objects form the 'test' split of splits.json (default 0)")
    objects.add_argument("--seed", type=int, default=0, help="generator seed; the same seed gives identical files")
    objects.add_argument("--force", action="store_true", help="write into a folder that already holds objects")
    objects.set_defaults(_data_run=run_make_objects)


def run(args: argparse.Namespace) -> int:
    return int(args._data_run(args) or 0)


def run_make_procedural(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from recon3r.data.format import read_dataset, write_dataset
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import write_procedural
    from recon3r.errors import ConfigError, Recon3rError
    from recon3r.utils.progress import progress

    for name in ("scenes", "views", "workers"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.size < 16:
        raise ConfigError(f"--size must be at least 16, got {args.size}")
    out = Path(args.out)
    if (out / "dataset.json").exists() and not args.force:
        raise Recon3rError(f"{out / 'dataset.json'} already exists; pass --force to overwrite")

    start = time.monotonic()
    bar = iter(progress(range(args.scenes), desc="scenes", total=args.scenes))
    write_procedural(out, args.scenes, args.views, size=args.size, seed=split_seed(args.seed, args.split),
                     kind=args.kind, workers=args.workers, on_scene=lambda _: next(bar, None))
    next(bar, None)  # let the progress bar finish
    index = read_dataset(out)
    write_dataset(out, index.scenes, splits={args.split: index.scenes},
                  meta={**index.meta, "split": args.split, "base_seed": args.seed})
    elapsed = time.monotonic() - start
    print(f"wrote {args.scenes} scenes × {args.views} views ({args.kind}, size {args.size}) to {out} "
          f"in {elapsed:.1f} s")
    return 0


def run_make_objects(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from recon3r.data.procedural.objects import write_rendered_objects
    from recon3r.errors import ConfigError, Recon3rError
    from recon3r.utils.progress import progress

    for name in ("objects", "renders"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.size < 16:
        raise ConfigError(f"--size must be at least 16, got {args.size}")
    if not 0 <= args.test_objects < args.objects:
        raise ConfigError(f"--test-objects must be in [0, --objects), got {args.test_objects}")
    out = Path(args.out)
    if (out / "splits.json").exists() and not args.force:
        raise Recon3rError(f"{out / 'splits.json'} already exists; pass --force to overwrite")
    start = time.monotonic()
    bar = iter(progress(range(args.objects), desc="objects", total=args.objects))
    write_rendered_objects(out, args.objects, args.renders, size=args.size, seed=args.seed,
                           test_objects=args.test_objects, on_object=lambda _: next(bar, None))
    next(bar, None)
    print(f"wrote {args.objects} objects × {args.renders} renders ({args.size} px) to {out} "
          f"in {time.monotonic() - start:.1f} s")
    return 0
