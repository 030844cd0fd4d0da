"""The decode-once frame cache: same frames as direct decoding, atomic shards, resume."""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import tensorrnn.data.cache as cache_module
from tensorrnn.data import UCF11, FrameCache, read_frames

SIZE = (16, 12)


def clip_paths(root):
    return sorted(root.rglob("*.avi"))


def interrupt_after(monkeypatch, calls: int):
    """Make the decoder raise KeyboardInterrupt on call number ``calls + 1``."""
    real, count = cache_module._decode_job, {"n": 0}

    def flaky(job):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(cache_module, "_decode_job", flaky)
    return count


def test_cached_frames_equal_direct_decoding(ucf11_root, tmp_path):
    cache = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    paths = clip_paths(ucf11_root)
    summary = cache.build(paths, progress=False)
    assert summary.decoded == len(paths) == 18 and summary.bad == {}
    for path in paths[::5]:
        key = cache.rel(path)
        assert cache.num_frames(key) == 8
        indices = [0, 3, 3, 7]
        np.testing.assert_array_equal(cache.read(key, indices), read_frames(path, indices, size=SIZE))


def test_cached_dataset_matches_uncached_dataset(ucf11_root, tmp_path):
    direct = UCF11(ucf11_root, size=SIZE, seed=7, progress=False)
    cached = UCF11(ucf11_root, size=SIZE, seed=7, cache_dir=tmp_path, store="raw", progress=False)
    assert cached.classes == direct.classes and cached.num_frames_per_clip == direct.num_frames_per_clip
    for epoch in (0, 1):  # per-epoch random sampling still applies with the cache
        direct.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in (0, 9, 17):
            a, b = direct[i], cached[i]
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    frames, _ = next(iter(DataLoader(cached, batch_size=4, num_workers=2)))  # memmaps reopen in workers
    assert frames.shape == (4, 6, 12, 16, 3)


def test_bad_clips_are_recorded_once(ucf11_bad_root, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = UCF11(ucf11_bad_root, size=SIZE, cache_dir=tmp_path, store="raw", max_bad_fraction=0.2, progress=False)
    assert sum("skipped: " in str(w.message) for w in caught) == 2
    assert any("skipped 2 of 20 bad clips" in str(w.message) for w in caught)
    assert len(ds) == 18
    reasons = sorted(r for _, r in ds.bad_clips)
    assert reasons[0].startswith("empty file") and reasons[1].startswith("truncated")
    cache = FrameCache(tmp_path, ucf11_bad_root, SIZE, name="ucf11")
    assert len(cache.errors) == 2 and cache.missing(clip_paths(ucf11_bad_root)) == []  # not retried


def test_interrupted_build_never_looks_complete_and_resumes(ucf11_root, tmp_path, monkeypatch):
    paths = clip_paths(ucf11_root)
    cache = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    count = interrupt_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        cache.build(paths, shard_clips=2, progress=False)
    assert count["n"] == 6
    fresh = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    assert len(fresh.entries) == 4  # two finished shards of 2 clips; the 5th clip's shard was dropped
    assert len(fresh.missing(paths)) == 14
    assert not list(cache.dir.glob(".*tmp"))  # no temporary file left behind
    assert len(list(cache.dir.glob("shard-*.json"))) == len(list(cache.dir.glob("shard-*.u8"))) == 2
    monkeypatch.undo()
    summary = fresh.build(paths, shard_clips=2, progress=False)
    assert (summary.decoded, summary.reused) == (14, 4)
    for path in paths:
        np.testing.assert_array_equal(fresh.read(fresh.rel(path), [0, 7]), read_frames(path, [0, 7], size=SIZE))


def test_stale_temp_of_dead_process_is_removed(ucf11_root, tmp_path):
    cache = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    cache.dir.mkdir(parents=True)
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    stale = cache.dir / f".shard-abc.u8.{dead_pid}.tmp"
    stale.write_bytes(b"partial")
    live = cache.dir / f".shard-def.u8.{os.getpid()}.tmp"
    live.write_bytes(b"in progress")
    cache.build(clip_paths(ucf11_root)[:1], progress=False)
    assert not stale.exists() and live.exists()


def test_index_temp_of_a_concurrent_build_is_kept(ucf11_root, tmp_path):
    """An index being written by another build into the same cache (DDP ranks sharing a
    cache_dir) names no process: it is kept while fresh and removed once an hour old."""
    cache = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    cache.dir.mkdir(parents=True)
    fresh = cache.dir / ".shard-abc.json.x1y2z3.tmp"  # as atomic_write_text names it
    fresh.write_text("{")
    old = cache.dir / ".shard-def.json.q7r8s9.tmp"
    old.write_text("{")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    cache.build(clip_paths(ucf11_root)[:1], progress=False)
    assert fresh.exists() and not old.exists()


def test_frames_file_without_index_is_removed_once_old(ucf11_root, tmp_path):
    """A build killed between a shard's two renames leaves a frames file no index points to:
    removed once an hour old, kept while another build may be about to write its index."""
    cache = FrameCache(tmp_path, ucf11_root, SIZE, name="ucf11")
    cache.dir.mkdir(parents=True)
    recent, orphan = cache.dir / "shard-aaa.u8", cache.dir / "shard-bbb.u8"
    for path in (recent, orphan):
        path.write_bytes(b"\0" * 12)
    hours_ago = time.time() - 2 * 3600
    os.utime(orphan, (hours_ago, hours_ago))
    cache.build(clip_paths(ucf11_root)[:1], progress=False)
    assert recent.exists() and not orphan.exists()
    assert len(list(cache.dir.glob("shard-*.json"))) == 1  # the build's own shard is complete


def test_store_identity_depends_on_size_and_root(ucf11_root, hmdb51_root, tmp_path):
    a = FrameCache(tmp_path, ucf11_root, (16, 12))
    assert FrameCache(tmp_path, ucf11_root, (16, 12)).dir == a.dir
    assert FrameCache(tmp_path, ucf11_root, (32, 24)).dir != a.dir
    assert FrameCache(tmp_path, hmdb51_root, (16, 12)).dir != a.dir
    with pytest.raises(ValueError, match="size=None"):
        FrameCache(tmp_path, ucf11_root, None)
    with pytest.raises(ValueError, match="size=None"):
        UCF11(ucf11_root, size=None, cache_dir=tmp_path)


def test_read_outside_the_clip_is_an_index_error(ucf11_root, tmp_path):
    cache = FrameCache(tmp_path, ucf11_root, SIZE)
    path = clip_paths(ucf11_root)[0]
    cache.build([path], progress=False)
    with pytest.raises(IndexError, match="outside 0..7"):
        cache.read(cache.rel(path), [8])
