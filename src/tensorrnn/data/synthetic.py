"""Small synthetic action videos, written as real encoded files through PyAV.

Every clip shows a textured object moving over a textured background; the class is the
MOTION (left to right, top to bottom, diagonal, right to left, bottom to top, zoom in, zoom
out, static), never the look of one frame: each motion is one sweep with a random start,
length and position across it, so over a clip the object is as likely anywhere for opposite
directions; only the order of the frames tells them apart. Like UCF11's groups (same actor and background), clips
of one group share the background and the object's texture, so group-aware splits are
meaningful. Files follow the UCF11 layout
``<class>/v_<class>_<GG>/v_<class>_<GG>_<CC>.avi`` and load with
:class:`tensorrnn.data.UCF11`.

Also here: :func:`write_video` (any uint8 frames to a file) and the broken-file helpers
:func:`write_truncated`, :func:`write_empty` and :func:`write_corrupt` used by the tests.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Motion patterns, in the order classes are taken from (num_classes <= len(MOTIONS)).
MOTIONS = ("left_right", "up_down", "diagonal", "right_left", "down_up", "zoom_in", "zoom_out", "static")
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


def write_truncated(src: str | os.PathLike, dst: str | os.PathLike, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` share of ``src``'s bytes to ``dst`` (a download cut short)."""
    if not 0.0 <= keep < 1.0:
        raise ValueError(f"keep={keep!r}: expected a share in [0, 1)")
    data = Path(src).read_bytes()
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


def write_empty(path: str | os.PathLike) -> Path:
    """Create a 0-byte file at ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"")
    return Path(path)


def write_corrupt(path: str | os.PathLike, nbytes: int = 4096, seed: int = 0) -> Path:
    """Write ``nbytes`` random bytes at ``path`` (a file no demuxer recognises)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(np.random.default_rng(seed).bytes(nbytes))
    return Path(path)


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


