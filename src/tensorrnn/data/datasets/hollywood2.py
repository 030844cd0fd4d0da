"""Hollywood2 actions: ``AVIClips/<clip>.avi`` and ``ClipSets/<Action>_{train,test,autotrain}.txt``, multi-label."""
from __future__ import annotations

import os
from pathlib import Path

from tensorrnn import papers
from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import (
    clip_extensions, find_files, layout_error, parse_split_lines, require_root, warn_missing,
)

_HOLLYWOOD2_LAYOUT = "AVIClips/<clip>.avi with ClipSets/<Action>_{train,test,autotrain}.txt"


class Hollywood2(VideoClipDataset):
    """Hollywood2 actions: 12 classes, multi-label; clean train (823) and test (884).

    Layout::

        AVIClips/actioncliptrain00001.avi, actioncliptest00001.avi, actionclipautoautotrain00001.avi
        ClipSets/<Action>_{train,test,autotrain}.txt   # "<clip> 1" or "<clip> -1"

    Targets are float multi-hot vectors over :data:`tensorrnn.papers.HOLLYWOOD2_ACTIONS`.

    Args:
        root: the dataset folder (holding ``AVIClips`` and ``ClipSets``).
        subset: ``"train"``, ``"test"``, ``"autotrain"`` (the noisy automatic training set) or
            ``"all"`` (train + test, with ``official`` telling which).
        **options: see :class:`VideoClipDataset`.
    """

    name = "hollywood2"

    def __init__(self, root: str | os.PathLike, subset: str = "train", **options) -> None:
        subsets = ("train", "test", "autotrain", "all")
        if subset not in subsets:
            raise ValueError(f"subset={subset!r}: expected one of {', '.join(map(repr, subsets))}")
        features = options.get("features", False)
        root = require_root(root, "Hollywood2", _HOLLYWOOD2_LAYOUT)
        clips_dir, sets_dir = root / "AVIClips", root / "ClipSets"
        if not clips_dir.is_dir() or not sets_dir.is_dir():
            raise layout_error("Hollywood2", root, _HOLLYWOOD2_LAYOUT, features)
        index = {p.stem.lower(): p for p in find_files(clips_dir, clip_extensions(features))}
        classes = list(papers.HOLLYWOOD2_ACTIONS)
        clips, official, missing = [], [], []
        for part in (("train", "test") if subset == "all" else (subset,)):
            labels = self._read_clipsets(sets_dir, part, classes)
            for name, flags in labels.items():
                if name.lower() in index:
                    clips.append(ClipRecord(index[name.lower()], tuple(flags)))
                    official.append(part)
                else:
                    missing.append(name)
        if not index:
            raise layout_error("Hollywood2", clips_dir, _HOLLYWOOD2_LAYOUT, features)
        warn_missing("Hollywood2", sets_dir, missing, clips_dir)
        super().__init__(root, clips, classes, multilabel=True, official=official, missing=missing, **options)

    @staticmethod
    def _read_clipsets(sets_dir: Path, part: str, classes: list[str]) -> dict[str, list[int]]:
        labels: dict[str, list[int]] = {}
        for c, action in enumerate(classes):
            file = sets_dir / f"{action}_{part}.txt"
            if not file.is_file():
                raise FileNotFoundError(f"Hollywood2 label file {str(file)!r} does not exist; expected "
                                        f"ClipSets/<Action>_{part}.txt for the 12 actions")
            for name, flag, *_ in parse_split_lines(file, 2):
                if flag not in ("1", "-1"):
                    raise ValueError(f"{file}: flag {flag!r} for {name}: expected 1 or -1")
                labels.setdefault(name, [0] * len(classes))[c] = int(flag == "1")
        return labels
