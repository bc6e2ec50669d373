"""The `recon3r` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in `recon3r.commands.<name>` and defines
`add_arguments(parser)` and `run(args) -> int`. Command modules import only
argparse at top level and load heavy code inside `run`, so `recon3r --help`
stays fast while every subcommand's `--help` is complete.

Both spellings of every long option work everywhere: `--image-size` and `--image_size`,
`--output_dir` and `--output-dir`. A command declares one spelling; `add_spelling_aliases`
adds the other to the same argparse action once the command's arguments are complete, and
`--help` shows only the declared one. Users of the original projects (whose scripts spelled
flags with underscores) and users of recon3r's hyphenated style run their commands unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator

# name -> (module, one-line help). Keep sorted by name.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("recon3r.commands.convert", "convert an official DUSt3R or Point3R .pth, or a released OpenLRM folder, to safetensors + config.json"),
    "data": ("recon3r.commands.data", "make datasets: procedural scenes or objects, and raw CO3D v2 / MegaScenes prepared for training"),
    "demo": ("recon3r.commands.demo", "serve the web demo (gradio) on 127.0.0.1: upload photos, see and download the 3D scene"),
    "depth-to-3d": ("recon3r.commands.depth_to_3d", "depth or disparity maps (.npy, 16-bit PNG, EXR, PFM; a file or a folder) → 3D points: recover the depth shift and focal (LeReS-style), write PLYs"),
    "eval": ("recon3r.commands.eval", "evaluate models and baselines on a benchmark set: one Markdown table, JSON"),
    "reconstruct": ("recon3r.commands.reconstruct", "reconstruct a scene from photos: poses, intrinsics, depth, points, exports"),
    "single-image": ("recon3r.commands.single_image", "one image, a folder or a text prompt → triplane, mesh (PLY, GLB) and turntable (MP4, GIF) with an OpenLRM-compatible model"),
    "stream": ("recon3r.commands.stream", "online reconstruction of a video or frame folder with Point3R: depth, poses, points, memory"),
    "train": ("recon3r.commands.train", "train a pair model (one process, or many under torchrun)"),
}


def other_spellings(option: str) -> list[str]:
    """The underscore and hyphen spellings of a long option, other than `option` itself.

    `--image-size` → [`--image_size`]; `--no-freeze_encoder` → [`--no-freeze-encoder`,
    `--no_freeze_encoder`]. Short options (`-h`) and one-word options have none.
    """
    if not option.startswith("--"):
        return []
    body = option[2:]
    variants = [f"--{body.replace('_', '-')}", f"--{body.replace('-', '_')}"]
    return [v for v in dict.fromkeys(variants) if v != option]


class Recon3rArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose long options answer to both spellings (see the module docstring).

    The added spellings (`alias_spellings`) are hidden from `--help` and usage lines, and an
    abbreviation that matches both spellings of one option is not "ambiguous".
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.alias_spellings: set[str] = set()

    def add_spelling_aliases(self) -> None:
        """Give every long option of this parser (and of its subcommands) its other spelling.

        Call it once the arguments are all added. A spelling already taken by a different
        option with another destination is a programming error, reported with both names.
        """
        for action in list(self._actions):
            if isinstance(action, argparse._SubParsersAction):
                for sub in dict.fromkeys(action.choices.values()):
                    if isinstance(sub, Recon3rArgumentParser):
                        sub.add_spelling_aliases()
                continue
            for option in list(action.option_strings):
                for variant in other_spellings(option):
                    holder = self._option_string_actions.get(variant)
                    if (holder is None and isinstance(action, argparse.BooleanOptionalAction)
                            and option.startswith("--no-") and not variant.startswith("--no-")):
                        # BooleanOptionalAction reads only `--no-...` as a negation: `--no_x` gets its own action.
                        self._add_action(argparse._StoreConstAction(
                            [variant], dest=action.dest, const=False, default=argparse.SUPPRESS, help=argparse.SUPPRESS))
                        self.alias_spellings.add(variant)
                        continue
                    if holder is action:
                        continue
                    if holder is not None:
                        if holder.dest == action.dest:
                            continue  # the command registered this spelling itself, for the same setting
                        raise ValueError(
                            f"{self.prog}: option {option} (dest {action.dest!r}) and option {variant} "
                            f"(dest {holder.dest!r}) are spellings of one flag; rename one of them"
                        )
                    action.option_strings.append(variant)
                    self._option_string_actions[variant] = action
                    self.alias_spellings.add(variant)

    @contextlib.contextmanager
    def _declared_spellings_only(self) -> Iterator[None]:
        saved = [(action, action.option_strings) for action in self._actions]
        try:
            for action, options in saved:
                action.option_strings = [o for o in options if o not in self.alias_spellings]
            yield
        finally:
            for action, options in saved:
                action.option_strings = options

    def format_help(self) -> str:
        with self._declared_spellings_only():
            return super().format_help()

    def format_usage(self) -> str:
        with self._declared_spellings_only():
            return super().format_usage()

    def error(self, message: str):
        # argparse names an option by all its spellings ("--image-size/--image_size"): keep the declared one.
        for alias in sorted(self.alias_spellings, key=len, reverse=True):
            message = message.replace(f"/{alias}", "")
        super().error(message)

    def _get_option_tuples(self, option_string: str):
        # An abbreviation matching `--image-size` and `--image_size` means one option: keep one
        # match per action, so argparse does not call it ambiguous.
        seen: set[int] = set()
        unique = []
        for match in super()._get_option_tuples(option_string):
            if id(match[0]) not in seen:
                seen.add(id(match[0]))
                unique.append(match)
        return unique


def build_parser() -> Recon3rArgumentParser:
    from recon3r import __version__

    parser = Recon3rArgumentParser(prog="recon3r", description="Learned 3D reconstruction from images.")
    parser.add_argument("--version", action="version", version=f"recon3r {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    parser.add_spelling_aliases()
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restored on return: only the command's warnings are reformatted
            warnings.showwarning = _show_warning
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a missing file, a full disk, a permission: the environment, named by the OS
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        from recon3r.errors import Recon3rError

        # User-facing errors already name the file/field: show them without a traceback.
        if isinstance(err, Recon3rError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        if os.environ.get("RECON3R_DEBUG"):
            raise
        # Anything else is a bug: one line, and how to get the traceback for a report.
        message = " ".join(str(err).split()) or "(no message)"
        print(f"error: {type(err).__name__}: {message[:300]} (this is a bug in recon3r; rerun with "
              "RECON3R_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. a degenerate similarity fit) as one line each on stderr, like errors."""
    print(f"warning: {message}", file=sys.stderr)