def _object_texture(rng: np.random.Generator) -> np.ndarray:
    """A bright, high-contrast checkerboard of two random colours with a random cell count."""
    cells = int(rng.integers(2, 6))
    light = rng.integers(170, 256, 3)
    dark = rng.integers(0, 256, 3) // 3
    board = (np.add.outer(np.arange(32) * cells // 32, np.arange(32) * cells // 32) % 2).astype(bool)
    return np.where(board[..., None], light, dark).astype(np.uint8)  # (32, 32, 3)


def _trajectory(motion: str, t: np.ndarray, rng: np.random.Generator):
    """Offsets (dx, dy) in [-1, 1] and scale factor per frame for a motion; ``t`` in (0, 1).

    Every motion is ONE monotone sweep per clip with a random start and speed: the papers
    sample 6 random ascending frames of a clip, and a sweep seen through any 6 ascending
    frames still shows its direction (a periodic motion of ~1 cycle per clip did not: its
    direction aliased away). The coordinate across the sweep is random over the whole
    frame, so the position in one frame is equally likely for every direction.
    """
    length = rng.uniform(*SWEEP_LENGTH)
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
    if motion == "diagonal":                               # top left to bottom right
        return sweep, np.clip(sweep + rng.uniform(-0.3, 0.3), -1.0, 1.0), one
    if motion == "zoom_in":
        return across, np.full_like(t, rng.uniform(-0.5, 0.5)), grow
    if motion == "zoom_out":
        return across, np.full_like(t, rng.uniform(-0.5, 0.5)), grow[::-1].copy()
    if motion == "static":
        return across, np.full_like(t, rng.uniform(-1.0, 1.0)), one
    raise ValueError(f"motion={motion!r}: expected one of {', '.join(MOTIONS)}")


def render_clip(motion: str, size: tuple[int, int], num_frames: int, rng: np.random.Generator,
                background: np.ndarray | None = None, texture: np.ndarray | None = None) -> np.ndarray:
    """Frames ``(num_frames, H, W, 3)`` uint8 of one clip of ``motion``.

    ``background`` (H, W, 3) and ``texture`` (any square size) are shared within a group;
    they are drawn from ``rng`` when not given.
    """
    width, height = size
    if background is None:
        background = _background(rng, height, width)
    if texture is None:
        texture = _object_texture(rng)
    t = (np.arange(num_frames) + 0.5) / num_frames  # frame centres: symmetric about 0.5
    dx, dy, scale = _trajectory(motion, t, rng)
    half = np.maximum(1, np.round(rng.uniform(*OBJECT_SIZE) * min(width, height) * scale)).astype(int)
    # offsets of +-1 put the largest object of the clip against a border: it never leaves the
    # frame, so its size changes only when the motion is a zoom
    amp_x, amp_y = max(0, width / 2 - half.max()), max(0, height / 2 - half.max())
    noise = rng.integers(-NOISE, NOISE + 1, (num_frames, height, width, 3))  # (T, H, W, 3)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        img = background.astype(np.int16) + noise[i]
        x0 = int(round(width / 2 + amp_x * dx[i])) - half[i]
        y0 = int(round(height / 2 + amp_y * dy[i])) - half[i]
        _paste(img, texture, x0, y0, 2 * half[i])
        frames[i] = np.clip(img, 0, 255)
    return frames


def _paste(img: np.ndarray, texture: np.ndarray, x0: int, y0: int, side: int) -> None:
    """Paste ``texture`` resized (nearest) to side x side at (x0, y0), clipped to the image."""
    height, width = img.shape[:2]
    ys, xs = np.arange(y0, y0 + side), np.arange(x0, x0 + side)
    keep_y, keep_x = (ys >= 0) & (ys < height), (xs >= 0) & (xs < width)
    if not keep_y.any() or not keep_x.any():
        return
    src_y = (np.arange(side) * texture.shape[0] // side)[keep_y]
    src_x = (np.arange(side) * texture.shape[1] // side)[keep_x]
    img[ys[keep_y][:, None], xs[keep_x][None, :]] = texture[src_y][:, src_x]


def make_demo_videos(root: str | os.PathLike, num_classes: int = 6, groups: int = 5,
                     clips_per_group: int = 8, size: tuple[int, int] = (80, 60),
                     num_frames: int = 24, ext: str = ".avi", seed: int = 0,
                     progress: bool = True) -> Path:
    """Write a synthetic action data set in the UCF11 layout and return its root.

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
        ['circle', 'diagonal', 'left_right', 'static', 'up_down', 'zoom']
    """
    if not 1 <= num_classes <= len(MOTIONS):
        raise ValueError(f"num_classes={num_classes!r}: expected 1..{len(MOTIONS)}")
    for name, value in (("groups", groups), ("clips_per_group", clips_per_group), ("num_frames", num_frames)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: expected a positive integer")
    if groups > 99 or clips_per_group > 99:
        raise ValueError(f"groups={groups}, clips_per_group={clips_per_group}: expected at most 99 (two-digit names)")
    if ext not in CODECS:
        raise ValueError(f"ext={ext!r}: expected one of {', '.join(CODECS)}")
    width, height = size
    if width < 8 or height < 8 or width % 2 or height % 2:
        raise ValueError(f"size={size!r}: expected even (width, height) of at least 8x8")
    from tqdm.auto import tqdm

    root = Path(root)
    rng = np.random.default_rng(seed)
    jobs = [(m, g, c) for m in MOTIONS[:num_classes] for g in range(1, groups + 1)
            for c in range(1, clips_per_group + 1)]
    looks = {}
    for motion, group, clip in tqdm(jobs, desc="demo videos", unit="clip", disable=not progress):
        if (motion, group) not in looks:  # one look (actor + background) per group
            looks[motion, group] = (_background(rng, height, width), _object_texture(rng))
        frames = render_clip(motion, size, num_frames, rng, *looks[motion, group])
        stem = f"v_{motion}_{group:02d}"
        write_video(root / motion / stem / f"{stem}_{clip:02d}{ext}", frames)
    return root
