"""The JPEG clip store: frames within JPEG tolerance, atomic resumable builds, shared by
processes, another version or size rebuilt, a full disk leaving the store as it was; the
default cache folder and ``tensorrnn prepare --list / --clear``."""
from __future__ import annotations

import errno
import multiprocessing
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import tensorrnn.data.cache as cache_module
import tensorrnn.data.store as store_module
from tensorrnn.cli import main as cli_main
from tensorrnn.data import UCF11, read_frames
from tensorrnn.data.prepare import human_size
from tensorrnn.data.prepare import main as prepare_main
from tensorrnn.data.store import (
    JpegStore, decode_into, default_cache_dir, encode_frames, list_stores, resolve_cache_dir,
)
from tensorrnn.data.synthetic import render_clip, write_video
from tensorrnn.train.datamodule import VideoDataModule

SIZE = (32, 24)  # the fixtures' own size: the store's error is JPEG's alone
# Measured on the fixture clips at quality 90, 4:2:0: max 32, mean 3.9 (4:4:4: max 20, mean 2.9;
# these 32x24 frames are mostly colour edges). Raw frames are exact (0); a wrong frame or a
# misread offset gives errors of 20-100 on average.
MAX_ERROR, MEAN_ERROR = 40, 5.0


def clip_paths(root):
    return sorted(root.rglob("*.avi"))


def abs_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def store_files(store: JpegStore) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in store.dir.iterdir()} if store.dir.is_dir() else {}


def test_round_trip_within_jpeg_tolerance(ucf11_root, tmp_path):
    store = JpegStore(tmp_path, ucf11_root, SIZE, name="ucf11")
    paths = clip_paths(ucf11_root)
    summary = store.build(paths, progress=False)
    assert summary.decoded == len(paths) == 18 and summary.bad == {}
    errors = []
    for path in paths:
        key = store.rel(path)
        assert store.num_frames(key) == 8
        indices = [7, 0, 3, 3]  # any order, repeats: only these frames are decoded
        got, expected = store.read(key, indices), read_frames(path, indices, size=SIZE)
        assert got.shape == (4, 24, 32, 3) and got.dtype == np.uint8
        errors.append(abs_error(got, expected))
    errors = np.concatenate(errors)
    assert errors.max() <= MAX_ERROR and errors.mean() <= MEAN_ERROR
    # the neighbouring frame of the same clip is further away than the JPEG error
    path = paths[0]
    assert abs_error(store.read(store.rel(path), [1]), read_frames(path, [0], size=SIZE)).mean() > errors.mean()
    with pytest.raises(IndexError, match="outside 0..7"):
        store.read(store.rel(path), [8])


def test_jpeg_is_at_most_a_fifth_of_raw_at_160x120(tmp_path):
    """Frames as the store gets them: decoded from a 320x240 video and resized (the video codec
    has smoothed the renderer's per-pixel noise, which alone would compress 4.5x)."""
    video = write_video(tmp_path / "clip.avi", render_clip("left_right", (320, 240), 8, np.random.default_rng(0)))
    frames = read_frames(video, None, size=(160, 120))  # (8, 120, 160, 3)
    jpegs = encode_frames(frames, quality=90)
    assert sum(map(len, jpegs)) <= frames.nbytes / 8  # measured: 1/11.6 (4:4:4: 1/9.8)


def test_dataset_reads_the_jpeg_store_by_default(ucf11_root, tmp_path):
    direct = UCF11(ucf11_root, size=SIZE, seed=3, scaling="none", progress=False)
    stored = UCF11(ucf11_root, size=SIZE, seed=3, scaling="none", cache_dir=tmp_path, progress=False)
    assert isinstance(stored._cache, JpegStore) and stored.num_frames_per_clip == direct.num_frames_per_clip
    for i in (0, 11):  # same seeded frames, within JPEG error
        a, b = direct[i], stored[i]
        assert int(a[1]) == int(b[1]) and (a[0] - b[0]).abs().max() <= MAX_ERROR
    frames, _ = next(iter(DataLoader(stored, batch_size=4, num_workers=2)))  # shards reopen in workers
    assert frames.shape == (4, 6, 24, 32, 3)
    with pytest.raises(ValueError, match="store='png': expected one of 'jpeg', 'raw'"):
        UCF11(ucf11_root, size=SIZE, store="png")
    with pytest.raises(ValueError, match="quality=101: expected a JPEG quality"):
        UCF11(ucf11_root, size=SIZE, quality=101)


