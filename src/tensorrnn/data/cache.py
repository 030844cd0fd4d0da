"""Decode-once frame cache: every clip decoded once at the target size into uint8 memmaps.

A training epoch of a tensorised RNN takes seconds; decoding 1,600 320x240 clips up to their
last sampled frame takes minutes. The cache decodes each clip ONCE (all its frames, resized by
swscale), so an epoch reads frames from memory-mapped files and still samples new random
frames per epoch.

On disk (``cache_dir/<name>-<W>x<H>-<hash>/``, the hash covering the root, size and limits):

- ``shard-<id>.u8``: raw uint8 frames ``(N, H, W, 3)`` of a run of clips, back to back;
- ``shard-<id>.json``: the shard's index ``{relative clip path: {"offset", "count"}}`` or
  ``{"error": reason}`` for a clip that could not be decoded (so it is not retried), each with
  the ``"source"`` file's size and modification time when it was decoded: a clip whose file has
  changed since (a re-downloaded or re-encoded video) is decoded again, and the newest shard
  holding a clip wins.

Atomicity and resume: a shard is written under a temporary name and finalised by
``os.replace`` of the frames, then of its index; the index is the completion marker, so an
interrupted build never looks complete. Clips of finished shards are kept; a rerun decodes
only the clips no finished shard holds (a shard is finalised every ``DEFAULT_SHARD_CLIPS`` clips, so
an interruption loses at most that much work; frames left without their index by a build
killed between the two renames are deleted by a build an hour later). A shard whose index cannot be read or does not
match its frames file (a copy cut short) is reported in a warning naming it, its clips count as
not cached, and the next build replaces it. Several datasets over the same root (train and
test subsets) share one store. Clips are keyed by their path under the root as the dataset
names them, so clips that are symbolic links to files elsewhere are cached under their names.

Size: all frames are stored; UCF11 at 160x120 is about 1,600 x 185 x 57.6 kB ~ 17 GB.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tensorrnn.data.video import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, VideoError, probe, read_frames
from tensorrnn.files import atomic_write_text

CACHE_VERSION = 1
#: Clips per shard: an interrupted build loses at most this many decoded clips.
DEFAULT_SHARD_CLIPS = 64
#: Age after which a temporary index file, or a frames file without its index, is taken for a
#: killed build's (a build writes the index milliseconds after the frames).
STALE_INDEX_SECONDS = 3600


@dataclass
class BuildSummary:
    """What one :meth:`FrameCache.build` call did."""

    decoded: int = 0  # clips decoded by this call
    reused: int = 0  # clips found in finished shards
    bad: dict[str, str] = field(default_factory=dict)  # relative path -> reason (all bad clips)
    bytes_written: int = 0


def decode_clip(path: str | os.PathLike, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS,
                max_frames: int = DEFAULT_MAX_FRAMES) -> np.ndarray:
    """All frames of a clip at ``size``, refusing truncated files (probe first: cheap)."""
    info = probe(path, max_pixels, max_frames)
    if info.truncated:
        raise VideoError(f"{path}: truncated: the header declares {info.declared_frames} frames, "
                         f"the file holds {info.num_frames}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stream that stops early is a bad clip here
        try:
            return read_frames(path, None, size, max_pixels, max_frames)
        except UserWarning as warning:
            raise VideoError(str(warning)) from None


def _source_stamp(path) -> list[int] | None:
    """Size and modification time of a clip's file (None if it cannot be read)."""
    try:
        stat = os.stat(path)  # follows links: a changed target is a changed clip
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _decode_job(job):
    """Worker body: (rel, path, size, limits) -> (rel, frames or None, reason or None, source stamp)."""
    rel, path, size, max_pixels, max_frames = job
    source = _source_stamp(path)  # before decoding: a file replaced meanwhile counts as changed
    try:
        return rel, decode_clip(path, size, max_pixels, max_frames), None, source
    except (VideoError, OSError) as err:
        return rel, None, str(err), source


