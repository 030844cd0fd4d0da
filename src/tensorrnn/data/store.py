"""The compact clip store: every frame of a clip kept as a JPEG, only the sampled frames decoded.

The raw frame cache (:mod:`tensorrnn.data.cache`) keeps 57.6 kB per 160x120 frame.
:class:`JpegStore` keeps the same frames as baseline JPEGs (quality 90, 4:2:0 chroma; the sizes
of both stores are measured by ``bench/bench_data.py``) and decodes, per sample, only the frames
the sampler picked, with libjpeg-turbo through ``simplejpeg``, straight into the caller's array
(:meth:`~tensorrnn.data.cache.FrameCache.read` ``out=``; the datasets pass one reused buffer per
thread).

Chosen by measurement on 160x120 frames: ``simplejpeg`` decodes faster than PyTurboJPEG (which
also needs the system's libturbojpeg) and Pillow; ``torchvision.io.decode_jpeg`` has no build
for torch 2.13. Chroma (store version 2): 4:2:0 decodes faster than 4:4:4 and is smaller, for
a mean error about the step from quality 90 to 85 at 4:4:4, and the source videos are 4:2:0
already; the faster decode is what lets the store serve 6 frames a clip faster than a training
step consumes them. ``fastdct`` / ``fastupsample``: no faster, more error; not used.

On disk, beside the raw store's layout (same folder naming, same ``store.json``):

- ``shard-<id>.jpg``: the JPEGs of a run of clips, back to back;
- ``shard-<id>.json``: the shard's index, as the raw store's, plus ``"ends"``: the end offset
  of every frame's JPEG in the ``.jpg`` file (frame ``i`` is ``ends[i-1]:ends[i]``), and the
  store's ``"format"``, ``"size"`` and ``"quality"``, checked when the shard is read.

Everything else is :class:`~tensorrnn.data.cache.FrameCache`'s: atomic shards (the index is
written last), resumable builds, a changed file decoded again, bad clips recorded with their
reason, several processes (DDP ranks) sharing one store, a store of another version, format,
quality or size rebuilt rather than read, and a full disk leaving the store as it was.
The JPEGs are encoded in the decoding workers (``build_workers``), so encoding is parallel.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import torch

from tensorrnn.data.cache import CACHE_VERSION, FrameCache, _ShardWriter
from tensorrnn.data.video import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS

#: Version of the JPEG store's layout and encoding; a store of another version is rebuilt
#: (1: 4:4:4 chroma; 2: 4:2:0).
STORE_VERSION = 2
#: JPEG quality of the stored frames (1..100).
DEFAULT_QUALITY = 90
#: The stores ``store=`` names: ``jpeg`` (the default) and ``raw`` (uint8, exact, many times larger).
STORES = ("jpeg", "raw")
#: Chroma subsampling of the stored JPEGs (part of :data:`STORE_VERSION`).
CHROMA = "420"


def _simplejpeg():
    try:
        import simplejpeg
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ImportError("the JPEG clip store needs simplejpeg (pip install simplejpeg); or use store='raw'") from err
    return simplejpeg


def encode_frames(frames: np.ndarray, quality: int = DEFAULT_QUALITY) -> list[bytes]:
    """One baseline JPEG (:data:`CHROMA` chroma, 4:2:0) per frame of ``frames``.

    Shape:
        - frames: ``(T, H, W, 3)`` uint8 RGB.
    """
    simplejpeg = _simplejpeg()
    return [simplejpeg.encode_jpeg(np.ascontiguousarray(f), quality=quality, colorspace="RGB",
                                   colorsubsampling=CHROMA) for f in frames]


def decode_into(jpegs, out: np.ndarray) -> np.ndarray:
    """Decode JPEG ``jpegs[k]`` (bytes-like) into ``out[k]``, as the store reads its frames.

    The store's one decoder (libjpeg-turbo's default, accurate DCT and upsampling):
    ``decode_into(encode_frames(frames, quality), out)`` gives bit for bit what a store of that
    quality holds for ``frames``.

    Shape:
        - out: ``(len(jpegs), H, W, 3)`` uint8, C-contiguous, the frames' size; returned.
    """
    decode = _simplejpeg().decode_jpeg
    for k, jpeg in enumerate(jpegs):
        decode(jpeg, colorspace="RGB", buffer=out[k])
    return out


def decode_frames(jpegs, size: tuple[int, int], device="cpu", threads: int = 1) -> torch.Tensor:
    """Decode JPEGs (bytes-like, frames of one ``size``) into one uint8 tensor on ``device``.

    On a CPU: :func:`decode_into`, the store's own decoder (bit for bit what a read gives),
    shared over ``threads`` loading threads. On a CUDA device: one call of torchvision's
    ``decode_jpeg`` for the whole list, with nvjpeg (needs torchvision, the ``features`` extra);
    nvjpeg's inverse DCT and chroma upsampling may differ from libjpeg-turbo's by a grey level
    or two.

    Shape:
        ``N`` JPEGs of ``size = (W, H)`` -> ``(N, H, W, 3)`` uint8 on ``device``.
    """
    from tensorrnn.data.threads import map_shares

    device = torch.device(device)
    width, height = size
    if device.type == "cpu":
        out = np.empty((len(jpegs), height, width, 3), np.uint8)
        map_shares(lambda k: decode_into(jpegs[k:k + 1], out[k:k + 1]), range(len(jpegs)), threads)
        return torch.from_numpy(out)
    if device.type != "cuda":
        raise ValueError(f"device={str(device)!r}: JPEG decoding runs on 'cpu' or a CUDA device")
    if not jpegs:
        return torch.empty((0, height, width, 3), dtype=torch.uint8, device=device)
    try:
        from torchvision.io import decode_jpeg
    except ImportError as err:
        raise ImportError("decoding JPEGs on a CUDA device needs torchvision (pip install 'tensorrnn[features]'); "
                          "or data.decode_on loader") from err
    encoded = [torch.frombuffer(bytearray(jpeg), dtype=torch.uint8) for jpeg in jpegs]  # on the CPU, as it wants
    images = decode_jpeg(encoded, mode="RGB", device=device)  # N tensors (3, H, W)
    wrong = next((tuple(x.shape) for x in images if tuple(x.shape) != (3, height, width)), None)
    if wrong is not None:
        raise ValueError(f"a JPEG decoded to {wrong}: expected frames of {width}x{height} (3, {height}, {width})")
    return torch.stack(images).permute(0, 2, 3, 1).contiguous()  # (N, H, W, 3)


class JpegStore(FrameCache):
    """A clip store keeping frames as JPEGs; reads decode only the requested frames.

    Args:
        cache_dir: parent folder of all stores.
        root: the dataset root (part of the store's identity; clips are keyed relative to it).
        size: ``(width, height)`` of the stored frames.
        name: a readable prefix of the store's folder name (the dataset's name).
        quality: JPEG quality 1..100 (part of the identity: another quality is another store).
        max_pixels, max_frames: the decoder's safety limits (part of the identity).

    Examples:
        >>> store = JpegStore("cache", "UCF11_updated_mpg", (160, 120), name="ucf11")  # doctest: +SKIP
        >>> store.build(paths)                               # decodes what is missing  # doctest: +SKIP
        >>> store.read(store.rel(paths[0]), [0, 5]).shape    # (2, 120, 160, 3) uint8  # doctest: +SKIP
    """

    FORMAT, SUFFIX = "jpeg", ".jpg"

    def __init__(self, cache_dir: str | os.PathLike, root: str | os.PathLike, size: tuple[int, int],
                 name: str = "dataset", quality: int = DEFAULT_QUALITY, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_frames: int = DEFAULT_MAX_FRAMES) -> None:
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
            raise ValueError(f"quality={quality!r}: expected a JPEG quality, an integer in 1..100")
        self.quality = int(quality)
        super().__init__(cache_dir, root, size, name, max_pixels, max_frames)

    def __repr__(self) -> str:
        return f"JpegStore(dir={str(self.dir)!r}, size={self.size}, quality={self.quality})"

    def _identity(self) -> list:
        return [CACHE_VERSION, "jpeg", STORE_VERSION, self.quality, str(self.root), self.size, self.max_pixels,
                self.max_frames]

    def info(self) -> dict:
        return {**super().info(), "store_version": STORE_VERSION, "quality": self.quality, "chroma": CHROMA}

    def _encoder(self):
        return functools.partial(encode_frames, quality=self.quality)

    def _writer(self) -> _JpegShardWriter:
        return _JpegShardWriter(self.dir, self.SUFFIX, {"format": self.FORMAT, "size": list(self.size),
                                                        "quality": self.quality, "store_version": STORE_VERSION})

    def _check_frames_file(self, index: Path, data: dict) -> None:
        if data.get("quality") != self.quality or data.get("store_version") != STORE_VERSION:
            raise ValueError(f"written with quality={data.get('quality')!r}, store_version="
                             f"{data.get('store_version')!r}; expected {self.quality}, {STORE_VERSION}")
        ends = data["ends"]
        if len(ends) != int(data["frames"]) or any(b < a for a, b in zip([0, *ends], ends)):
            raise ValueError(f"the index holds {len(ends)} frame offsets for {data['frames']} frames")
        actual = index.with_suffix(self.SUFFIX).stat().st_size
        if actual != (ends[-1] if ends else 0):
            raise ValueError(f"{index.with_suffix(self.SUFFIX).name} holds {actual} bytes, the index "
                             f"describes {ends[-1] if ends else 0}")

    def _open(self, shard: str):
        ends = json.loads((self.dir / f"{shard}.json").read_text())["ends"]
        starts = [0, *ends]  # Python ints: the per-frame slicing below is pure Python
        path = self.dir / f"{shard}{self.SUFFIX}"
        # Memory-mapped: a read touches only the pages of the frames it decodes (on a shared
        # file system, a node fetches the frames it samples, not the store).
        blob = memoryview(np.memmap(path, np.uint8, "r")) if starts[-1] else memoryview(b"")
        return blob, starts

    def _take(self, opened, positions: np.ndarray, out: np.ndarray) -> None:
        decode_into(self._jpegs(opened, positions), out)

    @staticmethod
    def _jpegs(opened, positions: np.ndarray) -> list:
        blob, starts = opened
        return [blob[starts[i]:starts[i + 1]] for i in positions.tolist()]

    def read_jpegs(self, rel: str, indices) -> list[bytes]:
        """The stored JPEGs of frames ``indices`` of a clip, undecoded (copies of their bytes):
        what :func:`decode_frames` decodes on the model's device (``data.decode_on device``)."""
        return [bytes(jpeg) for jpeg in self._jpegs(*self._located(rel, indices))]


