"""Our JPEG shard store vs LitData (``optimize`` + ``StreamingDataset``) for the same clips.

The evaluation behind the choice in ``docs/architecture.md`` (data: streaming to many nodes).
Both hold the same JPEG frames (160x120, quality 90) of the same synthetic clips; a sample is 6
frames drawn at random from a clip, decoded with simplejpeg. LitData stores a clip as one item
(its JPEGs back to back and their end offsets), since an item is its unit of reading; our
store memory-maps its shards and touches only the sampled frames' bytes.

Measured: build time (decode + encode + write, one process), bytes on disk, clips/s served
with 0 loader workers (batch 16), and bytes read per sample.

    PYTHONPATH=src:/path/to/litdata python bench/bench_stream.py --quick

LitData is not a dependency of tensorrnn: install it next to the environment to run this
(``pip install --target DIR --no-deps litdata`` plus boto3, obstore, requests; its torchvision
pin does not load with torch 2.13 and is not needed). Writes ``bench/results/stream.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import blocks
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tensorrnn import papers
from tensorrnn.data import UCF11, make_demo_videos
from tensorrnn.data.cache import decode_clip
from tensorrnn.data.store import encode_frames
from tensorrnn.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
SIZE, FRAMES, BATCH, QUALITY = papers.UCF11_FRAME_SIZE, papers.FRAMES_PER_CLIP, 16, 90


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def rate(dataset, passes: int) -> float:
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0)
    for _ in loader:  # warm-up: files in the page cache
        pass
    start = time.perf_counter()
    for _ in range(passes):
        for _ in loader:
            pass
    return passes * len(dataset) / (time.perf_counter() - start)


def _litdata_item(args):
    path, label = args
    jpegs = encode_frames(decode_clip(path, SIZE), QUALITY)
    return {"blob": np.frombuffer(b"".join(jpegs), np.uint8), "ends": np.cumsum([len(j) for j in jpegs]),
            "label": label}


class LitDataClips(Dataset):
    """6 random frames of a clip from a LitData ``StreamingDataset`` (the item: a whole clip)."""

    def __init__(self, streaming) -> None:
        self.streaming = streaming
        self.bytes_read = 0

    def __len__(self) -> int:
        return len(self.streaming)

    def __getitem__(self, index):
        import simplejpeg

        item = self.streaming[index]
        blob, ends = item["blob"], np.asarray(item["ends"])
        self.bytes_read += blob.nbytes
        starts = np.concatenate([[0], ends[:-1]])
        picks = np.sort(np.random.choice(len(ends), FRAMES, replace=len(ends) < FRAMES))
        frames = np.stack([simplejpeg.decode_jpeg(blob[starts[i]:ends[i]], colorspace="RGB") for i in picks])
        return torch.from_numpy(frames).float() - 128, item["label"]


def run(quick: bool) -> dict:
    import litdata

    torch.set_num_threads(1)
    clips_per_group, frames = (1, 48) if quick else (4, 120)
    passes = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        tmp = Path(tmp)
        root = make_demo_videos(tmp / "videos", num_classes=4, groups=4, clips_per_group=clips_per_group,
                                size=(320, 240), num_frames=frames, ext=".avi", seed=0, progress=False)
        options = dict(size=SIZE, num_frames=FRAMES, progress=False, scaling="center")
        start = time.perf_counter()
        ours = UCF11(root, cache_dir=tmp / "store", store="jpeg", quality=QUALITY, **options)
        ours_build = time.perf_counter() - start
        ours_bytes = folder_bytes(tmp / "store")
        ours_rate = rate(ours, passes)
        per_frame = ours_bytes / sum(ours.num_frames_per_clip)

        inputs = [(str(c.path), int(c.target)) for c in ours.clips]
        start = time.perf_counter()
        litdata.optimize(fn=_litdata_item, inputs=inputs, output_dir=str(tmp / "litdata"), chunk_bytes="64MB",
                         num_workers=1, mode="overwrite")
        lit_build = time.perf_counter() - start
        lit_bytes = folder_bytes(tmp / "litdata")
        streaming = LitDataClips(litdata.StreamingDataset(f"local:{tmp / 'litdata'}", cache_dir=str(tmp / "lcache")))
        lit_rate = rate(streaming, passes)
        lit_read = streaming.bytes_read / ((passes + 1) * len(streaming))
        shutil.rmtree(tmp / "lcache", ignore_errors=True)
    return {"quick": quick, "clips": len(ours), "frames_per_clip": frames, "size": list(SIZE), "quality": QUALITY,
            "litdata": litdata.__version__, "load_average": os.getloadavg(), "cpus": os.cpu_count(),
            "ours": {"build_s": ours_build, "bytes": ours_bytes, "clips_per_s": ours_rate,
                     "bytes_read_per_sample": FRAMES * per_frame},
            "litdata_store": {"build_s": lit_build, "bytes": lit_bytes, "clips_per_s": lit_rate,
                              "bytes_read_per_sample": lit_read}}


def markdown(r: dict) -> str:
    o, lit = r["ours"], r["litdata_store"]
    lines = [f"Clip store vs LitData {r['litdata']} ({r['clips']} synthetic clips of {r['frames_per_clip']} frames, "
             f"JPEG q{r['quality']} at {r['size'][0]}x{r['size'][1]}, 6 random frames a sample, batch {BATCH}, "
             f"0 workers{', --quick' if r['quick'] else ''}):", "",
             "| store | build s | MiB | clips/s | kB read per sample |", "|---|---|---|---|---|"]
    for name, x in (("tensorrnn JPEG shards (memmap)", o), ("LitData optimize + StreamingDataset", lit)):
        lines.append(f"| {name} | {x['build_s']:.1f} | {x['bytes'] / 2**20:.2f} | {x['clips_per_s']:,.0f} | "
                     f"{x['bytes_read_per_sample'] / 1e3:,.0f} |")
    lines += ["", f"Machine: {r['cpus']} CPUs, load average {r['load_average'][0]:.1f} at the end (shared: absolute "
              "rates are noisy; both stores were measured in the same run)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 clips of 48 frames")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    try:
        import litdata  # noqa: F401
    except ImportError:
        print("bench_stream: skipped: litdata is not installed (not a dependency of tensorrnn; see this "
              "script's docstring to install it beside the environment)", file=sys.stderr)
        return 0
    result = run(args.quick)
    atomic_write_text(RESULTS / "stream.json", json.dumps(result, indent=2))
    atomic_write_text(RESULTS / "stream.md", markdown(result))
    blocks.update(RESULTS / "stream.json")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
