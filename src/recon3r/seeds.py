"""What the original projects' command lines need from recon3r, beyond shared flag names.

recon3r's `train` takes DUSt3R's (and the multimodal seed's) flags as they are; the spelling
of every long option is free (`--flag_name` / `--flag-name`, see `recon3r.cli`). This module
holds the rest, each case answered either by accepting the flag or by a one-line refusal that
shows the recon3r form:

- `--print_freq N` is `--log_freq N`; `--amp 0|1` works beside `--amp` / `--no-amp`;
- `--local_rank` (passed by `torch.distributed.launch`) is accepted and ignored: the rank comes
  from torchrun's environment, as do `--world_size` and `--dist_url`, which are refused with the
  torchrun command instead;
- dataset specs naming DUSt3R's other training sets (Habitat512, BlendedMVS, ...), for which
  recon3r has no loader, are refused with the same spec written with `MultiView(ROOT=...)`, the
  loader of any folder in the recon3r multi-view format;
- a `train` with neither --model nor --train_dataset (what a launcher of a flag-less script such as
  MIRA's `train_ddp.py` becomes) is refused with the ModelLRM / RenderedObjects form;
- OpenLRM's `python -m openlrm.launch infer.lrm --infer CONFIG key=value ...` works as `recon3r
  single-image`: the YAML config and the `key=value` words map onto its flags (`apply_openlrm_launch`).

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
