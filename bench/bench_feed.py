"""Feeding the training step: fit's training loader and its augmentation, clip by clip in the
loader (``--data.augment_on loader``) against on the batch after the transfer (``device``, the
default), and the TT-GRU step they feed, in one run.

On a generated noisy set like the hard one (``ACTION_SETS["hard"]`` with fewer groups: sensor
noise, a distractor, a pan; clips of 40-160 frames at 160x120, in a JPEG store as ``tensorrnn
prepare`` writes it), ``fit``'s own data module (batch 16, 6 frames, the default augmentation,
0 workers, the default loading threads) is timed for

(a) the training loader alone (clips/s it serves),
(b) the batch's augmentation and scaling (``on_after_batch_transfer``; for ``loader`` the
    scaling alone),
(c) the whole feed and the step, as a fit runs them in one process (loader, then (b), then the
    step): the clips a fixed CPU budget trains on,

and the TT-GRU training step alone (the UCF11 model of the TT-RNN paper, Adam, on scaled
batches). Target: the loader with the default augmentation serves at least 2x what the step
consumes; (c) rises accordingly. A third data module, ``device`` with ``data.hue 0.5`` (each
clip's colours turned, an option off by default), times what the hue's turn adds to (b) and (c).

    python bench/bench_feed.py           # 96 clips, best of 5 (about 2 minutes)
    python bench/bench_feed.py --quick   # 24 clips, once (smoke run)

Writes ``bench/results/feed.json`` and ``bench/results/feed.md`` (``feed_quick.*`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import blocks
import torch

from tensorrnn import papers
from tensorrnn.data.synthetic import ACTION_SETS, make_action_set
from tensorrnn.files import atomic_write_text
from tensorrnn.nn import build_classifier
from tensorrnn.train.datamodule import AUGMENT_ON, VideoDataModule

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = papers.UCF11_TRAINING["batch_size"]
#: Target: the training loader serves at least this many times what the TT-GRU step consumes.
TARGET_VS_STEP = 2.0


#: The feeds timed: ``data.augment_on``'s paths, and the default path with any hue a clip (``data.hue``).
FEEDS = {**{on: {"augment_on": on} for on in AUGMENT_ON}, "device, hue": {"augment_on": "device", "hue": 0.5}}


def data_module(root: Path, cache: Path, augment_on: str, hue: float = 0.0) -> VideoDataModule:
    """fit's data module with its defaults (augmentation, scaling, loading threads), 0 workers."""
    data = VideoDataModule("ucf11", str(root), cache_dir=str(cache), batch_size=BATCH, num_workers=0,
                           val_split="none", augment_on=augment_on, hue=hue, dataset_options={"progress": False})
    data.setup()
    return data


def ttgru():
    """The UCF11 TT-GRU of the TT-RNN paper, its optimizer and one training step on scaled frames."""
    model = build_classifier("gru", papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, len(papers.UCF11_CLASSES),
                             rank=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=papers.UCF11_TRAINING["lr"])

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y % len(papers.UCF11_CLASSES)).backward()
        optimizer.step()

    return step


