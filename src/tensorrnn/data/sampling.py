"""Which frames of a clip to use, how to pad short clips, and how to scale pixels.

The papers' default (BT-RNN code: ``sorted(random.sample(range(T), 6))``) is ``policy="random"``
with ``k=6``; clips shorter than ``k`` are zero-padded at the front (``pad="front"``), and the
Keras code fed ``pixel - 128`` (``scaling="center"``). Our default is ``policy="segments"``
(TSN, MMAction2's ``SampleFrames``): the clip cut into ``k`` equal segments, one frame from
each, at random in training and at ``view``'s fixed offset in evaluation, where ``views``
evenly spaced offsets give the multi-view test (MMAction2's ``num_clips``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

POLICIES = ("random", "segments", "uniform", "stride", "all")
PADDING = ("front", "repeat", "reject")
SCALINGS = ("center", "unit", "standard", "none")
#: The uint8 value each scaling maps to exactly 0: a deferred-scaling sample
#: (:func:`defer_scaling`) pads with it, so padded steps are 0 once :func:`scale_frames` scaled
#: the batch. ``"standard"`` has none (its zero is not an integer) and is never deferred.
PAD_BYTE = {"center": 128, "unit": 128, "none": 0}
#: ImageNet channel statistics, the usual choice for ``scaling="standard"``.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Generator = np.random.Generator | torch.Generator | None


class ClipTooShortError(ValueError):
    """A clip has fewer frames than requested and ``pad="reject"``."""


def _choice(name: str, value, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, allowed))}")
    return value


def check_sampling(policy: str, pad: str, scaling: str, k: int, stride: int = 1) -> None:
    """Validate sampling options up front (datasets call it in their constructor)."""
    _choice("sampling", policy, POLICIES)
    _choice("pad", pad, PADDING)
    _choice("scaling", scaling, SCALINGS)
    if policy != "all" and (not isinstance(k, (int, np.integer)) or k < 1):
        raise ValueError(f"num_frames={k!r}: expected a positive integer")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride={stride!r}: expected a positive integer")


def sample_indices(num_frames: int, k: int = 6, policy: str = "random", stride: int = 1,
                   generator: Generator = None, view: int | None = None, views: int = 1) -> np.ndarray:
    """Frame indices of one clip, ascending; fewer than ``k`` only if the clip is shorter.

    Args:
        num_frames: frames in the clip.
        k: frames wanted (ignored by ``"all"``).
        policy: ``"random"`` k distinct frames at random, in ascending order (the papers);
            ``"segments"`` the clip cut into k segments of (nearly) equal length, one frame
            of each: a random one, or with ``view`` set the one at offset
            ``(view + 0.5) / views`` of every segment (TSN);
            ``"uniform"`` k evenly spaced frames from first to last; ``"stride"`` every
            ``stride``-th frame from the first, at most k (HMDB51 in the TR paper: stride 3,
            k 30); ``"all"`` every frame.
        stride: step of ``"stride"``.
        generator: a ``torch.Generator`` or ``np.random.Generator`` for ``"random"`` and
            ``"segments"``; ``None`` uses torch's global generator, which ``DataLoader`` seeds
            per worker and per epoch.
        view, views: ``"segments"`` in evaluation: view ``view`` of ``views`` evenly spaced
            deterministic samples (``view=None``: random, for training).

    Returns:
        ``np.int64`` array of at most ``k`` ascending indices (no repeats).

    Examples:
        >>> sample_indices(10, 3, "uniform")
        array([0, 4, 9])
        >>> sample_indices(10, 3, "stride", stride=4)
        array([0, 4, 8])
        >>> sample_indices(12, 3, "segments", view=0, views=2), sample_indices(12, 3, "segments", view=1, views=2)
        (array([1, 5, 9]), array([3, 7, 11]))
    """
    _choice("sampling", policy, POLICIES)
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames!r}: expected a clip with at least one frame")
    if policy == "all":
        return np.arange(num_frames, dtype=np.int64)
    if policy == "stride":
        return np.arange(0, num_frames, stride, dtype=np.int64)[:k]
    if num_frames <= k:
        return np.arange(num_frames, dtype=np.int64)
    if policy == "uniform":
        return np.round(np.linspace(0, num_frames - 1, k)).astype(np.int64)
    if policy == "segments":
        # integer edges: every segment holds >= 1 frame, so the picks are strictly ascending
        edges = np.round(np.linspace(0, num_frames, k + 1)).astype(np.int64)
        starts, lengths = edges[:-1], np.diff(edges)
        if view is not None:
            if not 0 <= view < views:
                raise ValueError(f"view={view!r}: expected 0..{views - 1} (views={views})")
            offset = np.full(k, (view + 0.5) / views)
        elif isinstance(generator, np.random.Generator):
            offset = generator.random(k)
        else:
            offset = torch.rand(k, generator=generator, dtype=torch.float64).numpy()
        return starts + np.minimum((offset * lengths).astype(np.int64), lengths - 1)
    if isinstance(generator, np.random.Generator):
        picked = generator.choice(num_frames, size=k, replace=False)
    else:
        picked = torch.randperm(num_frames, generator=generator)[:k].numpy()
    return np.sort(picked).astype(np.int64)


def pad_indices(indices: np.ndarray, k: int, pad: str = "front") -> tuple[np.ndarray, int]:
    """Bring a too-short index list to ``k`` entries.

    Returns ``(indices, front)``: with ``pad="front"`` the indices are unchanged and ``front``
    zero frames go before them (the original code); with ``"repeat"`` frames are repeated in
    temporal order (``[0, 1, 2]`` -> ``[0, 0, 1, 1, 2, 2]`` for k=6) and ``front`` is 0;
    ``"reject"`` raises :class:`ClipTooShortError`.
    """
    _choice("pad", pad, PADDING)
    missing = k - len(indices)
    if missing <= 0:
        return indices, 0
    if pad == "front":
        return indices, missing
    if pad == "reject":
        raise ClipTooShortError(f"clip has {len(indices)} frames, fewer than num_frames={k} (pad='reject')")
    # Cycle the list to length k, then sort: every frame is held for about k/len steps.
    return np.sort(np.resize(indices, k)), 0


def scale_pixels(frames: np.ndarray | torch.Tensor, scaling: str = "center",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 front: int = 0) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` -> float32 tensor ``(front + T, H, W, 3)``.

    Args:
        frames: uint8 RGB frames.
        scaling: ``"center"`` x - 128 (the Keras code), ``"unit"`` x / 128 - 1 (tednet),
            ``"standard"`` (x / 255 - mean) / std per channel, ``"none"`` x as float.
        mean, std: channel statistics of ``"standard"``.
        front: zero frames to put before the clip (front padding happens after scaling, so
            padded steps are exactly zero whatever the scaling).
    """
    _choice("scaling", scaling, SCALINGS)
    # numpy, not torch: one predictable thread per DataLoader worker; torch's intra-op
    # threads made this 50x slower on a busy 2-core machine.
    frames = np.asarray(frames)
    x = np.empty((front + len(frames), *frames.shape[1:]), np.float32)  # (front + T, H, W, 3)
    x[:front] = 0.0
    body = x[front:]
    if scaling == "center":  # convert and shift in one pass over the frames
        np.subtract(frames, np.float32(128.0), out=body, dtype=np.float32)
    elif scaling == "unit":
        np.multiply(frames, np.float32(1 / 128), out=body, dtype=np.float32)
        body -= 1.0
    elif scaling == "none":
        body[...] = frames
    else:  # standard
        body[...] = frames
        body /= 255.0
        body -= np.asarray(mean, np.float32)
        body /= np.asarray(std, np.float32)
    return torch.from_numpy(x)


