"""`recon3r single-image IMAGE|FOLDER --weights DIR --out DIR` (or `--prompt TEXT --text-to-image DIR`): → 3D.

An OpenLRM-compatible `ModelLRM` (a released OpenLRM folder, or a recon3r one) turns each image
into a triplane, a mesh (PLY, GLB, vertex colours) and a turntable (MP4, GIF). With `--prompt`, a
local diffusers pipeline makes the image first. MIRA's `test.py` flags work as aliases:
`--checkpoint_path`, `--config_path`, `--mode text|image`, `--input`, `--output_path`,
`--export_video`, `--export_mesh` (giving either export flag limits the outputs to those). OpenLRM's
launcher form works too: `--infer CONFIG` (its inference YAML) and `key=value` words (`model_name=DIR`,
`image_input=IMG`, `export_video=true`, ...; see `recon3r.seeds.apply_openlrm_launch`).
"""

from __future__ import annotations

import argparse

NO_WEIGHTS = ("no single-image model given and none is shipped: pass --weights DIR, a released OpenLRM folder "
              "(e.g. openlrm-mix-base-1.1 from Hugging Face: config.json + model.safetensors) or a recon3r "
              "ModelLRM folder (recon3r.save_model)")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="*", default=None, metavar="IMAGE",
                        help="an image of one object, or a folder of images (OpenLRM's key=value words also go here)")
    parser.add_argument("--infer", dest="openlrm_infer", default=None, metavar="CONFIG",
                        help="OpenLRM's inference YAML (configs/infer-b.yaml: source_size, render_size, render_views, "
                        "render_fps, frame_size, mesh_size, mesh_thres, source_cam_dist), with its key=value words "
                        "(model_name=DIR, image_input=IMG, export_video=true, ...); --out defaults to dumps/MODEL_NAME")
    parser.add_argument("--input", default=None,
                        help="an image or folder (--mode image), or the prompt (--mode text); alias of IMAGE / --prompt")
    parser.add_argument("--mode", choices=("image", "text"), default=None,
                        help="what --input holds (default: image, or text when --prompt is given)")
    parser.add_argument("--prompt", default=None, help="a text prompt: generate the image with --text-to-image first")
    parser.add_argument("--text-to-image", dest="text_to_image", default=None, metavar="DIR",
                        help="a local diffusers pipeline folder (model_index.json + components) for --prompt")
    parser.add_argument("--weights", "--checkpoint_path", "--checkpoint-path", dest="weights", default=None,
                        help="ModelLRM weights: a folder (config.json + model.safetensors), or the weights file")
    parser.add_argument("--config_path", "--config-path", dest="config_path", default=None,
                        help="the model's config.json when it is not beside the weights")
    parser.add_argument("--out", "--output_path", "--output-path", dest="out", default=None,
                        help="output folder (one sub-folder per image when IMAGE is a folder); required")
    parser.add_argument("--export_video", "--export-video", dest="export_video", action="store_true",
                        help="write the turntable (MP4 + GIF); with --export_mesh, only what is asked")
    parser.add_argument("--export_mesh", "--export-mesh", dest="export_mesh", action="store_true",
                        help="write the mesh (PLY + GLB); with --export_video, only what is asked")
    parser.add_argument("--mesh-size", "--mesh_size", dest="mesh_size", type=int, default=384,
                        help="density grid points per axis for marching cubes (default 384, as OpenLRM)")
    parser.add_argument("--mesh-threshold", "--mesh_thres", dest="mesh_threshold", type=float, default=3.0,
                        help="density of the extracted surface (default 3.0, as OpenLRM)")
    parser.add_argument("--views", "--render_views", dest="views", type=int, default=160, help="turntable frames")
    parser.add_argument("--fps", "--render_fps", dest="fps", type=float, default=30.0, help="turntable frame rate")
    parser.add_argument("--render-size", "--render_size", dest="render_size", type=int, default=None,
                        help="turntable frame side (default: OpenLRM's for the model, 192 / 288 / 384)")
    parser.add_argument("--source-size", "--source_size", dest="source_size", type=int, default=None,
                        help="model input side (default: OpenLRM's for the model, 224 / 336 / 448)")
    parser.add_argument("--source-distance", "--source_cam_dist", dest="source_distance", type=float, default=2.0,
                        help="distance of the canonical source camera to the object (default 2.0)")
    parser.add_argument("--no-recenter", dest="recenter", action="store_false",
                        help="the image is already cut out and framed: skip the foreground estimate and recentring")
    parser.add_argument("--chunk", "--frame_size", dest="chunk", type=int, default=2, help="views rendered together")
    parser.add_argument("--steps", type=int, default=30, help="diffusion steps for --prompt")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text-to-image draw and the render noise")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier `recon3r single-image` result")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from recon3r.errors import CheckpointError, ConfigError
    from recon3r.io.images import check_image_file
    from recon3r.io.output_dir import check_output_dir
    from recon3r.lrm.preprocess import load_image
    from recon3r.lrm.reconstruct import SingleImageOptions, reconstruct_single, write_outputs
    from recon3r.models.checkpoint import load_model
    from recon3r.seeds import apply_openlrm_launch, split_openlrm_words
    from recon3r.utils.checks import check_single_image_options

    paths, overrides = split_openlrm_words(args.image or [])
    if len(paths) > 1:
        raise ConfigError(f"pass one IMAGE or folder, got {len(paths)}: {' '.join(paths)}")
    args.image = paths[0] if paths else None
    apply_openlrm_launch(args, args.openlrm_infer, overrides)
    if args.out is None:
        raise ConfigError("--out is required: the output folder (MIRA's --output_path)")
    prompt, source = _resolve_input(args, ConfigError)
    if prompt is not None and args.text_to_image is None:
        from recon3r.lrm.text_to_image import NO_PIPELINE

        raise ConfigError(NO_PIPELINE)
    if args.weights is None:
        raise CheckpointError(NO_WEIGHTS)
    check_single_image_options(args)  # numbers in range before any work
    jobs: list[tuple[str, object, Path]] = []  # (name, image or path, sub-folder of the output)
    if source is not None:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ConfigError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            jobs = [(p.name, p, Path(p.stem)) for p in files]
        elif path.is_file():
            jobs = [(path.name, path, Path("."))]
        else:
            raise FileNotFoundError(f"image not found: {path}")
        for _, file, _ in jobs:  # fail early, naming the file, before loading the model
            check_image_file(file)
            load_image(file)
    output = check_output_dir(args.out, "single-image", inputs=[source, args.weights, args.config_path],
                              overwrite=args.overwrite)
    model = load_model(args.weights, device=args.device, expect="ModelLRM", config=args.config_path)
    both = not (args.export_video or args.export_mesh)
    options = SingleImageOptions(source_size=args.source_size, render_size=args.render_size,
                                 source_distance=args.source_distance, recenter=args.recenter,
                                 export_mesh=both or args.export_mesh, export_video=both or args.export_video,
                                 mesh_size=args.mesh_size, mesh_threshold=args.mesh_threshold, views=args.views,
                                 chunk=args.chunk, seed=args.seed)
    with output.staged() as out:  # a temporary sibling of --out, moved into place once complete
        if prompt is not None:
            from PIL import Image

            from recon3r.lrm.text_to_image import TextToImageOptions, generate_image, load_text_to_image

            pipeline = load_text_to_image(args.text_to_image, device=str(next(model.parameters()).device))
            image = generate_image(pipeline, prompt, TextToImageOptions(steps=args.steps, seed=args.seed))
            Image.fromarray(image).save(out / "prompt.png")
            print(f"generated prompt.png for {prompt!r}")
            jobs = [("prompt", image, Path("."))]
        for name, image, folder in jobs:
            result = reconstruct_single(image, model, options)
            if options.export_mesh and result.mesh is None:
                print(f"warning: {name}: no density above --mesh-threshold {args.mesh_threshold}; no mesh written")
            written = write_outputs(result, out / folder, fps=args.fps)
            mesh = f"{len(result.mesh.vertices)} vertices, {len(result.mesh.faces)} faces; " if result.mesh else ""
            print(f"{name}: {result.seconds:.1f} s; {mesh}wrote {', '.join(p.name for p in written)} in "
                  f"{output.path / folder}")
    return 0


def _resolve_input(args: argparse.Namespace, error: type[Exception]) -> tuple[str | None, str | None]:
    """(prompt, image path) from IMAGE, --input, --mode and --prompt; exactly one must be given."""
    mode = args.mode or ("text" if args.prompt is not None else "image")
    prompt = args.prompt
    source = args.image
    if args.input is not None:
        if mode == "text":
            prompt = prompt if prompt is not None else args.input
        else:
            source = source if source is not None else args.input
    if mode == "text" and prompt is None:
        raise error("--mode text needs the prompt: pass --prompt TEXT (or --input TEXT)")
    if mode == "image" and source is None:
        raise error("nothing to reconstruct: pass an IMAGE or folder (or --input), or --prompt TEXT")
    if prompt is not None and source is not None:
        raise error("pass either an image (IMAGE / --input) or --prompt, not both")
    return prompt, source
