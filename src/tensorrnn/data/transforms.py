"""Clip augmentation: one random crop, flip, hue, brightness and contrast per clip, the same on every frame.

Frames flow ``uint8 (T, H, W, 3)`` -> :class:`ClipAugment` -> ``float32 (T, H, W, 3)`` in
[0, 255] -> :func:`tensorrnn.data.sampling.scale_pixels`. A video RNN sees the frames as one
sequence, so each frame must get the same transform: a crop that jumped from frame to frame
would look like motion. The one exception is meant to: ``drift`` moves the crop box at an even
pace across the clip, the motion a panning camera adds to everything in view.
:meth:`ClipAugment.apply` is numpy, as in ``sampling.py``: this runs in ``DataLoader`` workers,
where torch's intra-op threads made per-clip work slow. The loaders' uint8 samples take
:meth:`ClipAugment.apply_uint8` (``uint8 -> uint8``), whose resize is torch's uint8 bilinear
kernel: 0.15 ms for a 6-frame 160x120 clip against 0.7 ms in float.

``fit``'s training loaders apply it to the batch instead, on the model's device after the
transfer (:func:`augment_batch`): the loader only decodes and draws each clip's parameters
(:meth:`ClipAugment.param_row`, the same draws as a clip's own call), and the batch's frames
are cropped, flipped, coloured, lit and scaled clip by clip where the step runs.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F

from tensorrnn.data.sampling import PAD_BYTE
from tensorrnn.data.threads import map_shares

#: The columns of one clip's row of augmentation parameters (:meth:`ClipAugment.param_row`,
#: :func:`augment_batch`): the crop box, the flip (0 or 1), brightness and contrast factors, the
#: padding frames in front of the clip (they stay padding), the hue's turn (a share of a full
#: turn, :func:`hue_rotation`) and where the box ends (its top left in the clip's last frame:
#: ``y0, x0`` unless the box drifts).
PARAM_COLUMNS = ("y0", "x0", "height", "width", "flip", "brightness", "contrast", "front", "hue", "y1", "x1")
#: Draws of a random box before falling back to a centre crop (as torchvision's RandomResizedCrop).
_CROP_TRIES = 10


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _pair(name: str, value, upper: float | None) -> tuple[float, float]:
    expected = "0 < min <= max" + (f" <= {upper:g}" if upper is not None else "")
    ok = (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2 and all(map(_number, value))
          and 0 < value[0] <= value[1] and (upper is None or value[1] <= upper))
    if not ok:
        raise ValueError(f"{name}={value!r}: expected (min, max) with {expected}")
    return float(value[0]), float(value[1])


def _strength(name: str, value, upper: float | None, expected: str) -> float:
    if not (_number(value) and value >= 0 and (upper is None or value <= upper)):
        raise ValueError(f"{name}={value!r}: expected {expected}")
    return float(value)


def hue_rotation(turns: float) -> np.ndarray:
    """The ``(3, 3)`` float64 matrix that turns an RGB colour about the grey axis by ``turns``
    of a full turn (0.5: half a turn, red to cyan): Rodrigues' rotation about ``(1, 1, 1) / sqrt(3)``.

    Linear and orthogonal: it keeps every grey (so a pixel's mean over its channels, and a
    clip's mean grey level) and a colour's distance from grey, and turns its hue, as the YIQ
    hue rotation does. Applied to every frame of a clip, it commutes with the difference of
    frames. An RGB colour may leave [0, 255] (the augmentation clips it).

    Examples:
        >>> np.round(hue_rotation(1 / 3) @ [255.0, 0.0, 0.0], 6)  # a third of a turn: red to green
        array([  0., 255.,   0.])
    """
    angle = 2.0 * math.pi * float(turns)
    n = np.full(3, 1.0 / math.sqrt(3.0))
    cross = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])  # cross @ v = n x v
    return math.cos(angle) * np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * np.outer(n, n)


def _linear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``i0, i1`` and weight ``w1`` of 1-D linear resampling ``in_size -> out_size``.

    Pixel centres are aligned as ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)``: output pixel ``j`` reads the input at ``(j + 0.5) * in / out - 0.5``,
    clamped at 0 (torch's rule; the far edge is clamped by ``i1 <= in - 1``). The value is
    ``x[i0] + w1 * (x[i1] - x[i0])``.
    """
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5  # (out,)
    src = np.maximum(src, 0.0)
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0).astype(np.float32)
    w1[i1 == i0] = 0.0  # past the last pixel centre: hold the edge value
    return i0, i1, w1