def test_killed_build_resumes_with_the_shards_it_finished(ucf11_root, tmp_path, monkeypatch):
    real, calls = cache_module._decode_job, {"n": 0}

    def killed_after_five(job):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(job)

    paths = clip_paths(ucf11_root)
    monkeypatch.setattr(cache_module, "_decode_job", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        JpegStore(tmp_path, ucf11_root, SIZE).build(paths, shard_clips=2, progress=False)
    store = JpegStore(tmp_path, ucf11_root, SIZE)
    assert len(store.entries) == 4  # two finished shards of two clips; the fifth clip's shard is gone
    assert not list(store.dir.glob(".*tmp")) and len(list(store.dir.glob("shard-*.jpg"))) == 2
    monkeypatch.undo()
    summary = store.build(paths, shard_clips=2, progress=False)
    assert (summary.decoded, summary.reused) == (14, 4)
    for path in paths:
        assert abs_error(store.read(store.rel(path), [0, 7]), read_frames(path, [0, 7], size=SIZE)).max() <= MAX_ERROR


def test_changed_file_is_decoded_again(ucf11_root, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(ucf11_root, root)
    paths = clip_paths(root)
    store = JpegStore(tmp_path / "cache", root, SIZE)
    store.build(paths, progress=False)
    shutil.copyfile(paths[1], paths[0])  # another video under the same name
    fresh = JpegStore(tmp_path / "cache", root, SIZE)
    assert fresh.missing(paths) == [paths[0]]
    assert fresh.build(paths, progress=False).decoded == 1
    expected = read_frames(paths[1], [0, 5], size=SIZE)
    assert abs_error(fresh.read(fresh.rel(paths[0]), [0, 5]), expected).max() <= MAX_ERROR


def _build_in_process(args):
    cache_dir, root, paths = args
    return JpegStore(cache_dir, root, SIZE).build(paths, shard_clips=3, progress=False).decoded


def test_two_processes_share_one_store(ucf11_root, tmp_path):
    paths = [str(p) for p in clip_paths(ucf11_root)]
    with multiprocessing.get_context("fork").Pool(2) as pool:  # as two DDP ranks at start-up
        decoded = pool.map(_build_in_process, [(str(tmp_path), str(ucf11_root), paths)] * 2)
    assert sorted(decoded) == [0, 18]  # one built, the other waited for its lock and found every clip
    store = JpegStore(tmp_path, ucf11_root, SIZE)
    assert sorted(store.entries) == sorted(store.rel(p) for p in paths) and store.missing(paths) == []
    assert not list(store.dir.glob(".*tmp"))
    for path in paths[::4]:
        assert abs_error(store.read(store.rel(path), [2]), read_frames(path, [2], size=SIZE)).max() <= MAX_ERROR


@pytest.mark.parametrize("key, value", [("store_version", 99), ("size", [16, 12]), ("format", "raw"),
                                        ("quality", 50)])
def test_store_of_another_version_or_size_is_rebuilt_never_read(ucf11_root, tmp_path, key, value):
    import json

    paths = clip_paths(ucf11_root)[:3]
    store = JpegStore(tmp_path, ucf11_root, SIZE)
    store.build(paths, progress=False)
    identity = store.dir / "store.json"
    info = json.loads(identity.read_text())
    identity.write_text(json.dumps({**info, key: value}))  # a folder copied from another store
    fresh = JpegStore(tmp_path, ucf11_root, SIZE)
    with pytest.warns(UserWarning, match=f"store.json: written for {key}=.*decoded again"):
        assert fresh.entries == {}
    assert fresh.build(paths, progress=False).decoded == 3
    assert json.loads(identity.read_text()) == info and len(list(store.dir.glob("shard-*.json"))) == 1
    assert abs_error(fresh.read(fresh.rel(paths[0]), [1]), read_frames(paths[0], [1], size=SIZE)).max() <= MAX_ERROR


def test_shard_written_for_another_size_is_rebuilt(ucf11_root, tmp_path):
    import json

    paths = clip_paths(ucf11_root)[:2]
    store = JpegStore(tmp_path, ucf11_root, SIZE)
    store.build(paths, progress=False)
    (index,) = store.dir.glob("shard-*.json")
    index.write_text(json.dumps({**json.loads(index.read_text()), "size": [16, 12]}))
    fresh = JpegStore(tmp_path, ucf11_root, SIZE)
    with pytest.warns(UserWarning, match=r"damaged shard \(written as jpeg frames of \[16, 12\]"):
        assert fresh.entries == {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fresh.build(paths, progress=False).decoded == 2
    assert not index.exists() and fresh.read(fresh.rel(paths[0]), [0]).shape == (1, 24, 32, 3)


def test_full_disk_leaves_the_store_as_it_was(ucf11_root, tmp_path, monkeypatch, capsys):
    paths = clip_paths(ucf11_root)
    store = JpegStore(tmp_path, ucf11_root, SIZE, name="ucf11")
    store.build(paths[:4], shard_clips=2, progress=False)
    before, entries = store_files(store), dict(store.entries)
    real, clips = store_module._JpegShardWriter._write_frames, {"n": 0}

    def fills_the_disk(self, jpegs):
        clips["n"] += 1
        if clips["n"] > 5:  # after two finished shards of this build and one clip of the third
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, jpegs)

    monkeypatch.setattr(store_module._JpegShardWriter, "_write_frames", fills_the_disk)
    fresh = JpegStore(tmp_path, ucf11_root, SIZE, name="ucf11")
    with pytest.raises(OSError, match="no space left") as caught:
        fresh.build(paths, shard_clips=2, progress=False)
    assert caught.value.errno == errno.ENOSPC
    message = caught.value.strerror
    assert str(store.dir) in message and "needs about" in message and "14 clips" in message
    assert store_files(store) == before  # the two shards this build finished were removed again
    assert JpegStore(tmp_path, ucf11_root, SIZE, name="ucf11").entries == entries
    # through the command line: one line naming the store and the space needed
    code = cli_main(["prepare", "ucf11", str(ucf11_root), "--cache-dir", str(tmp_path), "--size", "32", "24"])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert code == 2 and last.startswith("error: ") and str(store.dir) in last and "MiB are free" in last
    assert store_files(store) == before
    # a first build that fills the disk leaves no store behind (nothing for --list to show)
    with pytest.raises(OSError, match="no space left.*needs more than is free for its 18 clips, .* MiB are free"):
        JpegStore(tmp_path / "fresh", ucf11_root, SIZE).build(paths, shard_clips=2, progress=False)
    assert list_stores(tmp_path / "fresh") == [] and not list((tmp_path / "fresh").rglob("shard-*"))


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path, private_cache_home):
    assert default_cache_dir() == private_cache_home / "tensorrnn"  # conftest: never the real home
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tensorrnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tensorrnn"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tensorrnn"
    assert resolve_cache_dir("none") is None and resolve_cache_dir(None) is None
    assert resolve_cache_dir("auto") == default_cache_dir() and resolve_cache_dir("x") == tmp_path.__class__("x")


def test_datamodule_stores_in_the_default_folder_unless_none(ucf11_root, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    options = dict(dataset="ucf11", root=str(ucf11_root), size=list(SIZE), dataset_options={"progress": False})
    data = VideoDataModule(**options)
    assert isinstance(data.full._cache, JpegStore)
    assert data.full._cache.dir.parent == tmp_path / "xdg" / "tensorrnn"
    (store,) = list_stores(tmp_path / "xdg" / "tensorrnn")
    assert store["clips"] == 18 and store["format"] == "jpeg" and store["size"] == list(SIZE)
    assert VideoDataModule(**options, cache_dir="none").full._cache is None
    raw = VideoDataModule(**options, store="raw").full._cache
    assert type(raw).__name__ == "FrameCache" and raw.dir.parent == tmp_path / "xdg" / "tensorrnn"
    with pytest.raises(ValueError, match="data.store='zip': expected one of 'jpeg', 'raw'"):
        VideoDataModule(**options, store="zip")
    with pytest.raises(ValueError, match="data.jpeg_quality=0: expected an integer in 1..100"):
        VideoDataModule(**options, jpeg_quality=0)


def test_prepare_list_and_clear(ucf11_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "tensorrnn"
    assert prepare_main(["ucf11", str(ucf11_root), "--size", "32", "24"]) == 0  # the default folder
    assert prepare_main(["ucf11", str(ucf11_root), "--size", "32", "24", "--store", "raw"]) == 0
    out = capsys.readouterr().out
    assert "18 cached, 0 bad" in out and str(folder) in out
    (folder / "not-a-store").mkdir()  # left alone: no store.json
    stores = list_stores(folder)
    assert [s["format"] for s in stores] == ["raw", "jpeg"] or [s["format"] for s in stores] == ["jpeg", "raw"]
    sizes = {s["format"]: s["bytes"] for s in stores}
    assert sizes["raw"] > 18 * 8 * 32 * 24 * 3 > sizes["jpeg"]
    assert prepare_main(["--list"]) == 0
    out = capsys.readouterr().out
    assert out.count("18 clips") == 2 and "jpeg q90 32x24" in out and "raw 32x24" in out
    assert f"{human_size(sum(sizes.values()))}  total, 2 stores in {folder}" in out
    assert prepare_main(["--clear"]) == 0
    out = capsys.readouterr().out
    assert f"freed {human_size(sum(sizes.values()))} (2 stores)" in out
    assert list_stores(folder) == [] and (folder / "not-a-store").is_dir()
    assert prepare_main(["--list", "--cache-dir", str(folder)]) == 0
    assert "no stores in" in capsys.readouterr().out
    code = cli_main(["prepare", "ucf11"])
    assert code == 2 and "expected a dataset and its root" in capsys.readouterr().err


def test_quality_is_part_of_the_identity(ucf11_root, tmp_path):
    a, b = JpegStore(tmp_path, ucf11_root, SIZE), JpegStore(tmp_path, ucf11_root, SIZE, quality=50)
    assert a.dir != b.dir
    path = clip_paths(ucf11_root)[0]
    a.build([path], progress=False)
    b.build([path], progress=False)
    assert sum(store_files(b).values()) < sum(store_files(a).values())
    assert abs_error(b.read(b.rel(path), [0]), read_frames(path, [0], size=SIZE)).mean() > \
        abs_error(a.read(a.rel(path), [0]), read_frames(path, [0], size=SIZE)).mean()
    with pytest.raises(ValueError, match="quality=0: expected a JPEG quality"):
        JpegStore(tmp_path, ucf11_root, SIZE, quality=0)


def test_the_store_holds_the_jpegs_of_the_decoded_frames(ucf11_root, tmp_path):
    """The store's frames are bit for bit the decoded frames encoded and decoded once at its
    quality (and differ from the decoded frames: a dataset without a store does not give them)."""
    stored = UCF11(ucf11_root, size=SIZE, seed=5, cache_dir=tmp_path, progress=False)
    direct = UCF11(ucf11_root, size=SIZE, seed=5, progress=False)
    for i in (0, 7):
        assert not torch.equal(stored[i][0], direct[i][0])
    path = clip_paths(ucf11_root)[3]
    frames = read_frames(path, [1, 6], size=SIZE)
    np.testing.assert_array_equal(stored._cache.read(stored._cache.rel(path), [1, 6]),
                                  decode_into(encode_frames(frames), np.empty_like(frames)))


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 2**20, 17 * 2**30, 3 * 2**40)] == [
        "0 B", "1,023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "17.0 GiB", "3,072.0 GiB"]


# --- serving speed: reads into a caller's array, 4:2:0 JPEGs (store version 2) ---------------


@pytest.mark.parametrize("store", ["jpeg", "raw"])
def test_read_into_out_gives_what_a_fresh_read_gives(ucf11_root, tmp_path, store):
    stored = UCF11(ucf11_root, size=SIZE, cache_dir=tmp_path, store=store, progress=False)
    cache, path = stored._cache, clip_paths(ucf11_root)[5]
    key, indices = cache.rel(path), [6, 0, 2, 2]
    out = np.full((4, 24, 32, 3), 7, np.uint8)
    got = cache.read(key, indices, out=out)
    assert got is out
    np.testing.assert_array_equal(out, cache.read(key, indices))
    if store == "raw":  # exact: the decoded video frames themselves
        np.testing.assert_array_equal(out, read_frames(path, indices, size=SIZE))
    with pytest.raises(ValueError, match=r"out of shape \(3, 24, 32, 3\), dtype uint8: expected .*\(4, 24, 32, 3\)"):
        cache.read(key, indices, out=np.empty((3, 24, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="out of shape .* dtype float32"):
        cache.read(key, indices, out=np.empty((4, 24, 32, 3), np.float32))


def test_store_decodes_each_frame_as_a_lone_decode_would(ucf11_root, tmp_path):
    """The store decodes into one (T, H, W, 3) array, no per-frame arrays: bit for bit what
    decoding each frame's JPEG alone gives; the JPEGs are 4:2:0 at the store's quality."""
    import json

    import simplejpeg

    store = JpegStore(tmp_path, ucf11_root, SIZE)
    path = clip_paths(ucf11_root)[2]
    store.build([path], progress=False)
    (index,) = store.dir.glob("shard-*.json")
    ends = json.loads(index.read_text())["ends"]
    blob = index.with_suffix(".jpg").read_bytes()
    starts = [0, *ends]
    jpegs = [blob[starts[i]:starts[i + 1]] for i in range(len(ends))]
    assert {simplejpeg.decode_jpeg_header(j)[3] for j in jpegs} == {"420"}
    indices = [7, 1, 4]
    expected = np.stack([simplejpeg.decode_jpeg(jpegs[i], colorspace="RGB") for i in indices])
    np.testing.assert_array_equal(store.read(store.rel(path), indices), expected)
    frames = read_frames(path, [1, 4], size=SIZE)
    jpegs = encode_frames(frames)
    np.testing.assert_array_equal(store_module.decode_into(jpegs, np.empty_like(frames)),
                                  np.stack([simplejpeg.decode_jpeg(j, colorspace="RGB") for j in jpegs]))


def test_store_of_version_1_is_another_store_and_its_shards_are_not_read(ucf11_root, tmp_path, monkeypatch):
    """A store written before 4:2:0 (version 1, 4:4:4) is never read as a version-2 one: the
    version is part of the folder's name, and a version-1 shard copied in is rebuilt."""
    import shutil

    import simplejpeg

    paths = clip_paths(ucf11_root)[:2]
    monkeypatch.setattr(store_module, "STORE_VERSION", 1)
    monkeypatch.setattr(store_module, "CHROMA", "444")
    old = JpegStore(tmp_path / "old", ucf11_root, SIZE)
    old.build(paths, progress=False)
    monkeypatch.undo()
    new = JpegStore(tmp_path / "old", ucf11_root, SIZE)
    assert new.dir != old.dir and new.entries == {}
    for shard in old.dir.glob("shard-*"):  # a version-1 shard copied into the version-2 folder
        new.dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(shard, new.dir / shard.name)
    fresh = JpegStore(tmp_path / "old", ucf11_root, SIZE)
    with pytest.warns(UserWarning, match="damaged shard .*store_version=1.*decoded again"):
        assert fresh.entries == {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same damaged shard, named again while it is replaced
        assert fresh.build(paths, progress=False).decoded == 2
    blob = next(fresh.dir.glob("shard-*.jpg")).read_bytes()
    assert simplejpeg.decode_jpeg_header(blob)[3] == "420"
    assert abs_error(fresh.read(fresh.rel(paths[1]), [3]), read_frames(paths[1], [3], size=SIZE)).max() <= MAX_ERROR


def test_samples_never_share_the_reused_read_buffer(ucf11_root, tmp_path):
    """Frames are read into one buffer per thread, reused: a sample handed out stays as it
    was when the next is read, and threads reading at once get what one thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    stored = UCF11(ucf11_root, size=SIZE, seed=2, cache_dir=tmp_path, progress=False)
    cache = stored._cache
    first = stored[0][0]
    kept = first.clone()
    for i in range(1, len(stored)):
        stored[i]
    assert torch.equal(first, kept)
    indices, front = stored.frame_indices(0, stored.num_frames_per_clip[0])
    assert front == 0
    expected = torch.from_numpy(cache.read(cache.rel(stored.clips[0].path), indices).astype(np.float32) - 128)
    assert torch.equal(first, expected)
    sequential = [stored[i][0] for i in range(len(stored))]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: stored[i % len(stored)][0], range(4 * len(stored))))
    assert all(torch.equal(x, sequential[i % len(stored)]) for i, x in enumerate(threaded))


def test_a_shard_is_opened_once_per_process_not_per_read(ucf11_root, tmp_path, monkeypatch):
    """Reads parse no index and map no file: each shard is opened on its first read only."""
    stored = UCF11(ucf11_root, size=SIZE, seed=1, cache_dir=tmp_path, progress=False)
    opened = []
    real = JpegStore._open
    monkeypatch.setattr(JpegStore, "_open", lambda self, shard: opened.append(shard) or real(self, shard))
    for _ in range(3):
        for i in range(len(stored)):
            stored[i]
    shards = {entry[0] for entry in stored._cache.entries.values()}
    assert sorted(opened) == sorted(shards)
