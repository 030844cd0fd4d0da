"""Any collection with one folder per class: ``<class>/**/<clip>``, groups from a sub-folder level."""
from __future__ import annotations

import os

import numpy as np

from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import clip_extensions, find_files, layout_error, require_root, subdirs, warn_ignored

_FOLDER_LAYOUT = "<class>/**/<clip> (one folder per class)"


class VideoFolder(VideoClipDataset):
    """Any collection with one folder per class (clips may sit in sub-folders).

    With ``group_depth`` the clips' group is a sub-folder of the class folder, for example
    ``group_depth=1`` for ``<class>/<person>/<clip>.mp4``: clips of one person are then never
    in both train and test under the group-aware splits (``group_kfold``, ``logo``). Groups are
    matched by folder name across classes (``boxing/anna`` and ``walking/anna`` are one group)
    and numbered in the sorted order of their names (``group_names``).

    Args:
        root: the folder of the class folders.
        group_depth: ``None`` (no groups) or the level of the sub-folder that names a clip's
            group (1: the folders right below the class folders). Clips above that level
            are ignored with a warning.
        **options: see :class:`VideoClipDataset`.

    Examples:
        >>> ds = VideoFolder("my_videos", group_depth=1)  # my_videos/<class>/<person>/<clip>.mp4  # doctest: +SKIP
        >>> ds.group_names[:2]
        ['anna', 'ben']
    """

    name = "folder"

    def __init__(self, root: str | os.PathLike, group_depth: int | None = None, **options) -> None:
        if group_depth is not None and (isinstance(group_depth, bool) or not isinstance(group_depth, (int, np.integer))
                                        or group_depth < 1):
            raise ValueError(f"group_depth={group_depth!r}: expected None (no groups) or an integer >= 1 (1: the "
                             "sub-folders right below the class folders)")
        features = options.get("features", False)
        root = require_root(root, "VideoFolder", _FOLDER_LAYOUT)
        classes, found, ignored = [], [], []
        for class_dir in subdirs(root):
            files = find_files(class_dir, clip_extensions(features), recursive=True)
            if group_depth is not None:
                ignored += [p for p in files if len(p.relative_to(class_dir).parts) <= group_depth]
                files = [p for p in files if len(p.relative_to(class_dir).parts) > group_depth]
            if files:
                found += [(p, len(classes), p.relative_to(class_dir).parts[group_depth - 1] if group_depth else None)
                          for p in files]
                classes.append(class_dir.name)
            else:
                ignored.append(class_dir)  # no clips: not a class
        if not found:
            layout = _FOLDER_LAYOUT if group_depth is None else f"<class>/{'<folder>/' * (group_depth - 1)}<group>/**/<clip>"
            raise layout_error("VideoFolder", root, layout, features)
        warn_ignored("VideoFolder", root, ignored)
        #: Group names (sub-folder names at ``group_depth``), indexed by group id; empty without groups.
        self.group_names = sorted({g for _, _, g in found if g is not None})
        number = {g: i for i, g in enumerate(self.group_names)}
        clips = [ClipRecord(p, target, None if g is None else number[g]) for p, target, g in found]
        super().__init__(root, clips, classes, **options)
