"""KTH human actions (Schuldt, Laptev and Caputo, ICPR 2004).

6 actions (boxing, handclapping, handwaving, jogging, running, walking) by 25 persons in 4
scenarios (d1 outdoors, d2 outdoors with scale variation, d3 different clothes, d4 indoors);
160x120 grey video at 25 fps. The release is one zip per action; the videos may sit in one
folder per action or all in one::

    <root>/**/person01_boxing_d1_uncomp.avi
    <root>/00sequences.txt      (optional) the subsequences of every video:
        person01_boxing_d1		frames	1-95, 96-185, 186-245, 246-360

The group is the person. The paper's split is by person (``official``): persons 11-18 train,
1, 4, 19-21, 23-25 validation, 2, 3, 5-10, 22 test (:data:`tensorrnn.papers.KTH_SPLIT_PERSONS`).
When ``00sequences.txt`` is present every listed subsequence is a clip (frames 1-based and
inclusive in the file; 2,391 clips in the release), otherwise every video is one clip.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from tensorrnn import papers
from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import (
    clip_extensions, find_files, layout_error, require_root, warn_ignored, warn_missing,
)

_KTH_LAYOUT = "<root>/**/person<PP>_<action>_d<S>_uncomp.avi (e.g. boxing/person01_boxing_d1_uncomp.avi)"
_KTH_NAME = re.compile(r"person(\d+)_([a-z]+)_d(\d+)(?:_uncomp)?", re.IGNORECASE)
_SEQUENCE_LINE = re.compile(r"\s*(person\d+_[a-z]+_d\d+)\s+frames\s+(.+)", re.IGNORECASE)
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")
SUBSETS = ("train", "val", "test", "all")


def kth_role(person: int) -> str:
    """The role of a person in the paper's split: ``"train"``, ``"val"``, ``"test"`` or
    ``"unused"`` (a person number outside 1-25)."""
    for role, persons in papers.KTH_SPLIT_PERSONS.items():
        if person in persons:
            return role
    return "unused"


def read_sequences(path: str | os.PathLike) -> dict[str, list[tuple[int, int]]]:
    """``00sequences.txt`` as ``{"person01_boxing_d1": [(0, 95), (95, 185), ...]}``: 0-based
    ``(start, stop)`` ranges, ``stop`` excluded. Lines that list no video (the file's header)
    are skipped."""
    path = Path(path)
    sequences = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        match = _SEQUENCE_LINE.fullmatch(line.rstrip())
        if match is None:
            continue
        ranges = []
        for first, last in _RANGE.findall(match.group(2)):
            first, last = int(first), int(last)
            if not 1 <= first <= last:
                raise ValueError(f"{path}, line {number}: frames {first}-{last}: expected FIRST-LAST with "
                                 "1 <= FIRST <= LAST (1-based, inclusive)")
            ranges.append((first - 1, last))
        if not ranges:
            raise ValueError(f"{path}, line {number}: {line.strip()!r}: expected frame ranges like 1-95, 96-185")
        sequences[match.group(1).lower()] = ranges
    return sequences


class KTH(VideoClipDataset):
    """KTH: 6 actions, 25 persons (the groups), the paper's person split.

    Args:
        root: the folder holding the videos (in any sub-folders) and, optionally,
            ``00sequences.txt``.
        subset: ``"train"``, ``"val"``, ``"test"`` (the persons of the paper's split) or
            ``"all"`` (every clip; ``official`` tells each clip's role, for
            ``protocol="official"``; the group-aware protocols use the persons).
        sequences: the subsequence file: ``"auto"`` (``root/00sequences.txt`` if it exists),
            a path, or ``None`` (every video is one clip).
        **options: see :class:`VideoClipDataset`.

    Examples:
        >>> ds = KTH("kth", subset="all")  # doctest: +SKIP
        >>> len(ds), ds.num_classes, len(set(ds.groups))
        (2391, 6, 25)
    """

    name = "kth"

    def __init__(self, root: str | os.PathLike, subset: str = "all",
                 sequences: str | os.PathLike | None = "auto", **options) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"subset={subset!r}: expected one of {', '.join(map(repr, SUBSETS))}")
        features = options.get("features", False)
        root = require_root(root, "KTH", _KTH_LAYOUT)
        if sequences == "auto":
            sequences = root / "00sequences.txt" if (root / "00sequences.txt").is_file() else None
        elif sequences is not None and not Path(sequences).is_file():
            raise FileNotFoundError(f"sequences={str(sequences)!r}: no such file; expected KTH's 00sequences.txt, "
                                    "'auto' or None")
        ranges = read_sequences(sequences) if sequences is not None else {}
        classes = list(papers.KTH_ACTIONS)
        class_index = {c: i for i, c in enumerate(classes)}
        clips, official, ignored, whole = [], [], [], []
        for path in find_files(root, clip_extensions(features), recursive=True):
            match = _KTH_NAME.fullmatch(path.stem)
            if match is None or match.group(2).lower() not in class_index:
                ignored.append(path)
                continue
            person, action = int(match.group(1)), match.group(2).lower()
            role = kth_role(person)
            if subset != "all" and role != subset:
                continue
            key = f"person{match.group(1)}_{action}_d{match.group(3)}".lower()
            spans = ranges.get(key)
            if spans is None and sequences is not None:
                whole.append(path.name)
            for span in spans or [None]:
                clips.append(ClipRecord(path, class_index[action], person, span))
                official.append(role)
        if not clips and not ignored:
            raise layout_error("KTH", root, _KTH_LAYOUT, features)
        warn_ignored("KTH", root, ignored)
        if whole:
            warnings.warn(f"{sequences}: {len(whole)} videos are not listed, each read as one clip, e.g. "
                          f"{', '.join(whole[:3])}", stacklevel=2)
        found = {p.stem.lower().removesuffix("_uncomp") for p in find_files(root, clip_extensions(features), recursive=True)}
        missing = sorted(k for k in ranges if k not in found and (subset == "all" or kth_role(_person(k)) == subset))
        warn_missing("KTH", Path(sequences) if sequences is not None else root, missing, root)
        super().__init__(root, clips, classes, official=official, missing=missing, **options)


def _person(key: str) -> int:
    return int(_KTH_NAME.fullmatch(key).group(1))
