"""UCF101: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/``, three official splits."""
from __future__ import annotations

import os
import re
from pathlib import Path

from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import (
    clip_extensions, find_dir, find_files, layout_error, official_root, parse_split_lines, subdirs, warn_missing,
)

_UCF101_LAYOUT = "UCF-101/<Class>/v_<Class>_gGG_cCC.avi with ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt"
_UCF101_NAME = re.compile(r"v_(.+)_g(\d+)_c(\d+)", re.IGNORECASE)


class UCF101(VideoClipDataset):
    """UCF101: 101 classes, 25 groups, three official splits.

    Layout::

        UCF-101/<Class>/v_<Class>_gGG_cCC.avi
        ucfTrainTestlist/classInd.txt           # "1 ApplyEyeMakeup" (1-based)
        ucfTrainTestlist/trainlist0{1,2,3}.txt  # "<Class>/<clip>.avi <label>"
        ucfTrainTestlist/testlist0{1,2,3}.txt   # "<Class>/<clip>.avi"

    The root may be the folder holding ``UCF-101`` or ``UCF-101`` itself; the list folder may
    sit in the root or next to it (``splits_dir`` overrides). ``group`` is ``GG``.

    Args:
        root: the dataset folder.
        split: official split 1, 2 or 3.
        subset: ``"train"``, ``"test"`` or ``"all"`` (with ``official``).
        splits_dir: the ``ucfTrainTestlist`` folder, if not in the standard place.
        **options: see :class:`VideoClipDataset`.
    """

    name = "ucf101"

    def __init__(self, root: str | os.PathLike, split: int = 1, subset: str = "train",
                 splits_dir: str | os.PathLike | None = None, **options) -> None:
        features = options.get("features", False)
        root = official_root(root, "UCF101", _UCF101_LAYOUT, split, subset)
        videos = root / "UCF-101" if (root / "UCF-101").is_dir() else root
        lists = find_dir(videos, "ucfTrainTestlist", splits_dir) or find_dir(root, "ucfTrainTestlist", None)
        index = {}
        for d in subdirs(videos):
            for p in find_files(d, clip_extensions(features)):
                if _UCF101_NAME.fullmatch(p.stem):
                    index[d.name.lower(), p.stem.lower()] = p
        if lists is None:
            if subset != "all":
                raise FileNotFoundError(f"UCF101 root {str(root)!r}: no ucfTrainTestlist/ folder in or next to it "
                                        f"(needed for subset={subset!r}); expected {_UCF101_LAYOUT}")
            classes, roles = sorted({p.parent.name for p in index.values()}), {}
        else:
            classes, roles = self._read_lists(lists, split)
        if not index:
            raise layout_error("UCF101", videos, _UCF101_LAYOUT, features)
        class_index = {c.lower(): i for i, c in enumerate(classes)}
        clips, official, missing = [], [], []
        keys = index.keys() if subset == "all" else [k for k, role in roles.items() if role == subset]
        for key in keys:
            if key not in index or key[0] not in class_index:
                missing.append("/".join(key))
                continue
            group = int(_UCF101_NAME.fullmatch(index[key].stem).group(2))
            clips.append(ClipRecord(index[key], class_index[key[0]], group))
            official.append(roles.get(key, "unused"))
        warn_missing("UCF101", lists or videos, missing, videos)
        super().__init__(videos, clips, classes, official=official, missing=missing, **options)

    @staticmethod
    def _read_lists(lists: Path, split: int) -> tuple[list[str], dict[tuple[str, str], str]]:
        files = {name: lists / f"{name}.txt" for name in ("classInd", f"trainlist0{split}", f"testlist0{split}")}
        for file in files.values():
            if not file.is_file():
                raise FileNotFoundError(f"UCF101 list file {str(file)!r} does not exist; expected {_UCF101_LAYOUT}")
        numbered = sorted((int(i), name) for i, name, *_ in parse_split_lines(files["classInd"], 2, numbered=True))
        classes = [name for _, name in numbered]
        roles = {}
        for role, key in (("train", f"trainlist0{split}"), ("test", f"testlist0{split}")):
            for entry, *_ in parse_split_lines(files[key], 1):
                path = Path(entry.replace("\\", "/"))
                roles[path.parent.name.lower(), path.stem.lower()] = role
        return classes, roles