class FrameCache:
    """A decode-once store of the frames of a dataset's clips at one size.

    Args:
        cache_dir: parent folder of all stores.
        root: the dataset root (part of the store's identity; clips are keyed relative to it).
        size: ``(width, height)`` of the stored frames.
        name: a readable prefix of the store's folder name (the dataset's name).
        max_pixels, max_frames: the decoder's safety limits (part of the identity).

    Examples:
        >>> cache = FrameCache("cache", "UCF11_updated_mpg", (160, 120), name="ucf11")  # doctest: +SKIP
        >>> cache.build(paths)                      # decodes what is missing  # doctest: +SKIP
        >>> cache.read("basketball/v_shooting_01/v_shooting_01_01.mpg", [0, 5])  # (2, 120, 160, 3)  # doctest: +SKIP
    """

    def __init__(self, cache_dir: str | os.PathLike, root: str | os.PathLike, size: tuple[int, int],
                 name: str = "dataset", max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_frames: int = DEFAULT_MAX_FRAMES) -> None:
        if size is None:
            raise ValueError("size=None: the frame cache needs a fixed (width, height), e.g. (160, 120)")
        self.root = Path(root).resolve()
        self._root_abs = Path(os.path.abspath(root))  # as the datasets spell their clip paths
        self.size = (int(size[0]), int(size[1]))
        self.max_pixels, self.max_frames = int(max_pixels), int(max_frames)
        identity = json.dumps([CACHE_VERSION, str(self.root), self.size, self.max_pixels, self.max_frames])
        digest = hashlib.sha1(identity.encode()).hexdigest()[:10]
        self.dir = Path(cache_dir) / f"{name}-{self.size[0]}x{self.size[1]}-{digest}"
        self._entries: dict[str, tuple[str, int, int]] | None = None  # rel -> (shard, offset, count)
        self._errors: dict[str, str] = {}
        self._sources: dict[str, list[int] | None] = {}  # rel -> stamp of the file when decoded
        self._maps: dict[str, np.ndarray] = {}  # shard -> memory-mapped frames
        self._keys: dict = {}  # clip path -> key
        self._damaged: list[Path] = []  # shard indexes that could not be used

    def __repr__(self) -> str:
        return f"FrameCache(dir={str(self.dir)!r}, size={self.size})"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}  # memmaps are reopened in each DataLoader worker, never pickled
        return state

    # --- reading ----------------------------------------------------------------------------

    def _load_index(self) -> None:
        shards, damaged = [], []
        for index in sorted(self.dir.glob("shard-*.json")) if self.dir.is_dir() else []:
            try:
                data = self._read_shard_index(index)
            except (OSError, ValueError, KeyError, TypeError) as err:
                # Only a copy cut short or a disk error gets here (shards are written
                # atomically): its clips count as not cached, and the next build replaces it.
                warnings.warn(f"{index}: damaged shard ({err}); its clips will be decoded again", stacklevel=3)
                damaged.append(index)
                continue
            shards.append((data["written"], index.stem, data["clips"]))
        latest = {}
        for _, shard, clips in sorted(shards):  # a later shard holds a newer decoding of a clip
            latest.update((rel, (shard, item)) for rel, item in clips.items())
        self._entries = {rel: (shard, item["offset"], item["count"])
                         for rel, (shard, item) in latest.items() if "error" not in item}
        self._errors = {rel: item["error"] for rel, (_, item) in latest.items() if "error" in item}
        self._sources = {rel: item.get("source") for rel, (_, item) in latest.items()}
        self._damaged = damaged

    def _read_shard_index(self, index: Path) -> dict:
        """A shard's index, checked against the size of its frames file."""
        data = json.loads(index.read_text())
        clips, frames = data["clips"], int(data["frames"])
        data["written"] = int(data.get("written", 0))  # absent in shards of older builds
        expected = frames * self.size[0] * self.size[1] * 3
        actual = index.with_suffix(".u8").stat().st_size
        if actual != expected:
            raise ValueError(f"{index.with_suffix('.u8').name} holds {actual} bytes, the index "
                             f"describes {frames} frames of {expected} bytes")
        for item in clips.values():
            if "error" not in item and not 0 <= item["offset"] <= item["offset"] + item["count"] <= frames:
                raise ValueError(f"clip frames {item} outside the shard's {frames} frames")
        return data

    @property
    def entries(self) -> dict[str, tuple[str, int, int]]:
        """Finished clips: relative path -> (shard, offset, frame count)."""
        if self._entries is None:
            self._load_index()
        return self._entries

    @property
    def errors(self) -> dict[str, str]:
        """Clips recorded as undecodable: relative path -> reason."""
        if self._entries is None:
            self._load_index()
        return self._errors

    def rel(self, path: str | os.PathLike) -> str:
        """The key of a clip: its path relative to the root, with forward slashes."""
        key = self._keys.get(path)
        if key is None:  # resolve() costs ~0.5 ms: once per clip, not once per sample
            key = self._keys[path] = self._relative(Path(path))
        return key

    def _relative(self, path: Path) -> str:
        # The clip's own name under the root first: a clip that is a symbolic link to a file
        # elsewhere keeps it. Then the resolved path, for a root reached through a link.
        for clip, root in ((Path(os.path.abspath(path)), self._root_abs), (path.resolve(), self.root)):
            try:
                return clip.relative_to(root).as_posix()
            except ValueError:
                pass
        raise ValueError(f"clip {str(path)!r} is not under the cache's root {str(self.root)!r}")

    def num_frames(self, rel: str) -> int:
        return self.entries[rel][2]

    def read(self, rel: str, indices) -> np.ndarray:
        """uint8 frames ``(len(indices), H, W, 3)`` of a cached clip (a copy, not a view)."""
        shard, offset, count = self.entries[rel]
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= count):
            raise IndexError(f"{rel}: frame indices {idx.tolist()} outside 0..{count - 1}")
        if shard not in self._maps:
            total = json.loads((self.dir / f"{shard}.json").read_text())["frames"]
            width, height = self.size
            mapped = np.memmap(self.dir / f"{shard}.u8", np.uint8, "r", shape=(total, height, width, 3))
            self._maps[shard] = mapped.view(np.ndarray)  # plain ndarray: no memmap overhead per read
        return self._maps[shard][offset + idx]  # fancy indexing copies

    # --- building ---------------------------------------------------------------------------

    def missing(self, paths) -> list[Path]:
        """The clips among ``paths`` that no finished shard holds (neither frames nor error), or
        whose file has changed since it was decoded."""
        entries, errors = self.entries, self.errors
        todo = []
        for path in paths:
            key = self.rel(path)
            if key not in entries and key not in errors:
                todo.append(Path(path))
            elif (source := self._sources.get(key)) is not None and source != _source_stamp(path):
                todo.append(Path(path))
        return todo

    def build(self, paths, workers: int = 0, shard_clips: int | None = None, progress: bool = True) -> BuildSummary:
        """Decode the clips among ``paths`` that are not cached yet.

        Args:
            paths: clip files under the root.
            workers: decoding processes (0: decode in this process).
            shard_clips: clips per shard (default :data:`DEFAULT_SHARD_CLIPS`); an
                interruption loses at most one shard's work.
            progress: show a tqdm bar.

        Returns:
            A :class:`BuildSummary`; ``bad`` lists every undecodable clip among ``paths``.
        """
        from tqdm.auto import tqdm

        shard_clips = DEFAULT_SHARD_CLIPS if shard_clips is None else shard_clips
        if shard_clips < 1:
            raise ValueError(f"shard_clips={shard_clips!r}: expected a positive integer")
        paths = [Path(p) for p in paths]
        todo = self.missing(paths)
        summary = BuildSummary(reused=len(paths) - len(todo))
        if todo:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_identity()
            self._remove_stale_temps()
            self._remove_damaged()
            jobs = [(self.rel(p), str(p), self.size, self.max_pixels, self.max_frames) for p in todo]
            bar = tqdm(total=len(jobs), desc=f"caching {self.dir.name}", unit="clip", disable=not progress)
            try:
                if workers > 0:
                    pool = ProcessPoolExecutor(workers)
                    try:
                        self._write_shards(pool.map(_decode_job, jobs, chunksize=1), shard_clips, summary, bar)
                    finally:  # on Ctrl-C, do not wait for the queued clips
                        pool.shutdown(wait=True, cancel_futures=True)
                else:
                    self._write_shards(map(_decode_job, jobs), shard_clips, summary, bar)
            finally:
                bar.close()
            self._entries = None  # re-read the finished shards
        keys = {self.rel(p) for p in paths}
        summary.bad = {k: v for k, v in self.errors.items() if k in keys}
        return summary

    def _write_shards(self, results, shard_clips: int, summary: BuildSummary, bar) -> None:
        shard = None
        try:
            for rel, frames, error, source in results:
                if shard is None:
                    shard = _ShardWriter(self.dir)
                shard.add(rel, frames, error, source)
                summary.decoded += 1
                bar.update(1)
                if len(shard.clips) >= shard_clips:
                    summary.bytes_written += shard.finish()
                    shard = None
            if shard is not None:
                summary.bytes_written += shard.finish()
        except BaseException:
            if shard is not None:
                shard.abort()  # the unfinished shard never becomes visible
            raise

    def _write_identity(self) -> None:
        path = self.dir / "store.json"
        if not path.exists():
            info = {"version": CACHE_VERSION, "root": str(self.root), "size": list(self.size),
                    "max_pixels": self.max_pixels, "max_frames": self.max_frames}
            atomic_write_text(path, json.dumps(info, indent=1))

    def _remove_damaged(self) -> None:
        """Delete the shards found damaged: their clips are about to be decoded again."""
        for index in self._damaged:
            index.unlink(missing_ok=True)  # the completion marker first, as a build never left it
            index.with_suffix(".u8").unlink(missing_ok=True)
        self._damaged = []

    def _remove_stale_temps(self) -> None:
        """Delete temporary files left by builds that were killed.

        A frames file names its process (``.shard-ID.u8.PID.tmp``): stale once that process is
        gone. An index file (``atomic_write_text``'s ``.shard-ID.json.RANDOM.tmp``) names none
        and lives for milliseconds: stale after an hour. Another build writing into the same
        cache at the same time (DDP ranks sharing a ``cache_dir``) thus keeps both of its own.
        """
        for tmp in self.dir.glob(".shard-*.tmp"):
            parts = tmp.name.split(".")  # ['', 'shard-ID', 'u8' or 'json', PID or RANDOM, 'tmp']
            try:
                if parts[-3] == "u8" and parts[-2].isdigit():
                    stale = not _alive(int(parts[-2]))
                else:
                    stale = time.time() - tmp.stat().st_mtime > STALE_INDEX_SECONDS
            except FileNotFoundError:  # its build finished in the meantime
                continue
            if stale:
                tmp.unlink(missing_ok=True)
        # A frames file whose index never came (killed between the two renames: milliseconds)
        # holds up to a shard of decoded clips, hundreds of MB, that nothing will ever read.
        for frames in self.dir.glob("shard-*.u8"):
            try:
                orphan = (not frames.with_suffix(".json").exists()
                          and time.time() - frames.stat().st_mtime > STALE_INDEX_SECONDS)
            except FileNotFoundError:
                continue
            if orphan:
                frames.unlink(missing_ok=True)


class _ShardWriter:
    """Appends clips to a temporary frames file; ``finish`` makes the shard visible."""

    def __init__(self, directory: Path) -> None:
        self.dir, self.id = directory, f"shard-{uuid.uuid4().hex[:12]}"
        self.tmp = directory / f".{self.id}.u8.{os.getpid()}.tmp"
        self.file = open(self.tmp, "wb")
        self.clips: dict[str, dict] = {}
        self.frames = 0

    def add(self, rel: str, frames: np.ndarray | None, error: str | None, source: list[int] | None) -> None:
        if frames is None:
            self.clips[rel] = {"error": error, "source": source}
            return
        self.file.write(np.ascontiguousarray(frames, dtype=np.uint8).tobytes())  # (n, H, W, 3)
        self.clips[rel] = {"offset": self.frames, "count": len(frames), "source": source}
        self.frames += len(frames)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    def finish(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        nbytes = self.tmp.stat().st_size
        os.replace(self.tmp, self.dir / f"{self.id}.u8")
        # The index is the completion marker: written last, atomically.
        index = {"frames": self.frames, "written": time.time_ns(), "clips": self.clips}
        atomic_write_text(self.dir / f"{self.id}.json", json.dumps(index))
        return nbytes


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
