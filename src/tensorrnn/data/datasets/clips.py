"""The clips of a dataset and how one becomes a training pair: :class:`ClipRecord`,
:class:`VideoClipDataset` (the base of every layout), and the batch loading of the training
loaders (:func:`collate_clips`, :func:`default_load_threads`, the loading threads).

Bad clips. At construction every clip is checked (``validate=True``): with ``cache_dir`` by
decoding it into the frame cache, otherwise by :func:`~tensorrnn.data.video.probe` (opens the
container and counts its packets; about 1 ms a clip). Empty, truncated, corrupt or
undecodable clips are dropped with a warning naming the file and the reason, and listed in
``bad_clips``; if more than ``max_bad_fraction`` of the clips are bad, a ``ValueError`` is
raised instead of training on little. A clip that still fails in ``__getitem__`` (for example,
``validate=False``) raises a one-line :class:`~tensorrnn.data.video.VideoError` naming the
dataset index and the file: never a substitute clip, so evaluation is never silently wrong.
"""
from __future__ import annotations

import copy
import math
import operator
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from tensorrnn import papers
from tensorrnn.data.sampling import (
    PAD_BYTE, ClipTooShortError, check_sampling, defer_scaling, pad_indices, sample_indices, scale_pixels,
)
from tensorrnn.data.store import STORES, open_store
from tensorrnn.data.threads import map_shares
from tensorrnn.data.video import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, VideoError, check_size, probe, read_frames

#: How many bad files are named one by one before the summary line.
MAX_WARNINGS = 10
#: Each thread's uint8 buffer the frames of a sample are read into from a store, reused from
#: sample to sample (see :func:`_scratch`).
_SCRATCH = threading.local()
#: The random draw of the sample a thread is building (see :meth:`VideoClipDataset.__getitems__`).
_DRAW = threading.local()
def default_load_threads(num_workers: int, ranks: int = 1) -> int:
    """Loading threads per process for ``num_workers`` DataLoader workers in each of ``ranks``
    processes on this machine (DDP): the CPU cores shared among the loading processes (a rank's
    main process alone when it has no workers), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores // (max(1, ranks) * max(1, num_workers))))


def _scratch(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array of ``shape`` in this thread's reused buffer (grown when too small).

    A sample's frames read from a store live only until they are scaled into the sample's
    float32 tensor; a fresh 345 kB array per 6-frame sample cost ~0.2 ms of page faults (glibc
    gives such blocks back to the system when freed), a reused one none. Per thread, so
    threads never share it; each DataLoader worker process has its own.
    """
    need = int(np.prod(shape))
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < need:
        buffer = _SCRATCH.buffer = np.empty(need, np.uint8)
    return buffer[:need].reshape(shape)


class AugmentedSample(NamedTuple):
    """A training sample whose augmentation is left to its batch (``deferred_augmentation``),
    and, collated, the batch: uint8 frames ``(T, H, W, 3)``, the target, and the clip's row of
    augmentation parameters ``(8,)`` (:meth:`~tensorrnn.data.transforms.ClipAugment.param_row`)
    that :func:`~tensorrnn.data.transforms.augment_batch` applies on the model's device."""

    frames: torch.Tensor
    target: torch.Tensor
    augment: torch.Tensor


class EncodedSample(NamedTuple):
    """A training sample whose decoding is left to its batch (``deferred_decoding``), and,
    collated, the batch: the stored JPEGs of its sampled frames (a list of ``bytes``; a batch:
    a list of those lists, which no device transfer touches), the padding frames in front
    (``()``, a batch ``(B,)`` int64), the target and the clip's row of augmentation parameters
    (``(8,)``, or ``None`` without augmentation). :func:`decode_batch` decodes a batch on the
    model's device."""

    jpegs: list
    front: torch.Tensor
    target: torch.Tensor
    augment: torch.Tensor | None