def _resize(clip: np.ndarray, height: int, width: int, flip: bool) -> np.ndarray:
    """Bilinear resize ``(T, h, w, 3)`` -> new float32 ``(T, height, width, 3)``, mirrored if ``flip``.

    Separable: rows, then columns, each ``x0 + w1 * (x1 - x0)`` with the taps of
    :func:`_linear_taps`. Frame by frame into the output: the temporaries are one frame, which
    malloc reuses; clip-sized ones are fresh pages on every call (whole-clip passes were 2.5x
    slower on a (6, 120, 160, 3) clip).
    """
    t, h, w, _ = clip.shape
    out = np.empty((t, height, width, 3), np.float32)  # (T, H, W, 3)
    if h != height:
        r0, r1, rw = _linear_taps(h, height)
        rw = rw[:, None]
    if w != width:
        c0, c1, cw = _linear_taps(w, width)
        if flip:  # read the columns right to left: the output comes out mirrored, exactly
            c0, c1, cw = c0[::-1], c1[::-1], cw[::-1]
        # index the flattened (w * 3) axis so the gathers and the weights run along whole rows
        c0 = (3 * c0[:, None] + np.arange(3)).ravel()  # (W * 3,)
        c1 = (3 * c1[:, None] + np.arange(3)).ravel()
        cw = np.repeat(cw, 3)
    elif flip:
        clip = clip[:, :, ::-1]
    for frame, o in zip(clip, out):
        x = frame.reshape(h, w * 3)  # a view unless flipped (then a one-frame copy)
        o = o.reshape(height, width * 3)  # a view into out
        if h != height:
            a = x[r0]  # (H, w * 3)
            x = np.subtract(x[r1], a, dtype=np.float32)
            x *= rw
            x += a
        if w == width:
            o[...] = x
            continue
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        np.take(x, c1, axis=1, out=o, mode="clip")  # mode="clip": writes into o unbuffered
        a = np.take(x, c0, axis=1, mode="clip")  # (H, W * 3)
        o -= a
        o *= cw
        o += a
    return out


#: Words a left-right flip turns into each other (a horizontal flip keeps up and down).
MIRROR_WORDS = {"left": "right", "right": "left", "cw": "ccw", "ccw": "cw", "clockwise": "anticlockwise",
                "anticlockwise": "clockwise", "counterclockwise": "clockwise", "east": "west", "west": "east",
                "leftward": "rightward", "rightward": "leftward", "leftwards": "rightwards",
                "rightwards": "leftwards"}


