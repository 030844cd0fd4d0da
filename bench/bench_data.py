"""Data loading throughput and size: decoding video on the fly vs the clip stores.

Clips per second delivered by a DataLoader (batch 16, 6 random frames per clip, resized to
160x120, unit scaling as fit's default) for

(a) decoding 320x240 MPEG-4 AVI clips with PyAV at every access,
(b) reading the same clips from the raw frame cache (``store="raw"``: uint8 memmaps), and
(c) from the JPEG store (``store="jpeg"``, the default: quality 90, 4:2:0 chroma, only the
    6 sampled frames decoded, into a reused buffer), also with fit's default augmentation,

with 0 and 2 DataLoader workers, against the rate at which a TT-GRU training step (the UCF11
model of the TT-RNN paper: 8x20x20x18 -> 4x4x4x4, rank 4, Adam, batch 16) consumes clips,
all measured in the same run; and the bytes each store takes, per clip and estimated for
UCF11, HMDB51 and UCF101 at 160x120. The clips are synthetic (``make_demo_videos``) and
written in the script's temporary folder.

Targets: JPEG store at most 1/5 of the raw cache; at least 1,000 clips/s with 0
workers and at least 3x the TT-GRU step's consumption.

    python bench/bench_data.py           # 64 clips of 120 frames (about 2 minutes)
    python bench/bench_data.py --quick   # 16 clips of 48 frames (smoke run)

Writes ``bench/results/data.json`` and ``bench/results/data.md`` (``data_quick.*`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import copy
import inspect
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import blocks
import torch
from torch.utils.data import DataLoader

from tensorrnn import papers
from tensorrnn.data import UCF11, collate_clips, make_demo_videos
from tensorrnn.data.datasets import default_load_threads
from tensorrnn.data.transforms import ClipAugment
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.data.sampling import scale_frames
from tensorrnn.data.store import CHROMA, STORE_VERSION
from tensorrnn.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = papers.UCF11_TRAINING["batch_size"]
#: Targets: the JPEG store's size against the raw cache's, its clips/s with 0 workers, and its
#: rate against the TT-GRU step's consumption.
TARGET_SIZE, TARGET_RATE, TARGET_VS_STEP = 1 / 5, 1_000, 3.0
#: The training clips' augmentation of ``fit`` by default (the data module's defaults).
FIT_AUGMENT = ClipAugment(**{key: inspect.signature(VideoDataModule).parameters[key].default
                             for key in ("crop_scale", "brightness", "contrast", "flip")})
#: Clips and mean frames per clip of the public sets, for the size estimates (approximate:
#: UCF11 from the raw cache's measured 17 GB; UCF101 13,320 clips, 27 h at 25 fps (Soomro et al.
#: 2012); HMDB51 6,766 clips of about 3 s at 30 fps).
DATASET_FRAMES = {"UCF11": (papers.UCF11_NUM_CLIPS, 185), "HMDB51": (papers.HMDB51_NUM_CLIPS, 95),
                  "UCF101": (13_320, 182)}


def loader_rate(dataset, workers: int, epochs: int, repeats: int, augment=None) -> float:
    """Clips/s over ``epochs`` full passes, best of ``repeats`` (the machine is shared), after
    one warm-up pass (worker start-up excluded). Samples as the training loaders give them:
    uint8, their scaling left to the batch (``deferred_scaling``; its cost is in the TT-GRU step),
    built by fit's default number of loading threads into one batch tensor (``collate_clips``)."""
    dataset = copy.copy(dataset)
    dataset.deferred_scaling = True
    dataset.load_threads = default_load_threads(workers)
    dataset.augment = augment
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, collate_fn=collate_clips)
    for _ in loader:  # warm-up: workers started, files in the page cache
        pass
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(epochs):
            for frames, _targets in loader:
                pass
        best = max(best, epochs * len(dataset) / (time.perf_counter() - start))
    return best


