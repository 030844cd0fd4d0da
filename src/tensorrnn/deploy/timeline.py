"""Classify a video of any length, or a live stream, window by window.

``tensorrnn predict --ckpt_path CKPT --timeline VIDEO --window 2s --stride 1s``.

Cuts. Edited footage cuts from shot to shot, and the difference of the frames across a cut is
the largest "motion" in a video and means nothing (a clip of "left to right" followed by another
is read as a jump back to the left). Every decoded frame is converted to RGB at :data:`CUT_SIZE`
(64x48) for :class:`CutDetector`, which decides whether a cut lies between it and the previous
frame: the frames' :func:`change` (how far each pixel's colour lies outside the colours the other
frame holds within :data:`CUT_RADIUS` pixels of it; motion and a panning camera move colours by
a few pixels, a new shot brings colours that were nowhere near) above :data:`CUT_LEVEL` grey
levels, :data:`CUT_RATIO` times the shot's recent median and :data:`CUT_AFTER` times the next
pair's (decided one frame late). No window straddles a cut. (The
scene-change test of :mod:`tensorrnn.nn.motion`, set on frames 5-40 apart, does not separate
consecutive frames: a cut within one scene keeps its colour histogram.)

Windows. Window ``w`` of a shot that starts at frame ``s`` (0, or a cut) covers the frames
``[s + w * stride, s + w * stride + length)`` and is one clip of ``length`` frames to the model:
its frames are chosen, padded and scaled by the checkpoint's evaluation dataset
(:meth:`~tensorrnn.data.datasets.VideoClipDataset.sample_frames`: the same sampling policy,
seed, views, padding and pixel scaling as ``tensorrnn predict`` on a file of that length), and
the classifier (frame differences, input normalisation, the mean of the views' probabilities)
scores it. A shot bounded by a cut (the last one too, when the stream ends) that ends before its
first window does is one window over the frames it has, sampled as a file that short would be:
generated and edited footage has shots shorter than 2 s, and a 2 s window over them would read
the cut or nothing at all. A shot of fewer frames than the model reads (a flash, two cuts in a
row) is skipped, since padding would put zero frames, a huge "motion", before it. A video
without a cut and shorter than one window is an error, as before (it asks for a shorter window).
The frames of a long shot after its last window, less than a stride, are in no window (as at the
end of the stream). Times are frame index / frame rate.

Memory. The source is decoded incrementally by PyAV; a frame is converted to RGB at the model's
frame size (swscale with area averaging, as every training clip) only if a window not yet
classified reads it, and kept in a :class:`FrameBuffer` until no such window does. A window
reads the same offsets whatever its position (the sampling depends only on its length), so once
a shot's first window is classified at most 18 frames of 50 (a 2 s window at 25 fps, stride 1 s,
6 frames and 3 views) are held; before it, with cuts detected, every frame of the young shot is
kept, since a cut may still make it one short window: :attr:`FrameBuffer.capacity`, never more
than a window's length, however long the source runs. The per-window results and the cuts (a
few numbers each) are all that grows.

Segments. Neighbouring windows of one shot with the same top class are merged. Overlapping
windows share time, so each window owns the stretch around its centre: the boundary between two
segments lies halfway between the centres of the last window of one and the first window of the
next, or at the cut between them: segments never merge across a cut. The first segment starts
where the first window starts and the last ends where the last window ends.

Threads. A decoding thread owns the container: it decodes, detects the cuts, converts the
frames some window reads and hands them over through a queue of at most ``QUEUE_FRAMES``
frames; the caller's thread runs the model. Decoding overlaps the model, and Ctrl-C reaches the
caller at once even while FFmpeg waits on a silent stream.

Stops. The end of the stream, a decoding error (a damaged file, a dropped connection, a network
stream or device silent for ``timeout`` seconds) or Ctrl-C end the run; the windows classified so
far are kept and :class:`Stop` says where and why (a file that ends before the frame count its
header declares is reported as truncated).
"""
from __future__ import annotations

import collections
import math
import os
import queue
import re
import statistics
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from tensorrnn.data.sampling import ClipTooShortError
from tensorrnn.data.video import DEFAULT_MAX_PIXELS, VideoError
from tensorrnn.figures import save_figure
from tensorrnn.files import file_in_the_way

#: Seconds a network stream or a device may stay silent (when opening, and on each read).
DEFAULT_TIMEOUT = 10.0
#: Classes drawn in the plot: those with the highest probability in some window.
PLOT_CLASSES = 10
#: Decoded frames in flight between the decoding thread and the model (at most this many
#: converted ones, at the model's size, besides the buffer's).
QUEUE_FRAMES = 16
#: Seconds the caller waits on the decoder at a time, so that Ctrl-C is seen within this long.
POLL_S = 0.1
#: ``(width, height)`` every decoded frame is converted to for the cut detector alone (the
#: model's frames are converted only where a window reads them).
CUT_SIZE = (64, 48)
#: Pixels (at :data:`CUT_SIZE`) a colour may move from one frame to the next and still count as
#: the same scene: 4 of 64, a subject crossing the frame in two thirds of a second at 25 fps.
CUT_RADIUS = 4
#: A cut: the frames' :func:`change` above this many grey levels (0-255) ...
CUT_LEVEL = 6.0
#: ... and above this many times the median change of the shot's last :data:`CUT_HISTORY` pairs
#: (a shot that changes a lot from frame to frame, noise or fast motion, needs more) ...
CUT_RATIO = 4.0
CUT_HISTORY = 10
#: ... and above this many times the next pair's (a cut is one pair; fast motion goes on). On
#: generated shots at 25 fps (``bench/bench_cuts.py``: pans, zooms, distractors, dim and
#: cluttered scenes) the change within a shot stays under 3 but for one pair in a thousand, a cut
#: to another scene exceeds 9, a cut within one scene (only the objects jump) 5-8 and mostly 11.
CUT_AFTER = 2.0