def _words(name: str) -> list[str]:
    """``"swipeLeft_2"`` -> ``["swipe", "left", "2"]``: split at non-alphanumerics and camelCase."""
    import re

    return [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", str(name))]


def mirrored_class_pairs(classes) -> list[tuple[str, str]]:
    """Pairs of class names that a left-right flip turns into each other: the same words but
    one direction word swapped (``swipe_left`` / ``swipe_right``, ``turn_cw`` / ``turn_ccw``).

    Examples:
        >>> mirrored_class_pairs(["swipe_left", "SwipeRight", "up", "down", "rotate cw", "rotate_ccw"])
        [('swipe_left', 'SwipeRight'), ('rotate cw', 'rotate_ccw')]
    """
    names = [str(c) for c in classes]
    words = {tuple(_words(n)): n for n in names}
    pairs = []
    for name in names:
        own = _words(name)
        for i, word in enumerate(own):
            if word in MIRROR_WORDS:
                other = words.get(tuple(own[:i] + [MIRROR_WORDS[word]] + own[i + 1:]))
                pair = (name, other)
                if other is not None and other != name and (other, name) not in pairs and pair not in pairs:
                    pairs.append(pair)
    return pairs


class ClipAugment:
    """Random resized crop, horizontal flip, hue, brightness and contrast, drawn once per clip.

    Every random number is drawn once per call, so all frames of a clip get the same crop box,
    flip, hue, brightness and contrast (the box may drift across the clip instead, as a
    panning camera's view does: ``drift``). With the defaults every option is the identity
    (:attr:`active` is ``False``) and a call returns its input unchanged. The options are
    plain values, so a config section ``augment: {crop_scale: [0.6, 1.0], flip: 0.5}`` is
    ``ClipAugment(**section)``, and :meth:`to_dict` writes one back.

    Args:
        crop_scale: ``(min, max)``, the area share of the crop box, drawn uniformly;
            ``0 < min <= max <= 1``. ``(1, 1)`` turns the crop off (the box is the whole
            frame, whatever ``crop_ratio``).
        crop_ratio: ``(min, max)``, the box's width / height, drawn log-uniformly (as
            torchvision's ``RandomResizedCrop``). The box is placed uniformly within the frame
            and resized back to the frame's own ``(H, W)`` bilinearly; if 10 draws do not fit,
            the box is the largest centred one at the ratio clamped to this range.
        brightness: pixels are multiplied by ``b`` drawn uniformly in
            ``[max(0, 1 - brightness), 1 + brightness]``; ``brightness >= 0``.
        contrast: pixels are blended with the clip's mean grey level ``m`` (all frames, all
            channels, after the crop): ``m + c * (x - m)``, ``c`` drawn uniformly in
            ``[max(0, 1 - contrast), 1 + contrast]``; ``contrast >= 0``.
        flip: probability of flipping the whole clip left-right, in ``[0, 1]``.
        hue: colours are turned about the grey axis (:func:`hue_rotation`) by a share of a
            full turn drawn uniformly in ``[-hue, hue]``, ``0 <= hue <= 0.5`` (0.5: any hue,
            the range of torchvision's ``ColorJitter``; its hue is turned in HSV instead). Greys
            stay grey, and so does each pixel's mean over its channels: what is learnt from
            motion and brightness is kept, what is learnt from the colours of a few training
            scenes and actors is not.
        drift: the crop box travels across the clip in a straight line, as a panning or tilting
            camera's view does: from where it is drawn in the first frame to a point ``drift`` of
            the way towards a second place drawn uniformly within the frame, at an even pace
            from frame to frame (whole pixels), in ``[0, 1]``. A box as large as the frame has
            no room to travel, so this needs ``crop_scale`` below 1; a frame's box depends on
            its place in the clip, so :meth:`apply` takes whole clips.

    Shape:
        - Input: ``(T, H, W, 3)``, uint8 or float32 in [0, 255], ``T >= 1``.
        - Output: ``(T, H, W, 3)`` float32, clipped to [0, 255] (the input itself when
          :attr:`active` is ``False``).

    Examples:
        >>> aug = ClipAugment(crop_scale=(0.6, 1.0), flip=0.5, brightness=0.2)
        >>> aug
        ClipAugment(crop_scale=(0.6, 1.0), brightness=0.2, flip=0.5)
        >>> frames = np.zeros((6, 120, 160, 3), np.uint8)
        >>> aug(frames, np.random.default_rng(0)).shape
        (6, 120, 160, 3)
        >>> ClipAugment(**aug.to_dict()).to_dict() == aug.to_dict()
        True
    """

    def __init__(self, *, crop_scale=(1.0, 1.0), crop_ratio=(3 / 4, 4 / 3), brightness: float = 0.0,
                 contrast: float = 0.0, flip: float = 0.0, hue: float = 0.0, drift: float = 0.0) -> None:
        self.crop_scale = _pair("crop_scale", crop_scale, upper=1.0)
        self.crop_ratio = _pair("crop_ratio", crop_ratio, upper=None)
        self.brightness = _strength("brightness", brightness, None, "a number >= 0")
        self.contrast = _strength("contrast", contrast, None, "a number >= 0")
        self.flip = _strength("flip", flip, 1.0, "a probability in [0, 1]")
        self.hue = _strength("hue", hue, 0.5, "a share of a full turn in [0, 0.5]")
        self.drift = _strength("drift", drift, 1.0, "a share of the way in [0, 1]")
        if self.drift and not self._crops:
            raise ValueError(f"drift={drift!r}: the crop box fills the frame (crop_scale={self.crop_scale!r}), so it "
                             "cannot travel; expected crop_scale with a minimum below 1")

    @property
    def _crops(self) -> bool:
        return self.crop_scale != (1.0, 1.0)  # any other box is resized back: not the identity

    @property
    def active(self) -> bool:
        """``False`` when every option is the identity: calls return their input as is."""
        return self._crops or self.flip > 0 or self.brightness > 0 or self.contrast > 0 or self.hue > 0

    def to_dict(self) -> dict:
        """All options as plain JSON/YAML values (lists, floats); ``ClipAugment(**d)`` rebuilds it."""
        return {"crop_scale": list(self.crop_scale), "crop_ratio": list(self.crop_ratio),
                "brightness": self.brightness, "contrast": self.contrast, "flip": self.flip, "hue": self.hue,
                "drift": self.drift}

    def __repr__(self) -> str:
        defaults = ClipAugment().__dict__
        changed = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if v != defaults[k])
        return f"{type(self).__name__}({changed})"

    def params(self, rng: np.random.Generator, height: int, width: int) -> dict:
        """Draw one clip's parameters for frames of ``height x width`` pixels.

        Returns:
            ``{"box": (y0, x0, h, w), "flip": bool, "brightness": b, "contrast": c,
            "hue": turns, "end": (y1, x1), "mean": None}``; options at their identity draw nothing
            (box = whole frame, ``False``, ``1.0``, ``1.0``, ``0.0``, ``end`` = the box's ``(y0,
            x0)``), and the hue, then the drift's end are drawn last, so turning them on leaves
            the other draws as they were. ``"mean"`` is the grey level contrast blends with:
            ``None`` lets :meth:`apply` take the mean of the clip it is given; set it to apply
            one clip's transform to its frames one at a time.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng={rng!r}: expected a numpy.random.Generator")
        box = self._box(rng, height, width) if self._crops else (0, 0, height, width)
        flip = self.flip == 1.0 or (self.flip > 0 and bool(rng.random() < self.flip))
        b = float(rng.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)) if self.brightness else 1.0
        c = float(rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)) if self.contrast else 1.0
        hue = float(rng.uniform(-self.hue, self.hue)) if self.hue else 0.0
        end = self._end(rng, box, height, width) if self.drift else box[:2]
        return {"box": box, "flip": flip, "brightness": b, "contrast": c, "hue": hue, "end": end, "mean": None}

    def _end(self, rng: np.random.Generator, box: tuple[int, int, int, int], height: int,
             width: int) -> tuple[int, int]:
        # drift of the way from the box's start to a place drawn uniformly: inside the frame
        y0, x0, h, w = box
        towards = rng.uniform(0, (height - h, width - w))
        return tuple(int(round(a + self.drift * (b - a))) for a, b in zip((y0, x0), towards))

    @staticmethod
    def param_row(params: dict, front: int = 0) -> torch.Tensor:
        """One clip's ``params`` (from :meth:`params`) as a float64 row of :data:`PARAM_COLUMNS`'s
        values, ``front`` padding frames before the clip: what a training batch carries for
        :func:`augment_batch` (``"mean"`` is taken there, from the cropped clip; a missing
        ``"hue"`` is 0, a missing ``"end"`` the box's start)."""
        y0, x0, h, w = (int(v) for v in params["box"])
        y1, x1 = (int(v) for v in params.get("end", (y0, x0)))
        return torch.tensor([y0, x0, h, w, float(bool(params["flip"])), float(params["brightness"]),
                             float(params["contrast"]), int(front), float(params.get("hue", 0.0)), y1, x1],
                            dtype=torch.float64)

    def _box(self, rng: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int]:
        # torchvision's RandomResizedCrop.get_params, with numpy's generator
        area = height * width
        log_lo, log_hi = math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])
        for _ in range(_CROP_TRIES):
            target = area * rng.uniform(*self.crop_scale)
            ratio = math.exp(rng.uniform(log_lo, log_hi))
            w = round(math.sqrt(target * ratio))
            h = round(math.sqrt(target / ratio))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
        # Fallback: the largest centred box at the frame's ratio clamped to crop_ratio.
        frame_ratio = width / height
        if frame_ratio < self.crop_ratio[0]:
            w, h = width, max(1, round(width / self.crop_ratio[0]))
        elif frame_ratio > self.crop_ratio[1]:
            w, h = max(1, round(height * self.crop_ratio[1])), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, frames: np.ndarray, params: dict) -> np.ndarray:
        """Apply one clip's ``params`` (from :meth:`params`) to ``frames``.

        The crop box is cut from every frame and resized back to ``(H, W)`` (bilinear,
        separable: rows, then columns), then flipped, then its colours turned by
        ``hue_rotation(params["hue"])`` (a missing ``"hue"`` is 0), then ``x -> b * (m + c * (x -
        m))`` and clipped to [0, 255], where ``m`` is ``params["mean"]`` or, if ``None``, the mean
        of the cropped clip (which the hue's turn keeps). A drifting box (``params["end"]``
        other than the box's start) is cut from frame ``k`` of ``T`` at the start moved ``k /
        (T - 1)`` of the way to the end, rounded to whole pixels. Every step but that mean and
        the drift is per pixel, so without a drift, applying ``params`` (with ``"mean"`` set) to
        each frame alone gives the same frames as applying it to the clip.

        Shape:
            ``(T, H, W, 3)`` uint8 or float32 -> ``(T, H, W, 3)`` float32, always a new array.
        """
        _check_frames(frames)
        _, height, width, _ = frames.shape
        x = _crop(frames, params)  # (T, h, w, 3), a view of the input unless the box drifts
        h, w = x.shape[1:3]
        if (h, w) != (height, width):
            x = _resize(x, height, width, bool(params["flip"]))  # (T, H, W, 3)
        else:  # a copy: the caller's frames stay as they are
            x = (x[:, :, ::-1] if params["flip"] else x).astype(np.float32)  # (T, H, W, 3)
        hue = float(params.get("hue", 0.0))
        if hue:
            x = x @ hue_rotation(hue).T.astype(np.float32)  # (T, H, W, 3): each pixel's colour turned
        b, c = float(params["brightness"]), float(params["contrast"])
        if c != 1.0:
            mean = params.get("mean")
            mean = float(x.mean()) if mean is None else float(mean)  # float32 pairwise sum: ~1e-6 relative
            # b * (m + c * (x - m)) = (b * c) * x + b * (1 - c) * m: one multiply, one add
            x *= np.float32(b * c)
            x += np.float32(b * (1 - c) * mean)
        elif b != 1.0:
            x *= np.float32(b)
        return np.clip(x, 0.0, 255.0, out=x)

    def apply_uint8(self, frames: np.ndarray, params: dict) -> np.ndarray:
        """:meth:`apply` for uint8 frames, giving uint8 frames: what the loaders serve with
        deferred scaling (:func:`~tensorrnn.data.sampling.defer_scaling`), about 2.5x faster.

        The crop is resized with torch's uint8 bilinear kernel (SIMD, fixed point: within one
        grey level of the float resize rounded) instead of the float one, the mean is that of
        the resized uint8 clip, and ``b * (m + c * (x - m))`` is rounded to the nearest grey
        level: within 2 grey levels of ``rint(apply(frames, params))`` (brightness and contrast
        up to 0.2 each, no hue; the resize's rounding is scaled by ``b * c``, and by up to 5/3
        more by a hue's turn, whose rows sum to at most 5/3 in absolute value; halves round up).

        Shape:
            ``(T, H, W, 3)`` uint8 -> ``(T, H, W, 3)`` uint8, always a new array.
        """
        _check_frames(frames)
        if frames.dtype != np.uint8:
            raise ValueError(f"frames of dtype {frames.dtype}: expected uint8")
        _, height, width, _ = frames.shape
        x = _crop(frames, params)  # (T, h, w, 3), a view of the input unless the box drifts
        h, w = x.shape[1:3]
        if (h, w) != (height, width):
            crop = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)  # channels-last (T, 3, h, w)
            x = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
            x = x.permute(0, 2, 3, 1).numpy()  # (T, H, W, 3), contiguous: the kernel keeps channels-last
        if params["flip"]:
            x = x[:, :, ::-1]
        b, c, hue = float(params["brightness"]), float(params["contrast"]), float(params.get("hue", 0.0))
        if b == 1.0 and c == 1.0 and not hue:
            return np.array(x, np.uint8)  # a copy, as apply's
        mean = params.get("mean") if c != 1.0 else 0.0
        mean = float(x.mean()) if mean is None else float(mean)  # the hue's turn keeps the mean
        if hue:  # the turn and the gain as one matrix, in float32
            y = np.matmul(x, (b * c * hue_rotation(hue)).T.astype(np.float32), dtype=np.float32)
        else:
            y = np.multiply(x, np.float32(b * c), dtype=np.float32)  # (T, H, W, 3) float32
        y += np.float32(b * (1 - c) * mean + 0.5)  # + 0.5, then truncated: rounded (halves up)
        np.clip(y, 0.0, 255.0, out=y)
        out = np.empty(y.shape, np.uint8)
        np.copyto(out, y, casting="unsafe")
        return out

    def __call__(self, frames: np.ndarray, rng: np.random.Generator, uint8: bool = False) -> np.ndarray:
        """``apply(frames, params(rng, H, W))`` (:meth:`apply_uint8` with ``uint8``, for uint8
        frames); the input itself when :attr:`active` is ``False``."""
        _check_frames(frames)
        if not self.active:
            return frames
        params = self.params(rng, frames.shape[1], frames.shape[2])
        return self.apply_uint8(frames, params) if uint8 else self.apply(frames, params)


