"""What the original projects' command lines need from recon3r, beyond shared flag names.

recon3r's `train` takes DUSt3R's (and the multimodal seed's) flags as they are; the spelling
of every long option is free (`--flag_name` / `--flag-name`, see `recon3r.cli`). This module
holds the rest, each case answered either by accepting the flag or by a one-line refusal that
shows the recon3r form:

- `--print_freq N` is `--log_freq N`; `--amp 0|1` works beside `--amp` / `--no-amp`;
- `--local_rank` (passed by `torch.distributed.launch`) is accepted and ignored: the rank comes
  from torchrun's environment, as do `--world_size` and `--dist_url`, which are refused with the
  torchrun command instead;
- Train-3D's train.py flags (`--data`, `--input_chanels`, `--targets`, `--distort_s`, ...) set
  recon3r's model spec, datasets, task options and schedule (`TRAIN3D_FLAGS` lists each mapping);
- dataset specs naming DUSt3R's other training sets (Habitat512, BlendedMVS, ...), for which
  recon3r has no loader, are refused with the same spec written with `MultiView(ROOT=...)`, the
  loader of any folder in the recon3r multi-view format;
- Point3R's `train.py --config-name X` (a Hydra config: 224_stage1, 512_stage2, long_stage3,
  finetune) is refused with the one recon3r command of that stage (`point3r_stage_command`), the
  command `examples/point3r_training.md` prints.
- a `train` with neither --model nor --train_dataset (what a launcher of a flag-less script such as
  MIRA's `train_ddp.py` becomes) is refused with the ModelLRM / RenderedObjects form;
- OpenLRM's `python -m openlrm.launch infer.lrm --infer CONFIG key=value ...` works as `recon3r
  single-image`: the YAML config and the `key=value` words map onto its flags (`apply_openlrm_launch`).

- Point3R's `eval/<task>/launch.py --weights W --output_dir D [--eval_dataset NAME] [--size S]
  [--model_name M]` works as `recon3r eval <task> --method W --out D/results.json` when
  `--eval_dataset` names a benchmark recon3r reads (a folder, or `procedural:...`); Point3R's own
  sets (sintel, bonn, kitti, nyu, tum, scannet, 7-Scenes/NRGBD for mv_recon) are refused with that
  command written for a recon3r-format copy of the set (`apply_point3r_eval`).

`docs/from-the-seeds.md` lists every original command beside its recon3r form.
"""

from __future__ import annotations

import argparse
import ast

from recon3r.errors import ConfigError

#: Training sets named in DUSt3R's commands that recon3r does not read directly.
DUST3R_TRAINING_SETS = (
    "ARKitScenes", "BlendedMVS", "Co3d_v3", "Habitat", "Habitat512", "MegaDepth", "MegaDepthDense", "ScanNetpp",
    "StaticThings3D", "Waymo", "WildRGBD",
)


