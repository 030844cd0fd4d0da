"""Small synthetic action videos, written as real encoded files through PyAV.

Every clip shows a textured object moving over a textured background; the class is the
MOTION (:data:`MOTIONS`: left to right, top to bottom, the diagonals, right to left, bottom
to top, zoom in, zoom out, static, clockwise and counter-clockwise arcs), never the look of
one frame: each motion is one sweep with a random start, length and position across it, so
over a clip the object is as likely anywhere for opposite directions; only the order of the
frames tells them apart. Like UCF11's groups (same actor and background), clips
of one group share the background and the object's texture, so group-aware splits are
meaningful. Files follow the UCF11 layout
``<class>/v_<class>_<GG>/v_<class>_<GG>_<CC>.avi`` and load with
:class:`tensorrnn.data.UCF11`.

:func:`make_demo_videos` writes the demo's set. :func:`make_action_set` writes sets of graded
difficulty, described by an :class:`ActionSetSpec` (presets in :data:`ACTION_SETS`): more
classes, clips of varying length, distractor objects, a moving camera, cluttered scenes,
wider ranges of object size and speed, more noise, and scenes that are evidence of the class
(``scene_evidence``: the scenes of one class share a look, as a sport's footage shares its
field; otherwise a scene says nothing of the class). Every option is off in the defaults and
then draws nothing from the random stream, so the default set is the demo's, clip for clip.

Also here: :func:`write_video` (any uint8 frames to a file). The broken files of the tests are
made by :mod:`tensorrnn.testing`.
"""
from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: Motion patterns, in the order classes are taken from (num_classes <= len(MOTIONS)).
MOTIONS = ("left_right", "up_down", "diagonal", "right_left", "down_up", "zoom_in", "zoom_out", "static",
           "anti_diagonal", "diagonal_up", "circle_cw", "circle_ccw")