def augment_batch(frames: torch.Tensor, params: torch.Tensor, scaling: str = "unit", *,
                  uint8_resize: bool | None = None, threads: int = 1) -> torch.Tensor:
    """A batch of uint8 clips augmented clip by clip and scaled, on the batch's device: what
    :meth:`ClipAugment.apply` then :func:`~tensorrnn.data.sampling.scale_pixels` give each clip.

    Clip ``i`` is row ``i`` of ``params`` (:meth:`ClipAugment.param_row`): its crop box is cut
    from the frames after its ``front`` padding frames (drifting from ``(y0, x0)`` in the first
    to ``(y1, x1)`` in the last, as :meth:`~ClipAugment.apply` cuts it) and resized back to ``(H, W)``
    (bilinear, ``align_corners=False``, as :meth:`~ClipAugment.apply`), mirrored if ``flip``,
    its colours turned by :func:`hue_rotation` of ``hue``, then ``x -> b * (m + c * (x - m))``
    with ``m`` the mean of the resized clip, clipped to [0, 255] and scaled (one pass: the hue,
    the lighting and the scaling are one affine map a clip); the
    padding frames are exactly 0, as :func:`scale_pixels` pads. Each clip is worked on alone
    (on a CPU its 1.4 MB stays in the cache through the passes), so a clip's frames do not
    depend on the batch it came in, nor on ``threads``.

    Args:
        frames: ``(B, T, H, W, 3)`` uint8, padding frames holding anything.
        params: ``(B, 11)``, the columns of :data:`PARAM_COLUMNS`, on any device.
        scaling: ``"center"``, ``"unit"`` or ``"none"`` (the deferred scalings).
        uint8_resize: resize with torch's uint8 bilinear kernel (fixed point, its result
            rounded to grey levels: within one level of the float resize, 4x faster on a CPU)
            or in float32; ``None``: uint8 on a CPU, float32 on other devices (whose
            interpolation kernels take floats).
        threads: on a CPU, threads that share the clips (the loading threads, idle while the
            batch is augmented); one on other devices.

    Shape:
        ``(B, T, H, W, 3)`` uint8 -> ``(B, T, H, W, 3)`` float32 on ``frames``' device.
    """
    if scaling not in PAD_BYTE:
        raise ValueError(f"scaling={scaling!r}: expected one of {sorted(PAD_BYTE)} for a batch's augmentation")
    if not isinstance(frames, torch.Tensor) or frames.dtype != torch.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames of shape {shape}: expected a uint8 tensor (B, T, H, W, 3)")
    batch, steps, height, width, _ = frames.shape
    if not isinstance(params, torch.Tensor) or tuple(params.shape) != (batch, len(PARAM_COLUMNS)):
        shape = tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
        raise ValueError(f"params of shape {shape}: expected ({batch}, {len(PARAM_COLUMNS)}), a row of "
                         f"{', '.join(PARAM_COLUMNS)} per clip")
    rows = params.tolist()  # one host transfer of the (B, 11) parameters
    for i, (y0, x0, h, w, _, _, _, front, _, y1, x1) in enumerate(rows):
        _check_box((y0, x0, h, w), height, width)
        _check_box((y1, x1, h, w), height, width)
        if not 0 <= front < steps:
            raise ValueError(f"params[{i}] front={front:g}: expected 0 <= front < {steps} (the clip's frames)")
    cpu = frames.device.type == "cpu"
    uint8_resize = cpu if uint8_resize is None else uint8_resize
    # x -> (x + shift) * factor: the scalings of PAD_BYTE, which map [0, 255] to [low, high]
    factor, shift = {"center": (1.0, -128.0), "unit": (1 / 128, -128.0), "none": (1.0, 0.0)}[scaling]
    low, high = shift * factor, (255.0 + shift) * factor
    out = torch.empty(frames.shape, dtype=torch.float32, device=frames.device)  # (B, T, H, W, 3)

    def one(i: int) -> None:
        y0, x0, h, w, flip, b, c, front, hue, y1, x1 = rows[i]
        y0, x0, h, w, front, y1, x1 = int(y0), int(x0), int(h), int(w), int(front), int(y1), int(x1)
        out[i, :front] = 0.0
        clip = _cut(frames[i, front:], (y0, x0), (y1, x1), h, w, torch.stack)  # (k, h, w, 3)
        if (h, w) != (height, width):
            crop = clip.permute(0, 3, 1, 2)  # (k, 3, h, w), channels-last in memory
            crop = crop if uint8_resize else crop.float()  # the uint8 kernel reads the strided crop as is
            clip = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
            clip = clip.permute(0, 2, 3, 1)  # (k, H, W, 3)
        if flip:
            clip = clip.flip(2)
        # (b * (m + c * (x - m)) + shift) * factor = x * (b c factor) + (b (1 - c) m + shift) * factor
        offset = torch.full((), shift * factor, dtype=torch.float32, device=frames.device)  # a fill, no host copy
        if c != 1.0:  # a 0-d tensor: no wait for the device
            offset = offset + clip.mean(dtype=torch.float32) * (b * (1 - c) * factor)
        slot = out[i, front:]  # (k, H, W, 3)
        if hue:  # the turn, the gain and the scaling as one matrix (the turn keeps the mean), and the offset
            turn = torch.from_numpy((b * c * factor * hue_rotation(hue)).T.astype(np.float32))  # x @ turn
            # 4 pixels a row against a block-diagonal (12, 12): a (N, 3) @ (3, 3) product is 4x slower on a CPU
            group = 4 if clip[..., 0].numel() % 4 == 0 else 1
            block = torch.block_diag(*[turn] * group).to(frames.device)
            torch.addmm(offset.expand(3 * group), clip.reshape(-1, 3 * group).float(), block,
                        out=slot.view(-1, 3 * group))
        else:
            torch.add(offset, clip, alpha=b * c * factor, out=slot)  # converts to float32 on the way
        slot.clamp_(low, high)

    map_shares(one, range(batch), threads if cpu else 1)
    return out