def add_seed_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The seed trainers' flags that recon3r's config does not have, hidden from `--help`."""
    parser.add_argument("--print_freq", dest="log_freq", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--local_rank", dest="seed_local_rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--world_size", dest="seed_world_size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dist_url", dest="seed_dist_url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--config_name", dest="seed_config_name", default=None, help=argparse.SUPPRESS)
    # DUSt3R's `--amp` takes 0 or 1; recon3r's is a switch. Both forms are accepted.
    amp = parser._option_string_actions["--amp"]
    amp.option_strings.remove("--amp")  # `--amp` moves to the action below; `--no-amp` stays with the switch
    del parser._option_string_actions["--amp"]
    amp.help = "no mixed precision (the default)"
    parser.add_argument("--amp", nargs="?", const=True, default=amp.default, type=_zero_or_one, metavar="0|1",
                        help=f"{amp.help} (`--amp`, or DUSt3R's `--amp 1`)")


def check_seed_train_args(args: argparse.Namespace) -> None:
    """Refuse, with the recon3r form, what the seed trainers accepted and recon3r does not."""
    for flag in ("world_size", "dist_url"):
        if getattr(args, f"seed_{flag}", None) is not None:
            raise ConfigError(
                f"--{flag}: recon3r takes the process group from torchrun's environment; drop --{flag} and run "
                "`torchrun --nproc_per_node=N [--nnodes=M --rdzv_endpoint=HOST:PORT] -m recon3r train ...`"
            )
    config_name = getattr(args, "seed_config_name", None)
    if config_name is not None:
        raise ConfigError(point3r_config_refusal(config_name))
    message = unavailable_dataset_refusal({flag: getattr(args, flag, "") or "" for flag in ("train_dataset", "test_dataset")})
    if message:
        raise ConfigError(message)
    if not getattr(args, "model", "") and not getattr(args, "train_dataset", ""):
        raise ConfigError(
            "--model and --train_dataset are required (a seed script without flags, like MIRA's train_ddp.py, sets "
            "them inside the script); recon3r form: torchrun --nnodes=M --nproc_per_node=N --rdzv_backend=c10d "
            "--rdzv_endpoint=HOST:PORT -m recon3r train --model \"ModelLRM(...)\" "
            "--train_dataset \"N @ RenderedObjects(ROOT='DIR', num_views=4)\" (see docs/from-the-seeds.md)"
        )


def unavailable_dataset_refusal(specs: dict[str, str]) -> str | None:
    """A one-line refusal for dataset specs ({flag: spec}) naming DUSt3R training sets recon3r has no loader
    for, showing each such spec rewritten with `MultiView(ROOT='data/<name>', ...)`; None when none does."""
    names: set[str] = set()
    forms = []
    for flag, spec in specs.items():
        try:
            tree = ast.parse(spec.strip(), mode="eval")
        except SyntaxError:
            continue  # the spec parser reports syntax errors with a caret
        found = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in DUST3R_TRAINING_SETS}
        if found:
            names |= found
            forms.append(f'--{flag} "{ast.unparse(_ToMultiView().visit(tree))}"')
    if not names:
        return None
    return (
        f"{', '.join(sorted(names))}: DUSt3R training sets that recon3r has no loader for. Write each in the recon3r "
        f"multi-view format (recon3r.data.format) and read it with MultiView; recon3r form: {' '.join(forms)}"
    )


# ------------------------------------------------------------------------ Point3R's training stages
_POINT3R_MODEL = (
    "Point3R(Point3RConfig({freeze}pos_embed='RoPE100', pos_embed_3d='RoPE3D100', pose_head=True, {embed}"
    "img_size=({size}, {size}), head_type='dpt', output_mode='pts3d+pose', depth_mode=('exp', -inf, inf), "
    "conf_mode=('exp', 1, inf), pose_mode=('exp', -inf, inf), enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, "
    "dec_embed_dim=768, dec_depth=12, dec_num_heads=12{landscape}))"
)
#: Processes of the reference runs (`accelerate launch --num_processes=8`).
POINT3R_PROCESSES = 8
#: The aspect-ratio-aware resolutions of stages 2 and 3 (width, height).
POINT3R_512_RESOLUTIONS = "[(512, 384), (512, 336), (512, 288), (512, 256), (512, 208), (512, 144), (384, 512), " \
    "(336, 512), (288, 512), (256, 512)]"
#: Point3R's training sets (its loader, the recon3r folder it becomes, its split) in the configs' order.
POINT3R_DATASETS = (
    ("Co3d_Multi", "co3d", "train"), ("WildRGBD_Multi", "wildrgbd", "train"),
    ("ARKitScenes_Multi", "arkitscenes", "train"), ("ARKitScenesHighRes_Multi", "arkitscenes_highres", "train"),
    ("ScanNetpp_Multi", "scannetpp", "train"), ("ScanNet_Multi", "scannet", "train"),
    ("HyperSim_Multi", "hypersim", "train"), ("BlendedMVS_Multi", "blendedmvs", "train"),
    ("MegaDepth_Multi", "megadepth", "train"), ("Waymo_Multi", "waymo", None),
    ("VirtualKITTI2_Multi", "vkitti2", None), ("OmniObject3D_Multi", "omniobject3d", None),
    ("Spring", "spring", None), ("MVS_Synth_Multi", "mvs_synth", "train"),
    ("PointOdyssey_Multi", "pointodyssey", "train"),
)
#: Each Hydra config of YkiWu/Point3R (config/*.yaml): samples per training set (in POINT3R_DATASETS order),
#: image size, frames per sample, criterion, encoder freezing, initialisation and optimisation settings.
POINT3R_STAGES: dict[str, dict] = {
    "224_stage1": dict(
        counts=(10000, 10000, 10000, 10000, 10000, 10000, 5000, 10000, 10000, 10000, 5000), size=224, views=5,
        resolution="224", criterion="Regr3DPose", freeze=False, manyar=False,
        pretrained="checkpoints/DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth",
        lr="5e-05", min_lr="1e-06", warmup_epochs="5", epochs=100, batch_size=16, save_freq=1,
        output="checkpoints/stage1"),
    "512_stage2": dict(
        counts=(10000, 10000, 10000, 10000, 10000, 10000, 5000, 10000, 10000, 10000, 3000, 5000, 6000, 1000, 8000),
        size=512, views=5, resolution=POINT3R_512_RESOLUTIONS, criterion="Regr3DPoseBatchList", freeze=False,
        manyar=True, pretrained="checkpoints/stage1/checkpoint-last",
        lr="5e-05", min_lr="1e-06", warmup_epochs="0.5", epochs=10, batch_size=3, save_freq=0.1,
        output="checkpoints/stage2"),
    "long_stage3": dict(
        counts=(2000, 2000, 2000, 1000, 1000, 2000, 500, 1000, 1000, 1000, 800, 800, 800, 100, 900),
        size=512, views=8, resolution=POINT3R_512_RESOLUTIONS, criterion="Regr3DPoseBatchList", freeze=True,
        manyar=True, pretrained="checkpoints/stage2/checkpoint-last",
        lr="1e-05", min_lr="1e-06", warmup_epochs="0.5", epochs=10, batch_size=1, save_freq=0.1,
        output="checkpoints/stage3"),
    "finetune": dict(
        counts=(3000, 3000, 3000, 1500, 1500, 3000, 800, 1500, 1500, 1500, 1500, 1200, 1200, 300, 1500),
        size=512, views=8, resolution=POINT3R_512_RESOLUTIONS, criterion="Regr3DPoseBatchList", freeze=True,
        manyar=True, pretrained="point3r_512.pth",
        lr="1e-06", min_lr="1e-07", warmup_epochs="0.5", epochs=10, batch_size=1, save_freq=0.1,
        output="checkpoints/finetune"),
}


def point3r_stage_command(config_name: str) -> str:
    """The recon3r command of one of Point3R's Hydra training configs (one line, 8 processes as the README).

    Same model string, initialisation, criterion, sample counts, resolutions, frames per sample and
    optimisation settings; each training set is read with `MultiView(ROOT='data/<name>')` from a
    folder in the recon3r multi-view format; `--clip_grad 1.0` is the reference trainer's fixed clipping.
    """
    stage = POINT3R_STAGES[config_name]
    model = _POINT3R_MODEL.format(
        freeze="freeze='encoder', " if stage["freeze"] else "",
        embed="patch_embed_cls='ManyAR_PatchEmbed', " if stage["manyar"] else "", size=stage["size"],
        landscape=", landscape_only=False" if stage["manyar"] else "")
    terms = []
    for count, (_, root, split) in zip(stage["counts"], POINT3R_DATASETS):
        split_arg = f"split='{split}', " if split else ""
        terms.append(f"{count} @ MultiView(ROOT='data/{root}', {split_arg}aug_crop=16, resolution={stage['resolution']}, "
                     f"transform=ColorJitter, num_views={stage['views']})")
    criterion = f"ConfLoss({stage['criterion']}(L21, norm_mode='?avg_dis'), alpha=0.2)"
    freeze = " --freeze_encoder" if stage["freeze"] else ""
    # The reference's save_freq 0.1 saves checkpoint-last every tenth of an epoch: that many steps on 8 processes.
    steps_per_epoch = sum(stage["counts"]) // (stage["batch_size"] * POINT3R_PROCESSES)
    save = ("--save_freq 1" if stage["save_freq"] >= 1
            else f"--save_freq 1 --save_steps {round(stage['save_freq'] * steps_per_epoch)}")
    return (f"torchrun --nproc_per_node={POINT3R_PROCESSES} -m recon3r train --model \"{model}\" "
            f"--pretrained {stage['pretrained']}{freeze} --train_dataset \"{' + '.join(terms)}\" "
            f"--train_criterion \"{criterion}\" --lr {stage['lr']} --min_lr {stage['min_lr']} "
            f"--warmup_epochs {stage['warmup_epochs']} --epochs {stage['epochs']} --batch_size {stage['batch_size']} "
            f"--accum_iter 1 --weight_decay 0.05 --amp --clip_grad 1.0 --num_workers 24 {save} --keep_freq 1 "
            f"--print_freq 20 --seed 0 --output_dir {stage['output']}")


def point3r_config_refusal(config_name: str) -> str:
    """The one-line refusal of Point3R's `train.py --config-name X`, with the recon3r command of that stage."""
    if config_name not in POINT3R_STAGES:
        known = ", ".join(POINT3R_STAGES)
        return (f"--config-name {config_name}: recon3r reads no Hydra configs, and this is none of Point3R's "
                f"({known}); pass the settings as flags (examples/point3r_training.md); recon3r form: "
                f"{point3r_stage_command('224_stage1')}")
    return (f"--config-name {config_name}: recon3r reads no Hydra configs; this stage of Point3R's training is one "
            f"command (examples/point3r_training.md), its training sets written in the recon3r multi-view format; "
            f"recon3r form: {point3r_stage_command(config_name)}")


