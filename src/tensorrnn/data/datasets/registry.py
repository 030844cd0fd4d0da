"""The registry of dataset layouts by name, for configs and the command line: :data:`DATASETS`
and :func:`build_dataset`. It imports every layout; no layout imports it."""
from __future__ import annotations

import os

from tensorrnn.data.datasets.annotations import AnnotationList
from tensorrnn.data.datasets.clips import VideoClipDataset
from tensorrnn.data.datasets.folder import VideoFolder
from tensorrnn.data.datasets.hmdb51 import HMDB51
from tensorrnn.data.datasets.hollywood2 import Hollywood2
from tensorrnn.data.datasets.kth import KTH
from tensorrnn.data.datasets.ucf11 import UCF11
from tensorrnn.data.datasets.ucf101 import UCF101
from tensorrnn.data.datasets.weizmann import Weizmann
from tensorrnn.data.datasets.youtube_celebrities import YouTubeCelebrities

#: Dataset name -> class, for configs and the command line.
DATASETS: dict[str, type[VideoClipDataset]] = {
    "ucf11": UCF11,
    "hmdb51": HMDB51,
    "hollywood2": Hollywood2,
    "youtube_celebrities": YouTubeCelebrities,
    "ucf101": UCF101,
    "folder": VideoFolder,
    "annotations": AnnotationList,
    "kth": KTH,
    "weizmann": Weizmann,
}


def build_dataset(name: str, root: str | os.PathLike, **options) -> VideoClipDataset:
    """Construct a dataset by its registry name (``"ucf11"``, ``"hmdb51"``, ...).

    Examples:
        >>> ds = build_dataset("ucf11", "UCF11_updated_mpg", num_frames=6, size=(160, 120))  # doctest: +SKIP
    """
    key = str(name).lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"dataset={name!r}: expected one of {', '.join(DATASETS)}")
    return DATASETS[key](root, **options)
