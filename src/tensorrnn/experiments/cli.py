"""``tensorrnn experiment SUBCOMMAND``: the papers' synthetic experiments.

Subcommands:
    recover   the TR paper's weight-recovery experiment (LR vs TT vs TR under noise).
"""
from __future__ import annotations

import argparse

from tensorrnn.errors import ArgumentParser


def build_parser() -> argparse.ArgumentParser:
    """The ``tensorrnn experiment`` parser with one sub-parser per experiment."""
    from tensorrnn.experiments import recover

    parser = ArgumentParser(prog="tensorrnn experiment",
                            description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    rec = sub.add_parser(
        "recover",
        help="recover a low-rank 81x81 weight by linear regression, a TT and a TR layer",
        description=recover.__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
    )
    recover.add_arguments(rec)
    rec.set_defaults(run=recover.run_command)
    return parser


def main(argv: list[str]) -> int:
    """Entry point called by ``tensorrnn experiment ...``."""
    args = build_parser().parse_args(argv)
    return args.run(args)
