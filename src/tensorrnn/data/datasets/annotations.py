"""Your own videos, listed in an annotation file: ``path label [group]`` per line.

The list is the video ecosystem's convention (MMAction2's ``path label`` video lists,
SlowFast / VideoMAE CSVs)::

    # whitespace separated (.txt, .lst, ...); '#' starts a comment line
    kitchen/cut_01.mp4  chop   anna
    kitchen/cut_02.mp4  chop   ben
    garden/dig_07.mp4   dig    anna
    garden/both.mp4     chop,dig  ben     <- multi-label: labels joined by commas

    # comma separated (.csv, or delimiter=","); a header line "path,label[,group]" is skipped;
    # a multi-label field is quoted: "chop,dig"
    kitchen/cut_01.mp4,chop,anna

- ``path``: relative to ``root`` (or absolute, inside ``root``); a path that leaves the root
  (``../``) is refused, so a list can only reach the videos under the folder it was given. A
  path with spaces needs the CSV form.
- ``label``: a class name, or MMAction2's integer label (0-based). Class names come from
  ``classes_file`` (one name per line; integer labels index it), or else from the labels
  themselves: integer labels 0..K-1 give the classes ``"0"`` .. ``"K-1"``, names are sorted.
- ``group`` (optional, on every line or none): who or where the clip was filmed (a person, a
  scene, a source video); the group-aware splits (``group_kfold``, ``logo``) never put one group
  in both train and test, and ``val_split`` holds out whole groups. Group names are numbered in
  sorted order (numerically when they are all integers): ``group_names[g]`` is group ``g``.

A line with a missing file, an unknown label or a wrong number of fields is skipped with a
warning naming the list file and the line; above ``max_bad_fraction`` of the lines it is a
``ValueError``.
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

from tensorrnn.data.datasets.clips import MAX_WARNINGS, ClipRecord, VideoClipDataset

#: Accepted ``delimiter`` values.
DELIMITERS = ("auto", "whitespace", ",", ";", "\t")
#: First-line field names that mark a CSV header.
_HEADER_LABELS = {"label", "labels", "class", "classes", "target", "action"}


def read_annotation_rows(path: str | os.PathLike, delimiter: str = "auto") -> list[tuple[int, list[str]]]:
    """The non-empty, non-comment lines of an annotation list as ``(line number, fields)``.

    ``delimiter="auto"``: comma for a ``.csv`` file, whitespace otherwise. A CSV header
    (second field ``label``, ``class``, ...) is skipped.
    """
    path = Path(path)
    if delimiter not in DELIMITERS:
        raise ValueError(f"delimiter={delimiter!r}: expected one of {', '.join(map(repr, DELIMITERS))}")
    if delimiter == "auto":
        delimiter = "," if path.suffix.lower() == ".csv" else "whitespace"
    # utf-8-sig: a list saved by a Windows editor starts with a byte order mark
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if delimiter == "whitespace":
            fields = line.split()
        else:
            fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
        if not rows and len(fields) >= 2 and fields[1].lower() in _HEADER_LABELS:
            continue  # a header
        rows.append((number, fields))
    return rows


def _numbered(names: set[str]) -> list[str]:
    """Names in sorted order, numerically when they are all integers."""
    if names and all(n.lstrip("-").isdecimal() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` lies under ``root`` after normalising ``..`` (without following links:
    a link inside the root that the user made is theirs to follow)."""
    path, root = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))
    return os.path.commonpath([path, root]) == root