def defer_scaling(frames: np.ndarray, scaling: str, front: int = 0, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 frames ``(front + T, H, W, 3)`` that :func:`scale_frames` turns into exactly what
    :func:`scale_pixels` gives for ``frames``: a quarter of the bytes through a DataLoader
    (collation, worker shared memory, host-to-device copies), scaled on the batch instead.

    Args:
        frames: ``(T, H, W, 3)`` uint8, or float32 in [0, 255] (augmented frames: rounded to
            the nearest grey level, half a level at most).
        scaling: one of :data:`PAD_BYTE`'s keys.
        front: padding frames before the clip, :data:`PAD_BYTE` of ``scaling`` (0 once scaled).
        out: a C-contiguous uint8 tensor ``(front + T, H, W, 3)`` to write into and return (a
            batch's slot, see :meth:`~tensorrnn.data.datasets.VideoClipDataset.__getitems__`);
            ``None``: a new tensor. Never ``frames``' own memory.
    """
    if scaling not in PAD_BYTE:
        raise ValueError(f"scaling={scaling!r}: expected one of {sorted(PAD_BYTE)} for deferred scaling")
    frames = np.asarray(frames)
    shape = (front + len(frames), *frames.shape[1:])
    if out is None:
        out = torch.empty(shape, dtype=torch.uint8)
    elif tuple(out.shape) != shape or out.dtype != torch.uint8 or not out.is_contiguous():
        raise ValueError(f"out of shape {tuple(out.shape)}, dtype {out.dtype}: expected a contiguous uint8 "
                         f"tensor of shape {shape}")
    array = out.numpy()
    array[:front] = PAD_BYTE[scaling]
    if frames.dtype == np.uint8:
        array[front:] = frames
    else:
        np.copyto(array[front:], np.rint(frames), casting="unsafe")
    return out


def scale_frames(frames: torch.Tensor, scaling: str) -> torch.Tensor:
    """uint8 frames ``(..., 3)`` (a batch, a clip or a frame) -> float32 on their device, as
    :func:`scale_pixels` scales a clip: the same float32 operations, so the same values bit for
    bit. The loaders' deferred scaling (:func:`defer_scaling`) and the exported graphs
    (:mod:`tensorrnn.deploy.graphs`) scale with it."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r}: expected one of {', '.join(map(repr, SCALINGS))}")
    # one new tensor, then in place: every further 22 MB temporary of a training batch cost
    # about as much as the TT-GRU step it feeds (fresh pages), measured
    x = frames.to(torch.float32, copy=True)
    if scaling == "center":
        return x.sub_(128.0)
    if scaling == "unit":
        return x.mul_(1 / 128).sub_(1.0)
    if scaling == "standard":
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device)
        return x.div_(255.0).sub_(mean).div_(std)
    return x