_SPAN = re.compile(r"(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>s|sec|f|frames?)?")


# --- window length and stride ---------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """A window length or stride as given: seconds (``"2s"``) or frames (``"64"``, ``"64f"``)."""

    option: str
    text: str
    value: float
    seconds: bool

    def frames(self, fps: float | None) -> int:
        """The span in frames at ``fps`` frames per second (seconds rounded to the nearest frame)."""
        if not self.seconds:
            return int(self.value)
        if not fps:
            raise ValueError(f"{self.option} {self.text}: the stream declares no frame rate to turn seconds into "
                             f"frames; expected a number of frames (e.g. {self.option} 64) or --fps")
        n = round(self.value * fps)
        if n < 1:
            raise ValueError(f"{self.option} {self.text}: {self.value * fps:.2g} frames at {fps:g} fps; "
                             "expected at least one frame")
        return n


def parse_span(option: str, text: str) -> Span:
    """Parse ``--window`` / ``--stride``: ``"2s"``, ``"0.5s"`` (seconds) or ``"64"``, ``"64f"`` (frames).

    Examples:
        >>> parse_span("--window", "2s").frames(25), parse_span("--stride", "32").frames(25)
        (50, 32)
    """
    match = _SPAN.fullmatch(str(text).strip().lower())
    seconds = match is not None and match["unit"] in ("s", "sec")
    if match is None or float(match["value"]) <= 0 or not (seconds or float(match["value"]).is_integer()):
        raise ValueError(f"{option} {text!r}: expected a duration in seconds greater than 0 (e.g. 2s, 0.5s) "
                         "or a whole number of frames (e.g. 64)")
    return Span(option, str(text).strip(), float(match["value"]), seconds)


# --- cuts -----------------------------------------------------------------------------------