def ttgru_rate(steps: int, repeats: int) -> float | None:
    """Clips/s a TT-GRU training step consumes (None if tensorrnn.nn has no classifier yet)."""
    try:
        from tensorrnn.nn import build_classifier
    except ImportError:
        return None
    model = build_classifier("gru", papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE,
                             len(papers.UCF11_CLASSES), rank=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=papers.UCF11_TRAINING["lr"])
    width, height = papers.UCF11_FRAME_SIZE
    # uint8 frames as the loaders give them, scaled on the batch inside the step as in fit, with
    # fit's default unit scaling: pixel - 128 ("center") inputs make this step 2x slower (measured)
    x = torch.randint(0, 256, (BATCH, papers.FRAMES_PER_CLIP, height, width, 3), dtype=torch.uint8)
    y = torch.randint(0, len(papers.UCF11_CLASSES), (BATCH,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(scale_frames(x, "unit")), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, steps * BATCH / (time.perf_counter() - start))
    return best


def run(quick: bool, threads: int) -> dict:
    torch.set_num_threads(threads)  # the loader's main process and the training step alike
    load_start = os.getloadavg()
    clips_per_group, frames = (1, 48) if quick else (4, 120)
    epochs, repeats = (1, 1) if quick else (1, 3)
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        root = make_demo_videos(Path(tmp) / "videos", num_classes=4, groups=4, clips_per_group=clips_per_group,
                                size=(320, 240), num_frames=frames, ext=".avi", seed=0, progress=False)
        # unit scaling: the default of fit's data module (and its step speed: see ttgru_rate)
        options = dict(size=papers.UCF11_FRAME_SIZE, num_frames=papers.FRAMES_PER_CLIP, scaling="unit", progress=False)
        direct = UCF11(root, **options)
        start = time.perf_counter()
        cached = UCF11(root, cache_dir=Path(tmp) / "cache", store="raw", **options)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        jpeg = UCF11(root, cache_dir=Path(tmp) / "cache", store="jpeg", quality=90, **options)
        jpeg_build_s = time.perf_counter() - start
        cache_bytes = sum(p.stat().st_size for p in cached._cache.dir.glob("shard-*"))
        jpeg_bytes = sum(p.stat().st_size for p in jpeg._cache.dir.glob("shard-*"))
        total_frames = sum(jpeg.num_frames_per_clip)
        rates = {}
        for workers in (0, 2):
            rates[f"decode_w{workers}"] = loader_rate(direct, workers, epochs, repeats)
            rates[f"cache_w{workers}"] = loader_rate(cached, workers, 2 if quick else 5, repeats)
            rates[f"jpeg_w{workers}"] = loader_rate(jpeg, workers, 2 if quick else 5, repeats)
            rates[f"jpeg_augment_w{workers}"] = loader_rate(jpeg, workers, 2 if quick else 5, repeats, FIT_AUGMENT)
    ttgru = ttgru_rate(2 if quick else 5, repeats)
    per_frame = {"raw": cache_bytes / total_frames, "jpeg": jpeg_bytes / total_frames}
    estimates = {name: {store: clips * frames_per_clip * b for store, b in per_frame.items()}
                 for name, (clips, frames_per_clip) in DATASET_FRAMES.items()}
    return {
        "quick": quick,
        "clips": len(direct), "frames_per_clip": frames, "source_size": [320, 240], "codec": "mpeg4 (AVI)",
        "target_size": list(papers.UCF11_FRAME_SIZE), "sampled_frames": papers.FRAMES_PER_CLIP, "batch": BATCH,
        "cache_build_s": build_s, "cache_build_clips_per_s": len(direct) / build_s, "cache_bytes": cache_bytes,
        "jpeg_build_s": jpeg_build_s, "jpeg_bytes": jpeg_bytes, "jpeg_quality": 90,
        "jpeg_chroma": CHROMA, "jpeg_store_version": STORE_VERSION,
        "bytes_per_clip": {"raw": cache_bytes / len(direct), "jpeg": jpeg_bytes / len(direct)},
        "bytes_per_frame": per_frame, "estimates_bytes": estimates,
        "clips_per_s": rates, "ttgru_step_clips_per_s": ttgru,
        "ratios": {
            "jpeg_vs_raw_size": jpeg_bytes / cache_bytes,
            **{f"{src}_vs_decode_w{w}": rates[f"{src}_w{w}"] / rates[f"decode_w{w}"]
               for src in ("cache", "jpeg") for w in (0, 2)},
            **{f"{src}_w{w}_vs_ttgru": None if ttgru is None else rates[f"{src}_w{w}"] / ttgru
               for src in ("cache", "jpeg", "jpeg_augment") for w in (0, 2)},
        },
        "load_threads": {f"w{w}": default_load_threads(w) for w in (0, 2)},
        "fit_augment": FIT_AUGMENT.to_dict(),
        "repeats": repeats,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": os.getloadavg(), "load_average_start": load_start,
                    "python": platform.python_version(), "torch": torch.__version__},
    }


