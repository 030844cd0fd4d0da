"""The dataset layouts on tiny replicas made of real encoded videos."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import HMDB51_CLASSES, HOLLYWOOD2_LABELS, UCF11_REPLICA, UCF101_CLASSES, YOUTUBE_FILES, clip
from torch.utils.data import DataLoader

from tensorrnn import papers
from tensorrnn.data import (
    DATASETS, HMDB51, UCF11, UCF101, ClipRecord, Hollywood2, VideoClipDataset, VideoError, VideoFolder,
    YouTubeCelebrities, build_dataset,
)
from tensorrnn.testing import write_corrupt

SMALL = dict(size=(16, 12), progress=False)


def rel(ds, i: int) -> str:
    return ds.clips[i].path.relative_to(ds.root).as_posix()


# --- UCF11 ---------------------------------------------------------------------------------


def test_ucf11_classes_groups_targets(ucf11_root):
    ds = UCF11(ucf11_root, **SMALL)
    assert ds.classes == sorted(UCF11_REPLICA) and ds.num_classes == 3 and not ds.multilabel
    assert len(ds) == 3 * 3 * 2
    paths = [rel(ds, i) for i in range(len(ds))]
    assert paths == sorted(paths)  # the sorted clip list of the TT-RNN protocol
    assert paths[0] == "basketball/v_shooting_01/v_shooting_01_01.avi"  # class folder vs clip prefix
    assert all(".xgtf" not in p and "Annotation" not in p for p in paths)
    np.testing.assert_array_equal(ds.targets, np.repeat([0, 1, 2], 6))
    np.testing.assert_array_equal(ds.groups, np.tile([1, 1, 2, 2, 3, 3], 3))
    assert ds.num_frames_per_clip == [8] * 18


def test_ucf11_sample_shape_dtype_and_target(ucf11_root):
    ds = UCF11(ucf11_root, **SMALL)
    frames, target = ds[7]
    assert frames.shape == (6, 12, 16, 3) and frames.dtype == torch.float32
    assert target.dtype == torch.int64 and target.shape == () and int(target) == 1
    assert -128 <= frames.min() and frames.max() <= 127  # scaling="center"


def test_ucf11_accepts_release_folder_and_mpg(tmp_path):
    release = tmp_path / "UCF11_updated_mpg"
    clip(release / "golf_swing" / "v_golf_05" / "v_golf_05_03.mpg", 1)
    clip(release / "golf_swing" / "v_golf_05" / "v_golf_swing_05_04.mpg", 2)  # wrong prefix: ignored
    with pytest.warns(UserWarning, match="ignored 1 entries.*v_golf_swing_05_04.mpg"):
        ds = UCF11(tmp_path, **SMALL)
    assert ds.classes == ["golf_swing"] and ds.groups.tolist() == [5] and len(ds) == 1


def test_missing_root_and_wrong_layout_name_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"UCF11 root .*nowhere.* does not exist; expected <class>/v_<prefix>"):
        UCF11(tmp_path / "nowhere")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.avi").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"does not match the layout <class>/v_<prefix>.*found 1 entries: a\.avi"):
        UCF11(flat)


def test_bad_clips_are_skipped_with_warnings_and_counted(ucf11_bad_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = UCF11(ucf11_bad_root, max_bad_fraction=0.2, **SMALL)
    messages = [str(w.message) for w in caught]
    assert len(ds) == 18 and len(ds.bad_clips) == 2
    reasons = {Path(p).name: r for p, r in ds.bad_clips}
    assert reasons["v_walk_dog_04_01.avi"] == "empty file (0 bytes)"
    assert reasons["v_biking_04_01.avi"].startswith("truncated: the header declares 48 frames")
    assert any("v_biking_04_01.avi: skipped: truncated" in m for m in messages)
    assert any("skipped 2 of 20 bad clips" in m for m in messages)


def test_too_many_bad_clips_is_an_error(ucf11_bad_root):
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"2 of 20 clips are bad \(10%\), more than max_bad_fraction=0.05"):
        UCF11(ucf11_bad_root, max_bad_fraction=0.05, **SMALL)


def test_unvalidated_bad_clip_fails_in_getitem_with_one_line(tmp_path):
    path = write_corrupt(tmp_path / "x" / "bad.avi")
    ds = VideoClipDataset(tmp_path, [ClipRecord(path, 0)], ["x"], validate=False, **SMALL)
    with pytest.raises(VideoError, match=r"^clip 0 \(.*bad\.avi\): .*cannot open container"):
        ds[0]


# --- sampling inside the dataset ------------------------------------------------------------


def test_seeded_sampling_is_reproducible_per_epoch(ucf11_root):
    ds = UCF11(ucf11_root, seed=3, **SMALL)
    a, b = ds[4][0], ds[4][0]
    assert torch.equal(a, b)
    ds.set_epoch(1)
    assert not torch.equal(a, ds[4][0])
    ds.set_epoch(0)
    assert torch.equal(a, ds[4][0])


def test_uniform_sampling_reads_the_expected_frames(counter_avi):
    ds = VideoClipDataset(counter_avi.parent, [ClipRecord(counter_avi, 0)], ["c"], num_frames=4,
                          sampling="uniform", size=None, scaling="none", progress=False)
    frames, _ = ds[0]
    values = frames.mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(values, [10 + 20 * i for i in (0, 4, 7, 11)], atol=3)


@pytest.mark.parametrize("pad, expected", [("front", [None, None, 0, 1]), ("repeat", [0, 0, 1, 1])])
def test_short_clip_padding(tmp_path, pad, expected):
    from conftest import counter_frames

    from tensorrnn.data.synthetic import write_video

    path = write_video(tmp_path / "two.avi", counter_frames(2))
    ds = VideoClipDataset(tmp_path, [ClipRecord(path, 0)], ["c"], num_frames=4, size=None, scaling="none",
                          pad=pad, progress=False)
    values = ds[0][0].mean(dim=(1, 2, 3)).numpy()
    want = [0.0 if e is None else 10 + 20 * e for e in expected]  # front padding: exact zeros
    np.testing.assert_allclose(values, want, atol=3)


def test_reject_drops_short_clips(tmp_path):
    long, short = clip(tmp_path / "a" / "long.avi", 1, num_frames=8), clip(tmp_path / "a" / "short.avi", 2, num_frames=4)
    with pytest.warns(UserWarning, match="1 clips shorter than num_frames=6 rejected.*short.avi"):
        ds = VideoFolder(tmp_path, pad="reject", **SMALL)
    assert [c.path for c in ds.clips] == [long]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no usable clips left"):
        VideoFolder(tmp_path, num_frames=10, pad="reject", **SMALL)
    assert short.exists()


def test_subset_keeps_classes_and_options(ucf11_root):
    ds = UCF11(ucf11_root, **SMALL)
    sub = ds.subset([17, 0])
    assert sub.classes == ds.classes and len(sub) == 2
    assert sub.targets.tolist() == [2, 0] and sub.groups.tolist() == [3, 1]
    assert sub[0][0].shape == (6, 12, 16, 3) and len(ds) == 18


def test_dataloader_with_two_workers(ucf11_root):
    ds = UCF11(ucf11_root, **SMALL)
    frames, targets = next(iter(DataLoader(ds, batch_size=5, num_workers=2)))
    assert frames.shape == (5, 6, 12, 16, 3) and targets.tolist() == [0] * 5


# --- the other layouts ------------------------------------------------------------------------


def test_hmdb51_official_split_and_missing_clips(hmdb51_root):
    with pytest.warns(UserWarning, match=r"2 listed clips have no file"):
        train = HMDB51(hmdb51_root, split=1, subset="train", **SMALL)
    assert train.classes == list(HMDB51_CLASSES)
    assert sorted(train.missing) == [
        "brush_hair/not_downloaded", "brush_hair/outside"]  # "../../outside.avi" never leaves the root
    assert len(train) == 4 and train.targets.tolist() == [0, 0, 1, 1]
    assert all(hmdb51_root in c.path.parents for c in train.clips)
    test = HMDB51(hmdb51_root, split=1, subset="test", **SMALL)
    assert [c.path.name[:-4].rsplit("_", 1)[1] for c in test.clips] == ["2", "2"]
    two = HMDB51(hmdb51_root, split=2, subset="train", **SMALL)
    assert len(two) == 4 and {c.path.name[-5] for c in two.clips} == {"2", "3"}


def test_hmdb51_all_carries_official_roles(hmdb51_root):
    ds = HMDB51(hmdb51_root, split=1, subset="all", **SMALL)
    assert len(ds) == 8
    assert ds.official.tolist() == ["train", "train", "test", "unused"] * 2


def test_hmdb51_bad_arguments(hmdb51_root, tmp_path):
    with pytest.raises(ValueError, match="split=4: expected 1, 2 or 3"):
        HMDB51(hmdb51_root, split=4)
    with pytest.raises(ValueError, match="subset='val'"):
        HMDB51(hmdb51_root, subset="val")
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="no testTrainMulti_7030_splits"):
        HMDB51(tmp_path, subset="train")


def test_hollywood2_multilabel_targets(hollywood2_root):
    ds = Hollywood2(hollywood2_root, subset="train", **SMALL)
    assert ds.multilabel and ds.classes == list(papers.HOLLYWOOD2_ACTIONS) and len(ds) == 3
    for i, c in enumerate(ds.clips):
        positives = [ds.classes[k] for k in np.flatnonzero(ds.targets[i])]
        assert sorted(positives) == sorted(HOLLYWOOD2_LABELS[c.path.stem])
    frames, target = ds[1]
    assert target.dtype == torch.float32 and target.shape == (12,)
    assert target.sum() == 2  # Kiss + HugPerson
    assert len(Hollywood2(hollywood2_root, subset="test", **SMALL)) == 2
    auto = Hollywood2(hollywood2_root, subset="autotrain", **SMALL)
    assert [c.path.stem for c in auto.clips] == ["actionclipautoautotrain00001"]
    both = Hollywood2(hollywood2_root, subset="all", **SMALL)
    assert sorted(both.official.tolist()) == ["test"] * 2 + ["train"] * 3


def test_youtube_celebrities_label_is_last_two_tokens(youtube_root):
    ds = YouTubeCelebrities(youtube_root, **SMALL)
    assert ds.classes == ["adam_sandler", "al_pacino", "steven_spielberg"]
    names = [c.path.name for c in ds.clips]
    assert names == sorted(YOUTUBE_FILES)
    assert ds.targets.tolist() == [0, 0, 2, 1, 2]  # sorted: 0001_01, 0001_02, 0420, 0977, 1771


def test_ucf101_lists_groups_and_case(ucf101_root):
    with pytest.warns(UserWarning, match="1 listed clips have no file.*v_archery_g05_c09"):
        test = UCF101(ucf101_root, split=1, subset="test", **SMALL)
    assert test.classes == list(UCF101_CLASSES)
    assert len(test) == 6 and set(test.groups.tolist()) == {1, 2}
    assert test.targets.tolist() == [0, 0, 1, 1, 2, 2]  # HandStandPushups files found case-insensitively
    train = UCF101(ucf101_root, split=1, subset="train", **SMALL)
    assert train.groups.tolist() == [8, 8, 8] and train.targets.tolist() == [0, 1, 2]


def test_video_folder_recursive(folder_root):
    ds = VideoFolder(folder_root, **SMALL)
    assert ds.classes == ["cats", "dogs"] and len(ds) == 4
    assert ds.groups.tolist() == [-1] * 4 and ds.targets.tolist() == [0, 0, 1, 1]


def test_features_npy_in_the_same_layout(tmp_path):
    for k, cls in enumerate(("basketball", "walking")):
        prefix = UCF11_REPLICA[cls]
        folder = tmp_path / cls / f"v_{prefix}_01"
        folder.mkdir(parents=True)
        length = 4 if k else 10
        rows = np.arange(length, dtype=np.float32)[:, None] + np.zeros((1, 5), np.float32)  # row i == i
        np.save(folder / f"v_{prefix}_01_01.npy", rows)
    ds = UCF11(tmp_path, features=True, progress=False)
    assert ds.classes == ["basketball", "walking"] and ds.num_frames_per_clip == [10, 4]
    x, y = ds[0]
    assert x.shape == (6, 5) and x.dtype == torch.float32
    assert (np.diff(x[:, 0].numpy()) > 0).all()  # 6 distinct rows, ascending
    short, _ = ds[1]
    np.testing.assert_array_equal(short[:, 0].numpy(), [0, 0, 0, 1, 2, 3])  # 2 zero rows in front
    assert short[:2].abs().sum() == 0


def test_registry_and_build_dataset(youtube_root):
    assert set(DATASETS) == {"ucf11", "hmdb51", "hollywood2", "youtube_celebrities", "ucf101", "folder", "annotations",
                             "kth", "weizmann"}
    ds = build_dataset("YouTube-Celebrities", youtube_root, num_frames=3, **SMALL)
    assert isinstance(ds, YouTubeCelebrities) and ds[0][0].shape == (3, 12, 16, 3)
    with pytest.raises(ValueError, match="dataset='kinetics': expected one of ucf11"):
        build_dataset("kinetics", youtube_root)


@pytest.mark.parametrize("option, value, match", [
    ("sampling", "every", "sampling='every'"),
    ("pad", "zeros", "pad='zeros'"),
    ("scaling", "minmax", "scaling='minmax'"),
    ("num_frames", 0, "num_frames=0"),
    ("size", (0, 5), r"size=\(0, 5\)"),
    ("max_bad_fraction", 2.0, "max_bad_fraction=2.0"),
])
def test_bad_options_name_the_argument(youtube_root, option, value, match):
    with pytest.raises(ValueError, match=match):
        YouTubeCelebrities(youtube_root, **{**SMALL, option: value})
