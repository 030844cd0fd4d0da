"""Helpers for tests, not for applications: broken video files, as a download cut short,
an empty file or bytes no demuxer recognises, to check that the code reading videos names the
file and the reason (the project's tests use them; so may the tests of code built on it).

Kept out of the library's API (``tensorrnn.data``); it depends on nothing but numpy.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_corrupt", "write_empty", "write_truncated"]


def write_truncated(src: str | os.PathLike, dst: str | os.PathLike, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` share of ``src``'s bytes to ``dst`` (a download cut short)."""
    if not 0.0 <= keep < 1.0:
        raise ValueError(f"keep={keep!r}: expected a share in [0, 1)")
    data = Path(src).read_bytes()
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


def write_empty(path: str | os.PathLike) -> Path:
    """Create a 0-byte file at ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"")
    return Path(path)


def write_corrupt(path: str | os.PathLike, nbytes: int = 4096, seed: int = 0) -> Path:
    """Write ``nbytes`` random bytes at ``path`` (a file no demuxer recognises)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(np.random.default_rng(seed).bytes(nbytes))
    return Path(path)
