"""Exceptions shared by every layer of the package, and the checks that raise them for options
a user passes through to a constructor (config dicts, command lines)."""
from __future__ import annotations

import argparse
import inspect
from typing import Any, Mapping


class UsageError(Exception):
    """A mistake the user can fix (bad argument, config, path or checkpoint).

    The ``tensorrnn`` command prints it as one line and exits non-zero; library callers
    catch it like any exception.
    """


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (:class:`UsageError`), not a usage dump.

    Sub-parsers made with ``add_subparsers`` are of this class too.
    """

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def parse_or_help(self, argv: list[str] | None) -> argparse.Namespace | None:
        """``parse_args(argv)``, or ``None`` once ``--help`` is printed: the command then returns
        0 rather than exiting the process (its ``main`` is called in-process too)."""
        try:
            return self.parse_args(argv)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise
            return None


def keyword_names(cls: type) -> set[str]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the MRO."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def check_keywords(argument: str, options: Mapping[str, Any], cls: type, reserved: Mapping[str, str]) -> None:
    """Raise a one-line ``ValueError`` unless every key of ``options`` is a keyword of ``cls``
    that the caller does not set itself.

    ``reserved`` maps the keywords the caller sets to the argument the user should set instead
    (a pass-through dict must not silently override, or be overridden by, a named argument).
    """
    accepted = keyword_names(cls) - set(reserved)
    for key in options:
        if key in reserved:
            raise ValueError(f"{argument}.{key}: set by {reserved[key]}; set that instead")
        if key not in accepted:
            raise ValueError(f"{argument}: unknown key {key!r}; expected keyword arguments of {cls.__name__}: "
                             f"{', '.join(map(repr, sorted(accepted)))}")