def _window_min(x: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """The least value within ``radius`` of each position along ``axis`` (the ends repeated), in
    log2(2 radius + 1) + 1 passes: minima over spans 2, 4, 8, ... then two overlapping spans."""
    size, window = x.shape[axis], 2 * radius + 1

    def part(a: np.ndarray, first: int, count: int) -> np.ndarray:
        return a[(slice(None),) * axis + (slice(first, first + count),)]

    ends = [np.repeat(part(x, i, 1), radius, axis) for i in (0, size - 1)]
    m = np.concatenate([ends[0], x, ends[1]], axis)  # np.pad(mode="edge"), at a tenth of the cost
    span = 1
    while 2 * span <= window:  # m[i] = min of the input's [i, i + 2 span)
        m = np.minimum(part(m, 0, m.shape[axis] - span), part(m, span, m.shape[axis] - span))
        span *= 2
    return np.minimum(part(m, 0, size), part(m, window - span, size))


def _ranges(signed: np.ndarray, radius: int) -> np.ndarray:
    """``[-x, x]`` ``(2 C, H, W)`` -> ``[lo, -hi]``: each channel's least and (negated) greatest value
    within ``radius`` pixels (a square): one min filter for both."""
    channels = len(signed) // 2
    lows = np.concatenate([signed[channels:], signed[:channels]])  # [x, -x]: min filters give lo and -hi
    return _window_min(_window_min(lows, radius, 1), radius, 2)


def _signed(frame: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``[-x, x]`` ``(2 C, H, W)`` int16, channels first (fast elementwise maxima
    over them)."""
    x = np.asarray(frame).transpose(2, 0, 1).astype(np.int16)
    return np.concatenate([-x, x])


def local_range(frame: np.ndarray, radius: int = CUT_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """The least and the greatest value of each channel within ``radius`` pixels of each pixel (a
    square, the border repeated): two int16 arrays ``(H, W, C)``."""
    ranges = _ranges(_signed(frame), radius).transpose(1, 2, 0)
    channels = ranges.shape[-1] // 2
    return ranges[..., :channels], -ranges[..., channels:]


def _change(prev: tuple[np.ndarray, np.ndarray], cur: tuple[np.ndarray, np.ndarray], radius: int) -> float:
    """:func:`change` of two frames given as ``(signed, ranges)`` (:func:`_signed`, :func:`_ranges`):
    ``ranges + signed`` is ``[lo - x, x - hi]``, positive where ``x`` lies outside."""
    outside = np.maximum(prev[1] + cur[0], cur[1] + prev[0]).max(axis=0)  # (H, W)
    height, width = outside.shape
    if min(height, width) > 4 * radius:  # not the border, where a pan brings in what the other never saw
        outside = outside[radius:height - radius, radius:width - radius]
    return float(np.maximum(outside, 0).mean())


def change(prev: np.ndarray, cur: np.ndarray, radius: int = CUT_RADIUS) -> float:
    """How much of each frame the other cannot explain, in grey levels: per pixel and channel, how
    far the value lies outside the range the other frame holds within ``radius`` pixels
    (:func:`local_range`), the larger of the two directions and the largest channel; the mean over
    the frame but a border of ``radius`` pixels (where a panning camera brings in what the other
    frame never saw). ``prev``, ``cur``: ``(H, W, 3)`` of one size, 0-255.

    An object or a camera that moves by up to ``radius`` pixels brings no colour its
    neighbourhood lacked, nor does sensor noise (a pixel's noisy value lies within the range of
    the noisy values around it): about 0-3. A cut brings colours from elsewhere and leaves the old
    ones unexplained: a new scene about 10-80, a subject that jumps across the same scene 5-30.
    A scene whose every neighbourhood holds nearly every colour (fine, high-contrast texture at
    this size) explains any other: a cut between two such scenes goes unseen.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> scene, other = (rng.integers(0, 256, (6, 9, 3)).repeat(8, 0).repeat(8, 1) for _ in range(2))
        >>> change(scene[:, 2:66], scene[:, 4:68])  # the camera moved 2 pixels
        0.0
        >>> change(scene[:, :64], other[:, :64]) > 20  # another scene
        True
    """
    frames = [_signed(frame) for frame in (prev, cur)]
    return _change(*((x, _ranges(x, radius)) for x in frames), radius)


class CutDetector:
    """Frame by frame, where the cuts lie, one frame late.

    A cut between frames ``n - 1`` and ``n`` is a :func:`change` of that pair above ``level``,
    above ``ratio`` times the median change of the shot's last ``history`` pairs, and above
    ``after`` times the next pair's: a cut is one pair, fast motion goes on (an object crossing
    the frame in half a second changes every pair by more than the level). So the verdict on
    frame ``n`` comes with frame ``n + 1`` (or :meth:`finish`).

    Args:
        level: the least change of a cut, grey levels.
        ratio: the least ratio of a cut's change to the median of the shot's recent pairs.
        after: the least ratio of a cut's change to the next pair's.
        history: pairs of the current shot whose median sets the bar (restarted at every cut).
        radius: see :func:`change`.

    Call it with every frame in order, uint8 ``(H, W, 3)`` at :data:`CUT_SIZE` (any fixed size
    works; the constants are set for that one): it returns whether a cut lies before the previous
    frame. :attr:`score` is the change of the last two frames, :attr:`candidate` whether a cut may
    lie between them (the next call says).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> scene, other = (rng.integers(0, 256, (6, 9, 3)).repeat(8, 0).repeat(8, 1) for _ in range(2))
        >>> detector = CutDetector()  # a pan of a pixel a frame, a cut before frame 3, the pan goes on
        >>> frames = (scene[:, :64], scene[:, 1:65], scene[:, 2:66], other[:, :64], other[:, 1:65])
        >>> [detector(frame) for frame in frames], detector.finish()
        ([False, False, False, False, True], False)
        >>> detect_cuts(frames)
        [3]
    """

    def __init__(self, level: float = CUT_LEVEL, ratio: float = CUT_RATIO, after: float = CUT_AFTER,
                 history: int = CUT_HISTORY, radius: int = CUT_RADIUS) -> None:
        self.level, self.ratio, self.after, self.radius = float(level), float(ratio), float(after), int(radius)
        self._recent: collections.deque[float] = collections.deque(maxlen=int(history))
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # the last frame, signed, and its ranges
        #: The change between the last two frames (0 after the first).
        self.score = 0.0
        #: Whether a cut may lie between the last two frames (the next call decides).
        self.candidate = False

    def __call__(self, frame: np.ndarray) -> bool:
        signed = _signed(frame)
        current = (signed, _ranges(signed, self.radius))
        prev, self._prev = self._prev, current
        score = 0.0 if prev is None else _change(prev, current, self.radius)
        cut = self.candidate and self.score > self.after * score
        if self.candidate:
            self._settle(cut)
        self.score = score
        bar = max(self.level, self.ratio * statistics.median(self._recent)) if self._recent else self.level
        self.candidate = prev is not None and score > bar
        if prev is not None and not self.candidate:
            self._recent.append(score)
        return cut

    def finish(self) -> bool:
        """No frame follows: whether a cut lies before the last frame (its candidacy stands)."""
        cut, self.candidate = self.candidate, False
        return cut

    def _settle(self, cut: bool) -> None:
        if cut:
            self._recent.clear()
        else:  # fast motion, not a cut: part of the shot's history
            self._recent.append(self.score)


def detect_cuts(frames, detector: CutDetector | None = None) -> list[int]:
    """The frames ``n`` of ``frames`` (uint8 ``(T, H, W, 3)`` at :data:`CUT_SIZE`, or any iterable of
    frames) with a cut between frame ``n - 1`` and ``n``, by ``detector`` (default: a new
    :class:`CutDetector`)."""
    detector = detector or CutDetector()
    cuts, count = [], 0
    for count, frame in enumerate(frames, 1):
        if detector(frame):  # a cut before the previous frame, count - 2
            cuts.append(count - 2)
    return cuts + ([count - 1] if detector.finish() else [])


# --- the frames pending windows read ----------------------------------------------------------

class FrameBuffer:
    """The frames that windows not yet classified will read, by frame index.

    Args:
        length: frames per window.
        stride: frames between the starts of neighbouring windows.
        offsets: the frames a window reads, relative to its start (the same in every window).
        short_shots: keep every frame of a shot until its first window completes, so that a
            shot a cut ends sooner can be read whole (:meth:`read_shot`).

    Windows start again at every shot (:meth:`restart`): window ``w`` of the shot that starts
    at frame ``origin`` spans ``[origin + w * stride, origin + w * stride + length)``. Frames
    arrive in order; the caller keeps a frame only if :meth:`wants` says a pending window reads
    it, classifies a window when :meth:`completed` names it, then :meth:`release` drops the
    frames no later window reads.

    Examples:
        >>> buffer = FrameBuffer(length=8, stride=4, offsets=[1, 3, 5, 7])
        >>> [n for n in range(12) if buffer.wants(n)], buffer.capacity
        ([1, 3, 5, 7, 9, 11], 4)
        >>> buffer.restart(10)  # a cut before frame 10: its windows start at 10, 14, ...
        >>> [n for n in range(10, 22) if buffer.wants(n)], buffer.completed(17)
        ([11, 13, 15, 17, 19, 21], 0)
    """

    def __init__(self, length: int, stride: int, offsets: Sequence[int], short_shots: bool = False) -> None:
        offsets = np.unique(np.asarray(offsets, dtype=np.int64))
        if length < 1 or stride < 1:
            raise ValueError(f"length={length!r}, stride={stride!r}: expected positive numbers of frames")
        if offsets.size == 0 or offsets[0] < 0 or offsets[-1] >= length:
            raise ValueError(f"offsets={offsets.tolist()!r}: expected frames of a window, 0..{length - 1}")
        self.length, self.stride, self.offsets = int(length), int(stride), offsets
        self.short_shots = bool(short_shots)
        self._reads = set(offsets.tolist())
        self.frames: dict[int, np.ndarray] = {}
        #: The first frame of the current shot.
        self.origin = 0
        #: The current shot's next window to classify (0: none classified yet).
        self.next_window = 0
        #: The most frames held at once so far.
        self.peak = 0

    @property
    def capacity(self) -> int:
        """The most frames ever held: every frame held lies in the first pending window, at a
        position that it or a later window (started ``j * stride`` frames after it) reads; all
        of them are held just before it completes. With ``short_shots``, the frames of a shot's
        first window, all held until it completes: ``length``. At most ``length``."""
        if self.short_shots:
            return self.length
        shifts = range(0, self.length, self.stride)
        return len({o + s for o in self._reads for s in shifts if o + s < self.length})

    def __len__(self) -> int:
        return len(self.frames)

    def reads(self, n: int, first_window: int = 0, origin: int = 0) -> bool:
        """Whether a window from ``first_window`` on of the shot starting at ``origin`` reads
        frame ``n`` (no state: safe from any thread)."""
        n -= origin
        if self.short_shots and first_window == 0 and n < self.length:
            return True
        first = max(first_window, -(-(n - self.length + 1) // self.stride))
        return any(n - w * self.stride in self._reads for w in range(first, n // self.stride + 1))

    def wants(self, n: int) -> bool:
        """Whether a pending window reads frame ``n``."""
        return self.reads(n, self.next_window, self.origin)

    def add(self, n: int, frame: np.ndarray) -> None:
        self.frames[n] = frame
        self.peak = max(self.peak, len(self.frames))

    def completed(self, n: int) -> int | None:
        """The window of the current shot whose last frame is ``n``, or None."""
        end = n - self.origin + 1 - self.length
        return end // self.stride if end >= 0 and end % self.stride == 0 else None

    def start(self, window: int) -> int:
        """The first frame of window ``window`` of the current shot."""
        return self.origin + window * self.stride

    def read(self, window: int, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` (relative to the window's start) of window ``window``: ``(n, H, W, 3)``."""
        start = self.start(window)
        return np.stack([self.frames[start + int(i)] for i in indices])

    def read_shot(self, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` (relative to the shot's start) of a shot whose first window has not
        completed (``short_shots``: all of them are held): ``(n, H, W, 3)``."""
        return np.stack([self.frames[self.origin + int(i)] for i in indices])

    def release(self, window: int) -> None:
        """Window ``window`` is classified: drop the frames that only it and earlier windows read."""
        self.next_window = window + 1
        for n in [n for n in self.frames if not self.wants(n)]:
            del self.frames[n]

    def restart(self, origin: int) -> None:
        """A cut before frame ``origin``: drop every frame, windows start again there."""
        self.frames.clear()
        self.origin, self.next_window = int(origin), 0


class WindowSampler:
    """Turns a window's frames into the model's input as the checkpoint's evaluation clips are.

    Args:
        options: keyword arguments of :class:`~tensorrnn.data.datasets.VideoClipDataset` for the
            evaluation clips (``tensorrnn.train.checkpoint.clip_options`` reads them from a checkpoint).
        length: frames per window.

    Shape:
        - Output of ``sampler(read)``: ``(K, T, H, W, 3)`` float32, the K views of one window.
    """

    def __init__(self, options: dict[str, Any], length: int) -> None:
        from tensorrnn.data.datasets import ClipRecord, VideoClipDataset

        options = {**options, "validate": False, "progress": False}
        self.dataset = VideoClipDataset(Path("."), [ClipRecord(Path("window"), 0)], ["window"], **options)
        self.length = int(length)
        self.views = range(self.dataset.views) if self.dataset.views else (None,)
        plans = [self.dataset.frame_indices(0, self.length, view)[0] for view in self.views]
        #: Frames of a window the model reads, relative to its start (sorted, unique).
        self.offsets = np.unique(np.concatenate(plans))

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the model's frames (None: the stream's, for a model of per-frame
        features, whose backbone takes the frames as decoded)."""
        return None if self.dataset.features else self.dataset.size

    def __call__(self, read: Callable[[np.ndarray], np.ndarray], count: int | None = None) -> torch.Tensor:
        """The views of a window of ``count`` frames (default: ``length``; fewer for a short shot,
        read as a file that short: padded as the dataset pads a short clip)."""
        count = self.length if count is None else int(count)
        return torch.stack(self.dataset.sample_frames(0, count, read, self.views))  # (K, T, H, W, 3)


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """One classified window: frames ``[start_frame, end_frame)``, seconds ``[start, end)``;
    ``shot``: the cuts before it (windows of two shots never share a segment)."""

    index: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    label: str
    probability: float
    probabilities: tuple[float, ...]
    shot: int = 0

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Segment:
    """Neighbouring windows with the same top class; ``probability`` is its mean over them."""

    start: float
    end: float
    label: str
    probability: float
    windows: int


@dataclass(frozen=True)
class Cut:
    """A cut between frames ``frame - 1`` and ``frame`` (``time`` seconds); ``change``: the
    frames' :func:`change`, grey levels."""

    frame: int
    time: float
    change: float


@dataclass(frozen=True)
class Stop:
    """Where and why decoding ended.

    Attributes:
        reason: ``"end"`` (end of stream), ``"truncated"`` (a file that ends before the frames its
            header declares), ``"error"`` (decoding failed) or ``"interrupted"`` (Ctrl-C).
        frames: frames decoded.
        time: seconds decoded.
        unclassified: frames after the last classified window (too few for a window, or
            interrupted before its end).
        message: one line for people.
    """

    reason: str
    frames: int
    time: float
    unclassified: int
    message: str


class Segmenter:
    """Merges windows into segments as they arrive: :meth:`add` returns the segment a window
    closes (its top class differs from the open one, or a cut lies between them: the segment
    then ends at the cut, where the window starts), :meth:`finish` the open one."""

    def __init__(self) -> None:
        self._windows: list[Window] = []
        self._start = 0.0

    def _segment(self, end: float) -> Segment:
        first = self._windows[0]
        mean = sum(w.probability for w in self._windows) / len(self._windows)
        return Segment(self._start, end, first.label, mean, len(self._windows))

    def add(self, window: Window) -> Segment | None:
        if not self._windows:
            self._start, self._windows = window.start, [window]
            return None
        last = self._windows[-1]
        if window.shot == last.shot and window.label == last.label:
            self._windows.append(window)
            return None
        boundary = window.start if window.shot != last.shot else (last.centre + window.centre) / 2
        closed = self._segment(boundary)
        self._start, self._windows = boundary, [window]
        return closed

    def finish(self) -> Segment | None:
        if not self._windows:
            return None
        closed = self._segment(self._windows[-1].end)
        self._windows = []
        return closed


def merge_segments(windows: Sequence[Window]) -> list[Segment]:
    """Segments of neighbouring windows with the same top class (see the module docstring)."""
    segmenter = Segmenter()
    segments = [s for s in map(segmenter.add, windows) if s is not None]
    last = segmenter.finish()
    return segments + ([last] if last is not None else [])


@dataclass
class Timeline:
    """The result of :func:`run_timeline`."""

    source: str
    fps: float
    length: int
    stride: int
    classes: list[str]
    windows: list[Window] = field(default_factory=list)
    stop: Stop | None = None
    #: Frames held by the buffer at most (and its bound, :attr:`FrameBuffer.capacity`).
    buffer_peak: int = 0
    buffer_capacity: int = 0
    #: The cuts found, in order (empty when cuts were not detected: ``run_timeline(cuts=False)``).
    cuts: list[Cut] = field(default_factory=list)
    #: Whether the run looked for cuts (``run_timeline(cuts=...)``; ``to_json`` gives ``"cuts": null`` if not).
    cut_detection: bool = True
    #: Shots left without a window: fewer frames than the model reads.
    skipped_shots: int = 0

    def segments(self) -> list[Segment]:
        return merge_segments(self.windows)

    def to_json(self) -> dict[str, Any]:
        """Plain values: the segments, the per-window rows (with every class's probability), the
        cuts and the stop."""
        return {
            "source": self.source, "fps": self.fps,
            "window": {"frames": self.length, "seconds": self.length / self.fps},
            "stride": {"frames": self.stride, "seconds": self.stride / self.fps},
            "classes": list(self.classes),
            "segments": [asdict(s) for s in self.segments()],
            "windows": [{**{k: v for k, v in asdict(w).items() if k != "probabilities"},
                         "probabilities": dict(zip(self.classes, w.probabilities))} for w in self.windows],
            "cuts": [asdict(c) for c in self.cuts] if self.cut_detection else None,
            "skipped_shots": self.skipped_shots,
            "stopped": None if self.stop is None else asdict(self.stop),
            "buffer": {"peak_frames": self.buffer_peak, "capacity_frames": self.buffer_capacity},
        }


# --- decoding -------------------------------------------------------------------------------

def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def open_source(source: str, input_format: str | None = None, timeout: float = DEFAULT_TIMEOUT):
    """Open a file, a URL FFmpeg reads (``rtsp://``, ``http://``, ...) or a device (``/dev/video0``,
    read with ``v4l2`` unless ``input_format`` says otherwise); returns ``(container, stream)``."""
    import av

    text = str(source)
    live = "://" in text or text.startswith("/dev/")
    if not live:
        path = Path(text)
        if path.is_dir():
            raise IsADirectoryError(f"--timeline {text!r}: is a directory; expected a video file, a URL or a device")
        if not path.is_file():
            raise FileNotFoundError(f"--timeline {text!r}: no such file")
        if path.stat().st_size == 0:
            raise ValueError(f"--timeline {text!r}: empty file (0 bytes); expected a video")
    if input_format is None and text.startswith("/dev/video"):
        input_format = "v4l2"
    try:
        container = av.open(text, format=input_format, timeout=timeout if live else None, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"--timeline {text!r}: cannot open ({_reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"--timeline {text!r}: no video stream")
    return container, container.streams.video[0]


def run_timeline(source: str | os.PathLike, classify: Callable[[torch.Tensor], torch.Tensor],
                 options: dict[str, Any], classes: Sequence[str], window: Span, stride: Span | None = None, *,
                 fps: float | None = None, input_format: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 on_window: Callable[[Window], None] | None = None,
                 notify: Callable[[str], None] | None = None, cuts: bool = True,
                 frame_features: Callable[[np.ndarray], np.ndarray] | None = None) -> Timeline:
    """Decode ``source`` once, classifying every window as its last frame arrives; windows start
    again at every cut (see the module's docstring).

    Args:
        source: a video file, a URL FFmpeg reads, or a device such as ``/dev/video0``.
        classify: the K views of one window ``(K, T, H, W, 3)`` -> class probabilities ``(C,)``.
        options: keyword arguments of the evaluation dataset (frame size, sampling, views,
            padding, scaling), as ``tensorrnn predict`` reads them from the checkpoint.
        classes: the class names (C).
        window, stride: from :func:`parse_span`; ``stride=None``: half the window.
        fps: the frame rate to assume (``None``: the stream's).
        input_format: FFmpeg's input format (``None``: guessed; ``v4l2`` for ``/dev/video*``).
        timeout: seconds a URL or device may stay silent before the run stops.
        on_window: called with each :class:`Window` as it is classified.
        notify: called with a line for people (the resize notice); default: stderr.
        cuts: detect cuts (:class:`CutDetector`) and keep every window within one shot; ``False``:
            windows every ``stride`` from the first frame, across cuts.
        frame_features: for a model of per-frame features (``options["features"]``): a frame as
            decoded ``(H, W, 3)`` uint8 -> its features ``(F,)`` (the backbone the model's
            features came from); the frames a window reads are kept as their features.

    Returns:
        A :class:`Timeline`; its ``stop`` says where and why decoding ended, its ``cuts`` where the
        shots change. Ctrl-C ends the run like the end of the stream.

    Raises:
        FileNotFoundError, ValueError: a source that cannot be opened, a window or stride that
            does not fit the stream, or a video shorter than one window.
    """
    notify = notify or (lambda line: print(line, file=sys.stderr, flush=True))
    container, stream = open_source(str(source), input_format, timeout)
    try:
        rate = float(fps or stream.average_rate or stream.guessed_rate or 0.0)
        if rate <= 0:
            raise ValueError(f"--timeline {str(source)!r}: the stream declares no frame rate; expected --fps")
        length = window.frames(rate)
        step = stride.frames(rate) if stride is not None else max(1, length // 2)
        sampler = WindowSampler(options, length)
        if bool(options.get("features")) != (frame_features is not None):
            raise ValueError("--ckpt_path: the model reads per-frame features and --timeline has no backbone to make "
                             "them" if options.get("features") else "frame_features: given for a model of frames")
    except BaseException:
        container.close()
        raise
    buffer = FrameBuffer(length, step, sampler.offsets, short_shots=cuts)
    width, height = sampler.size or (None, None)
    timeline = Timeline(str(source), rate, length, step, list(classes), buffer_capacity=buffer.capacity,
                        cut_detection=cuts)
    declared = int(stream.frames or 0)

    def classify_window(start: int, stop: int, views: torch.Tensor) -> None:
        probs = classify(views).detach().cpu().double()  # (C,)
        top = int(probs.argmax())
        result = Window(len(timeline.windows), start, stop, start / rate, stop / rate, timeline.classes[top],
                        float(probs[top]), tuple(probs.tolist()), shot=len(timeline.cuts))
        timeline.windows.append(result)
        if on_window is not None:
            on_window(result)

    def close_shot(end: int) -> None:
        """The shot ends before frame ``end``: one window over all its frames if none completed,
        unless it has fewer frames than the model reads (a flash, two cuts in a row: padding would
        put zero frames, a huge "motion", before it)."""
        count = end - buffer.origin
        if buffer.next_window > 0:
            return
        try:
            if count < sampler.dataset.num_frames:
                raise ClipTooShortError(f"{count} frames")
            views = sampler(buffer.read_shot, count)
        except ClipTooShortError:  # also a sampling that pads (e.g. "stride") with pad="reject"
            timeline.skipped_shots += 1
            return
        classify_window(buffer.origin, end, views)

    decoder = _Decoder(str(source), container, stream, buffer.reads, width, height, timeout,
                       CutDetector() if cuts else None)
    decoder.start()  # from here on the decoder owns the container and closes it
    n, reason, detail = 0, "end", ""
    try:
        while True:
            try:
                # a bounded wait: a Ctrl-C that the kernel hands to another thread (the decoder's,
                # FFmpeg's, OpenMP's) does not wake a blocked get; Python raises it in this thread at
                # its next bytecode, so the wait must end while the stream is silent
                item = decoder.queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                if isinstance(item.detail, BaseException):
                    raise item.detail
                reason, detail = item.reason, item.detail
                break
            index, rgb, size, cut = item
            n = index + 1
            if index == 0 and width is not None and size != (width, height):
                notify(f"{source}: frames of {size[0]}x{size[1]} are resized to the model's {width}x{height}, "
                       "as in training")
            if cut is not None:  # a cut before this frame: the shot so far ends, windows start here
                close_shot(index)
                timeline.cuts.append(Cut(index, index / rate, cut))
                buffer.restart(index)
            if rgb is not None:
                buffer.add(index, rgb if frame_features is None else frame_features(rgb))  # (H, W, 3) uint8, or (F,)
            w = buffer.completed(index)
            if w is None:
                continue
            start = buffer.start(w)
            classify_window(start, start + length, sampler(lambda idx: buffer.read(w, idx)))
            buffer.release(w)
        if reason == "end" and declared > n:
            reason = "truncated"
        if reason == "end" and timeline.cuts:  # the end of the stream ends the last shot, which began at a cut
            close_shot(n)
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        decoder.halt.set()
        decoder.join(timeout=0.5)  # a file closes at once; a stalled stream closes at its timeout
    timeline.buffer_peak = buffer.peak
    if reason == "end" and not timeline.windows:
        raise ValueError(f"{window.option} {window.text}: the video holds {n} frames ({n / rate:.2f} s), fewer than "
                         f"one window of {length} frames; expected a shorter {window.option}")
    timeline.stop = _stop(reason, detail, n, rate, declared, timeline)
    return timeline


@dataclass(frozen=True)
class _End:
    """The decoder's last item: ``reason`` ``"end"`` or ``"error"``; ``detail`` the error's text,
    or an exception to raise in the caller."""

    reason: str
    detail: Any = ""


class RGB:
    """:func:`~tensorrnn.data.video.to_rgb`'s conversion (swscale, area averaging, the same pixels)
    through one swscale context kept across frames: ``to_rgb`` (``frame.reformat``) builds a new
    context for every frame, which costs ten times the conversion of a small frame (1.2-1.4 ms
    against 0.13 ms a frame at 64x48, PyAV 18). One instance per output size and thread.

    Shape:
        - Output of ``rgb(frame)``: ``(height, width, 3)`` uint8 (``None``: the frame's size).
    """

    def __init__(self, width: int | None, height: int | None) -> None:
        from av.video.reformatter import VideoReformatter

        self.width, self.height, self._reformatter = width, height, VideoReformatter()

    def __call__(self, frame) -> np.ndarray:
        return self._reformatter.reformat(frame, self.width, self.height, "rgb24", interpolation="AREA").to_ndarray()


class _Decoder(threading.Thread):
    """Decodes the source in a thread of its own, so that the caller sees Ctrl-C at once, even
    while FFmpeg waits on a silent stream, and decoding overlaps the model. It owns the
    container and closes it. For frame ``n`` it puts ``(n, rgb, (width, height), cut)`` in
    :attr:`queue`: ``cut`` the change (grey levels) when ``detector`` finds a cut between frames
    ``n - 1`` and ``n`` (every frame is converted at :data:`CUT_SIZE` for it; the verdict comes
    with frame ``n + 1``, so frame ``n`` is handed over then), else ``None``; ``rgb`` the frame at
    the model's size (:class:`RGB`) if some window of its shot reads it (``reads(n, 0, origin)``),
    else ``None``; then an :class:`_End`. It stops after the next frame once :attr:`halt` is set."""

    def __init__(self, source: str, container, stream, reads: Callable[[int, int, int], bool], width, height,
                 timeout: float, detector: CutDetector | None = None) -> None:
        super().__init__(name="timeline-decoder", daemon=True)
        self.source, self.container, self.stream, self.reads = source, container, stream, reads
        self.width, self.height, self.timeout, self.detector = width, height, timeout, detector
        self.queue: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.halt = threading.Event()

    def _settle(self, pending: tuple, cut: bool, origin: int) -> int | None:
        """Hand over the pending frame ``(n, rgb, size, change)``, a cut before it or not; the
        shot's first frame after it, or None if halted."""
        n, rgb, size, score = pending
        origin = n if cut else origin
        item = (n, rgb if rgb is not None and self.reads(n, 0, origin) else None, size, score if cut else None)
        return origin if self._put(item) else None

    def _put(self, item) -> bool:
        while not self.halt.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def run(self) -> None:
        import av

        end = _End("end")
        origin = 0  # the first frame of the current shot
        pending = None  # the last frame's item, until the next frame decides whether a cut lies before it
        small, rgb_frame = RGB(*CUT_SIZE), RGB(self.width, self.height)
        try:
            with self.container:
                self.stream.thread_type = "AUTO"
                for n, frame in enumerate(self.container.decode(self.stream)):
                    if n == 0 and frame.width * frame.height > DEFAULT_MAX_PIXELS:
                        raise VideoError(f"--timeline {self.source!r}: frame size {frame.width}x{frame.height} "
                                         f"exceeds max_pixels={DEFAULT_MAX_PIXELS}")
                    if self.detector is None:
                        rgb = rgb_frame(frame) if self.reads(n, 0, origin) else None
                        if not self._put((n, rgb, (frame.width, frame.height), None)):
                            return
                        continue
                    cut = self.detector(small(frame))  # before the pending frame
                    if pending is not None:
                        origin = self._settle(pending, cut, origin)
                        if origin is None:
                            return
                    # a candidate may start a shot: converted as one would be, dropped if it does not
                    wanted = self.reads(n, 0, origin) or self.detector.candidate
                    pending = (n, rgb_frame(frame) if wanted else None, (frame.width, frame.height),
                               self.detector.score)
        except av.error.ExitError:  # FFmpeg's interrupt callback: no data within the timeout
            end = _End("error", f"no data for {self.timeout:g} s: the stream stalled")
        except av.error.FFmpegError as err:
            end = _End("error", _reason(err))
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
            end = _End("error", err)
        if pending is not None and self._settle(pending, self.detector.finish(), origin) is None:
            return  # no frame follows the last: its candidacy stands
        self._put(end)


def _stop(reason: str, detail: str, n: int, rate: float, declared: int, timeline: Timeline) -> Stop:
    end = timeline.windows[-1].end_frame if timeline.windows else 0
    unclassified = max(0, n - end)
    at = f"at {n / rate:.2f} s (frame {n})"
    message = {
        "end": f"end of stream at {n / rate:.2f} s ({n} frames)",
        "truncated": f"stopped {at}: the stream ends before the {declared} frames its header declares "
                     "(a truncated file?)",
        "error": f"stopped {at}: decoding failed ({detail})",
        "interrupted": f"stopped {at}: interrupted (Ctrl-C)",
    }[reason]
    if unclassified:
        message += f"; the last {unclassified} frames ({unclassified / rate:.2f} s) are in no classified window"
    return Stop(reason, n, n / rate, unclassified, message)


# --- output ---------------------------------------------------------------------------------

class SegmentTable:
    """Prints segments as plain, aligned lines as they close (a stream shows each change of class
    when it happens), under a title line that :meth:`add` or :meth:`finish` prints first. On a
    terminal (``live``) the latest window is shown on a status line below, rewritten in place."""

    def __init__(self, classes: Sequence[str], title: str, file=None, live: bool | None = None) -> None:
        self.width = max(5, *map(len, classes))
        self.title, self.file = title, file or sys.stdout
        self.live = self.file.isatty() if live is None else live
        self.segmenter = Segmenter()
        self._status = False

    def _write(self, text: str) -> None:
        if self._status:  # clear the status line first
            self.file.write("\r\033[K")
            self._status = False
        self.file.write(text)
        self.file.flush()

    def _title(self) -> None:
        if self.title is not None:
            title, self.title = self.title, None
            self._write(f"{title}\n{'start':>10} {'end':>10}  {'class':<{self.width}}  probability  windows\n")

    def _print(self, text: str) -> None:
        self._title()
        self._write(text + "\n")

    def _row(self, segment: Segment) -> None:
        self._print(f"{segment.start:9.2f}s {segment.end:9.2f}s  {segment.label:<{self.width}}  "
                    f"{segment.probability:11.3f}  {segment.windows:7d}")

    def add(self, window: Window) -> None:
        closed = self.segmenter.add(window)
        if closed is not None:
            self._row(closed)
        if self.live:
            self._title()
            self._write(f"  ... window {window.start:.2f}s-{window.end:.2f}s: {window.label} {window.probability:.3f}")
            self._status = True

    def finish(self, stop: Stop | None) -> None:
        last = self.segmenter.finish()
        if last is not None:
            self._row(last)
        if stop is not None:
            self._print(stop.message)


def check_output_path(option: str, path: str | os.PathLike) -> Path:
    """Fail before any work if ``path`` cannot be written (a folder, a file in the way, no permission)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{option} {str(path)!r}: is a directory; expected a file name")
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise NotADirectoryError(f"{option} {str(path)!r}: {str(blocker)!r} is a file, not a folder")
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not os.access(existing, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionError(f"{option} {str(path)!r}: not writable")
    return path


def plot_timeline(timeline: Timeline, path: str | os.PathLike, max_classes: int = PLOT_CLASSES) -> Path:
    """Class probabilities against time (at the window centres), one line per class (the
    ``max_classes`` classes that reach the highest probabilities), the segments as a coloured
    band above; a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = np.asarray([w.probabilities for w in timeline.windows]).reshape(-1, len(timeline.classes))  # (N, C)
    centres = [w.centre for w in timeline.windows]
    shown = np.argsort(-probs.max(0), kind="stable")[:max_classes] if len(probs) else []
    colours = {int(c): plt.cm.tab10(i % 10) for i, c in enumerate(shown)}
    fig, (band, ax) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, height_ratios=[1, 6])
    for c in shown:
        ax.plot(centres, probs[:, c], marker="o" if len(centres) < 60 else None, ms=3, lw=1.4,
                color=colours[int(c)], label=timeline.classes[c])
    for segment in timeline.segments():
        c = timeline.classes.index(segment.label)
        band.axvspan(segment.start, segment.end, color=colours.get(c, "lightgrey"), alpha=0.8)
        band.text((segment.start + segment.end) / 2, 0.5, segment.label, ha="center", va="center", fontsize=7,
                  clip_on=True)
    for cut in timeline.cuts:
        for axis in (band, ax):
            axis.axvline(cut.time, color="black", lw=0.8, ls=":")
    band.set_yticks([])
    band.set_title(f"{Path(timeline.source).name}: window {timeline.length / timeline.fps:.2f} s, "
                   f"stride {timeline.stride / timeline.fps:.2f} s", fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("class probability")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if len(shown):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if timeline.windows:
        ax.set_xlim(0, max(timeline.windows[-1].end, math.ulp(1.0)))
    return save_figure(fig, path, dpi=110, bbox_inches="tight")
