"""One spelling of every option, either way: each argparse command takes ``--cache-dir`` and
``--cache_dir`` alike (aliases of one option, so one value). The LightningCLI commands (fit,
validate, test, cv) keep jsonargparse's dotted ``--data.cache_dir``."""
from __future__ import annotations

import argparse

import pytest

from tensorrnn import cli

LIGHTNING_COMMANDS = {"fit", "validate", "test", "cv"}


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from tensorrnn.data import features, prepare
    from tensorrnn.deploy import export, predict
    from tensorrnn.experiments import advise, params
    from tensorrnn.experiments import cli as experiment_cli
    from tensorrnn.train import demo

    experiment = experiment_cli.build_parser()
    subcommands = next(a for a in experiment._actions if isinstance(a, argparse._SubParsersAction))
    return {"predict": predict._parser(), "export": export._parser(), "demo": demo._parser(),
            "prepare": prepare._parser(), "features": features._parser(), "params": params._parser(), "advise": advise._parser(),
            "experiment recover": subcommands.choices["recover"]}


PARSERS = _parsers()
#: Arguments a command needs besides the option under test (advise: one of a pair, --frame
#: unless --in-features is the option).
REQUIRED = {"predict": ["--ckpt_path", "model.ckpt"], "export": ["--ckpt_path", "model.ckpt", "--out", "m.onnx"],
            "advise": ["--hidden", "8", "--params", "100"], "features": ["folder", "videos", "--out", "f"]}


def _multi_word(parser: argparse.ArgumentParser) -> list[tuple[argparse.Action, str]]:
    """(action, option) for every long option of more than one word."""
    return [(action, option) for action in parser._actions for option in action.option_strings
            if option.startswith("--") and ("-" in option[2:] or "_" in option[2:])]


def _value(action: argparse.Action) -> list[str]:
    """Tokens after the option that set a value other than its default."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [next(c for c in action.choices if c != action.default)]
    token = {int: ["7"], float: ["0.25"]}.get(action.type, ["4x4"])
    return token * action.nargs if isinstance(action.nargs, int) else token  # nargs=2: --frame-size W H


def test_every_argparse_command_is_checked():
    commands = {name for name in cli.COMMANDS if name not in LIGHTNING_COMMANDS}
    assert commands == {name.split()[0] for name in PARSERS}


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_multi_word_options_take_both_spellings(command):
    for action, option in _multi_word(PARSERS[command]):
        word = option[2:]
        for other in (f"--{word.replace('-', '_')}", f"--{word.replace('_', '-')}"):
            assert other in action.option_strings, f"tensorrnn {command} {option}: no {other}"


@pytest.mark.parametrize("command", sorted(name for name, p in PARSERS.items() if _multi_word(p)))
def test_both_spellings_parse_to_the_same_value(command):
    parser = PARSERS[command]
    for action, option in _multi_word(parser):
        base = list(REQUIRED.get(command, []))
        if command == "advise" and action.dest != "in_features":
            base += ["--frame", "4x4x3"]
        hyphens, underscores = (f"--{option[2:].replace('_', '-')}", f"--{option[2:].replace('-', '_')}")
        values = [getattr(parser.parse_args(base + [spelling, *_value(action)]), action.dest)
                  for spelling in (hyphens, underscores)]
        assert values[0] == values[1] != action.default, (command, option, values)


def test_prepare_cache_dir_either_way():
    parser = PARSERS["prepare"]
    assert parser.parse_args(["--cache-dir", "stores"]).cache_dir == "stores"
    assert parser.parse_args(["--cache_dir", "stores"]).cache_dir == "stores"