def decode_batch(batch: EncodedSample, size: tuple[int, int], pad: int, threads: int = 1) -> torch.Tensor:
    """The uint8 frames ``(B, T, H, W, 3)`` of an :class:`EncodedSample` batch, decoded in one
    call on the device its target is on (:func:`~tensorrnn.data.store.decode_frames`), each
    clip's ``front`` padding frames set to ``pad`` (:data:`~tensorrnn.data.sampling.PAD_BYTE`)."""
    from tensorrnn.data.store import decode_frames

    device = batch.target.device
    fronts = batch.front.tolist()
    steps = {len(jpegs) + front for jpegs, front in zip(batch.jpegs, fronts)}
    if len(steps) != 1:
        raise ValueError(f"an encoded batch of clips of {sorted(steps)} frames: expected one length")
    width, height = size
    decoded = decode_frames([jpeg for jpegs in batch.jpegs for jpeg in jpegs], size, device, threads)  # (N, H, W, 3)
    frames = torch.full((len(fronts), steps.pop(), height, width, 3), pad, dtype=torch.uint8, device=device)
    start = 0
    for row, (jpegs, front) in enumerate(zip(batch.jpegs, fronts)):
        frames[row, front:] = decoded[start:start + len(jpegs)]
        start += len(jpegs)
    return frames


def collate_clips(samples: Sequence[tuple]) -> list | AugmentedSample | EncodedSample:
    """``default_collate`` for the datasets' samples, without copying the frames when they are
    the rows, in order, of one tensor (as :meth:`VideoClipDataset.__getitems__` writes a
    batch's uint8 frames): that tensor is the batch's frames. :class:`AugmentedSample` samples
    collate into one. The DataLoaders of :class:`~tensorrnn.train.datamodule.VideoDataModule` use it."""
    if isinstance(samples[0], EncodedSample):
        rows = [sample.augment for sample in samples]
        return EncodedSample([sample.jpegs for sample in samples], torch.tensor([s.front for s in samples]),
                             default_collate([sample.target for sample in samples]),
                             None if rows[0] is None else torch.stack(rows))
    frames = [sample[0] for sample in samples]
    whole = _rows_of(frames)
    if whole is None:
        return default_collate(samples)  # a list, or an AugmentedSample of AugmentedSamples
    rest = default_collate([tuple(sample[1:]) for sample in samples])
    if isinstance(samples[0], AugmentedSample):
        return AugmentedSample(whole, *rest)
    return [whole, *rest]


def _rows_of(tensors: list) -> torch.Tensor | None:
    """The tensor whose rows ``tensors`` are, in order and covering all of its memory; else None."""
    first = tensors[0]
    if not isinstance(first, torch.Tensor) or not first.is_contiguous():
        return None
    storage, size, step = first.untyped_storage(), first.shape, first.numel()
    if storage.nbytes() != len(tensors) * step * first.element_size() or first.storage_offset() != 0:
        return None
    for row, tensor in enumerate(tensors):
        if (not isinstance(tensor, torch.Tensor) or tensor.untyped_storage().data_ptr() != storage.data_ptr()
                or tensor.shape != size or tensor.dtype != first.dtype or not tensor.is_contiguous()
                or tensor.storage_offset() != row * step):
            return None
    return torch.empty(0, dtype=first.dtype).set_(storage, 0, (len(tensors), *size))


@dataclass(frozen=True)
class ClipRecord:
    """One clip: its file, its target and its group.

    Attributes:
        path: the video (or ``.npy`` features) file.
        target: class index, or for multi-label data a tuple of 0/1 flags, one per class.
        group: group id (UCF11/UCF101: the ``GG`` of the name; same actor and background),
            ``None`` when the dataset has no groups.
        frames: ``(start, stop)``, the clip's frames within the file (0-based, ``stop``
            excluded; KTH's subsequences), ``None`` for the whole file. A range reaching past
            the end of the file is cut there.
    """

    path: Path
    target: int | tuple[int, ...]
    group: int | None = None
    frames: tuple[int, int] | None = None


