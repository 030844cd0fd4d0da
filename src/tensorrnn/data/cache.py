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

Sharing and identity: processes that build one store at once (DDP ranks) take turns through a
lock file (``.build.lock``), so each clip is decoded once; a store that is complete is only
read. ``store.json`` records the store's identity (version, format, size, root, limits); a
folder whose ``store.json`` names another (copied or hand-edited) is rebuilt, never read, and so
is a shard whose index names another format or size. A build that runs out of disk space
removes the shards it finished, leaving the store as it was, and raises an ``OSError``
(ENOSPC) naming the folder, the space the build needs and the space free.

Size: all frames are stored; UCF11 at 160x120 is about 1,600 x 185 x 57.6 kB ~ 17 GB. The
JPEG store (:mod:`tensorrnn.data.store`, the datasets' default) keeps about a tenth of it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import shutil
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
    """Worker body: (rel, path, size, limits[, encode]) -> (rel, frames or None, reason or None,
    source stamp); ``encode`` (a picklable function of the frames) turns the frames into what
    the store keeps, in the worker (for the JPEG store: one JPEG per frame)."""
    rel, path, size, max_pixels, max_frames, *rest = job
    encode = rest[0] if rest else None
    source = _source_stamp(path)  # before decoding: a file replaced meanwhile counts as changed
    try:
        frames = decode_clip(path, size, max_pixels, max_frames)
        return rel, frames if encode is None else encode(frames), None, source
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

    #: What the frames file of a shard holds, and its suffix (subclasses store other encodings).
    FORMAT, SUFFIX = "raw", ".u8"

    def __init__(self, cache_dir: str | os.PathLike, root: str | os.PathLike, size: tuple[int, int],
                 name: str = "dataset", max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_frames: int = DEFAULT_MAX_FRAMES) -> None:
        if size is None:
            raise ValueError("size=None: the frame cache needs a fixed (width, height), e.g. (160, 120)")
        self.root = Path(root).resolve()
        self._root_abs = Path(os.path.abspath(root))  # as the datasets spell their clip paths
        self.size = (int(size[0]), int(size[1]))
        self.max_pixels, self.max_frames = int(max_pixels), int(max_frames)
        self.name = name
        digest = hashlib.sha1(json.dumps(self._identity()).encode()).hexdigest()[:10]
        self.dir = Path(cache_dir) / f"{name}-{self.size[0]}x{self.size[1]}-{digest}"
        self._stale: str | None = None  # why the store's files belong to another identity
        self._entries: dict[str, tuple[str, int, int]] | None = None  # rel -> (shard, offset, count)
        self._errors: dict[str, str] = {}
        self._sources: dict[str, list[int] | None] = {}  # rel -> stamp of the file when decoded
        self._maps: dict[str, np.ndarray] = {}  # shard -> memory-mapped frames
        self._keys: dict = {}  # clip path -> key
        self._damaged: list[Path] = []  # shard indexes that could not be used

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dir={str(self.dir)!r}, size={self.size})"

    def _identity(self) -> list:
        """What the store's folder name hashes: a store of another identity is another folder."""
        return [CACHE_VERSION, str(self.root), self.size, self.max_pixels, self.max_frames]

    def info(self) -> dict:
        """The store's identity as written to ``store.json`` (and checked when it is opened)."""
        return {"version": CACHE_VERSION, "format": self.FORMAT, "root": str(self.root), "size": list(self.size),
                "max_pixels": self.max_pixels, "max_frames": self.max_frames}

    def _encoder(self):
        """The function a decoding worker applies to a clip's frames before they are stored."""
        return None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}  # memmaps are reopened in each DataLoader worker, never pickled
        return state

    # --- reading ----------------------------------------------------------------------------

    def _check_identity(self) -> str | None:
        """Why the store's ``store.json`` describes another store (other version, format, size,
        root or limits: a copied or hand-edited folder), or None. Such a store is rebuilt, never
        read: a mismatch in a key both sides name is enough (older stores wrote fewer keys)."""
        path = self.dir / "store.json"
        try:
            found = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            return f"{path}: unreadable ({err})"
        expected = self.info()
        expected.setdefault("format", "raw")
        found.setdefault("format", "raw")  # stores written before the format key were raw
        differ = [key for key in expected if key in found and found[key] != expected[key]]
        if differ:
            return (f"{path}: written for " + ", ".join(f"{k}={found[k]!r}" for k in differ) + "; expected "
                    + ", ".join(f"{k}={expected[k]!r}" for k in differ))
        return None

    def _load_index(self) -> None:
        shards, damaged = [], []
        self._stale = self._check_identity() if self.dir.is_dir() else None
        if self._stale and self._stale != getattr(self, "_warned", None):  # once, not at every re-read
            self._warned = self._stale
            warnings.warn(f"{self._stale}: another store's files; its clips will be decoded again", stacklevel=3)
        for index in sorted(self.dir.glob("shard-*.json")) if self.dir.is_dir() and not self._stale else []:
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
        """A shard's index, checked against its frames file."""
        data = json.loads(index.read_text())
        clips, frames = data["clips"], int(data["frames"])
        data["written"] = int(data.get("written", 0))  # absent in shards of older builds
        if data.get("format", "raw") != self.FORMAT or data.get("size", list(self.size)) != list(self.size):
            raise ValueError(f"written as {data.get('format', 'raw')} frames of {data.get('size')}; expected "
                             f"{self.FORMAT} frames of {list(self.size)}")
        self._check_frames_file(index, data)
        for item in clips.values():
            if "error" not in item and not 0 <= item["offset"] <= item["offset"] + item["count"] <= frames:
                raise ValueError(f"clip frames {item} outside the shard's {frames} frames")
        return data

    def _check_frames_file(self, index: Path, data: dict) -> None:
        expected = int(data["frames"]) * self.size[0] * self.size[1] * 3
        actual = index.with_suffix(self.SUFFIX).stat().st_size
        if actual != expected:
            raise ValueError(f"{index.with_suffix(self.SUFFIX).name} holds {actual} bytes, the index "
                             f"describes {data['frames']} frames of {expected} bytes")

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

    def read(self, rel: str, indices, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 frames ``(len(indices), H, W, 3)`` of a cached clip (a copy, not a view).

        Args:
            rel: the clip's key (:meth:`rel`).
            indices: frame indices, ``0 <= i < num_frames(rel)``.
            out: a C-contiguous uint8 array ``(len(indices), H, W, 3)`` to write the frames
                into (and return); ``None``: a new array. A reused ``out`` saves the page
                faults of a fresh 345 kB array per 6-frame sample (~0.2 ms of 1.3, measured).
        """
        opened, positions = self._located(rel, indices)
        width, height = self.size
        shape = (len(positions), height, width, 3)
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"out of shape {out.shape}, dtype {out.dtype}: expected a writable C-contiguous "
                             f"uint8 array of shape {shape}")
        self._take(opened, positions, out)
        return out

    def _located(self, rel: str, indices) -> tuple:
        """The opened shard holding clip ``rel`` (opened once per process) and the positions in
        it of frames ``indices`` (checked: ``0 <= i < num_frames(rel)``)."""
        shard, offset, count = self.entries[rel]
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= count):
            raise IndexError(f"{rel}: frame indices {idx.tolist()} outside 0..{count - 1}")
        if shard not in self._maps:
            self._maps[shard] = self._open(shard)
        return self._maps[shard], offset + idx

    def _open(self, shard: str):
        """A shard's frames, opened for reading (once per process)."""
        total = json.loads((self.dir / f"{shard}.json").read_text())["frames"]
        width, height = self.size
        mapped = np.memmap(self.dir / f"{shard}{self.SUFFIX}", np.uint8, "r", shape=(total, height, width, 3))
        return mapped.view(np.ndarray)  # plain ndarray: no memmap overhead per read

    def _take(self, opened, positions: np.ndarray, out: np.ndarray) -> None:
        """Write the uint8 frames at ``positions`` of an opened shard into ``out`` ``(n, H, W, 3)``."""
        np.take(opened, positions, axis=0, out=out, mode="clip")  # checked by read; "raise" would buffer

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
        shard_clips = DEFAULT_SHARD_CLIPS if shard_clips is None else shard_clips
        if shard_clips < 1:
            raise ValueError(f"shard_clips={shard_clips!r}: expected a positive integer")
        paths = [Path(p) for p in paths]
        todo = self.missing(paths)
        summary = BuildSummary(reused=len(paths) - len(todo))
        if todo:
            self.dir.mkdir(parents=True, exist_ok=True)
            with _build_lock(self.dir):
                # Another process (a DDP rank) may have built clips while this one waited.
                self._entries = None
                todo = self.missing(paths)
                summary.reused = len(paths) - len(todo)
                if todo:
                    self._build(todo, workers, shard_clips, progress, summary)
            self._entries = None  # re-read the finished shards
        keys = {self.rel(p) for p in paths}
        summary.bad = {k: v for k, v in self.errors.items() if k in keys}
        return summary

    def _build(self, todo: list[Path], workers: int, shard_clips: int, progress: bool, summary: BuildSummary) -> None:
        from tqdm.auto import tqdm

        self._remove_foreign()
        self._write_identity()
        self._remove_stale_temps()
        self._remove_damaged()
        encode = self._encoder()
        jobs = [(self.rel(p), str(p), self.size, self.max_pixels, self.max_frames, encode) for p in todo]
        bar = tqdm(total=len(jobs), desc=f"caching {self.dir.name}", unit="clip", disable=not progress)
        try:
            if workers > 0:
                pool = ProcessPoolExecutor(workers)
                try:
                    self._write_shards(pool.map(_decode_job, jobs, chunksize=1), shard_clips, summary, bar, len(jobs))
                finally:  # on Ctrl-C, do not wait for the queued clips
                    pool.shutdown(wait=True, cancel_futures=True)
            else:
                self._write_shards(map(_decode_job, jobs), shard_clips, summary, bar, len(jobs))
        finally:
            bar.close()

    def _writer(self) -> _ShardWriter:
        return _ShardWriter(self.dir, self.SUFFIX, {"format": self.FORMAT, "size": list(self.size)})

    def _write_shards(self, results, shard_clips: int, summary: BuildSummary, bar, total: int) -> None:
        shard, finished = None, []
        try:
            for rel, frames, error, source in results:
                if shard is None:
                    shard = self._writer()
                shard.add(rel, frames, error, source)
                summary.decoded += 1
                bar.update(1)
                if len(shard.clips) >= shard_clips:
                    summary.bytes_written += shard.finish()
                    finished.append(shard)
                    shard = None
            if shard is not None:
                summary.bytes_written += shard.finish()
        except BaseException as err:
            partial = 0
            if shard is not None:
                partial = shard.written
                shard.abort()  # the unfinished shard never becomes visible
            if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise self._disk_full(finished, summary, partial, total) from None
            raise

    def _disk_full(self, finished: list, summary: BuildSummary, partial: int, total: int) -> OSError:
        """The error of a build that ran out of space: the shards this build finished are
        removed, so the store is left as it was before it (and the space it took is free
        again); the message names the folder and estimates the space the whole build needs."""
        for shard in finished:
            shard.remove()
        if not any(self.dir.glob("shard-*.json")):  # there was no store before this build
            (self.dir / "store.json").unlink(missing_ok=True)
        written = summary.bytes_written + partial
        per_clip = written / max(summary.decoded, 1)
        needed = per_clip * max(total, summary.decoded)
        free = shutil.disk_usage(self.dir).free
        if written:
            need = f"needs about {needed / 2**20:,.1f} MiB ({total} clips at about {per_clip / 2**20:,.2f} MiB)"
        else:  # nothing written yet: no measured size a clip
            need = f"needs more than is free for its {total} clips"
        return OSError(errno.ENOSPC,
                       f"{self.dir}: no space left on the device while writing the {self.FORMAT} store; the build "
                       f"{need}, {free / 2**20:,.1f} MiB are free; the store was left as it was before this build: "
                       f"free space (or choose another --cache-dir) and run it again")

    def _write_identity(self) -> None:
        path = self.dir / "store.json"
        if not path.exists():
            atomic_write_text(path, json.dumps(self.info(), indent=1))

    def _remove_foreign(self) -> None:
        """Delete the files of a store of another identity found in this folder (see
        :meth:`_check_identity`): they are never read, and are rebuilt."""
        if self._entries is None:
            self._load_index()
        if not self._stale:
            return
        for path in self.dir.glob("shard-*.json"):  # completion markers first
            path.unlink(missing_ok=True)
        for path in self.dir.glob("shard-*"):
            path.unlink(missing_ok=True)
        (self.dir / "store.json").unlink(missing_ok=True)
        self._stale = None

    def _remove_damaged(self) -> None:
        """Delete the shards found damaged: their clips are about to be decoded again."""
        for index in self._damaged:
            index.unlink(missing_ok=True)  # the completion marker first, as a build never left it
            index.with_suffix(self.SUFFIX).unlink(missing_ok=True)
        self._damaged = []

    def _remove_stale_temps(self) -> None:
        """Delete temporary files left by builds that were killed.

        A frames file names its process (``.shard-ID.u8.PID.tmp``): stale once that process is
        gone. An index file (``atomic_write_text``'s ``.shard-ID.json.RANDOM.tmp``) names none
        and lives for milliseconds: stale after an hour. Another build writing into the same
        cache at the same time (DDP ranks sharing a ``cache_dir``) thus keeps both of its own.
        """
        for tmp in self.dir.glob(".shard-*.tmp"):
            parts = tmp.name.split(".")  # ['', 'shard-ID', 'u8'/'jpg' or 'json', PID or RANDOM, 'tmp']
            try:
                if parts[-3] != "json" and parts[-2].isdigit():
                    stale = not _alive(int(parts[-2]))
                else:
                    stale = time.time() - tmp.stat().st_mtime > STALE_INDEX_SECONDS
            except FileNotFoundError:  # its build finished in the meantime
                continue
            if stale:
                tmp.unlink(missing_ok=True)
        # A frames file whose index never came (killed between the two renames: milliseconds)
        # holds up to a shard of decoded clips, hundreds of MB, that nothing will ever read.
        for frames in self.dir.glob(f"shard-*{self.SUFFIX}"):
            try:
                orphan = (not frames.with_suffix(".json").exists()
                          and time.time() - frames.stat().st_mtime > STALE_INDEX_SECONDS)
            except FileNotFoundError:
                continue
            if orphan:
                frames.unlink(missing_ok=True)


class _ShardWriter:
    """Appends clips to a temporary frames file; ``finish`` makes the shard visible.

    ``header`` goes into the index (format and frame size, checked when the shard is read).
    Subclasses store other encodings by overriding ``_write_frames``.
    """

    def __init__(self, directory: Path, suffix: str = ".u8", header: dict | None = None) -> None:
        self.dir, self.id, self.suffix = directory, f"shard-{uuid.uuid4().hex[:12]}", suffix
        self.tmp = directory / f".{self.id}{suffix}.{os.getpid()}.tmp"
        self.file = open(self.tmp, "wb")
        self.header = dict(header or {})
        self.clips: dict[str, dict] = {}
        self.frames = 0
        self.written = 0  # bytes of frames written so far

    def add(self, rel: str, frames, error: str | None, source: list[int] | None) -> None:
        if frames is None:
            self.clips[rel] = {"error": error, "source": source}
            return
        count = self._write_frames(frames)
        self.clips[rel] = {"offset": self.frames, "count": count, "source": source}
        self.frames += count

    def _write_frames(self, frames) -> int:
        data = np.ascontiguousarray(frames, dtype=np.uint8)  # (n, H, W, 3)
        self.file.write(data.tobytes())
        self.written += data.nbytes
        return len(data)

    def _index(self) -> dict:
        return {**self.header, "frames": self.frames, "written": time.time_ns(), "clips": self.clips}

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)
        if not (self.dir / f"{self.id}.json").exists():  # renamed, but its index never came
            (self.dir / f"{self.id}{self.suffix}").unlink(missing_ok=True)

    def finish(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        nbytes = self.tmp.stat().st_size
        os.replace(self.tmp, self.dir / f"{self.id}{self.suffix}")
        # The index is the completion marker: written last, atomically.
        atomic_write_text(self.dir / f"{self.id}.json", json.dumps(self._index()))
        return nbytes

    def remove(self) -> None:
        """Delete a finished shard (its index first: the store never sees half a shard)."""
        (self.dir / f"{self.id}.json").unlink(missing_ok=True)
        (self.dir / f"{self.id}{self.suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def _build_lock(folder: Path):
    """Hold an exclusive lock on ``folder/.build.lock`` while building: processes that build
    one store at the same time (DDP ranks started together) take turns, and each one after the
    first finds the clips built. Released by the OS when a process dies. Where the file system
    has no locks (some network mounts), builds run unlocked: still correct (shards are atomic,
    the newest copy of a clip wins), only the work may be done twice."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / ".build.lock", "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