class _JpegShardWriter(_ShardWriter):
    """Writes the JPEGs of each clip back to back and their end offsets into the index."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ends: list[int] = []

    def _write_frames(self, jpegs) -> int:
        for jpeg in jpegs:
            self.file.write(jpeg)
            self.written += len(jpeg)
            self.ends.append(self.written)
        return len(jpegs)

    def _index(self) -> dict:
        return {**super()._index(), "ends": self.ends}


def open_store(store: str, cache_dir: str | os.PathLike, root: str | os.PathLike, size: tuple[int, int],
               name: str = "dataset", quality: int = DEFAULT_QUALITY, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_frames: int = DEFAULT_MAX_FRAMES) -> FrameCache:
    """The store ``store`` (``"jpeg"`` or ``"raw"``) of a dataset root at ``size`` in ``cache_dir``."""
    if store == "jpeg":
        return JpegStore(cache_dir, root, size, name, quality, max_pixels, max_frames)
    if store == "raw":
        return FrameCache(cache_dir, root, size, name, max_pixels, max_frames)
    raise ValueError(f"store={store!r}: expected one of {', '.join(map(repr, STORES))}")


def default_cache_dir() -> Path:
    """Where stores go when none is named: ``$XDG_CACHE_HOME/tensorrnn``, else
    ``~/.cache/tensorrnn`` (the XDG base directory convention)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):  # the spec: a relative value is ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tensorrnn"