def best_rate(run_epoch, clips: int, epochs: int, repeats: int) -> float:
    """Clips/s of ``epochs`` calls of ``run_epoch``, best of ``repeats`` (the machine is shared)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(epochs):
            run_epoch()
        best = max(best, epochs * clips / (time.perf_counter() - start))
    return best


def measure(modules: dict, step, epochs: int, repeats: int) -> dict:
    """Clips/s of (a), (b) and (c) for each data module, best of ``repeats``, the paths taking
    turns within each repeat (the machine is shared: a slow spell hits both)."""
    loaders = {on: data.train_dataloader() for on, data in modules.items()}
    clips = len(next(iter(modules.values()))._splits["train"])
    batches = {on: list(loader) for on, loader in loaders.items()}  # warm-up; the batches (b) times

    def feed_and_step(on):
        for batch in loaders[on]:
            step(*modules[on].on_after_batch_transfer(batch, 0))

    work = {
        "loader": lambda on: [None for _ in loaders[on]],
        "batch_work": lambda on: [modules[on].on_after_batch_transfer(b, 0) for b in batches[on]],
        "fit": feed_and_step,
    }
    for on in modules:
        feed_and_step(on)  # warm-up of the step
    rates = {on: {name: 0.0 for name in work} for on in modules}
    for _ in range(repeats):
        for name, run_epoch in work.items():
            for on in modules:
                rate = best_rate(lambda: run_epoch(on), clips, epochs, 1)
                rates[on][name] = max(rates[on][name], rate)
    return rates


def step_rate(step, data: VideoDataModule, steps: int, repeats: int) -> float:
    x, y = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    for _ in range(2):
        step(x, y)
    return best_rate(lambda: [step(x, y) for _ in range(steps)], steps * len(y), 1, repeats)


def run(quick: bool, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    load_start = os.getloadavg()
    spec = dataclasses.replace(ACTION_SETS["hard"], groups=2 if quick else 8, clips_per_group=1, seed=0)
    epochs, repeats = (1, 1) if quick else (2, 5)
    with tempfile.TemporaryDirectory(prefix="bench_feed_") as tmp:
        root = make_action_set(Path(tmp) / "videos", spec, size=papers.UCF11_FRAME_SIZE, progress=False)
        start = time.perf_counter()
        modules = {name: data_module(root, Path(tmp) / "cache", **options) for name, options in FEEDS.items()}
        store_s = time.perf_counter() - start
        store = modules["device"]._splits["train"]._cache
        store_bytes = sum(p.stat().st_size for p in store.dir.glob("shard-*"))
        step = ttgru()
        step_clips = step_rate(step, modules["device"], 4 if quick else 8, repeats)
        rates = measure(modules, step, epochs, repeats)
        augment = modules["device"].augmentation().to_dict()
        clips = len(modules["device"]._splits["train"])
        threads_used = modules["device"].load_threads
    return {
        "quick": quick, "set": "hard (fewer groups)", "clips": clips, "frames_per_clip": list(spec.num_frames),
        "size": list(papers.UCF11_FRAME_SIZE), "noise": spec.noise, "batch": BATCH,
        "sampled_frames": papers.FRAMES_PER_CLIP, "store_bytes": store_bytes, "store_build_s": store_s,
        "augment": augment, "load_threads": threads_used, "clips_per_s": rates, "step_clips_per_s": step_clips,
        "ratios": {
            **{f"loader_{on}_vs_step": rates[on]["loader"] / step_clips for on in AUGMENT_ON},
            "fit_device_vs_loader": rates["device"]["fit"] / rates["loader"]["fit"],
            "loader_device_vs_loader": rates["device"]["loader"] / rates["loader"]["loader"],
            "batch_work_hue_vs_device": rates["device, hue"]["batch_work"] / rates["device"]["batch_work"],
            "fit_hue_vs_device": rates["device, hue"]["fit"] / rates["device"]["fit"],
        },
        "epochs": epochs, "repeats": repeats,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_start": load_start, "load_average": os.getloadavg(),
                    "python": platform.python_version(), "torch": torch.__version__},
    }


def markdown(r: dict) -> str:
    rates, ratios, step = r["clips_per_s"], r["ratios"], r["step_clips_per_s"]
    a = r["augment"]
    lines = [
        f"fit's training feed, clips/s ({r['clips']} generated clips of {r['frames_per_clip'][0]}-"
        f"{r['frames_per_clip'][1]} frames with sensor noise (the hard set's kind), JPEG store at "
        f"{r['size'][0]}x{r['size'][1]} ({r['store_bytes'] / r['clips'] / 1e6:.2f} MB a clip); batch {r['batch']}, "
        f"{r['sampled_frames']} frames, augmentation crop area {a['crop_scale'][0]:g}-{a['crop_scale'][1]:g}, "
        f"brightness {a['brightness']:g}, contrast {a['contrast']:g}; 0 workers, {r['load_threads']} loading "
        f"threads, torch threads {r['machine']['torch_threads']}; best of {r['repeats']}"
        f"{'; --quick' if r['quick'] else ''}):",
        "",
        "| `data.augment_on` | loader alone | batch augmentation + scaling | loader vs step "
        "| loader, augmentation and step (a fit) |",
        "|---|---:|---:|---:|---:|",
    ]
    for on, x in rates.items():
        work = "scaling only" if on == "loader" else "augmentation + scaling"
        vs_step = f"{x['loader'] / step:.1f}x"
        options = FEEDS[on]
        label = ", ".join([f"`{options['augment_on']}`", *(f"`data.{k} {v:g}`" for k, v in options.items()
                                                             if k != "augment_on")])
        lines.append(f"| {label} | {x['loader']:,.0f} | {x['batch_work']:,.0f} ({work}) | {vs_step} "
                     f"| {x['fit']:,.0f} |")
    ok = ratios["loader_device_vs_step"] >= TARGET_VS_STEP
    lines += [
        "",
        f"TT-GRU training step (UCF11 model, rank 4, Adam, batch {r['batch']}, scaled frames): {step:,.0f} clips/s. "
        f"The default (`device`) loader serves {ratios['loader_device_vs_step']:.1f}x what the step consumes "
        f"(target {TARGET_VS_STEP:g}x: {'met' if ok else 'not met'}; `loader`: "
        f"{ratios['loader_loader_vs_step']:.1f}x), and a fit trains on "
        f"{ratios['fit_device_vs_loader']:.2f}x the clips in the same time.",
        *([f"Any hue a clip (`data.hue 0.5`, off by default) leaves the batch's "
           f"augmentation {ratios['batch_work_hue_vs_device']:.2f}x as fast, and a fit "
           f"{ratios['fit_hue_vs_device']:.2f}x."] if "batch_work_hue_vs_device" in ratios else []),
        f"Machine: {r['machine']['cpus']} CPUs, load average {r['machine']['load_average_start'][0]:.1f} at the "
        f"start, {r['machine']['load_average'][0]:.1f} at the end (shared: ratios within the run are the result).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own, as fit runs)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    result = run(args.quick, args.threads)
    stem = "feed_quick" if args.quick else "feed"  # a smoke run never replaces the full run's table
    for name, text in ((f"{stem}.json", json.dumps(result, indent=2)), (f"{stem}.md", markdown(result))):
        atomic_write_text(RESULTS / name, text)
    if not args.quick:
        blocks.update(RESULTS / f"{stem}.json")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
