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
  loader of any folder in the recon3r multi-view format.

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