#: Size change of a zoom over the clip (x1.8 in or out).
ZOOM_RANGE = 1.8
#: Share of the [-1, 1] offset range one sweep covers (random per clip, within this range).
SWEEP_LENGTH = (1.3, 1.8)
#: Object half-size as a share of the frame's shorter side (random per clip).
OBJECT_SIZE = (0.15, 0.3)
#: Contrast of the background's texture (random per group): low, so the moving object,
#: not the look of a group's scene, dominates the pixels.
BACKGROUND_CONTRAST = (0.05, 0.15)
#: Sensor noise, uniform in +-NOISE grey levels, new in every frame (it also keeps the
#: encoded files from shrinking to little more than their headers).
NOISE = 16
#: Radius of a circle motion in offset units, where [-1, 1] spans the frame (random per clip).
CIRCLE_RADIUS = (0.4, 0.8)
#: Camera motions: still, a straight pan, a pan and a slow zoom.
CAMERAS = (None, "pan", "pan_zoom")
#: Travel of a panning camera over a clip, as a share of the frame's width and height (random per clip).
CAMERA_PAN = (0.1, 0.25)
#: Size change of a "pan_zoom" camera over the clip (x1.25 in or out).
CAMERA_ZOOM = 1.25
#: Strong-coloured rectangles on a cluttered background (random count per group).
CLUTTER_PATCHES = (8, 16)
#: Scene evidence: colours of a class's palette, which its scenes' textures and layout are
#: painted with.
SCENE_PALETTE = 3
#: Scene evidence: rectangles of a class's layout (where a wall or a table stands), each a
#: ``(min, max)`` share of the scene's width and height.
SCENE_LAYOUT, SCENE_LAYOUT_SIZE = 2, (0.2, 0.5)
#: Scene evidence: how far a group's scene strays from its class's look: +- grey levels of
#: every colour, +- share of the scene of every layout rectangle's position.
SCENE_JITTER = (12, 0.05)
#: extension -> (FFmpeg codec, container format)
CODECS = {".avi": ("mpeg4", "avi"), ".mpg": ("mpeg1video", "mpeg"), ".mp4": ("mpeg4", "mp4")}


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25, quality: int = 3) -> Path:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` to ``path`` (codec chosen by extension).

    ``.avi`` and ``.mp4`` use MPEG-4 Part 2 (as DivX/Xvid AVIs), ``.mpg`` MPEG-1 (as UCF11).
    ``quality`` is the largest quantiser (1 best); H and W must be even (YUV 4:2:0).
    The file is written to a temporary name and moved into place.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames: expected uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frames of {width}x{height}: expected even width and height (YUV 4:2:0)")
    if path.suffix.lower() not in CODECS:
        raise ValueError(f"path={str(path)!r}: expected an extension in {', '.join(CODECS)}")
    codec, fmt = CODECS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with av.open(str(tmp), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps, options={"qmin": "1", "qmax": str(quality)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path


@dataclasses.dataclass(frozen=True)
class ActionSetSpec:
    """What :func:`make_action_set` generates; the defaults are the demo's set.

    Invalid values raise a one-line ``ValueError`` naming the field, on construction and
    through ``dataclasses.replace``; pairs may be given as lists and are stored as tuples.

    Args:
        num_classes: motion classes, the first ``num_classes`` of :data:`MOTIONS`.
        groups: groups per class (shared background and object texture, like UCF11's).
        clips_per_group: clips per group.
        size: ``(width, height)`` of the frames, both even.
        num_frames: frames per clip, or a ``(min, max)`` range each clip's length is drawn
            from (uniformly, both ends included).
        distractors: extra objects per clip (striped discs, never like the class's
            checkerboard square), each with its own random motion of :data:`MOTIONS`,
            unrelated to the class, drawn under or over the class's object.
        camera: ``None`` (still), ``"pan"`` (the whole scene drifts across the frame, see
            :data:`CAMERA_PAN`) or ``"pan_zoom"`` (a pan and a slow zoom, :data:`CAMERA_ZOOM`).
        clutter: a busy, high-contrast background per group instead of a dim, low-contrast one.
        scene_evidence: the scenes of one class share a look drawn once per class (a base
            colour, a palette, a texture grid and a layout of rectangles; with ``clutter``
            also the patches' strong colours), and each group's scene is its own draw within
            that look (colours and layout moved by :data:`SCENE_JITTER`, the palette laid out
            anew): the background alone then says something of the class, as real footage's
            does. Off: every group's scene is drawn regardless of its class.
        object_size: ``(min, max)`` half-size of the objects as a share of the frame's
            shorter side (random per clip).
        speed: ``(min, max)`` share of the [-1, 1] offset range one sweep covers (random
            per clip; a circle turns ``speed / 2`` turns).
        noise: sensor noise, uniform in +-``noise`` grey levels, new in every frame.
        seed: everything random derives from it.

    Examples:
        >>> spec = dataclasses.replace(ACTION_SETS["hard"], size=(160, 120))
        >>> spec.num_clips, spec.frame_range
        (384, (40, 160))
    """

    num_classes: int = 6
    groups: int = 15
    clips_per_group: int = 4
    size: tuple[int, int] = (80, 60)
    num_frames: int | tuple[int, int] = 24
    distractors: int = 0
    camera: str | None = None
    clutter: bool = False
    scene_evidence: bool = False
    object_size: tuple[float, float] = OBJECT_SIZE
    speed: tuple[float, float] = SWEEP_LENGTH
    noise: int = NOISE
    seed: int = 0

    def __post_init__(self) -> None:
        checked = {
            "num_classes": _integer("num_classes", self.num_classes, 1, len(MOTIONS)),
            "groups": _integer("groups", self.groups, 1, 99),  # at most 99: two-digit names
            "clips_per_group": _integer("clips_per_group", self.clips_per_group, 1, 99),
            "size": _pair("size", self.size, int, lambda w, h: w >= 8 and h >= 8 and w % 2 == h % 2 == 0,
                          "even (width, height) of at least 8x8"),
            "num_frames": _frames(self.num_frames),
            "distractors": _integer("distractors", self.distractors, 0),
            "camera": _choice("camera", self.camera, CAMERAS),
            "clutter": bool(_choice("clutter", self.clutter, (False, True))),
            "scene_evidence": bool(_choice("scene_evidence", self.scene_evidence, (False, True))),
            "object_size": _pair("object_size", self.object_size, float, lambda lo, hi: 0 < lo <= hi <= 0.5,
                                 "a (min, max) share of the frame's shorter side with 0 < min <= max <= 0.5"),
            "speed": _pair("speed", self.speed, float, lambda lo, hi: 0 < lo <= hi <= 2,
                           "a (min, max) sweep length with 0 < min <= max <= 2"),
            "noise": _integer("noise", self.noise, 0, 255),
            "seed": _integer("seed", self.seed, 0),
        }
        for name, value in checked.items():  # frozen: plain ints and tuples go in past __setattr__
            object.__setattr__(self, name, value)

    @property
    def frame_range(self) -> tuple[int, int]:
        """``(min, max)`` frames per clip (equal for a fixed length)."""
        return (self.num_frames, self.num_frames) if isinstance(self.num_frames, int) else self.num_frames

    @property
    def num_clips(self) -> int:
        """Clips in the set."""
        return self.num_classes * self.groups * self.clips_per_group


def _integer(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` if it is an integer in low..high (no upper bound when None), else a ValueError."""
    in_range = isinstance(value, numbers.Integral) and low <= value and (high is None or value <= high)
    if isinstance(value, bool) or not in_range:
        expected = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise ValueError(f"{name}={value!r}: expected {expected}")
    return int(value)


def _pair(name: str, value, kind: type, valid, expected: str) -> tuple:
    """``value`` as a tuple of two ``kind`` (int or float) satisfying ``valid(a, b)``, else a ValueError."""
    number = numbers.Integral if kind is int else numbers.Real
    try:
        a, b = value
        ok = all(isinstance(v, number) and not isinstance(v, bool) for v in (a, b)) and valid(a, b)
    except (TypeError, ValueError):  # not a pair
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r}: expected {expected}")
    return kind(a), kind(b)


def _choice(name: str, value, choices: tuple):
    """``value`` if it is one of ``choices``, else a ValueError."""
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def _frames(value) -> int | tuple[int, int]:
    """``num_frames``: a positive int, or a (min, max) range with 1 <= min <= max."""
    expected = "a positive integer or a (min, max) range with 1 <= min <= max"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"num_frames={value!r}: expected {expected}")
        return int(value)
    return _pair("num_frames", value, int, lambda lo, hi: 1 <= lo <= hi, expected)


#: Presets by difficulty. "easy" is the demo's set (for the same seed, the very clips of
#: ``make_demo_videos(root, groups=15, clips_per_group=4)``); "medium" adds classes, a
#: distractor, clips of 40-160 frames and smaller objects; "hard" has all 12 classes, a
#: distractor and a panning camera (384 clips of 40-160 frames); "varied" is "hard" with wider
#: object size and speed ranges and more noise; "cluttered" is "varied" over busy,
#: high-contrast scenes.
#:
#: Two axes on which real footage differs from the sets above, each beside its reference.
#: The camera, on "hard"'s classes, groups and clip lengths: "still", "pan" and "pan_zoom"
#: without a distractor, "still_distractor", "pan_distractor" (the very spec of "hard") and
#: "pan_zoom_distractor" with one. The scene as evidence of the class: "scene" is "easy" and
#: "scene_hard" is "hard" with ``scene_evidence``.
ACTION_SETS: dict[str, ActionSetSpec] = {
    "easy": ActionSetSpec(),
    "medium": ActionSetSpec(num_classes=10, groups=8, clips_per_group=4, num_frames=(40, 160), distractors=1,
                            object_size=(0.1, 0.3)),
    "hard": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), distractors=1,
                          camera="pan"),
    "varied": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), distractors=1,
                            camera="pan", object_size=(0.08, 0.3), speed=(0.8, 1.8), noise=24),
    "cluttered": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), distractors=1,
                               camera="pan", clutter=True, object_size=(0.08, 0.3), speed=(0.8, 1.8), noise=24),
    "still": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160)),
    "pan": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), camera="pan"),
    "pan_zoom": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), camera="pan_zoom"),
    "still_distractor": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160),
                                      distractors=1),
    "pan_distractor": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160),
                                    distractors=1, camera="pan"),
    "pan_zoom_distractor": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160),
                                         distractors=1, camera="pan_zoom"),
    "scene": ActionSetSpec(scene_evidence=True),
    "scene_hard": ActionSetSpec(num_classes=12, groups=8, clips_per_group=4, num_frames=(40, 160), distractors=1,
                                camera="pan", scene_evidence=True),
}


def scene_size(size: tuple[int, int], camera: str | None = None) -> tuple[int, int]:
    """``(width, height)`` of the scene a clip is filmed from: the frame ``size``, plus a
    margin on every side that a panning ``camera`` may bring into view."""
    width, height = size
    if camera is None:
        return width, height
    margin_x, margin_y = (int(np.ceil(CAMERA_PAN[1] / 2 * side)) + 1 for side in size)
    return width + 2 * margin_x, height + 2 * margin_y


def _texture(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """A smooth random colour texture: a cells x cells grid of colours, upsampled."""
    grid = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    rows = np.arange(height) * cells // height
    cols = np.arange(width) * cells // width
    return grid[rows][:, cols]  # (height, width, 3)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A dim, low-contrast scene, so the object stands out (as an actor does)."""
    dim = _texture(rng, height, width, int(rng.integers(3, 7))).astype(np.int16)
    return (rng.integers(30, 90) + dim * rng.uniform(*BACKGROUND_CONTRAST)).astype(np.uint8)


