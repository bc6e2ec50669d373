"""`recon3r data ACTION`: make datasets.

- `make-procedural --out DIR --scenes N --views V`: write procedural scenes to disk;
- `make-objects --out DIR --objects N`: render procedural objects in MIRA's rendered-objects layout;
- `co3d --co3d_dir RAW --output_dir OUT [--single_sequence_subset]`: raw CO3D v2 → what `Co3d` reads
  (DUSt3R's preprocess_co3d.py, same flags);
- `megascenes --megascenes_dir RAW --output_dir OUT`: MegaScenes COLMAP reconstructions → what
  `MegaScenes` reads;
- `depth3d -ss SCANNET -sk KENBURNS -st TASKONOMY -ns a,b,c --out OUT`: raw depth datasets → what
  `DepthSamples` reads (Train-3D's data_gen.py, same flags).
"""

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
    make.add_argument("--kind", choices=("pairs", "sequence", "orbit", "object", "forward", "indoor", "isolated"),
                      default="pairs",
                      help="camera paths: views around one object, a walk-through, an orbit; sim-to-real captures: "
                      "'object' (one hero object, views on a ring or sphere up to 180 degrees apart, some rolled), "
                      "'forward' (forward-facing, LLFF-like), 'indoor' (a room walk-through); 'isolated': one object alone with no "
                      "background (depth only on the object, for depth-to-3D) (default pairs)")
    make.add_argument("--textures", choices=("procedural", "photo"), default="procedural",
                      help="surface textures: procedural patterns, or random crops of real photos from Debian's "
                      "wallpaper packages (`make textures` installs them; without them a warning is printed and "
                      "procedural textures are used). Each photo's licence and source go into dataset.json")
    make.add_argument("--texture-root", default="/",
                      help="where the photo packages are looked up (default /); a folder written by "
                      "recon3r.data.procedural.texture_library.pack_photo_textures carries them to a machine "
                      "that cannot install them")
    make.add_argument("--photometric", action="store_true",
                      help="photometric realism: coloured lights, soft shadows, highlights, and a simulated camera "
                      "per view (exposure, white balance, vignetting, blur, noise, JPEG); depth and cameras stay exact")
    make.add_argument("--split", default="train",
                      help="split name recorded in dataset.json; names other than 'train' draw a disjoint "
                      "stream of scenes, as Procedural(split=...) does on the fly (default train)")
    make.add_argument("--workers", type=int, default=1, help="parallel processes (the output does not depend on it)")
    make.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                      help="replace a dataset an earlier `recon3r data make-procedural` wrote")
    make.set_defaults(_data_run=run_make_procedural)

    co3d = sub.add_parser(
        "co3d",
        help="raw CO3D v2 (frame/sequence annotations, set lists, images, depths, masks) → the Co3d loader's layout",
        description="Prepare raw CO3D v2 for training, as DUSt3R's datasets_preprocess/preprocess_co3d.py does "
        "(same flags): selected frames with OpenCV cameras, depth maps and masks, and selected_seqs_{train,test}.json. "
        "Read the result with Co3d(ROOT='OUTPUT_DIR', split=...). Resumes where an earlier run stopped; skipped "
        "frames are listed with their reason in OUTPUT_DIR/skipped_frames.json.",
    )
    co3d.add_argument("--co3d_dir", required=True, help="the raw CO3D v2 folder (one sub-folder per category)")
    co3d.add_argument("--output_dir", default="data/co3d_processed", help="where to write (default data/co3d_processed)")
    co3d.add_argument("--single_sequence_subset", action="store_true",
                      help="prepare the single-sequence subset (manyview_dev set lists) instead of fewview_train")
    co3d.add_argument("--category", default=None, help="one category only (default: every category folder)")
    co3d.add_argument("--num_sequences_per_object", type=int, default=50, help="most sequences per category (default 50)")
    co3d.add_argument("--seed", type=int, default=42, help="seed of the sequence sampling (default 42, as DUSt3R)")
    co3d.add_argument("--min_quality", type=float, default=0.5, help="least viewpoint_quality_score (default 0.5)")
    co3d.add_argument("--img_size", type=int, default=512,
                      help="short side ≥ img_size·3/4 and long side ≥ img_size after resizing (default 512)")
    co3d.add_argument("--quiet", action="store_true", help="no progress bars")
    co3d.set_defaults(_data_run=run_co3d)

    mega = sub.add_parser(
        "megascenes",
        help="MegaScenes COLMAP reconstructions + image metadata → the MegaScenes loader's pair and image files",
        description="Prepare MegaScenes for training: from ROOT/reconstruct/<scene>/sparses/<n>/*.bin (COLMAP) and "
        "ROOT/images/<scene>/ (photos, raw_metadata.json), write OUTPUT_DIR/SPLIT_pairs.pkl and SPLIT_images.pkl, "
        "read with MegaScenes('OUTPUT_DIR/SPLIT_pairs.pkl', 'OUTPUT_DIR/SPLIT_images.pkl', split=SPLIT). Pairs share "
        "3D points; captions come from the EXIF metadata. Resumes scene by scene; skipped images are listed with "
        "their reason in OUTPUT_DIR/skipped_images.json.",
    )
    mega.add_argument("--megascenes_dir", required=True, help="the MegaScenes folder (holding reconstruct/ and images/)")
    mega.add_argument("--output_dir", required=True, help="where to write the pair and image files")
    mega.add_argument("--scenes", default=None,
                      help="comma-separated scene ids (7 or 000/007; default: every scene with a reconstruction)")
    mega.add_argument("--split", default="train", help="split name, used in the file names (default train)")
    mega.add_argument("--min_overlap", type=float, default=0.1,
                      help="a pair shares at least this fraction of the smaller image's 3D points (default 0.1)")
    mega.add_argument("--max_pairs_per_scene", type=int, default=0, help="sample at most this many pairs per scene (0: all)")
    mega.add_argument("--seed", type=int, default=0, help="seed of the pair sampling")
    mega.add_argument("--quiet", action="store_true", help="no progress bars")
    mega.set_defaults(_data_run=run_megascenes)

    depth = sub.add_parser(
        "depth3d",
        help="raw ScanNet .sens / 3D Ken Burns EXR / Taskonomy PNG depth → depth maps + intrinsics for depth-to-3D training",
        description="Prepare depth-to-3D training data as Train-3D's data_gen.py does (same flags): -ns a,b,c depth "
        "maps from ScanNet (ROOT/scans/<scene>/<scene>.sens), 3D Ken Burns (ROOT/depths/<scene>/*.exr + "
        "ROOT/rgb/<scene>/*.json, or the dataset as downloaded) and Taskonomy (ROOT/depth_zbuffer/taskonomy/<scene>/"
        "*.png + ROOT/point_info/taskonomy/<scene>/*.json), spread equally over each dataset's scenes. Writes "
        "OUT/depths/NNNNNN.npz (keys depth [metres, 0 = invalid], valid, and image / world_from_cam when known), "
        "OUT/intrinsics/NNNNNN.npy (3x3 K), OUT/dataset.json (provenance), and the scale and focal distributions "
        "(scales.npy, focals.npy, distributions.png). Invalid depth (0, NaN, inf, Taskonomy's 65535) is masked. "
        "Rerunning on OUT resumes: samples already written are skipped. Read the result with "
        "DepthSamples(ROOT='OUT', split='train'). EXR needs the OpenEXR package (pip install 'recon3r[exr]').",
    )
    depth.add_argument("-ss", "--src-scannet", dest="scannet", default=None, help="raw ScanNet folder (holding scans/)")
    depth.add_argument("-sk", "--src-kenburns", "--src-kenberns", dest="kenburns", default=None,
                       help="raw 3D Ken Burns folder (holding depths/ and rgb/, or the downloaded scene folders)")
    depth.add_argument("-st", "--src-taskonomy", "--src-takonomy", dest="taskonomy", default=None,
                       help="raw Taskonomy folder (holding depth_zbuffer/taskonomy/ and point_info/taskonomy/)")
    depth.add_argument("-ns", "--nbr-samples", dest="samples", required=True,
                       help="samples from ScanNet, Ken Burns and Taskonomy, comma-separated (e.g. 1000,500,500)")
    depth.add_argument("--out", required=True,
                       help="output folder: new or empty, or an earlier `recon3r data depth3d` output to resume")
    depth.add_argument("--kenburns_unit", type=float, default=0.001,
                       help="metres per unit of the Ken Burns EXR depth (default 0.001: millimetres, as Train-3D reads it)")
    depth.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                       help="start over instead of resuming (the previous output is kept until the new one is complete)")
    depth.add_argument("--quiet", action="store_true", help="no progress bar")
    depth.set_defaults(_data_run=run_depth3d)

    objects = sub.add_parser(
        "make-objects",
        help="render procedural objects in MIRA's rendered-objects layout (RGBA renders + cameras), for RenderedObjects",
        description="Render procedural objects, each alone and normalised to a unit bounding box, from random "
        "viewpoints as MIRA's Blender script does, in its layout (see recon3r.data.rendered_objects): per object "
        "NNN.png (RGBA), NNN.npy (world-to-camera), NNN_depth.npy, metadata.json (fov_deg), points.npy; "
        "splits.json. Read them back with RenderedObjects(ROOT='DIR'). For real meshes (Objaverse GLB/OBJ), "
        "run `blender --background --python src/recon3r/scripts/render_objects.py -- --object_path X ...`.",
    )
    objects.add_argument("--out", required=True, help="output folder: new or empty, or an earlier make-objects' with --overwrite")
    objects.add_argument("--objects", type=int, required=True, help="number of objects")
    objects.add_argument("--renders", type=int, default=32, help="renders per object (default 32)")
    objects.add_argument("--size", type=int, default=128, help="square render side in pixels (default 128)")
    objects.add_argument("--test-objects", type=int, default=0,
                         help="the last K objects form the 'test' split of splits.json (default 0)")
    objects.add_argument("--seed", type=int, default=0, help="generator seed; the same seed gives identical files")
    objects.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                         help="replace objects an earlier `recon3r data make-objects` wrote")
    objects.set_defaults(_data_run=run_make_objects)


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

    import sys
    import warnings

    from recon3r.data.format import read_dataset, write_dataset
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import write_procedural
    from recon3r.data.procedural.texture_library import find_photo_textures, missing_textures_message
    from recon3r.utils.progress import progress

    textures_note = ""
    if args.textures == "photo":
        library = find_photo_textures(args.texture_root)
        if library:
            packages = sorted({t.package for t in library})
            textures_note = f"; {len(library)} photos from {', '.join(packages)} (licences in dataset.json)"
        else:
            print(f"warning: {missing_textures_message(args.texture_root)}", file=sys.stderr)
            textures_note = "; procedural textures (no photo package installed)"
    start = time.monotonic()
    bar = iter(progress(range(args.scenes), desc="scenes", total=args.scenes))
    with output.staged() as staging, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="no photo textures found")  # printed above
        write_procedural(staging, args.scenes, args.views, size=args.size, seed=split_seed(args.seed, args.split),
                         kind=args.kind, workers=args.workers, on_scene=lambda _: next(bar, None),
                         textures=args.textures, photometric=args.photometric, texture_root=args.texture_root)
        next(bar, None)  # let the progress bar finish
        index = read_dataset(staging)
        write_dataset(staging, index.scenes, splits={args.split: index.scenes},
                      meta={**index.meta, "split": args.split, "base_seed": args.seed})
    elapsed = time.monotonic() - start
    print(f"wrote {args.scenes} scenes × {args.views} views ({args.kind}, size {args.size}{textures_note}) to "
          f"{output.path} in {elapsed:.1f} s")
    return 0


