"""YouTube Celebrities Face Tracking: one flat folder, the label in the file name."""
from __future__ import annotations

import os

from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import clip_extensions, find_files, layout_error, require_root, warn_ignored

_YOUTUBE_LAYOUT = "one flat folder of <id>_<id>_<id>_<first>_<last>.avi (e.g. 1771_03_013_steven_spielberg.avi)"


class YouTubeCelebrities(VideoClipDataset):
    """YouTube Celebrities Face Tracking: 47 people, 1,910 clips in one flat folder.

    The label is the last two underscore tokens of the file name:
    ``1771_03_013_steven_spielberg.avi`` -> ``steven_spielberg``. No groups.

    Args:
        root: the folder of the clips.
        **options: see :class:`VideoClipDataset`.
    """

    name = "youtube_celebrities"

    def __init__(self, root: str | os.PathLike, **options) -> None:
        features = options.get("features", False)
        root = require_root(root, "YouTubeCelebrities", _YOUTUBE_LAYOUT)
        found = find_files(root, clip_extensions(features))
        files = [p for p in found if len(p.stem.split("_")) >= 3]
        if not files:
            raise layout_error("YouTubeCelebrities", root, _YOUTUBE_LAYOUT, features)
        warn_ignored("YouTubeCelebrities", root, [p for p in found if p not in files])
        labels = ["_".join(p.stem.split("_")[-2:]) for p in files]
        classes = sorted(set(labels))
        class_index = {c: i for i, c in enumerate(classes)}
        clips = [ClipRecord(p, class_index[label]) for p, label in zip(files, labels)]
        super().__init__(root, clips, classes, **options)
