"""What the dataset layouts share: the file extensions read, finding the root and a layout's
files, the one-line errors and warnings naming the root, and split-file parsing."""
from __future__ import annotations

import warnings
from pathlib import Path

#: File extensions read as video.
VIDEO_EXTENSIONS = (".avi", ".mpg", ".mpeg", ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".wmv", ".flv")
#: Extension of per-frame feature arrays ``(T, F)`` (``features=True``).
FEATURE_EXTENSION = ".npy"


def clip_extensions(features: bool) -> tuple[str, ...]:
    return (FEATURE_EXTENSION,) if features else VIDEO_EXTENSIONS


def require_root(root, name: str, layout: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{name} root {str(root)!r} does not exist; expected {layout}")
    if not root.is_dir():
        raise NotADirectoryError(f"{name} root {str(root)!r} is not a folder; expected {layout}")
    return root


def listing(folder: Path, limit: int = 6) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.is_dir() else []
    if not names:
        return "nothing (empty folder)"
    shown = ", ".join(names[:limit])
    return f"{len(names)} entries: {shown}{', ...' if len(names) > limit else ''}"


def layout_error(name: str, root: Path, layout: str, features: bool) -> ValueError:
    hint = "" if features else "; for .npy feature arrays pass features=True"
    return ValueError(f"{name} root {str(root)!r} does not match the layout {layout}; found {listing(root)}{hint}")


def subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_files(folder: Path, extensions: tuple[str, ...], recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."))


def warn_ignored(name: str, root: Path, ignored: list[Path]) -> None:
    if ignored:
        examples = ", ".join(str(p.relative_to(root)) for p in ignored[:3])
        warnings.warn(f"{name} root {root}: ignored {len(ignored)} entries that do not follow the layout, "
                      f"e.g. {examples}", stacklevel=4)


def warn_missing(name: str, source: Path, missing: list[str], root: Path) -> None:
    if missing:
        warnings.warn(f"{source}: {len(missing)} listed clips have no file under {root}, e.g. "
                      f"{', '.join(missing[:3])} (listed in .missing)", stacklevel=4)


def parse_split_lines(path: Path, fields: int, numbered: bool = False) -> list[list[str]]:
    """Non-empty lines of a split file, split on whitespace; each must have ``fields`` fields
    (and, if ``numbered``, a number first)."""
    rows = []
    # utf-8-sig: a list saved by a Windows editor starts with a byte order mark
    for number, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < fields:
            raise ValueError(f"{path}, line {number}: {line!r}: expected {fields} fields")
        if numbered and not parts[0].isdecimal():
            raise ValueError(f"{path}, line {number}: {line!r}: expected a class number first")
        rows.append(parts)
    return rows


def official_root(root, name: str, layout: str, split: int, subset: str) -> Path:
    """The root of a dataset with three official splits (:func:`require_root`), after checking
    ``split`` (1, 2 or 3) and ``subset`` (``train``, ``test`` or ``all``)."""
    if split not in (1, 2, 3):
        raise ValueError(f"split={split!r}: expected 1, 2 or 3 (the official splits)")
    subsets = ("train", "test", "all")
    if subset not in subsets:
        raise ValueError(f"subset={subset!r}: expected one of {', '.join(map(repr, subsets))}")
    return require_root(root, name, layout)


def find_dir(root: Path, name: str, given) -> Path | None:
    if given is not None:
        given = Path(given)
        if not given.is_dir():
            raise FileNotFoundError(f"splits_dir {str(given)!r} does not exist")
        return given
    for candidate in (root / name, root.parent / name):
        if candidate.is_dir():
            return candidate
    return None