def _is_recon3r_dataset(folder: Path) -> bool:
    """A dataset folder written before output markers existed: its dataset.json is in recon3r's format."""
    import json

    from recon3r.data.format import FORMAT_NAME

    try:
        return json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def run_co3d(args: argparse.Namespace) -> int:
    from recon3r.data.prepare.co3d import Co3dPrepareConfig, prepare_co3d

    config = Co3dPrepareConfig(
        co3d_dir=args.co3d_dir, output_dir=args.output_dir, single_sequence_subset=args.single_sequence_subset,
        category=args.category, num_sequences_per_object=args.num_sequences_per_object, seed=args.seed,
        min_quality=args.min_quality, img_size=args.img_size, progress=not args.quiet,
    )
    report = prepare_co3d(config)
    print(report.summary(f"CO3D frames → {args.output_dir}"))
    print(f"read it with Co3d(ROOT='{args.output_dir}', split='train') (and split='test')")
    return 0


def run_megascenes(args: argparse.Namespace) -> int:
    from recon3r.data.prepare.megascenes import MegaScenesPrepareConfig, prepare_megascenes

    scenes = [s for s in (args.scenes or "").split(",") if s.strip()] or None
    config = MegaScenesPrepareConfig(
        megascenes_dir=args.megascenes_dir, output_dir=args.output_dir, scenes=scenes, split=args.split,
        min_overlap=args.min_overlap, max_pairs_per_scene=args.max_pairs_per_scene, seed=args.seed,
        progress=not args.quiet,
    )
    report = prepare_megascenes(config)
    print(report.summary(f"MegaScenes images → {args.output_dir}"))
    out = args.output_dir
    print(f"read it with MegaScenes('{out}/{args.split}_pairs.pkl', '{out}/{args.split}_images.pkl', split='{args.split}')")