class AnnotationList(VideoClipDataset):
    """Videos anywhere under ``root``, with labels (and groups) from an annotation list.

    See the module docstring for the format.

    Args:
        root: the folder the list's paths are relative to; every listed path must lie in it.
        annotations: the list file (``.csv``: comma separated; else whitespace separated).
        classes_file: class names, one a line, in the order of the integer labels; ``None``:
            taken from the labels.
        delimiter: ``"auto"`` (by the file's extension), ``"whitespace"``, ``","``, ``";"``
            or ``"\\t"``.
        **options: see :class:`VideoClipDataset` (``max_bad_fraction`` also bounds the share of
            bad lines).

    Examples:
        >>> ds = AnnotationList("videos", "train.txt")  # "clip.mp4 3" lines, MMAction2  # doctest: +SKIP
        >>> ds.classes[:2], ds.groups[:2]
        (['0', '1'], array([-1, -1]))
    """

    name = "annotations"

    def __init__(self, root: str | os.PathLike, annotations: str | os.PathLike | None = None,
                 classes_file: str | os.PathLike | None = None, delimiter: str = "auto", **options) -> None:
        if annotations is None:
            raise ValueError("annotations=None: expected the list file (data.annotations: lines 'path label [group]')")
        listing = Path(annotations)
        if not listing.is_file():
            raise FileNotFoundError(f"annotations={str(listing)!r}: no such file; expected a list of "
                                    "'path label [group]' lines")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"root={str(root)!r}: no such folder; expected the folder the paths of "
                                    f"{listing} are relative to")
        names = self._read_classes(classes_file) if classes_file is not None else None
        rows = read_annotation_rows(listing, delimiter)
        if not rows:
            raise ValueError(f"annotations={str(listing)!r}: no lines; expected 'path label [group]' lines")
        width = 3 if any(len(fields) == 3 for _, fields in rows) else 2
        bad: list[tuple[int, str]] = []
        entries = []  # (line, path, labels, group)
        for number, fields in rows:
            if len(fields) != width:
                expected = "3 fields (path label group), like the lines with a group" if width == 3 else \
                    "2 or 3 fields (path label [group])"
                bad.append((number, f"{len(fields)} fields {fields[:4]}: expected {expected}"))
                continue
            raw = fields[0].replace("\\", "/")
            path = Path(raw) if Path(raw).is_absolute() else root / raw
            if not _inside(path, root):
                raise ValueError(f"{listing}, line {number}: path {fields[0]!r} is outside root {str(root)!r}; "
                                 "expected a path inside the root (no '../' out of it)")
            labels = [label.strip() for label in fields[1].split(",") if label.strip()]
            if not labels:
                bad.append((number, f"no label in {fields[1]!r}"))
            elif not path.is_file():
                bad.append((number, f"{path}: no such file"))
            else:
                entries.append((number, path, labels, fields[2] if width == 3 else None))
        multilabel = any(len(labels) > 1 for _, _, labels, _ in entries)
        if names is None:
            found = {label for _, _, labels, _ in entries for label in labels}
            names = _numbered(found)
            if names and all(n.isdecimal() for n in names):  # MMAction2: integer labels are the class indices
                names = [str(i) for i in range(int(names[-1]) + 1)]
        index = {n: i for i, n in enumerate(names)}
        clips_raw = []
        for number, path, labels, group in entries:
            targets = []
            for label in labels:
                if label in index:
                    targets.append(index[label])
                elif label.isdecimal() and int(label) < len(names):
                    targets.append(int(label))
                else:
                    known = f"{len(names)} classes of {classes_file}" if classes_file is not None else "the labels"
                    bad.append((number, f"unknown label {label!r} (not one of the {known})"))
                    break
            else:
                clips_raw.append((path, targets, group))
        self._report(listing, bad, len(rows), options.get("max_bad_fraction", 0.1))
        #: Group names, indexed by group id (empty when the list has no group column).
        self.group_names = _numbered({g for _, _, g in clips_raw if g is not None})
        number = {g: i for i, g in enumerate(self.group_names)}
        clips = []
        for path, targets, group in clips_raw:
            target = tuple(int(c in targets) for c in range(len(names))) if multilabel else targets[0]
            clips.append(ClipRecord(path, target, None if group is None else number[group]))
        #: The list file the clips came from.
        self.annotations = listing
        super().__init__(root, clips, names, multilabel=multilabel, **options)

    @staticmethod
    def _read_classes(classes_file) -> list[str]:
        file = Path(classes_file)
        if not file.is_file():
            raise FileNotFoundError(f"classes_file={str(file)!r}: no such file; expected class names, one a line")
        names = [line.strip() for line in file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if len(names) < 2 or duplicates:
            raise ValueError(f"classes_file={str(file)!r}: {len(names)} names"
                             + (f", repeated: {duplicates[:3]}" if duplicates else "")
                             + "; expected at least 2 distinct class names, one a line")
        return names

    @staticmethod
    def _report(listing: Path, bad: list[tuple[int, str]], total: int, max_bad_fraction: float) -> None:
        """Warn about skipped lines (naming the file and line); too many is an error."""
        bad = sorted(bad)
        for number, reason in bad[:MAX_WARNINGS]:
            warnings.warn(f"{listing}, line {number}: skipped: {reason}", stacklevel=4)
        if not bad:
            return
        share = len(bad) / total
        if share > max_bad_fraction:
            number, reason = bad[0]
            raise ValueError(f"{listing}: {len(bad)} of {total} lines are bad ({share:.0%}), more than "
                             f"max_bad_fraction={max_bad_fraction}; first: line {number}: {reason}")
        if len(bad) > MAX_WARNINGS:
            warnings.warn(f"{listing}: skipped {len(bad)} of {total} lines", stacklevel=4)
