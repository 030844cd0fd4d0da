"""Exceptions shared by every layer of the package."""


class UsageError(Exception):
    """A mistake the user can fix (bad argument, config, path or checkpoint).

    The ``tensorrnn`` command prints it as one line and exits non-zero; library callers
    catch it like any exception.
    """