class VideoClipDataset(Dataset):
    """Base class: a list of :class:`ClipRecord` and how to turn one into a training pair.

    Args:
        root: the dataset folder.
        clips: the clips (sorted by path here).
        classes: class names; targets index into this list.
        multilabel: targets are multi-hot vectors.
        num_frames: frames per sample (k; the papers use 6).
        sampling: ``"random"`` (k ascending, new every call), ``"segments"`` (one frame of
            each of k equal segments, TSN), ``"uniform"``, ``"stride"``, ``"all"``; see
            :func:`~tensorrnn.data.sampling.sample_indices`.
        views: ``0``: a sample is one clip ``(T, ...)``; ``K >= 1``: a sample holds K views of
            the clip ``(K, T, ...)`` and the item is ``(views, target, K)`` (multi-view
            evaluation: ``"segments"`` takes K evenly spaced offsets in every segment, the
            random policies K independent draws, the others the same frames K times).
        augment: a :class:`~tensorrnn.data.transforms.ClipAugment` (or its keyword arguments
            as a dict) applied to the decoded frames of a clip, the same transform on each
            of its frames; not applied to ``.npy`` features.
        stride: step of ``sampling="stride"``.
        size: ``(width, height)`` of the frames (160x120 in the papers); ``None`` keeps each
            file's size (then no cache and no batching of clips of different sizes).
        scaling: ``"center"`` (x - 128), ``"unit"`` (x/128 - 1), ``"standard"``, ``"none"``.
        pad: clips shorter than ``num_frames``: ``"front"`` zeros, ``"repeat"``, ``"reject"``
            (dropped at construction, or ``ClipTooShortError`` when counts are unknown).
        cache_dir: decode every clip once into a clip store there (see
            :mod:`tensorrnn.data.store`); ignored for ``.npy`` features.
        store: the store's encoding: ``"jpeg"`` (frames as 4:2:0 JPEGs, far smaller than raw,
            only sampled frames decoded) or ``"raw"`` (uint8 frames, exact, memory-mapped).
        quality: JPEG quality of the ``"jpeg"`` store (1..100).
        max_bad_fraction: largest tolerated share of bad clips.
        seed: ``None``: random frames from torch's global generator (DataLoader seeds it per
            worker and epoch); an int: frames depend only on (seed, epoch, index), see
            :meth:`set_epoch`.
        validate: check every clip at construction (see the module docstring).
        features: the clips are ``.npy`` arrays ``(T, F)`` of per-frame features with the same
            names as the videos; frames are sampled from them (same sampling and padding);
            ``size``, ``scaling`` and ``cache_dir`` do not apply.
        build_workers: processes that decode clips when building the cache.
        load_threads: threads that build the samples of a batch (:meth:`__getitems__`, which
            DataLoader calls with ``batch_size`` set), in each loading process; JPEG decoding
            releases the GIL, so threads serve a JPEG store's clips faster (1.3-1.5x with 2
            threads on 2 cores); a raw store's samples without augmentation are copies out of
            a memory map, built by one thread whatever this says. The samples do not depend on it.
        progress: show progress bars for long work.
        max_pixels, max_video_frames: the decoder's safety limits.

    Shape:
        - frames: ``(num_frames, H, W, 3)`` float32 (``(T, F)`` for features; T varies with
          ``sampling="all"``).
        - target: ``()`` int64, or ``(num_classes,)`` float32 when ``multilabel``.
    """

    name = "video"

    def __init__(self, root: str | os.PathLike, clips: Sequence[ClipRecord], classes: Sequence[str], *,
                 multilabel: bool = False, num_frames: int = papers.FRAMES_PER_CLIP,
                 sampling: str = "random", stride: int = 1,
                 size: tuple[int, int] | None = papers.UCF11_FRAME_SIZE, scaling: str = "center",
                 pad: str = "front", cache_dir: str | os.PathLike | None = None,
                 max_bad_fraction: float = 0.1, seed: int | None = None, validate: bool = True,
                 features: bool = False, build_workers: int = 0, progress: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_video_frames: int = DEFAULT_MAX_FRAMES,
                 official: Sequence[str] | None = None, missing: Sequence[str] = (),
                 views: int = 0, augment=None, store: str = "jpeg", quality: int = 90,
                 load_threads: int = 1) -> None:
        check_sampling(sampling, pad, scaling, num_frames, stride)
        if store not in STORES:
            raise ValueError(f"store={store!r}: expected one of {', '.join(map(repr, STORES))}")
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
            raise ValueError(f"quality={quality!r}: expected a JPEG quality, an integer in 1..100")
        self.store, self.quality = store, int(quality)
        #: Give frames as uint8 with the scaling left to the batch (:func:`~tensorrnn.data.sampling.defer_scaling`;
        #: the training loaders of :class:`~tensorrnn.train.datamodule.VideoDataModule` set it).
        #: Ignored for ``"standard"`` scaling and for features.
        self.deferred_scaling = False
        #: With deferred scaling, leave the augmentation to the batch too: a sample is an
        #: :class:`AugmentedSample` of unaugmented uint8 frames and the parameters its clip drew
        #: (the same draws as augmenting it here), which
        #: :func:`~tensorrnn.data.transforms.augment_batch` applies on the model's device.
        self.deferred_augmentation = False
        #: With deferred scaling and a JPEG store, leave the decoding to the batch too: a
        #: sample is an :class:`EncodedSample` of its frames' stored JPEGs, which
        #: :func:`decode_batch` decodes on the model's device (nvjpeg on a GPU).
        self.deferred_decoding = False
        if isinstance(load_threads, bool) or not isinstance(load_threads, (int, np.integer)) or load_threads < 1:
            raise ValueError(f"load_threads={load_threads!r}: expected an integer >= 1")
        #: Threads that build the samples of a batch (:meth:`__getitems__`).
        self.load_threads = int(load_threads)
        if not isinstance(views, (int, np.integer)) or views < 0:
            raise ValueError(f"views={views!r}: expected an integer >= 0 (0: no view axis)")
        self.views = int(views)
        self.augment = _clip_augment(augment)
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction={max_bad_fraction!r}: expected a share in [0, 1]")
        if size is not None:
            size = check_size(size)
        self.root = Path(root)
        if not clips:
            extra = f" ({len(missing)} listed clips have no file, e.g. {missing[0]})" if missing else ""
            raise ValueError(f"{type(self).__name__} root {str(self.root)!r}: no clips for these options{extra}")
        self.classes = list(classes)
        self.multilabel = multilabel
        self.num_frames, self.sampling, self.stride = num_frames, sampling, stride
        self.size, self.scaling, self.pad = size, scaling, pad
        self.seed, self.features = seed, features
        self.max_pixels, self.max_video_frames = max_pixels, max_video_frames
        self.missing = list(missing)  # split-file names with no file under the root
        self.bad_clips: list[tuple[Path, str]] = []
        self.epoch = 0
        self._cache = None
        order = sorted(range(len(clips)), key=lambda i: (self._sort_key(clips[i].path), clips[i].frames or (0, 0)))
        self.clips = [clips[i] for i in order]
        self.official = None if official is None else np.asarray([official[i] for i in order])
        self._counts: list[int | None] = [None] * len(self.clips)
        if validate or (cache_dir is not None and not features):
            self._check_clips(cache_dir, build_workers, progress, max_bad_fraction)

    # --- attributes of the contract ---------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def targets(self) -> np.ndarray:
        """``(N,)`` int64 class indices, or ``(N, C)`` float32 multi-hot when multi-label."""
        if self.multilabel:
            return np.asarray([c.target for c in self.clips], dtype=np.float32).reshape(len(self), self.num_classes)
        return np.asarray([c.target for c in self.clips], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        """``(N,)`` int64 group ids, -1 where a clip has no group."""
        return np.asarray([-1 if c.group is None else c.group for c in self.clips], dtype=np.int64)

    @property
    def num_frames_per_clip(self) -> list[int | None]:
        """Frame count of each clip (None where not known yet: ``validate=False``)."""
        return list(self._counts)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        size = "native" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        return (f"{type(self).__name__}(root={str(self.root)!r}, clips={len(self)}, classes={self.num_classes}, "
                f"num_frames={self.num_frames}, sampling={self.sampling!r}, size={size}, "
                f"scaling={self.scaling!r}, pad={self.pad!r}, cached={self._cache is not None}"
                f"{', features=True' if self.features else ''})")

    def set_epoch(self, epoch: int) -> None:
        """With ``seed`` set, pick the random frames of ``epoch`` (call once per epoch)."""
        self.epoch = int(epoch)

    def subset(self, indices: Iterable[int]) -> VideoClipDataset:
        """A dataset of the clips at ``indices`` (in that order) with the same classes and options."""
        idx = [int(i) for i in indices]
        for i in idx:
            if not -len(self) <= i < len(self):
                raise IndexError(f"subset index {i} out of range for a dataset of {len(self)} clips")
        sub = copy.copy(self)
        sub.clips = [self.clips[i] for i in idx]
        sub._counts = [self._counts[i] for i in idx]
        sub.official = None if self.official is None else self.official[idx]
        return sub

    # --- one sample -----------------------------------------------------------------------

    def __getitem__(self, index: int):
        return self._item(index)

    def _item(self, index: int, out: torch.Tensor | None = None):
        """``self[index]``, its uint8 frames written into ``out`` when given (deferred scaling)."""
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} clips")
        index %= len(self)  # frames of a seeded sample depend on the index: ds[-1] is ds[N - 1]
        clip = self.clips[index]
        rows = [] if self._deferring_augmentation else None
        try:
            if self._deferring_decoding:
                return self._encoded(index, clip)
            loaded = self._load(index, clip, range(self.views) if self.views else (None,), out, rows)
            if out is not None:
                frames = out
            else:
                frames = torch.stack(loaded) if self.views else loaded[0]  # (K, T, ...) or (T, ...)
        except ClipTooShortError as err:
            raise ClipTooShortError(f"clip {index} ({clip.path}): {err}") from None
        except (VideoError, OSError, ValueError) as err:
            raise VideoError(f"clip {index} ({clip.path}): {err}") from None
        target = self._target(clip)
        if self.views:
            return frames, target, torch.tensor(self.views)
        if rows is not None:
            return AugmentedSample(frames, target, rows[0])
        return frames, target

    def _target(self, clip: ClipRecord) -> torch.Tensor:
        if self.multilabel:
            return torch.tensor(clip.target, dtype=torch.float32)
        return torch.tensor(clip.target, dtype=torch.int64)

    def _encoded(self, index: int, clip: ClipRecord) -> EncodedSample:
        """Sample ``index`` undecoded: its frames' JPEGs, the same frame choice and augmentation
        draws as a decoded sample's."""
        rel = self._cache.rel(clip.path)
        start, count = _span(clip, self._cache.num_frames(rel))
        idx, front = self.frame_indices(index, count)
        jpegs = self._cache.read_jpegs(rel, idx + start)
        row = None
        if self._augmenting:
            width, height = self.size
            row = self.augment.param_row(self.augment.params(self._augment_rng(index), height, width), front)
        return EncodedSample(jpegs, front, self._target(clip), row)

    def __getitems__(self, indices: Sequence[int]) -> list:
        """The samples at ``indices`` (a batch: ``DataLoader`` fetches batches this way), built
        by :attr:`load_threads` threads.

        Unseeded, each sample's randomness comes from one number drawn from torch's global
        generator per sample, in order, before the threads start: the samples depend on that
        generator's state and never on the thread count or on thread timing (they differ from
        ``[self[i] for i in indices]``, which draws as it goes).
        """
        indices = list(indices)
        if self.seed is None:
            draws = torch.randint(0, 2**62, (len(indices),)).tolist()
        else:
            draws = [None] * len(indices)
        batch = self._batch_frames(len(indices))
        outs = [None] * len(indices) if batch is None else list(batch)
        jobs = list(zip(indices, draws, outs))
        threads = self.load_threads
        if self._cache is not None and self._cache.FORMAT == "raw" and (not self._augmenting
                                                                        or self._deferring_augmentation):
            threads = 1  # copying frames out of a memory map: faster alone than handed to threads (measured)
        return map_shares(lambda job: self._drawn(*job), jobs, threads)

    @property
    def _augmenting(self) -> bool:
        return self.augment is not None and self.augment.active

    @property
    def _deferring_decoding(self) -> bool:
        """Samples are :class:`EncodedSample` samples: single-view clips of a JPEG store whose
        decoding (and augmentation) the batch does (``deferred_decoding`` with deferred scaling)."""
        return (self.deferred_decoding and self.deferred_scaling and self.scaling in PAD_BYTE
                and self._cache is not None and self._cache.FORMAT == "jpeg" and not self.features
                and not self.views and self.sampling != "all")

    @property
    def _deferring_augmentation(self) -> bool:
        """Samples are :class:`AugmentedSample` samples: uint8 single-view clips whose augmentation
        the batch applies (``deferred_augmentation`` with deferred scaling, on video)."""
        return (self.deferred_augmentation and self._augmenting and self.deferred_scaling
                and self.scaling in PAD_BYTE and not self.features and not self.views and self.sampling != "all")

    def _batch_frames(self, count: int) -> torch.Tensor | None:
        """One uint8 tensor for the frames of ``count`` samples, each sample written into its row
        (:func:`collate_clips` then takes it whole, without a copy), when samples are uint8 of
        one shape (deferred scaling, fixed size and frame count); else None."""
        if (not self.deferred_scaling or self.scaling not in PAD_BYTE or self.features or self.size is None
                or self.sampling == "all" or self._deferring_decoding):
            return None
        width, height = self.size
        shape = (count, *((self.views,) if self.views else ()), self.num_frames, height, width, 3)
        if torch.utils.data.get_worker_info() is not None:
            # a worker's batch travels to the main process in shared memory: allocated there, as
            # default_collate allocates its batches in a worker, so sending it copies nothing
            storage = torch.UntypedStorage._new_shared(math.prod(shape))
            return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)
        return torch.empty(shape, dtype=torch.uint8)

    def _drawn(self, index: int, draw: int | None, out: torch.Tensor | None = None):
        """``self[index]``, its random choices from ``draw`` (unseeded; see :meth:`__getitems__`)."""
        _DRAW.value = draw
        try:
            return self._item(index, out)
        finally:
            _DRAW.value = None

    def _generator(self, index: int, *stream: int) -> np.random.Generator | None:
        """Seeded: a generator of (seed, epoch, index, *stream); unseeded: one of the sample's
        draw (:meth:`__getitems__`), or None (torch's global generator) outside a batch."""
        if self.seed is None:
            draw = getattr(_DRAW, "value", None)
            return None if draw is None else np.random.default_rng([draw, *stream])
        return np.random.default_rng([self.seed, self.epoch, index, *stream])

    def frame_indices(self, index: int, num_frames: int, view: int | None = None) -> tuple[np.ndarray, int]:
        """The frames sample ``index`` (view ``view`` of ``views``) reads from a clip of
        ``num_frames`` frames, and the number of zero frames put in front (see
        :func:`~tensorrnn.data.sampling.pad_indices`)."""
        if view is None:
            generator, offset_view = self._generator(index), None
        else:  # view 0 of a seeded random policy draws what a single-view sample draws
            generator = self._generator(index, *([view] if view else []))
            offset_view = view if self.sampling == "segments" else None
        idx = sample_indices(num_frames, self.num_frames, self.sampling, self.stride, generator,
                             view=offset_view, views=max(self.views, 1))
        if self.sampling == "all":
            return idx, 0
        return pad_indices(idx, self.num_frames, self.pad)

    def _augmented(self, index: int, frames: np.ndarray, uint8: bool = False) -> np.ndarray:
        """``frames`` augmented: float32 in [0, 255], or with ``uint8`` (uint8 frames, deferred
        scaling) uint8 (:meth:`~tensorrnn.data.transforms.ClipAugment.apply_uint8`)."""
        if not self._augmenting:
            return frames
        return self.augment(frames, self._augment_rng(index), uint8=uint8 and frames.dtype == np.uint8)  # (k, H, W, 3)

    def _augment_rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``'s augmentation: its own stream, so frame choice and
        look are independent; outside a batch, unseeded, one drawn from torch's global
        generator (seeded per DataLoader worker and epoch)."""
        rng = self._generator(index, 1 << 30)
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item())) if rng is None else rng

    def _load(self, index: int, clip: ClipRecord, views=(None,), out: torch.Tensor | None = None,
              rows: list | None = None) -> list[torch.Tensor]:
        """The samples of ``views`` (``None``: the single, training sample) of one clip; the
        frames all of them use are read once (one decode of the video for K views); see
        :meth:`sample_frames` for ``out`` and ``rows``."""
        if self.features:
            array = np.load(clip.path, mmap_mode="r")  # (T, F)
            (start, count), read = _span(clip, len(array)), lambda idx: np.asarray(array[idx], dtype=np.float32)
        elif self._cache is not None:
            rel = self._cache.rel(clip.path)
            width, height = self.size
            (start, count) = _span(clip, self._cache.num_frames(rel))
            # into the thread's reused buffer: sample_frames scales it into a new tensor
            read = lambda idx: self._cache.read(rel, idx, out=_scratch((len(idx), height, width, 3)))  # noqa: E731
        else:
            start, count = (clip.frames or (0, 0))[0], self._counts[index]
            if count is None:
                start, count = _span(clip, probe(clip.path, self.max_pixels, self.max_video_frames).num_frames)
                self._counts[index] = count
            read = lambda idx: read_frames(clip.path, idx, self.size, self.max_pixels,  # noqa: E731
                                           self.max_video_frames)
        return self.sample_frames(index, count, (lambda idx: read(idx + start)) if start else read, views, out, rows)

    def sample_frames(self, index: int, count: int, read, views=(None,),
                      out: torch.Tensor | None = None, rows: list | None = None) -> list[torch.Tensor]:
        """The samples of ``views`` of sample ``index`` from a clip of ``count`` frames whose
        frames ``read(indices)`` returns (uint8 ``(n, H, W, 3)``, or ``(n, F)`` features): frame
        choice, augmentation, padding and scaling as for a file (``tensorrnn predict --timeline``
        reads the frames of a window from its buffer this way). With deferred scaling, ``out``
        (uint8, ``(T, H, W, 3)``, or ``(K, T, H, W, 3)`` for views) receives the samples, which
        are then its rows. ``rows``: a list that receives each sample's row of augmentation
        parameters (:meth:`~tensorrnn.data.transforms.ClipAugment.param_row`) instead of the
        samples being augmented here (deferred augmentation: uint8 samples, deferred scaling)."""
        plans = [self.frame_indices(index, count, view) for view in views]
        union = np.unique(np.concatenate([idx for idx, _ in plans]))
        frames = read(union)  # (n, H, W, 3) uint8, or (n, F) features
        samples = []
        for view, (idx, front) in enumerate(plans):
            if not self.features and len(plans) == 1 and np.array_equal(idx, union):
                x = frames  # no copy: augmentation and scaling below write new arrays
            else:
                x = frames[np.searchsorted(union, idx)]
            if self.features:
                x = torch.from_numpy(np.ascontiguousarray(x))  # (k, F)
                samples.append(torch.cat([x.new_zeros((front, x.shape[1])), x]) if front else x)
            elif self.deferred_scaling and self.scaling in PAD_BYTE:
                slot = None if out is None else out[view] if self.views else out
                if rows is not None:  # the batch augments: draw, do not apply
                    rows.append(self.augment.param_row(self.augment.params(self._augment_rng(index), *x.shape[1:3]),
                                                       front))
                else:
                    x = self._augmented(index, x, uint8=True)
                samples.append(defer_scaling(x, self.scaling, front=front, out=slot))  # uint8
            else:
                samples.append(scale_pixels(self._augmented(index, x), self.scaling, front=front))  # (front + k, H, W, 3)
        return samples

    # --- construction-time checks ----------------------------------------------------------

    def _sort_key(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def _check_clips(self, cache_dir, build_workers: int, progress: bool, max_bad_fraction: float) -> None:
        if self.features:
            bad = self._check_features()
        elif cache_dir is not None:
            bad = self._check_by_cache(cache_dir, build_workers, progress)
        else:
            bad = self._check_by_probe(progress)
        total = len(self.clips)
        self._drop(bad, total, max_bad_fraction)
        if self.pad == "reject" and self.sampling != "all":
            short = [i for i, n in enumerate(self._counts) if n is not None and n < self.num_frames]
            if short:
                warnings.warn(f"{type(self).__name__} {self.root}: {len(short)} clips shorter than "
                              f"num_frames={self.num_frames} rejected (pad='reject'), e.g. {self.clips[short[0]].path}",
                              stacklevel=3)
                keep = sorted(set(range(len(self.clips))) - set(short))
                self._keep(keep)
        if not self.clips:
            raise ValueError(f"{type(self).__name__} root {str(self.root)!r}: no usable clips left of {total} "
                             f"({len(bad)} bad, the rest shorter than num_frames={self.num_frames} with pad='reject')")

    def _check_by_probe(self, progress: bool) -> dict[int, str]:
        from tqdm.auto import tqdm

        bad = {}
        bar = tqdm(self.clips, desc=f"checking {type(self).__name__}", unit="clip", leave=False,
                   disable=not progress or len(self.clips) < 200)
        for i, clip in enumerate(bar):
            try:
                info = probe(clip.path, self.max_pixels, self.max_video_frames)
            except (VideoError, OSError) as err:
                bad[i] = _strip_path(str(err), clip.path)
                continue
            if info.truncated:
                bad[i] = f"truncated: the header declares {info.declared_frames} frames, the file holds {info.num_frames}"
                continue
            try:
                self._counts[i] = _span(clip, info.num_frames)[1]
            except VideoError as err:
                bad[i] = str(err)
        return bad

    def _check_by_cache(self, cache_dir, build_workers: int, progress: bool) -> dict[int, str]:
        if self.size is None:
            raise ValueError("cache_dir needs a fixed size=(width, height); got size=None")
        self._cache = open_store(self.store, cache_dir, self.root, self.size, self.name, self.quality,
                                 self.max_pixels, self.max_video_frames)
        paths = list(dict.fromkeys(c.path for c in self.clips))  # a file holding several clips is decoded once
        summary = self._cache.build(paths, workers=build_workers, progress=progress)
        bad = {}
        for i, clip in enumerate(self.clips):
            rel = self._cache.rel(clip.path)
            if rel in summary.bad:
                bad[i] = _strip_path(summary.bad[rel], clip.path)
                continue
            try:
                self._counts[i] = _span(clip, self._cache.num_frames(rel))[1]
            except VideoError as err:
                bad[i] = str(err)
        return bad

    def _check_features(self) -> dict[int, str]:
        bad = {}
        for i, clip in enumerate(self.clips):
            try:
                array = np.load(clip.path, mmap_mode="r")
            except (OSError, ValueError) as err:
                bad[i] = f"cannot read features ({err})"
                continue
            if array.ndim != 2 or len(array) == 0:
                bad[i] = f"features of shape {array.shape}: expected (T, F) with T >= 1"
                continue
            try:
                self._counts[i] = _span(clip, len(array))[1]
            except VideoError as err:
                bad[i] = str(err)
        return bad

    def _drop(self, bad: dict[int, str], total: int, max_bad_fraction: float) -> None:
        if not bad:
            return
        for n, (i, reason) in enumerate(sorted(bad.items())):
            self.bad_clips.append((self.clips[i].path, reason))
            if n < MAX_WARNINGS:
                warnings.warn(f"{self.clips[i].path}: skipped: {reason}", stacklevel=4)
        share = len(bad) / max(total, 1)
        if share > max_bad_fraction:
            raise ValueError(
                f"{type(self).__name__} {self.root}: {len(bad)} of {total} clips are bad ({share:.0%}), "
                f"more than max_bad_fraction={max_bad_fraction}; first: {self.bad_clips[0][0]}: {self.bad_clips[0][1]}"
            )
        warnings.warn(f"{type(self).__name__} {self.root}: skipped {len(bad)} of {total} bad clips "
                      f"(listed in .bad_clips)", stacklevel=4)
        self._keep([i for i in range(len(self.clips)) if i not in bad])

    def _keep(self, keep: list[int]) -> None:
        self.clips = [self.clips[i] for i in keep]
        self._counts = [self._counts[i] for i in keep]
        if self.official is not None:
            self.official = self.official[keep]


def _span(clip: ClipRecord, total: int) -> tuple[int, int]:
    """``(first frame, frame count)`` of ``clip`` in a file of ``total`` frames."""
    if clip.frames is None:
        return 0, total
    start, stop = clip.frames
    if start >= total:
        raise VideoError(f"frames {start + 1}-{stop} of the clip start after the {total} frames of the file")
    return start, min(stop, total) - start


def _clip_augment(augment):
    """``augment`` as a ClipAugment (or None): a dict is its keyword arguments."""
    if augment is None:
        return None
    from tensorrnn.data.transforms import ClipAugment

    if isinstance(augment, ClipAugment):
        return augment
    if isinstance(augment, dict):
        return ClipAugment(**augment)
    raise ValueError(f"augment={augment!r}: expected a ClipAugment, a dict of its options, or None")


def _strip_path(message: str, path: Path) -> str:
    """Drop a leading '<path>: ' from an error (the warning names the file already)."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
