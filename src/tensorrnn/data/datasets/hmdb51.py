"""HMDB51: ``<class>/<video>.avi`` and ``testTrainMulti_7030_splits/``, three official splits."""
from __future__ import annotations

import os
from pathlib import Path

from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import (
    clip_extensions, find_dir, find_files, layout_error, listing, official_root, parse_split_lines, subdirs,
    warn_missing,
)

_HMDB51_LAYOUT = "<class>/<video>.avi with testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt"
_HMDB51_SPLIT_IDS = {"1": "train", "2": "test", "0": "unused"}


class HMDB51(VideoClipDataset):
    """HMDB51: 51 classes, 6,766 clips, three official train/test splits.

    Layout::

        <class>/<video>.avi
        testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   # "<video>.avi <id>"

    with id 1 = train, 2 = test, 0 = unused. The splits folder may sit in the root or next to
    it (``splits_dir`` overrides).

    Args:
        root: the folder of the class folders.
        split: official split 1, 2 or 3.
        subset: ``"train"``, ``"test"`` or ``"all"`` (every clip; ``official`` then tells each
            clip's role in ``split``, for :func:`~tensorrnn.data.splits.make_split`).
        splits_dir: where the split files are, if not in the standard place.
        **options: see :class:`VideoClipDataset`.
    """

    name = "hmdb51"

    def __init__(self, root: str | os.PathLike, split: int = 1, subset: str = "train",
                 splits_dir: str | os.PathLike | None = None, **options) -> None:
        features = options.get("features", False)
        root = official_root(root, "HMDB51", _HMDB51_LAYOUT, split, subset)
        exts = clip_extensions(features)
        lists = find_dir(root, "testTrainMulti_7030_splits", splits_dir)
        index = {(d.name, p.stem.lower()): p for d in subdirs(root) for p in find_files(d, exts)}
        if lists is None:
            if subset != "all":
                raise FileNotFoundError(f"HMDB51 root {str(root)!r}: no testTrainMulti_7030_splits/ folder in or "
                                        f"next to it (needed for subset={subset!r}); expected {_HMDB51_LAYOUT}")
            roles = {}
            classes = sorted({cls for cls, _ in index})
        else:
            roles, classes = self._read_split(lists, split)
        if not classes or not index:
            raise layout_error("HMDB51", root, _HMDB51_LAYOUT, features)
        class_index = {c: i for i, c in enumerate(classes)}
        clips, official, missing = [], [], []
        if subset == "all":
            for (cls, stem), path in index.items():
                if cls in class_index:
                    clips.append(ClipRecord(path, class_index[cls]))
                    official.append(roles.get((cls, stem), "unused"))
        else:
            for (cls, stem), role in roles.items():
                if role != subset:
                    continue
                if (cls, stem) in index:
                    clips.append(ClipRecord(index[cls, stem], class_index[cls]))
                    official.append(role)
                else:
                    missing.append(f"{cls}/{stem}")
        warn_missing("HMDB51", lists or root, missing, root)
        super().__init__(root, clips, classes, official=official, missing=missing, **options)

    @staticmethod
    def _read_split(lists: Path, split: int) -> tuple[dict[tuple[str, str], str], list[str]]:
        files = sorted(lists.glob(f"*_test_split{split}.txt"))
        if not files:
            raise FileNotFoundError(f"HMDB51 split folder {str(lists)!r}: no <class>_test_split{split}.txt files; "
                                    f"found {listing(lists)}")
        roles, classes = {}, []
        for file in files:
            cls = file.name[: -len(f"_test_split{split}.txt")]
            classes.append(cls)
            for name, role_id, *_ in parse_split_lines(file, 2):
                if role_id not in _HMDB51_SPLIT_IDS:
                    raise ValueError(f"{file}: id {role_id!r} for {name}: expected 0 (unused), 1 (train) or 2 (test)")
                roles[cls, Path(name).stem.lower()] = _HMDB51_SPLIT_IDS[role_id]
        return roles, sorted(classes)