def run_depth3d(args: argparse.Namespace) -> int:
    from recon3r.data.prepare.depth3d import Depth3DPrepareConfig, prepare_depth3d
    from recon3r.errors import ConfigError

    try:
        samples = tuple(int(n) for n in args.samples.split(","))
    except ValueError:
        raise ConfigError(f"-ns must be three comma-separated integers (ScanNet,KenBurns,Taskonomy), got {args.samples!r}") from None
    if len(samples) != 3:
        raise ConfigError(f"-ns must be three comma-separated integers (ScanNet,KenBurns,Taskonomy), got {args.samples!r}")
    if not args.kenburns_unit > 0:
        raise ConfigError(f"--kenburns_unit must be positive, got {args.kenburns_unit}")
    config = Depth3DPrepareConfig(out=args.out, samples=samples, scannet=args.scannet, kenburns=args.kenburns,
                                  taskonomy=args.taskonomy, kenburns_unit=args.kenburns_unit,
                                  overwrite=args.overwrite, progress=not args.quiet)
    report = prepare_depth3d(config)
    print(report.summary(Path(args.out)))
    print(f"distributions: {Path(args.out) / 'scales.npy'}, {Path(args.out) / 'focals.npy'}, "
          f"{Path(args.out) / 'distributions.png'}")
    print(f"read it with DepthSamples(ROOT='{args.out}', split='train') (and split='test')")
    return 0


def run_make_objects(args: argparse.Namespace) -> int:
    import time

    from recon3r.data.procedural.objects import write_rendered_objects
    from recon3r.errors import ConfigError
    from recon3r.io.output_dir import check_output_dir
    from recon3r.utils.progress import progress

    for name in ("objects", "renders"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.size < 16:
        raise ConfigError(f"--size must be at least 16, got {args.size}")
    if not 0 <= args.test_objects < args.objects:
        raise ConfigError(f"--test-objects must be in [0, --objects), got {args.test_objects}")
    output = check_output_dir(args.out, "data make-objects", overwrite=args.overwrite)
    start = time.monotonic()
    bar = iter(progress(range(args.objects), desc="objects", total=args.objects))
    with output.staged() as staging:
        write_rendered_objects(staging, args.objects, args.renders, size=args.size, seed=args.seed,
                               test_objects=args.test_objects, on_object=lambda _: next(bar, None))
        next(bar, None)
    out = output.path
    print(f"wrote {args.objects} objects × {args.renders} renders ({args.size} px) to {out} "
          f"in {time.monotonic() - start:.1f} s")
    return 0
