"""The one entry point, ``tensorrnn``: dispatches a subcommand to the module that owns it.

Every subcommand module exposes ``main(argv: list[str]) -> int`` and receives the arguments
after the subcommand word. Modules are imported lazily so that ``tensorrnn params`` does not
pay for Lightning and PyAV.

Errors a user can fix (bad config, missing data root, bad checkpoint) are raised as
``ValueError`` / ``FileNotFoundError`` / :class:`tensorrnn.errors.UsageError` (or a path that is
a folder, not a folder, or not writable) and printed as one line with a non-zero exit code;
``--verbose`` shows the traceback.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

from tensorrnn.errors import UsageError
from tensorrnn.heap import keep_freed_memory

# subcommand -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "fit": ("tensorrnn.train.cli", "fit_main", "train a model from a YAML config (LightningCLI)"),
    "validate": ("tensorrnn.train.cli", "validate_main", "evaluate a checkpoint on the validation split"),
    "test": ("tensorrnn.train.cli", "test_main", "evaluate a checkpoint on the test split"),
    "cv": ("tensorrnn.train.cli", "cv_main", "cross-validate a config over all folds (mean +- std)"),
    "predict": ("tensorrnn.deploy.predict", "main", "classify video files with a trained checkpoint"),
    "export": ("tensorrnn.deploy.export", "main", "export a checkpoint to ONNX / torch.export, verified on clips"),
    "demo": ("tensorrnn.train.demo", "main", "generate demo videos, train TT-GRU vs GRU, report"),
    "prepare": ("tensorrnn.data.prepare", "main", "decode a dataset once into a clip store; --list / --clear the stores"),
    "features": ("tensorrnn.data.features", "main", "per-frame features of a dataset's videos from a torchvision backbone"),
    "params": ("tensorrnn.experiments.params", "main", "the papers' parameter tables, from the modules"),
    "advise": ("tensorrnn.experiments.advise", "main", "shapes and ranks per format for a parameter or MACs budget"),
    "experiment": ("tensorrnn.experiments.cli", "main", "the papers' synthetic experiments (recover)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: tensorrnn [--verbose] COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run 'tensorrnn COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    if verbose:
        argv.remove("--verbose")
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    keep_freed_memory()             # before the first large tensor; TENSORRNN_KEEP_HEAP=0 turns it off
    # Lightning 2.6 calls torch 2.13's deprecated pytree API on every fit; the line says nothing
    # a user can act on (it names Lightning's file, not theirs)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        code = func(rest)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
            KeyError) as err:
        if verbose:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`tensorrnn predict --json | head`): not an error of ours;
        # point stdout at devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
