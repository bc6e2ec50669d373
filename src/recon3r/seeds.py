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
