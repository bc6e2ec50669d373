"""Both spellings of every long option (`--flag_name`, `--flag-name`) work in every subcommand."""

from __future__ import annotations

import argparse

import pytest

from recon3r.cli import Recon3rArgumentParser, build_parser, other_spellings


def subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(argv prefix, parser) for the parser and every nested subcommand."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subparsers(sub, (*prefix, name))


def sample_value(action: argparse.Action) -> list[str]:
    """Command-line words that give `action` a valid value other than its default, where it has one."""
    if action.nargs == 0:
        return []
    if action.choices:
        options = [c for c in action.choices if c != action.default] or list(action.choices)
        value = str(options[0])
    elif action.type in (int, float):
        default = action.default if isinstance(action.default, (int, float)) else 0
        value = str(int(default) + 3)
    else:
        value = "x-value"
    return [value] * (2 if action.nargs == 2 else 1)


def required_words(parser: argparse.ArgumentParser, skip: argparse.Action) -> list[str]:
    words = []
    for action in parser._actions:
        if action is skip or isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings and action.nargs not in ("?", "*"):
            words += sample_value(action)
        elif action.option_strings and action.required:
            words += [action.option_strings[0], *sample_value(action)]
    return words


def long_options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        for option in action.option_strings:
            if option.startswith("--") and ("_" in option or "-" in option[2:]) and option not in parser.alias_spellings:
                yield action, option


def cases():
    out = []
    for prefix, parser in subparsers(build_parser()):
        for _action, option in long_options(parser):
            out.append(pytest.param(prefix, option, id=" ".join((*prefix, option))))
    return out


@pytest.mark.parametrize(("prefix", "option"), cases())
def test_every_option_accepts_both_spellings(prefix, option):
    root = build_parser()
    parser = dict(subparsers(root))[prefix]
    action = parser._option_string_actions[option]
    values = sample_value(action)
    spellings = [option, *other_spellings(option)]
    if isinstance(action, argparse.BooleanOptionalAction) and not option.startswith("--no-"):
        spellings = [s for s in spellings if not s.startswith("--no")]
    results = []
    for spelling in spellings:
        if not (isinstance(action, argparse.BooleanOptionalAction) and spelling.startswith("--no_")):
            assert parser._option_string_actions[spelling] is action, spelling
        argv = [*prefix, *required_words(parser, action), spelling, *values]
        namespace = root.parse_args(argv)
        results.append(getattr(namespace, action.dest))
    assert len(spellings) >= 2 and all(r == results[0] for r in results)
    if isinstance(action, argparse.BooleanOptionalAction):
        assert results[0] is (not option.startswith("--no-"))
    elif not (action.choices and len(action.choices) == 1):
        assert results[0] != action.default  # the option was read, not left at its default


def test_help_shows_only_the_declared_spelling(capsys):
    parser = dict(subparsers(build_parser()))[("demo",)]
    text = parser.format_help()
    assert "--image-size" in text and "--image_size" not in text
    parser = dict(subparsers(build_parser()))[("train",)]
    text = parser.format_help() + parser.format_usage()
    assert "--output_dir" in text and "--output-dir" not in text


def test_abbreviations_of_both_spellings_are_not_ambiguous():
    args = build_parser().parse_args(["demo", "--image", "224", "--local"])
    assert args.image_size == 224 and args.local_network


def test_a_spelling_taken_by_another_option_is_refused_clearly():
    parser = Recon3rArgumentParser(prog="x")
    parser.add_argument("--out-dir", dest="a")
    parser.add_argument("--out_dir", dest="b")
    with pytest.raises(ValueError, match=r"x: option --out-dir \(dest 'a'\) and option --out_dir \(dest 'b'\)"):
        parser.add_spelling_aliases()


def test_a_spelling_the_command_registered_itself_is_kept():
    parser = Recon3rArgumentParser(prog="x")
    parser.add_argument("--image-size", dest="image_size", type=int)
    parser.add_argument("--image_size", dest="image_size", type=int, help=argparse.SUPPRESS)
    parser.add_spelling_aliases()
    assert parser.parse_args(["--image_size", "3"]).image_size == 3


def test_other_spellings():
    assert other_spellings("--image-size") == ["--image_size"]
    assert other_spellings("--no-freeze_encoder") == ["--no-freeze-encoder", "--no_freeze_encoder"]
    assert other_spellings("--out") == [] and other_spellings("-h") == []


def test_errors_name_the_declared_spelling(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--image_size", "300"])
    err = capsys.readouterr().err
    assert "argument --image-size: invalid choice" in err and "--image_size" not in err.splitlines()[-1]
