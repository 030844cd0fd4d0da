"""Review of the video pipeline as a user meets it: linked files, damaged caches, indexing."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from tensorrnn.data import FrameCache, VideoFolder, read_frames

SIZE = (16, 12)


def linked_folder(tmp_path, ucf11_root):
    """A VideoFolder root whose clips are symbolic links to files elsewhere (a common setup:
    the videos live on another disk and the layout is made of links)."""
    sources = sorted(ucf11_root.rglob("*.avi"))[:2]
    root = tmp_path / "linked"
    for cls, source in zip(("a", "b"), sources):
        (root / cls).mkdir(parents=True)
        (root / cls / "clip.avi").symlink_to(source)
    return root, sources


def test_cache_keys_linked_clips_by_their_name_under_the_root(tmp_path, ucf11_root):
    root, sources = linked_folder(tmp_path, ucf11_root)
    ds = VideoFolder(root, size=SIZE, seed=0, cache_dir=tmp_path / "cache", store="raw", progress=False)
    assert [ds._cache.rel(c.path) for c in ds.clips] == ["a/clip.avi", "b/clip.avi"]
    frames, target = ds[1]
    idx, _ = ds.frame_indices(1, 8)
    expected = read_frames(sources[1], idx, size=SIZE).astype(np.float32) - 128
    assert int(target) == 1 and torch.equal(frames, torch.from_numpy(expected))


def test_clip_outside_the_cache_root_is_a_value_error_naming_it(tmp_path, ucf11_root):
    cache = FrameCache(tmp_path, ucf11_root / "biking", SIZE)
    outside = sorted((ucf11_root / "walking").rglob("*.avi"))[0]
    with pytest.raises(ValueError, match=f"clip '{outside}' is not under the cache's root"):
        cache.rel(outside)


def two_shard_cache(tmp_path, ucf11_root):
    paths = sorted(ucf11_root.rglob("*.avi"))[:2]
    cache = FrameCache(tmp_path, ucf11_root, SIZE)
    cache.build(paths, shard_clips=1, progress=False)
    return paths, sorted(cache.dir.glob("shard-*.json"))


@pytest.mark.parametrize("damage", ["index", "frames"])
def test_damaged_shard_is_named_and_its_clips_decoded_again(tmp_path, ucf11_root, damage):
    paths, (index, kept) = two_shard_cache(tmp_path, ucf11_root)
    victim = next(iter(json.loads(index.read_text())["clips"]))
    if damage == "index":
        index.write_text(index.read_text()[:20])  # a cut copy of the cache
    else:
        frames = index.with_suffix(".u8")
        frames.write_bytes(frames.read_bytes()[:1000])
    cache = FrameCache(tmp_path, ucf11_root, SIZE)
    with pytest.warns(UserWarning, match=f"{index}: damaged shard"):
        assert [cache.rel(p) for p in cache.missing(paths)] == [victim] and len(cache.entries) == 1
    with warnings.catch_warnings(record=True):
        summary = cache.build(paths, progress=False)
    assert (summary.decoded, summary.reused) == (1, 1)
    assert not index.exists() and not index.with_suffix(".u8").exists() and kept.exists()
    path = next(p for p in paths if cache.rel(p) == victim)
    np.testing.assert_array_equal(cache.read(victim, [0, 7]), read_frames(path, [0, 7], size=SIZE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no more warnings
        assert len(FrameCache(tmp_path, ucf11_root, SIZE).entries) == 2


def test_negative_index_counts_from_the_end_like_a_list(ucf11_root):
    ds = VideoFolder(ucf11_root, size=SIZE, seed=5, progress=False)
    frames, target = ds[-1]
    last = len(ds) - 1
    assert torch.equal(frames, ds[last][0]) and int(target) == int(ds.targets[last])
    with pytest.raises(IndexError, match=f"index {len(ds)} out of range for a dataset of {len(ds)} clips"):
        ds[len(ds)]


def test_a_clip_file_replaced_after_caching_is_decoded_again(tmp_path, ucf11_root, counter_avi):
    # A user re-downloads a broken clip and replaces another with a different video: the
    # cache must not keep serving the old frames or the old error.
    eight = sorted(ucf11_root.rglob("*.avi"))[0]
    root = tmp_path / "videos"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "x.avi").write_bytes(eight.read_bytes())
    (root / "b" / "y.avi").write_bytes(b"")  # a download that failed
    options = dict(size=SIZE, cache_dir=tmp_path / "cache", progress=False, max_bad_fraction=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert VideoFolder(root, **options).num_frames_per_clip == [8]
    assert any(str(w.message).endswith("y.avi: skipped: empty file (0 bytes)") for w in caught)
    (root / "a" / "x.avi").write_bytes(counter_avi.read_bytes())  # 12 frames now
    (root / "b" / "y.avi").write_bytes(eight.read_bytes())
    ds = VideoFolder(root, **options)
    assert ds.bad_clips == [] and ds.num_frames_per_clip == [12, 8]
    np.testing.assert_array_equal(ds._cache.read("a/x.avi", [0, 11]), read_frames(counter_avi, [0, 11], size=SIZE))
    again = VideoFolder(root, **options)  # nothing changed since: nothing is decoded
    assert again._cache.missing([c.path for c in again.clips]) == []


def test_video_folder_names_a_class_folder_without_clips(tmp_path, counter_avi):
    # An empty class folder is not a class (the targets of the others would shift if it were
    # counted later): the user learns which folder was left out.
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
    (tmp_path / "cats" / "a.avi").write_bytes(counter_avi.read_bytes())
    (tmp_path / "dogs" / "notes.txt").write_text("to do")
    with pytest.warns(UserWarning, match=r"VideoFolder root .*: ignored 1 entries that do not follow the layout, e.g. dogs"):
        ds = VideoFolder(tmp_path, size=SIZE, progress=False)
    assert ds.classes == ["cats"]


def test_youtube_celebrities_names_a_clip_it_cannot_label(tmp_path, counter_avi):
    from tensorrnn.data import YouTubeCelebrities

    for name in ("0001_01_001_adam_sandler.avi", "holiday.avi"):
        (tmp_path / name).write_bytes(counter_avi.read_bytes())
    with pytest.warns(UserWarning, match=r"ignored 1 entries that do not follow the layout, e.g. holiday.avi"):
        ds = YouTubeCelebrities(tmp_path, size=SIZE, progress=False)
    assert ds.classes == ["adam_sandler"]


def ucf101_lists(root, class_index: str):
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    lists.joinpath("classInd.txt").write_bytes(class_index.encode("utf-8-sig"))  # saved by Notepad
    lists.joinpath("trainlist01.txt").write_text("Archery/v_Archery_g09_c01.avi 1\n")
    lists.joinpath("testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")


def test_split_file_with_a_byte_order_mark(tmp_path, counter_avi):
    from tensorrnn.data import UCF101

    for name in ("v_Archery_g01_c01.avi", "v_Archery_g09_c01.avi"):
        (tmp_path / "UCF-101" / "Archery").mkdir(parents=True, exist_ok=True)
        (tmp_path / "UCF-101" / "Archery" / name).write_bytes(counter_avi.read_bytes())
    ucf101_lists(tmp_path, "1 Archery\n")
    ds = UCF101(tmp_path, subset="all", size=SIZE, progress=False)
    assert ds.classes == ["Archery"] and ds.official.tolist() == ["test", "train"]


def test_class_index_line_without_a_number_names_the_file_and_line(tmp_path):
    from tensorrnn.data import UCF101

    (tmp_path / "UCF-101" / "Archery").mkdir(parents=True)
    ucf101_lists(tmp_path, "1 Archery\none Basketball\n")
    with pytest.raises(ValueError, match=r"classInd.txt, line 2: 'one Basketball': expected a class number"):
        UCF101(tmp_path, size=SIZE, progress=False)