def _clutter(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A busy, high-contrast scene: a full-contrast colour texture under rectangles of strong
    colour, whose edges and colours compete with the object's."""
    scene = _texture(rng, height, width, int(rng.integers(4, 9)))  # (height, width, 3), a copy
    for _ in range(int(rng.integers(*CLUTTER_PATCHES))):
        w, h = np.ceil(rng.uniform(0.1, 0.35, 2) * (width, height)).astype(int)
        left, top = np.maximum(0, rng.integers(0, (width, height)) - (w // 2, h // 2))
        # each channel near 0 or near 255: saturated colours
        scene[top:top + h, left:left + w] = np.where(rng.random(3) < 0.5, rng.integers(0, 64, 3),
                                                     rng.integers(192, 256, 3))
    return scene


class _ClassLook(NamedTuple):
    """What the scenes of one class share under ``scene_evidence`` (drawn once per class)."""

    tone: np.ndarray       # (3,) int: base colour of a dim scene
    palette: np.ndarray    # (SCENE_PALETTE, 3) int: colours of the texture's cells and the layout
    cells: int             # the texture's grid is cells x cells
    layout: np.ndarray     # (SCENE_LAYOUT, 4) float: rectangles (left, top, width, height), shares of the scene
    accents: np.ndarray    # (2, 3) int: strong colours of a cluttered scene's patches


def _class_look(rng: np.random.Generator) -> _ClassLook:
    """A class's look: a dim base colour, a palette, a grid, a layout, two strong colours."""
    tone = rng.integers(30, 91, 3)
    palette = rng.integers(0, 256, (SCENE_PALETTE, 3))
    cells = int(rng.integers(3, 9))
    sides = rng.uniform(*SCENE_LAYOUT_SIZE, (SCENE_LAYOUT, 2))
    layout = np.concatenate([rng.uniform(0, 1 - sides), sides], axis=1)
    accents = np.where(rng.random((2, 3)) < 0.5, 32, 224)  # each channel near 0 or near 255
    return _ClassLook(tone, palette, cells, layout, accents)


def _evidence_scene(rng: np.random.Generator, look: _ClassLook, height: int, width: int,
                    clutter: bool) -> np.ndarray:
    """A group's scene within its class's ``look``: the palette (each colour moved by
    :data:`SCENE_JITTER`) laid out anew over the class's grid, the class's layout moved a
    little on top; dim and low-contrast over the class's base colour, or with ``clutter``
    at full contrast under patches of the class's strong colours."""
    jitter, shift = SCENE_JITTER
    colours = np.clip(look.palette + rng.integers(-jitter, jitter + 1, look.palette.shape), 0, 255)
    grid = colours[rng.integers(0, len(colours), (look.cells, look.cells))]  # (cells, cells, 3)
    scene = grid[np.arange(height) * look.cells // height][:, np.arange(width) * look.cells // width]
    layout = look.layout + rng.uniform(-shift, shift, look.layout.shape) * (1, 1, 0, 0)
    for k, (left, top, w, h) in enumerate(layout * (width, height, width, height)):
        left, top = max(0, int(round(left))), max(0, int(round(top)))
        scene[top:top + int(np.ceil(h)), left:left + int(np.ceil(w))] = colours[k % len(colours)]
    if clutter:
        for _ in range(int(rng.integers(*CLUTTER_PATCHES))):
            w, h = np.ceil(rng.uniform(0.1, 0.35, 2) * (width, height)).astype(int)
            left, top = np.maximum(0, rng.integers(0, (width, height)) - (w // 2, h // 2))
            colour = look.accents[rng.integers(len(look.accents))] + rng.integers(-32, 32, 3)
            scene[top:top + h, left:left + w] = colour
        return scene.astype(np.uint8)
    tone = look.tone + rng.integers(-jitter, jitter + 1, 3)
    return (tone + scene * rng.uniform(*BACKGROUND_CONTRAST)).astype(np.uint8)


def _scene(rng: np.random.Generator, spec: ActionSetSpec, look: _ClassLook | None = None) -> np.ndarray:
    """A group's background ``(H', W', 3)`` at the spec's :func:`scene_size`, within its
    class's ``look`` under ``scene_evidence``."""
    width, height = scene_size(spec.size, spec.camera)
    if look is not None:
        return _evidence_scene(rng, look, height, width, spec.clutter)
    return (_clutter if spec.clutter else _background)(rng, height, width)


def _object_texture(rng: np.random.Generator) -> np.ndarray:
    """A bright, high-contrast checkerboard of two random colours with a random cell count."""
    cells = int(rng.integers(2, 6))
    light = rng.integers(170, 256, 3)
    dark = rng.integers(0, 256, 3) // 3
    board = (np.add.outer(np.arange(32) * cells // 32, np.arange(32) * cells // 32) % 2).astype(bool)
    return np.where(board[..., None], light, dark).astype(np.uint8)  # (32, 32, 3)


_DISC = np.add.outer((np.arange(32) - 15.5) ** 2, (np.arange(32) - 15.5) ** 2) <= 16 ** 2  # (32, 32)


def _distractor_look(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Texture ``(32, 32, 3)`` and mask ``(32, 32)`` of a striped disc of two random colours.

    Distractors never look like the class's object (a checkerboard square): were they
    alike, a clip would not say which of its motions is the class.
    """
    cells = int(rng.integers(2, 6))
    light, dark = rng.integers(128, 256, 3), rng.integers(0, 128, 3)
    stripes = (np.arange(32) * cells // 32 % 2).astype(bool)
    stripes = np.broadcast_to(stripes[:, None] if rng.random() < 0.5 else stripes, (32, 32))
    return np.where(stripes[..., None], light, dark).astype(np.uint8), _DISC


def _trajectory(motion: str, t: np.ndarray, rng: np.random.Generator, sweep_length=SWEEP_LENGTH):
    """Offsets (dx, dy) in [-1, 1] and scale factor per frame for a motion; ``t`` in (0, 1).

    Every motion is ONE monotone sweep per clip with a random start and speed: the papers
    sample 6 random ascending frames of a clip, and a sweep seen through any 6 ascending
    frames still shows its direction (a periodic motion of ~1 cycle per clip did not: its
    direction aliased away). The coordinate across the sweep is random over the whole
    frame, so the position in one frame is equally likely for every direction. A circle
    is one arc of ``pi * length`` (at most a turn), so its sense stays visible too.
    """
    length = rng.uniform(*sweep_length)
    start = rng.uniform(-1.0, 1.0 - length)
    sweep = start + length * t                             # ascending, within [-1, 1]
    across = np.full_like(t, rng.uniform(-1.0, 1.0))
    one = np.ones_like(t)
    grow = np.exp(np.log(ZOOM_RANGE) * (t - 0.5))          # x ZOOM_RANGE over the clip
    if motion == "left_right":
        return sweep, across, one
    if motion == "right_left":
        return -sweep, across, one
    if motion == "up_down":                                # image rows grow downwards
        return across, sweep, one
    if motion == "down_up":
        return across, -sweep, one
    if motion in ("diagonal", "anti_diagonal", "diagonal_up"):
        down = np.clip(sweep + rng.uniform(-0.3, 0.3), -1.0, 1.0)
        # top left to bottom right, top right to bottom left, bottom left to top right
        dx, dy = {"diagonal": (sweep, down), "anti_diagonal": (-sweep, down), "diagonal_up": (sweep, -down)}[motion]
        return dx, dy, one
    if motion == "zoom_in":
        return across, np.full_like(t, rng.uniform(-0.5, 0.5)), grow
    if motion == "zoom_out":
        return across, np.full_like(t, rng.uniform(-0.5, 0.5)), grow[::-1].copy()
    if motion == "static":
        return across, np.full_like(t, rng.uniform(-1.0, 1.0)), one
    if motion in ("circle_cw", "circle_ccw"):
        radius = rng.uniform(*CIRCLE_RADIUS)
        centre_x, centre_y = rng.uniform(radius - 1.0, 1.0 - radius, 2)
        # with rows growing downwards an ascending angle turns clockwise on screen; the
        # counter-clockwise arc is the clockwise one played backwards (same positions)
        turn = np.pi * length * (t if motion == "circle_cw" else t[::-1]) + rng.uniform(0, 2 * np.pi)
        return centre_x + radius * np.cos(turn), centre_y + radius * np.sin(turn), one
    raise ValueError(f"motion={motion!r}: expected one of {', '.join(MOTIONS)}")


class _Sprite(NamedTuple):
    """An object of a clip: its look and, per frame, where it is in the scene."""

    texture: np.ndarray        # (S, S, 3) uint8
    mask: np.ndarray | None    # (S, S) bool: the pixels of the texture to draw; None: all
    x: np.ndarray              # (T,) centre column, float, where a still camera would see it
    y: np.ndarray              # (T,) centre row
    half: np.ndarray           # (T,) half-side, int pixels


def _sprite(motion: str, t: np.ndarray, size: tuple[int, int], rng: np.random.Generator, texture: np.ndarray,
            mask: np.ndarray | None = None, object_size=OBJECT_SIZE, sweep_length=SWEEP_LENGTH) -> _Sprite:
    """An object doing ``motion`` in a frame of ``size``, size drawn from ``object_size``."""
    width, height = size
    dx, dy, scale = _trajectory(motion, t, rng, sweep_length)
    half = np.maximum(1, np.round(rng.uniform(*object_size) * min(width, height) * scale)).astype(int)
    # offsets of +-1 put the largest object of the clip against a border: it never leaves the
    # frame, so its size changes only when the motion is a zoom
    amp_x, amp_y = max(0, width / 2 - half.max()), max(0, height / 2 - half.max())
    return _Sprite(texture, mask, width / 2 + amp_x * dx, height / 2 + amp_y * dy, half)


def _distractors(count: int, t: np.ndarray, size: tuple[int, int], rng: np.random.Generator, object_size,
                 sweep_length) -> tuple[list[_Sprite], list[_Sprite]]:
    """``count`` distractors with random motions, split into those under and over the object."""
    under, over = [], []
    for _ in range(count):
        motion = MOTIONS[rng.integers(len(MOTIONS))]
        sprite = _sprite(motion, t, size, rng, *_distractor_look(rng), object_size, sweep_length)
        (over if rng.random() < 0.5 else under).append(sprite)
    return under, over


def _camera_path(camera: str | None, t: np.ndarray, size: tuple[int, int], rng: np.random.Generator):
    """Per frame ``(shift_x, shift_y, zoom)``, each ``(T,)``, of the view over the scene; None when still.

    The view's centre drifts in a straight line through the scene's centre (random
    direction, travel :data:`CAMERA_PAN` of the frame), symmetric in time like the motions;
    "pan_zoom" also zooms in or out by :data:`CAMERA_ZOOM`. The zoom is >= 1, so the view
    never needs more of the scene than the pan's margin.
    """
    if camera is None:
        return None
    _choice("camera", camera, CAMERAS)
    width, height = size
    angle, travel = rng.uniform(0, 2 * np.pi), rng.uniform(*CAMERA_PAN)
    shift_x = (t - 0.5) * travel * width * np.cos(angle)
    shift_y = (t - 0.5) * travel * height * np.sin(angle)
    zoom = np.ones_like(t) if camera == "pan" else CAMERA_ZOOM ** (t if rng.random() < 0.5 else 1 - t)
    return shift_x, shift_y, zoom


def _film(background: np.ndarray, view, size: tuple[int, int], num_frames: int) -> np.ndarray:
    """The background as the camera sees it in every frame: ``(T, H, W, 3)`` uint8."""
    width, height = size
    if view is None:
        return np.broadcast_to(background, (num_frames, height, width, 3))
    shift_x, shift_y, zoom = view
    margin_x, margin_y = (background.shape[1] - width) // 2, (background.shape[0] - height) // 2
    # the centre of frame pixel u sees the scene at  width / 2 + shift + (u + 0.5 - width / 2) / zoom
    cols = margin_x + width / 2 + shift_x[:, None] + (np.arange(width) + 0.5 - width / 2) / zoom[:, None]
    rows = margin_y + height / 2 + shift_y[:, None] + (np.arange(height) + 0.5 - height / 2) / zoom[:, None]
    cols, rows = np.floor(cols).astype(int), np.floor(rows).astype(int)  # (T, W), (T, H)
    return background[rows[:, :, None], cols[:, None, :]]  # (T, H, W, 3)


def _draw(frames: np.ndarray, sprite: _Sprite, view) -> None:
    """Paste ``sprite`` into every frame of ``frames`` ``(T, H, W, 3)``, where the camera ``view`` sees it."""
    height, width = frames.shape[1:3]
    x, y, half = sprite.x, sprite.y, sprite.half
    if view is not None:  # scene to frame coordinates: the inverse of _film's mapping
        shift_x, shift_y, zoom = view
        x = width / 2 + (x - width / 2 - shift_x) * zoom
        y = height / 2 + (y - height / 2 - shift_y) * zoom
        half = np.maximum(1, np.round(half * zoom)).astype(int)
    left, top = np.round(x).astype(int) - half, np.round(y).astype(int) - half
    for img, x0, y0, side in zip(frames, left, top, 2 * half):
        _paste(img, sprite.texture, x0, y0, side, sprite.mask)


def render_clip(motion: str, size: tuple[int, int], num_frames: int, rng: np.random.Generator,
                background: np.ndarray | None = None, texture: np.ndarray | None = None, *,
                object_size: tuple[float, float] = OBJECT_SIZE, speed: tuple[float, float] = SWEEP_LENGTH,
                noise: int = NOISE, distractors: int = 0, camera: str | None = None) -> np.ndarray:
    """Frames ``(num_frames, H, W, 3)`` uint8 of one clip of ``motion``.

    Args:
        motion: one of :data:`MOTIONS`.
        size: ``(width, height)`` of the frames.
        num_frames: frames of the clip.
        rng: the source of everything random.
        background: the scene ``(H', W', 3)`` uint8, ``(W', H') = scene_size(size, camera)``;
            shared within a group; drawn from ``rng`` (dim, low contrast) when not given.
        texture: the object's look ``(S, S, 3)`` uint8, any square size; shared within a
            group; drawn from ``rng`` when not given.
        object_size, speed, noise, distractors, camera: as in :class:`ActionSetSpec`. With
            no distractors and no camera nothing extra is drawn from ``rng``.

    Returns:
        The frames; the objects are pasted over the noisy background (noise-free, as the
        demo's always were).
    """
    width, height = size
    scene_width, scene_height = scene_size(size, camera)
    if background is None:
        background = _background(rng, scene_height, scene_width)
    if background.shape[:2] != (scene_height, scene_width):
        raise ValueError(f"background of {background.shape[1]}x{background.shape[0]}: expected the scene size "
                         f"{scene_width}x{scene_height} for size={size!r}, camera={camera!r}")
    if texture is None:
        texture = _object_texture(rng)
    t = (np.arange(num_frames) + 0.5) / num_frames  # frame centres: symmetric about 0.5
    actor = _sprite(motion, t, size, rng, texture, None, object_size, speed)
    under, over = _distractors(distractors, t, size, rng, object_size, speed)
    view = _camera_path(camera, t, size, rng)
    frames = _film(background, view, size, num_frames).astype(np.int16)  # (T, H, W, 3)
    if noise:  # int32 draws the same numbers as the default int64, at half the memory
        frames = frames + rng.integers(-noise, noise + 1, (num_frames, height, width, 3), dtype=np.int32)
    for sprite in (*under, actor, *over):
        _draw(frames, sprite, view)
    return np.clip(frames, 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, texture: np.ndarray, x0: int, y0: int, side: int, mask: np.ndarray | None = None) -> None:
    """Paste ``texture`` resized (nearest) to side x side at (x0, y0), clipped to the image;
    with a ``mask`` (same size as ``texture``) only its True pixels."""
    height, width = img.shape[:2]
    top, bottom, left, right = max(y0, 0), min(y0 + side, height), max(x0, 0), min(x0 + side, width)
    if top >= bottom or left >= right:
        return
    src_y = np.arange(top - y0, bottom - y0) * texture.shape[0] // side
    src_x = np.arange(left - x0, right - x0) * texture.shape[1] // side
    region = img[top:bottom, left:right]  # a view: writing it writes img
    if mask is None:
        region[:] = texture[src_y][:, src_x]
    else:
        keep = mask[src_y][:, src_x]
        region[keep] = texture[src_y][:, src_x][keep]


def _clip_length(spec: ActionSetSpec, rng: np.random.Generator) -> int:
    """Frames of the next clip; a fixed length draws nothing from ``rng``."""
    low, high = spec.frame_range
    return low if low == high else int(rng.integers(low, high + 1))


def _write_set(root: Path, spec: ActionSetSpec, ext: str, progress: bool, desc: str) -> Path:
    """Render and encode every clip of ``spec`` under ``root``, from one random stream in a fixed order."""
    if ext not in CODECS:
        raise ValueError(f"ext={ext!r}: expected one of {', '.join(CODECS)}")
    from tqdm.auto import tqdm

    rng = np.random.default_rng(spec.seed)
    motions = MOTIONS[:spec.num_classes]
    # scene evidence: one look per class, drawn first; off, nothing is drawn
    classes = {m: _class_look(rng) for m in motions} if spec.scene_evidence else {}
    jobs = [(m, g, c) for m in motions for g in range(1, spec.groups + 1) for c in range(1, spec.clips_per_group + 1)]
    for motion, group, clip in tqdm(jobs, desc=desc, unit="clip", disable=not progress):
        if clip == 1:  # one look (actor + background) per group; a group's clips are consecutive
            look = (_scene(rng, spec, classes.get(motion)), _object_texture(rng))
        frames = render_clip(motion, spec.size, _clip_length(spec, rng), rng, *look, object_size=spec.object_size,
                             speed=spec.speed, noise=spec.noise, distractors=spec.distractors, camera=spec.camera)
        stem = f"v_{motion}_{group:02d}"
        write_video(root / motion / stem / f"{stem}_{clip:02d}{ext}", frames)
    return root


def make_action_set(root: str | os.PathLike, spec: ActionSetSpec | str, *, size: tuple[int, int] | None = None,
                    seed: int | None = None, ext: str = ".avi", progress: bool = True) -> Path:
    """Write the synthetic action set ``spec`` in the UCF11 layout and return its root.

    Args:
        root: output folder (created; existing clips with the same names are overwritten).
        spec: an :class:`ActionSetSpec`, or the name of a preset of :data:`ACTION_SETS`.
        size: ``(width, height)`` replacing the spec's, e.g. ``(160, 120)``, the papers' frames.
        seed: replaces the spec's seed.
        ext: ``".avi"`` (MPEG-4), ``".mpg"`` (MPEG-1) or ``".mp4"``.
        progress: show a tqdm bar.

    Returns:
        ``Path(root)``, holding ``spec.num_clips`` clips as
        ``<motion>/v_<motion>_<GG>/v_<motion>_<GG>_<CC><ext>``.

    Examples:
        >>> root = make_action_set("hard_data", "hard", size=(160, 120))  # doctest: +SKIP
        >>> len(UCF11(root))  # doctest: +SKIP
        384
    """
    if isinstance(spec, str) and spec in ACTION_SETS:
        spec = ACTION_SETS[spec]
    if not isinstance(spec, ActionSetSpec):
        raise ValueError(f"spec={spec!r}: expected an ActionSetSpec or a preset of {', '.join(ACTION_SETS)}")
    overrides = {name: value for name, value in (("size", size), ("seed", seed)) if value is not None}
    return _write_set(Path(root), dataclasses.replace(spec, **overrides), ext, progress, "action set")


def make_demo_videos(root: str | os.PathLike, num_classes: int = 6, groups: int = 5,
                     clips_per_group: int = 8, size: tuple[int, int] = (80, 60),
                     num_frames: int = 24, ext: str = ".avi", seed: int = 0,
                     progress: bool = True) -> Path:
    """Write a synthetic action data set in the UCF11 layout and return its root.

    The set of :class:`ActionSetSpec` with these fields and every other one at its default
    (:func:`make_action_set` writes the same files).

    Args:
        root: output folder (created; existing clips with the same names are overwritten).
        num_classes: motion classes, the first ``num_classes`` of :data:`MOTIONS`.
        groups: groups per class (shared background and object texture, like UCF11's).
        clips_per_group: clips per group.
        size: ``(width, height)``, both even.
        num_frames: frames per clip.
        ext: ``".avi"`` (MPEG-4), ``".mpg"`` (MPEG-1) or ``".mp4"``.
        seed: everything random derives from it.
        progress: show a tqdm bar.

    Returns:
        ``Path(root)``, holding ``num_classes * groups * clips_per_group`` clips.

    Examples:
        >>> root = make_demo_videos("demo_data", num_classes=6, groups=5, clips_per_group=8)  # doctest: +SKIP
        >>> UCF11(root).classes  # doctest: +SKIP
        ['diagonal', 'down_up', 'left_right', 'right_left', 'up_down', 'zoom_in']
    """
    spec = ActionSetSpec(num_classes=num_classes, groups=groups, clips_per_group=clips_per_group, size=size,
                         num_frames=num_frames, seed=seed)
    return _write_set(Path(root), spec, ext, progress, "demo videos")
