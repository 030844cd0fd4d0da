"""Atomic file writes, shared by every layer (results, indexes, checkpoints, figures).

A file is written to a temporary name in its own directory, flushed to disk and moved into
place with ``os.replace``: a reader (or a rerun after ``kill -9``) sees the old file or the new
one, never half of one. The temporary file gets the mode of a normally created file, not
``mkstemp``'s private 0600.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def file_in_the_way(folder: str | os.PathLike) -> Path | None:
    """The file (not a folder) that keeps ``folder`` from being created, if any: ``folder``
    itself or the nearest of its parents that exists."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def _make_parent(path: Path) -> None:
    """Create ``path``'s folder; a file in the way is a one-line ``NotADirectoryError`` naming
    both paths (``mkdir`` would say ``FileExistsError`` about the file alone)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = file_in_the_way(path.parent) or path.parent
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(blocker)!r} is a file, not a folder") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating parent folders); returns the path."""
    path = Path(path)
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