def resolve_cache_dir(cache_dir) -> Path | None:
    """``cache_dir`` as the data module takes it: ``"auto"`` the default folder
    (:func:`default_cache_dir`), ``None`` / ``"none"`` no store, else the folder itself."""
    if cache_dir is None or (isinstance(cache_dir, str) and cache_dir.lower() in ("none", "null", "")):
        return None
    if isinstance(cache_dir, str) and cache_dir.lower() == "auto":
        return default_cache_dir()
    return Path(cache_dir)


def list_stores(cache_dir: str | os.PathLike) -> list[dict]:
    """The stores in ``cache_dir``: one dict per store folder (``path``, ``bytes``, ``clips``,
    ``bad``, and its ``store.json``: ``format``, ``size``, ``root``, ...), sorted by name.
    Folders without a ``store.json`` are not stores and are left out."""
    stores = []
    folder = Path(cache_dir)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        identity = path / "store.json"
        if not path.is_dir() or not identity.is_file():
            continue
        try:
            info = json.loads(identity.read_text())
        except (OSError, ValueError):
            info = {}
        clips, bad = set(), set()
        for index in path.glob("shard-*.json"):
            try:
                items = json.loads(index.read_text())["clips"].items()
            except (OSError, ValueError, KeyError, AttributeError):
                continue
            for rel, item in items:
                (bad if "error" in item else clips).add(rel)
        nbytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        stores.append({**info, "path": path, "bytes": nbytes, "clips": len(clips), "bad": len(bad - clips),
                       "format": info.get("format", "raw")})
    return stores