class _ToMultiView(ast.NodeTransformer):
    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        node = self.generic_visit(node)
        if isinstance(node.op, ast.UAdd):
            return node.operand  # DUSt3R's leading "+" ("+ 100_000 @ A" reads as "(+100000) @ A")
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in DUST3R_TRAINING_SETS:
            root = ast.keyword(arg="ROOT", value=ast.Constant(f"data/{node.func.id.lower()}"))
            keywords = [root, *(k for k in node.keywords if k.arg != "ROOT")]
            return ast.Call(func=ast.Name(id="MultiView", ctx=ast.Load()), args=[], keywords=keywords)
        return node


def _zero_or_one(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise argparse.ArgumentTypeError(f"expected 0 or 1, got {text!r}")


# ------------------------------------------------------------------------ OpenLRM's inference launcher
#: `python -m openlrm.launch infer.lrm` settings (its `configs/infer-*.yaml` keys and `key=value` words) →
#: `recon3r single-image` argument names; None: accepted and not used (recon3r writes into one folder).
OPENLRM_INFER_KEYS: dict[str, str | None] = {
    "model_name": "weights", "image_input": "image", "export_video": "export_video", "export_mesh": "export_mesh",
    "source_size": "source_size", "render_size": "render_size", "render_views": "views", "render_fps": "fps",
    "frame_size": "chunk", "mesh_size": "mesh_size", "mesh_thres": "mesh_threshold",
    "source_cam_dist": "source_distance", "video_dump": None, "mesh_dump": None, "logger": None,
}


def split_openlrm_words(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words → (paths, OpenLRM `key=value` overrides); only known keys count as overrides."""
    paths, overrides = [], {}
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key in OPENLRM_INFER_KEYS:
            overrides[key] = value
        else:
            paths.append(word)
    return paths, overrides


def _cli_value(text: str) -> object:
    """A `key=value` value as OmegaConf's command line reads it: bools, ints, floats, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_openlrm_infer_config(path: str) -> dict[str, object]:
    """OpenLRM's inference YAML (`configs/infer-b.yaml`: source_size, render_size, mesh_size, ...)."""
    from pathlib import Path

    try:
        import yaml
    except ImportError as err:
        raise ConfigError("--infer reads OpenLRM's YAML config and needs PyYAML: pip install 'recon3r[lrm]'") from err
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--infer {path}: no such file (OpenLRM's inference config, e.g. configs/infer-b.yaml)")
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"--infer {path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--infer {path}: expected a mapping of settings, got {type(config).__name__}")
    return config


def apply_openlrm_launch(args: argparse.Namespace, config_path: str | None, overrides: dict[str, str]) -> bool:
    """Apply OpenLRM's launch form to `recon3r single-image` arguments; True when it was used.

    The YAML (`--infer`) is read first, then the `key=value` words override it (as OmegaConf merges
    them). `model_name` must be a local folder: recon3r downloads nothing. Without `--out`, outputs go
    to `dumps/<model_name>`, OpenLRM's dump root (recon3r's file names: mesh.ply, turntable.mp4, ...).
    """
    if config_path is None and not overrides:
        return False
    settings = read_openlrm_infer_config(config_path) if config_path is not None else {}
    settings.update({key: _cli_value(value) for key, value in overrides.items()})
    unknown = sorted(set(settings) - set(OPENLRM_INFER_KEYS))
    if unknown:
        raise ConfigError(f"--infer {config_path}: unknown setting(s) {', '.join(unknown)} "
                          f"(known: {', '.join(OPENLRM_INFER_KEYS)})")
    for key, value in settings.items():
        target = OPENLRM_INFER_KEYS[key]
        if target is not None and value is not None:
            setattr(args, target, str(value) if target in ("weights", "image") else value)
    if "model_name" in settings:
        _check_local_model(str(settings["model_name"]), args)
    if ("export_video" in settings or "export_mesh" in settings) and not (args.export_video or args.export_mesh):
        raise ConfigError("export_video=false export_mesh=false: at least one must be true (as in OpenLRM)")
    if args.out is None and args.weights is not None:
        from pathlib import Path

        weights = Path(args.weights)
        args.out = str(Path("dumps") / (weights.name if weights.is_absolute() else weights))
    return True


def _check_local_model(name: str, args: argparse.Namespace) -> None:
    from pathlib import Path

    if not Path(name).exists():
        image = args.image or "IMAGE"
        raise ConfigError(
            f"model_name={name}: no such folder, and recon3r downloads nothing at run time; fetch the released folder "
            f"(config.json + model.safetensors) first; recon3r form: recon3r single-image {image} "
            f"--weights {Path(name).name}/ --out DIR"
        )


# ---------------------------------------------------------------- Point3R's evaluation launchers
def add_seed_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Point3R's `eval/<task>/launch.py` flags, hidden from `--help` (see `apply_point3r_eval`)."""
    for flag in ("--weights", "--output_dir", "--eval_dataset", "--model_name"):
        parser.add_argument(flag, dest=f"seed_{flag[2:]}", default=None, help=argparse.SUPPRESS)


def apply_point3r_eval(args: argparse.Namespace, task: str | None) -> None:
    """Map Point3R's evaluation flags onto `recon3r eval`'s (in place), or refuse with the recon3r form.

    `--weights W` adds the method W; `--output_dir D` writes D/results.json; `--eval_dataset NAME`
    is the benchmark when it names one recon3r reads, otherwise the command is refused with the
    same evaluation on `data/NAME`, a copy of that set in the recon3r multi-view format.
    """
    from pathlib import Path

    weights, output_dir = getattr(args, "seed_weights", None), getattr(args, "seed_output_dir", None)
    dataset = getattr(args, "seed_eval_dataset", None)
    if weights is None and output_dir is None and dataset is None:
        return
    if weights is not None:
        args.methods = [*(args.methods or []), weights]
    if output_dir is not None and args.out is None:
        args.out = str(Path(output_dir) / "results.json")
    if args.benchmark is None and dataset is not None and (dataset.startswith("procedural") or Path(dataset).is_dir()):
        args.benchmark = dataset
    if args.benchmark is not None:
        return
    name = dataset or ("7scenes" if task == "mv_recon" else "DATASET")
    form = [f"recon3r eval {task or 'TASK'} --benchmark data/{name}", f"--method {weights or 'point3r_512.pth'}"]
    if getattr(args, "size", None):
        form.append(f"--size {args.size}")
    if args.out:
        form.append(f"--out {args.out}")
    raise ConfigError(
        f"Point3R's evaluation set {name!r}: recon3r has no reader for that layout; convert it to the recon3r "
        f"multi-view format (recon3r.data.format, sequences in frame order) and evaluate it there — recon3r form: "
        + " ".join(form)
    )


# ---------------------------------------------------------------- Train-3D (depth-to-3D)
#: Train-3D's train.py flags → what each becomes in recon3r (README's reference table, `--help`).
TRAIN3D_FLAGS: dict[str, str] = {
    "--data D": "--train_dataset \"DepthSamples(ROOT='D', split='train')\" and --test_dataset \"DepthSamples(ROOT='D', split='test')\"",
    "--model_name N": "--output_dir runs/N",
    "--input_chanels {3,5}": "--model \"Depth3DModel(input_channels=...)\"",
    "--targets {0,1,2}": "--task_options \"targets='shift' | 'scale' | 'focal'\" (1 also builds the model with predict_scale=True)",
    "--distort_s": "--task_options \"distort_shift=True\"",
    "--distort_f": "--task_options \"distort_focal=True\"",
    "--voxel_size V": "--model \"Depth3DModel(voxel_size=V)\"",
    "--init_scale S": "--model \"Depth3DModel(init_scale=S)\"",
    "--init_fov F": "--model \"Depth3DModel(focal_guess_fov=F)\"",
    "--train_split F": "DepthSamples(..., train_split=F)",
    "--learning_rate LR": "--lr LR",
    "--learning_rate_decay R": "--min_lr R×lr (the cosine schedule ends at R times the learning rate)",
    "--print_losses_evry N": "--log_freq N",
    "--num_w N": "--num_workers N",
    "--logs": "--tensorboard (metrics.csv is always written)",
}
_TRAIN3D_MODEL_KWARGS = {"input_chanels": "input_channels", "voxel_size": "voxel_size", "init_scale": "init_scale",
                         "init_fov": "focal_guess_fov"}


def add_train3d_arguments(parser: argparse.ArgumentParser) -> None:
    """Train-3D's train.py flags (depth-to-3D models), each mapped onto recon3r's own by `apply_train3d_args`."""
    group = parser.add_argument_group(
        "Train-3D flags (depth-to-3D)", "Train-3D's train.py flags, with their meaning; each sets recon3r's own "
        "(README, 'Train-3D flags'). Without --model they build a Depth3DModel.")
    group.add_argument("--data", dest="train3d_data", metavar="DIR", default=None,
                       help="a `recon3r data depth3d` folder: trains on its 'train' split, tests on its 'test' split")
    group.add_argument("--model_name", dest="train3d_model_name", metavar="NAME", default=None, help="run name: --output_dir runs/NAME")
    group.add_argument("--input_chanels", dest="train3d_input_chanels", type=int, choices=(3, 5), default=None,
                       help="cloud features: 3 (x, y, z) or 5 (x, y, z and the pixel's normalised u, v)")
    group.add_argument("--targets", dest="train3d_targets", type=int, choices=(0, 1, 2), default=None,
                       help="train one target: 0 the shift, 1 the scale (median depth in metres), 2 the focal")
    group.add_argument("--distort_s", dest="train3d_distort_s", action="store_true",
                       help="distort the cloud with a random depth shift (alone: the focal is not distorted; "
                       "with neither --distort_s nor --distort_f, recon3r distorts both)")
    group.add_argument("--distort_f", dest="train3d_distort_f", action="store_true",
                       help="distort the cloud with a wrong focal guess (alone: the shift is not distorted)")
    group.add_argument("--voxel_size", dest="train3d_voxel_size", metavar="V", type=float, default=None,
                       help="one cloud point per voxel of this side (units of the median depth) instead of random pixels")
    group.add_argument("--init_scale", dest="train3d_init_scale", metavar="S", type=float, default=None,
                       help="multiply the cloud's x, y, z by this before the networks")
    group.add_argument("--init_fov", dest="train3d_init_fov", metavar="DEG", type=float, default=None,
                       help="field of view (degrees) of the default focal guess at inference")
    group.add_argument("--train_split", dest="train3d_train_split", metavar="F", type=float, default=None,
                       help="fraction of a DepthSamples folder used for training; the rest is the test split")
    group.add_argument("--learning_rate", dest="train3d_learning_rate", metavar="LR", type=float, default=None, help="= --lr")
    group.add_argument("--learning_rate_decay", dest="train3d_learning_rate_decay", metavar="R", type=float, default=None,
                       help="the schedule ends at this fraction of the learning rate (--min_lr)")
    group.add_argument("--print_losses_evry", dest="log_freq", metavar="N", type=int, default=argparse.SUPPRESS,
                       help="= --log_freq")
    group.add_argument("--num_w", dest="num_workers", metavar="N", type=int, default=argparse.SUPPRESS,
                       help="= --num_workers")
    group.add_argument("--logs", dest="train3d_logs", action="store_true",
                       help="TensorBoard logs when tensorboard is installed (metrics.csv is always written)")


def apply_train3d_args(args: argparse.Namespace) -> None:
    """Rewrite Train-3D's flags (`add_train3d_arguments`) into recon3r's: model spec, datasets, task options."""
    if args.train3d_model_name and args.output_dir == "runs/train":
        args.output_dir = f"runs/{args.train3d_model_name}"
    if args.train3d_learning_rate is not None:
        args.lr = args.train3d_learning_rate
    if args.train3d_learning_rate_decay is not None:
        lr = args.lr if args.lr is not None else args.blr * args.batch_size * args.accum_iter / 256
        args.min_lr = args.train3d_learning_rate_decay * lr
    if args.train3d_logs:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is not None:
            args.tensorboard = True
        else:
            print(f"info: --logs: tensorboard is not installed; the losses go to {args.output_dir}/metrics.csv")
    if args.train3d_data:
        root = args.train3d_data
        if not args.train_dataset:
            args.train_dataset = f"DepthSamples(ROOT={root!r}, split='train')"
        if not args.test_dataset:
            args.test_dataset = f"DepthSamples(ROOT={root!r}, split='test')"
    if args.train3d_train_split is not None:
        for flag in ("train_dataset", "test_dataset"):
            setattr(args, flag, _with_keyword(getattr(args, flag), "DepthSamples", "train_split",
                                              args.train3d_train_split, f"--{flag}"))
    model_kwargs = {new: getattr(args, f"train3d_{old}") for old, new in _TRAIN3D_MODEL_KWARGS.items()
                    if getattr(args, f"train3d_{old}") is not None}
    if args.train3d_targets == 1:
        model_kwargs["predict_scale"] = True
    if model_kwargs or args.train3d_data:
        if not args.model:
            args.model = "Depth3DModel()"
        for name, value in model_kwargs.items():
            args.model = _with_keyword(args.model, "Depth3DModel", name, value, "--model", required=True)
    options = []
    if args.train3d_targets is not None:
        from recon3r.tasks.depth_to_3d import TRAIN3D_TARGETS

        options.append(f"targets={TRAIN3D_TARGETS[args.train3d_targets]!r}")
    if args.train3d_distort_s or args.train3d_distort_f:
        options += [f"distort_shift={bool(args.train3d_distort_s)}", f"distort_focal={bool(args.train3d_distort_f)}"]
    if options:
        args.task_options = ", ".join([args.task_options] * bool(args.task_options.strip()) + options)


def _with_keyword(spec: str, call: str, name: str, value, flag: str, required: bool = False) -> str:
    """`spec` with `name=value` added to each call of `call` lacking it; ConfigError when one sets another value."""
    if not spec:
        return spec
    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError:
        return spec  # the spec parser reports the syntax error with a caret
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == call]
    if required and not calls:
        raise ConfigError(f"{flag} {spec!r}: Train-3D's flags set {call} options; this spec builds no {call}")
    for node in calls:
        given = next((k for k in node.keywords if k.arg == name), None)
        if given is None:
            node.keywords.append(ast.keyword(arg=name, value=ast.Constant(value)))
        elif not (isinstance(given.value, ast.Constant) and given.value.value == value):
            raise ConfigError(f"{flag} sets {name}={ast.unparse(given.value)} and a Train-3D flag sets {name}={value!r}; "
                              "give one of them")
    return ast.unparse(tree)
