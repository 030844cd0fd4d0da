"""Video classification datasets in the layouts of the public releases, one layout a file.

Every dataset is a ``torch.utils.data.Dataset`` of ``(frames, target)`` pairs:
``frames`` float32 ``(T, H, W, 3)`` (or ``(T, F)`` for ``.npy`` per-frame features), ``target``
an int64 scalar (a float32 multi-hot vector for multi-label Hollywood2). Clips are kept in the
order of their sorted relative paths: that sorted list is what the TT-RNN split permutes.

``clips.py`` holds the base class :class:`VideoClipDataset` (decoding, sampling, bad clips,
the batch loading), ``layout.py`` what the layouts share (extensions, the root, one-line layout
errors, split files), ``registry.py`` the names (:data:`DATASETS`, :func:`build_dataset`).
Layouts, as the public releases lay them out:

- :class:`UCF11` (``ucf11.py``): ``<class>/v_<prefix>_<GG>/v_<prefix>_<GG>_<CC>.mpg|.avi``;
  ``Annotation/`` folders and ``.xgtf`` files are skipped; the group is ``GG``.
- :class:`HMDB51` (``hmdb51.py``): ``<class>/<video>.avi`` and ``testTrainMulti_7030_splits/
  <class>_test_split{1,2,3}.txt`` (``1`` train, ``2`` test, ``0`` unused).
- :class:`Hollywood2` (``hollywood2.py``): ``AVIClips/<clip>.avi`` and
  ``ClipSets/<Action>_{train,test,autotrain}.txt`` (``<clip> 1|-1``), multi-label.
- :class:`YouTubeCelebrities` (``youtube_celebrities.py``): one flat folder, the label is the
  last two underscore tokens.
- :class:`UCF101` (``ucf101.py``): ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/``.
- :class:`VideoFolder` (``folder.py``): ``<class>/**/<clip>`` for any collection
  (``group_depth``: a sub-folder level names the group).
- :class:`AnnotationList` (``annotations.py``): your own videos listed as
  ``path label [group]`` lines (MMAction2's ``path label`` lists as they are).
- :class:`KTH` (``kth.py``): ``person01_boxing_d1_uncomp.avi``, group = person, the paper's
  person split, ``00sequences.txt`` subsequences.
- :class:`Weizmann` (``weizmann.py``): ``daria_bend.avi``, group = actor.

Bad clips are dropped at construction with a warning naming the file (see
:mod:`~tensorrnn.data.datasets.clips`).

Names in split files are matched against the files found under the root (by class folder
and file stem, case-insensitively), so a split file can never reach outside the root; names
with no file are reported (warning and ``missing``), not a ``KeyError``.
"""
from tensorrnn.data.datasets.annotations import AnnotationList
from tensorrnn.data.datasets.clips import (
    AugmentedSample, ClipRecord, EncodedSample, VideoClipDataset, collate_clips, decode_batch, default_load_threads,
)
from tensorrnn.data.datasets.folder import VideoFolder
from tensorrnn.data.datasets.hmdb51 import HMDB51
from tensorrnn.data.datasets.hollywood2 import Hollywood2
from tensorrnn.data.datasets.kth import KTH
from tensorrnn.data.datasets.layout import FEATURE_EXTENSION, VIDEO_EXTENSIONS
from tensorrnn.data.datasets.registry import DATASETS, build_dataset
from tensorrnn.data.datasets.ucf11 import UCF11
from tensorrnn.data.datasets.ucf101 import UCF101
from tensorrnn.data.datasets.weizmann import Weizmann
from tensorrnn.data.datasets.youtube_celebrities import YouTubeCelebrities

__all__ = [
    "DATASETS", "FEATURE_EXTENSION", "HMDB51", "KTH", "UCF11", "UCF101", "VIDEO_EXTENSIONS", "AnnotationList",
    "AugmentedSample", "ClipRecord", "EncodedSample", "Hollywood2", "VideoClipDataset", "VideoFolder", "Weizmann",
    "YouTubeCelebrities",
    "build_dataset", "collate_clips", "decode_batch", "default_load_threads",
]
