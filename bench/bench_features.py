"""Benchmark: ``tensorrnn features`` (:mod:`tensorrnn.data.features`) on this machine.

Generated videos of 320x240 (UCF11's size; MPEG-4, 48 frames each, in a ``folder`` layout) go
through :func:`~tensorrnn.data.features.extract` with each backbone (random weights: the speed
does not depend on them), in the same process as decoding them alone: frames per second of the
whole command (decoding, preprocessing, the backbone, writing), the share of it the decoding
takes, and the disk the features take against the videos. ``inception_v3`` is the TR-LSTM
paper's backbone (2,048 features a frame, 299x299 crops); ``resnet18`` and
``mobilenet_v3_small`` are the small ones for a CPU.

Writes ``bench/results/features.json`` and ``bench/results/features.md``; ``--quick``: a smoke run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import blocks
import numpy as np
import torch

from tensorrnn.data.features import extract, load_backbone
from tensorrnn.data.synthetic import write_video
from tensorrnn.data.video import read_frames
from tensorrnn.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
BACKBONES = ("mobilenet_v3_small", "resnet18", "inception_v3")
SIZE = (320, 240)


def _videos(root: Path, count: int, frames: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        # smooth moving blobs over noise: something a codec compresses as it does footage
        t = np.arange(frames)[:, None, None]
        y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]]
        blob = np.exp(-(((x - 40 - 4 * t) ** 2 + (y - 120) ** 2) / 800.0))
        base = (blob[..., None] * rng.integers(80, 255, 3) + rng.integers(0, 40, (frames, SIZE[1], SIZE[0], 3)))
        paths.append(write_video(root / f"class{i % 2}" / f"clip{i}.mp4", base.clip(0, 255).astype(np.uint8)))
    return paths


def run(quick: bool) -> dict:
    torch.manual_seed(0)
    count, frames = (2, 8) if quick else (8, 48)
    backbones = BACKBONES[:1] if quick else BACKBONES
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        paths = _videos(root, count, frames)
        video_bytes = sum(p.stat().st_size for p in paths)
        start = time.perf_counter()
        decoded = sum(len(read_frames(p)) for p in paths)
        decode_s = time.perf_counter() - start
        rows = []
        for name in backbones:
            backbone = load_backbone(name, "none")
            out = Path(tmp) / name
            start = time.perf_counter()
            summary = extract("folder", root, out, backbone, batch_size=16, progress=False)
            seconds = time.perf_counter() - start
            feature_bytes = sum(p.stat().st_size for p in out.rglob("*.npy"))
            rows.append({"backbone": name, "feature_size": backbone.feature_size, "frames": summary["frames"],
                         "seconds": seconds, "frames_per_second": summary["frames"] / seconds,
                         "decode_share": decode_s / seconds, "feature_bytes": feature_bytes,
                         "bytes_per_frame": feature_bytes / summary["frames"]})
            print(f"bench_features: {name}: {rows[-1]['frames_per_second']:.1f} frames/s", file=sys.stderr)
    return {"name": "features", "quick": quick, "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "videos": count,
            "frames_per_video": frames, "size": list(SIZE), "decoded_frames": decoded,
            "decode_frames_per_second": decoded / decode_s, "video_bytes": video_bytes, "backbones": rows}


def markdown(result: dict) -> str:
    width, height = result["size"]
    lines = ["# Feature extraction (`tensorrnn features`)", "",
             f"{result['machine']}, torch {result['torch']}, {result['threads']} threads; {result['videos']} "
             f"generated videos of {result['frames_per_video']} frames at {width}x{height} (MPEG-4, "
             f"{result['video_bytes'] / result['decoded_frames'] / 1024:.1f} KiB a frame), every frame, batches "
             f"of 16, random weights. Decoding alone: {result['decode_frames_per_second']:.0f} frames/s. "
             "Written by `bench/bench_features.py`.", "",
             "| backbone | features a frame | frames/s (whole command) | decoding's share | disk a frame | disk against the videos |",
             "|---|---:|---:|---:|---:|---:|"]
    per_frame_video = result["video_bytes"] / result["decoded_frames"]
    for row in result["backbones"]:
        lines.append(f"| {row['backbone']} | {row['feature_size']:,} | {row['frames_per_second']:.1f} | "
                     f"{row['decode_share']:.1%} | {row['bytes_per_frame'] / 1024:.1f} KiB | "
                     f"{row['bytes_per_frame'] / per_frame_video:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 short videos, one backbone: a smoke run")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    result = run(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "features.json", json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    atomic_write_text(out / "features.md", table)
    blocks.update(out / "features.json")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
