"""UCF11 (YouTube Action): ``<class>/v_<prefix>_<GG>/v_<prefix>_<GG>_<CC>.mpg|.avi``."""
from __future__ import annotations

import os
import re

from tensorrnn import papers
from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import clip_extensions, layout_error, require_root, subdirs, warn_ignored

_UCF11_LAYOUT = "<class>/v_<prefix>_<GG>/v_<prefix>_<GG>_<CC>.mpg|.avi (e.g. basketball/v_shooting_01/v_shooting_01_01.mpg)"


class UCF11(VideoClipDataset):
    """UCF11 (YouTube Action), 11 classes, 25 groups per class.

    Layout (``UCF11_updated_mpg/``, or the older ``.avi`` release; the root may also be the
    folder that contains ``UCF11_updated_mpg``)::

        <class>/v_<prefix>_<GG>/v_<prefix>_<GG>_<CC>.mpg

    where ``prefix`` is the clip prefix of the class (``basketball`` -> ``shooting``, see
    :data:`tensorrnn.papers.UCF11_CLIP_PREFIX`; the class name itself otherwise, which is how
    :func:`~tensorrnn.data.synthetic.make_demo_videos` names its clips). ``Annotation/``
    folders and ``.xgtf`` files are skipped. ``group`` is ``GG``.

    Args:
        root: the dataset folder.
        **options: see :class:`VideoClipDataset`.

    Examples:
        >>> ds = UCF11("UCF11_updated_mpg", cache_dir="cache")  # doctest: +SKIP
        >>> frames, target = ds[0]; frames.shape
        torch.Size([6, 120, 160, 3])
    """

    name = "ucf11"

    def __init__(self, root: str | os.PathLike, **options) -> None:
        features = options.get("features", False)
        root = require_root(root, "UCF11", _UCF11_LAYOUT)
        for release in ("UCF11_updated_mpg", "action_youtube_naudio"):
            if (root / release).is_dir():
                root = root / release
        exts = clip_extensions(features)
        classes, clips, ignored = [], [], []
        for class_dir in subdirs(root):
            prefix = re.escape(papers.UCF11_CLIP_PREFIX.get(class_dir.name, class_dir.name))
            group_re, clip_re = re.compile(rf"v_{prefix}_(\d+)"), re.compile(rf"v_{prefix}_(\d+)_(\d+)")
            found = []
            for group_dir in subdirs(class_dir):
                match = group_re.fullmatch(group_dir.name)
                if group_dir.name == "Annotation":
                    continue
                if match is None:
                    ignored.append(group_dir)
                    continue
                for path in sorted(group_dir.iterdir()):
                    if path.suffix.lower() == ".xgtf" or path.name.startswith("."):
                        continue
                    if path.suffix.lower() in exts:
                        if clip_re.fullmatch(path.stem):
                            found.append((path, int(match.group(1))))
                        else:
                            ignored.append(path)  # a clip named against the layout
            if found:
                clips += [ClipRecord(path, len(classes), group) for path, group in found]
                classes.append(class_dir.name)
            elif class_dir.name != "Annotation":
                ignored.append(class_dir)
        if not clips:
            raise layout_error("UCF11", root, _UCF11_LAYOUT, features)
        warn_ignored("UCF11", root, ignored)
        super().__init__(root, clips, classes, **options)