def markdown(r: dict) -> str:
    rates, ratios, ttgru = r["clips_per_s"], r["ratios"], r["ttgru_step_clips_per_s"]
    vs = (lambda x: f"{x:.1f}x" if x is not None else "pending (no tensorrnn.nn.TTGRU)")
    lines = [
        f"Data loading, clips/s (DataLoader, batch {r['batch']}, {r['sampled_frames']} random frames, "
        f"{r['source_size'][0]}x{r['source_size'][1]} {r['codec']} -> "
        f"{r['target_size'][0]}x{r['target_size'][1]}; {r['clips']} synthetic clips of {r['frames_per_clip']} frames"
        f"; uint8 samples scaled on the batch, as fit's loaders serve them"
        + (f", built by {r['load_threads']['w0']} loading threads with 0 workers and "
           f"{r['load_threads']['w2']} per worker with 2" if "load_threads" in r else "")
        + f"; torch threads {r['machine']['torch_threads']}; best of {r['repeats']}{'; --quick' if r['quick'] else ''}):",
        "",
        "| source | workers | clips/s | vs decoding | vs TT-GRU step |",
        "|---|---|---|---|---|",
    ]
    for workers in (0, 2):
        dec, cac = rates[f"decode_w{workers}"], rates[f"cache_w{workers}"]
        lines.append(f"| decode (PyAV) | {workers} | {dec:,.0f} | 1.0x | {vs(None if ttgru is None else dec / ttgru)} |")
        lines.append(f"| raw frame cache | {workers} | {cac:,.0f} | {cac / dec:.1f}x | {vs(ratios[f'cache_w{workers}_vs_ttgru'])} |")
        jpg = rates[f"jpeg_w{workers}"]
        lines.append(f"| JPEG store q{r['jpeg_quality']} {r.get('jpeg_chroma', '444')} | {workers} | {jpg:,.0f} | "
                     f"{jpg / dec:.1f}x | {vs(ratios[f'jpeg_w{workers}_vs_ttgru'])} |")
        if f"jpeg_augment_w{workers}" in rates:
            aug = rates[f"jpeg_augment_w{workers}"]
            lines.append(f"| JPEG store, fit's augmentation | {workers} | {aug:,.0f} | {aug / dec:.1f}x | "
                         f"{vs(ratios[f'jpeg_augment_w{workers}_vs_ttgru'])} |")
    per_clip = r["bytes_per_clip"]
    lines += [
        "",
        f"Size at {r['target_size'][0]}x{r['target_size'][1]}: raw cache {per_clip['raw'] / 1e6:,.2f} MB a clip, JPEG "
        f"store {per_clip['jpeg'] / 1e6:,.2f} MB a clip ({ratios['jpeg_vs_raw_size']:.3f} of raw, 1/"
        f"{1 / ratios['jpeg_vs_raw_size']:.1f}; {r['bytes_per_frame']['jpeg'] / 1e3:,.1f} kB a frame). Estimates "
        "(clips x mean frames x bytes a frame of these synthetic clips; real footage compresses less):",
        "",
        "| dataset | raw cache | JPEG store |",
        "|---|---|---|",
    ]
    for name, est in r["estimates_bytes"].items():
        lines.append(f"| {name} | {est['raw'] / 1e9:,.1f} GB | {est['jpeg'] / 1e9:,.1f} GB |")
    if "fit_augment" in r:
        a = r["fit_augment"]
        lines += ["", f"fit's augmentation: crop area {a['crop_scale'][0]:g}-{a['crop_scale'][1]:g}, brightness "
                      f"{a['brightness']:g}, contrast {a['contrast']:g}, flip {a['flip']:g}, clip by clip in the loader "
                      "(uint8, `--data.augment_on loader`; fit's default applies it to the batch after the transfer: "
                      "[feeding the step](#feeding-the-step))."]
    lines += [
        "",
        f"TT-GRU training step (UCF11 model, rank 4, Adam, batch {r['batch']}) consumes "
        + (f"{ttgru:,.0f} clips/s." if ttgru is not None else "(pending: tensorrnn.nn.TTGRU not available)."),
        f"Building the raw cache: {r['cache_build_clips_per_s']:.1f} clips/s "
        f"({r['cache_bytes'] / 2**20:,.0f} MiB for {r['clips']} clips); the JPEG store: "
        f"{r['clips'] / r['jpeg_build_s']:.1f} clips/s ({r['jpeg_bytes'] / 2**20:,.1f} MiB).",
        f"Machine: {r['machine']['cpus']} CPUs, load average "
        + (f"{r['machine']['load_average_start'][0]:.1f} at the start, "
           if "load_average_start" in r["machine"] else "")
        + f"{r['machine']['load_average'][0]:.1f} at the end "
        "(shared with other jobs: absolute rates are noisy, ratios within the run are the result).",
    ]
    if ttgru is not None:
        size, rate = ratios["jpeg_vs_raw_size"], rates["jpeg_w0"]
        steps = [(w, ratios[f"jpeg_w{w}_vs_ttgru"]) for w in (0, 2)]
        mark = (lambda ok: "met" if ok else "not met")
        lines += ["", f"Targets (JPEG store): at most 1/{1 / TARGET_SIZE:.0f} of the raw cache: {mark(size <= TARGET_SIZE)} "
                      f"(1/{1 / size:.1f}); at least {TARGET_RATE:,} clips/s with 0 workers: {mark(rate >= TARGET_RATE)} "
                      f"({rate:,.0f}); at least {TARGET_VS_STEP:g}x the TT-GRU step's consumption: "
                      + ", ".join(f"{mark(x >= TARGET_VS_STEP)} with {w} workers ({x:.1f}x)" for w, x in steps) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: on a shared 2-core machine more "
                             "threads slow both the collate and the training step through contention)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    result = run(args.quick, args.threads)
    stem = "data_quick" if args.quick else "data"  # a smoke run never replaces the full run's table
    for name, text in ((f"{stem}.json", json.dumps(result, indent=2)), (f"{stem}.md", markdown(result))):
        atomic_write_text(RESULTS / name, text)
    blocks.update(RESULTS / f"{stem}.json")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