def _crop(frames: np.ndarray, params: dict) -> np.ndarray:
    """The box of ``params`` cut from every frame ``(T, H, W, 3)``, where it is in that frame."""
    height, width = frames.shape[1:3]
    y0, x0, h, w = _check_box(params["box"], height, width)
    y1, x1 = _check_box((*params.get("end", (y0, x0)), h, w), height, width)[:2]
    return _cut(frames, (y0, x0), (y1, x1), h, w, np.stack)


def _cut(frames, start: tuple[int, int], end: tuple[int, int], h: int, w: int, stack):
    """Frames ``(k, H, W, 3)`` (numpy or torch) cut to an ``h x w`` box whose top left goes from
    ``start`` in the first frame to ``end`` in the last at an even pace, rounded to whole pixels
    (halves to even): a view when it stays put, else stacked by ``stack``."""
    (y0, x0), (y1, x1) = start, end
    if (y0, x0) == (y1, x1):
        return frames[:, y0:y0 + h, x0:x0 + w]
    k = len(frames)
    pace = np.arange(k) / max(k - 1, 1)
    ys, xs = (np.rint(a + (b - a) * pace).astype(int) for a, b in ((y0, y1), (x0, x1)))
    return stack([frame[y:y + h, x:x + w] for frame, y, x in zip(frames, ys, xs)])


def _check_box(box, height: int, width: int) -> tuple[int, int, int, int]:
    y0, x0, h, w = (int(v) for v in box)
    if not (0 <= y0 and 0 <= x0 and 0 < h and 0 < w and y0 + h <= height and x0 + w <= width):
        raise ValueError(f"params['box']={box!r}: expected (y0, x0, h, w) inside the {height}x{width} frame")
    return y0, x0, h, w


def _check_frames(frames) -> None:
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames of type {type(frames).__name__}: expected a numpy array (T, H, W, 3)")
    if frames.ndim != 4 or frames.shape[3] != 3 or 0 in frames.shape:
        raise ValueError(f"frames of shape {frames.shape}: expected (T, H, W, 3) with T, H, W >= 1")
    if frames.dtype not in (np.uint8, np.float32):
        raise ValueError(f"frames of dtype {frames.dtype}: expected uint8 or float32")
