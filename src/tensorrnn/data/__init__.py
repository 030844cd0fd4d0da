"""tensorrnn.data: video decoding (PyAV), frame sampling, the public datasets, splits,
the decode-once clip stores (JPEG or raw frames) and synthetic action videos (the demo's and graded-difficulty sets).

Importing this package does not import PyAV; decoding functions import it when called.
"""
from tensorrnn.data.cache import FrameCache
from tensorrnn.data.store import JpegStore, default_cache_dir, list_stores, open_store
from tensorrnn.data.datasets import (
    DATASETS, HMDB51, KTH, UCF11, UCF101, AnnotationList, ClipRecord, Hollywood2, VideoClipDataset, VideoFolder,
    Weizmann, YouTubeCelebrities, build_dataset, collate_clips,
)
from tensorrnn.data.sampling import ClipTooShortError, pad_indices, sample_indices, scale_pixels
from tensorrnn.data.splits import (
    PROTOCOLS, bt_rnn_split, group_kfold, leave_one_group_out, make_split, num_splits, official_split,
    tt_rnn_folds,
)
from tensorrnn.data.synthetic import ACTION_SETS, ActionSetSpec, make_action_set, make_demo_videos, write_video
from tensorrnn.data.video import VideoError, VideoInfo, probe, read_frames

__all__ = [
    "ACTION_SETS", "ActionSetSpec", "AnnotationList", "DATASETS", "KTH", "Weizmann", "HMDB51", "UCF11", "UCF101",
    "ClipRecord", "ClipTooShortError", "FrameCache", "Hollywood2", "JpegStore", "PROTOCOLS", "VideoClipDataset",
    "VideoError", "VideoFolder", "VideoInfo", "YouTubeCelebrities", "bt_rnn_split", "build_dataset", "collate_clips",
    "default_cache_dir", "list_stores", "open_store", "group_kfold", "leave_one_group_out", "make_action_set",
    "make_demo_videos", "make_split", "num_splits", "official_split", "pad_indices", "probe", "read_frames",
    "sample_indices", "scale_pixels", "tt_rnn_folds", "write_video",
]
