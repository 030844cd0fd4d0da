"""GPU benchmark: the layers, the RNNs' training steps, fit's training feed and a short fit on
one CUDA device, bf16 mixed precision beside float32, in one run (``bench/gpu.sh`` runs it
when a machine with an accelerator is lent; it must finish in under 8 minutes).

1. Layers: forward+backward of the UCF11 input-to-hidden maps of ``bench_layers.py`` (TT, TR,
   BT, HT; batch 96) against ``nn.Linear(57600, 1024)``, float32 and bf16 autocast.
2. RNNs: a training step (forward, loss, backward; batch 16 of 6 frames of 57,600) of the
   models of ``bench_rnn.py`` against the dense LSTM, float32 and bf16 autocast: clips/s.
3. Feed: fit's training batches of a generated noisy set (the hard set's kind, JPEG store at
   160x120) served by the CPU path (JPEGs decoded and clips augmented in the loader) and by
   the device path (``data.decode_on device``, ``data.augment_on device``: nvjpeg and the batch
   augmentation), each through the transfer and ``on_after_batch_transfer``, against the
   TT-GRU step's rate on the device: the loader should not be the bound.
4. A short ``tensorrnn fit`` of the shipped UCF11 TT-GRU config on a generated set, bf16-mixed,
   as a user would run it: its wall time, epochs and test accuracy.

    bash bench/gpu.sh                                   # on the lent machine
    python bench/bench_gpu.py --device cpu --quick      # the script itself, anywhere: a smoke run

Writes ``bench/results/gpu.json`` and ``gpu.md`` (``gpu_quick.*`` with ``--quick``; ``--out``
elsewhere).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

import bench_feed
import bench_layers
import bench_rnn
from tensorrnn import papers
from tensorrnn.data.synthetic import ACTION_SETS, make_action_set
from tensorrnn.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
PRECISIONS = ("float32", "bf16")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn, device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Best wall time of ``fn()`` over ``repeats`` calls, the device synchronised around each."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def layers(device: torch.device, repeats: int) -> dict:
    """Forward+backward ms of each factorised layer and of nn.Linear, per precision."""
    modules = {name: layer.to(device) for name, layer in bench_layers.build_layers().items()}
    x = torch.randn(bench_layers.BATCH, bench_rnn.IN_FEATURES, device=device)
    result = {}
    for precision in PRECISIONS:
        times = {}
        for name, layer in modules.items():
            def run(layer=layer):
                with autocast(device, precision):
                    y = layer(x)
                y.float().sum().backward()
            times[name] = 1e3 * best_seconds(run, device, repeats)
        result[precision] = times
    return result


def rnns(device: torch.device, repeats: int) -> dict:
    """Training-step clips/s of each benchmarked RNN, per precision."""
    x, y = (t.to(device) for t in bench_rnn.batch())
    result = {}
    for precision in PRECISIONS:
        rates = {}
        for name in bench_rnn.MODELS:
            model = bench_rnn.build(name).to(device)

            def run(model=model):
                with autocast(device, precision):
                    loss = model.loss(model(x), y)
                model.zero_grad(set_to_none=True)
                loss.backward()
            rates[name] = len(y) / best_seconds(run, device, repeats)
            del model
        result[precision] = rates
    return result


def feed(device: torch.device, root: Path, cache: Path, epochs: int) -> dict:
    """Clips/s of fit's training batches through the transfer and on_after_batch_transfer, on
    the CPU path and the device path, and of the TT-GRU step (bf16) on the device."""
    from lightning.fabric.utilities.apply_func import move_data_to_device

    from tensorrnn.train.datamodule import VideoDataModule

    paths = {"cpu path": dict(decode_on="loader", augment_on="loader"),
             "device path": dict(decode_on="device", augment_on="device")}
    modules = {}
    for name, options in paths.items():
        data = VideoDataModule("ucf11", str(root), cache_dir=str(cache), batch_size=bench_feed.BATCH, num_workers=0,
                               val_split="none", dataset_options={"progress": False}, **options)
        data.setup()
        modules[name] = data
    clips = len(modules["cpu path"]._splits["train"])
    model = bench_rnn.build("TT-GRU").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=papers.UCF11_TRAINING["lr"])

    def served(data):
        for batch in data.train_dataloader():
            x, y = data.on_after_batch_transfer(move_data_to_device(batch, device), 0)
        synchronize(device)
        return x, y

    rates = {}
    for name, data in modules.items():
        x, y = served(data)  # warm-up: files in the page cache, nvjpeg started
        start = time.perf_counter()
        for _ in range(epochs):
            served(data)
        rates[name] = epochs * clips / (time.perf_counter() - start)
    x = x.flatten(2)  # (B, T, 57600): the classifier's input

    def step():
        with autocast(device, "bf16"):
            loss = model.loss(model(x), y % model.head.out_features)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    rates["TT-GRU step (bf16)"] = len(y) / best_seconds(step, device, 10)
    return {"clips": clips, "clips_per_s": rates}


def short_fit(device: torch.device, root: Path, work: Path, epochs: int) -> dict:
    """``tensorrnn fit`` of configs/ucf11_tt_gru.yaml on ``root``, bf16-mixed, timed."""
    from bench_accuracy import run_fit

    accelerator = "gpu" if device.type == "cuda" else "cpu"
    args = ["--config", str(REPO / "configs" / "ucf11_tt_gru.yaml"), "--data.root", str(root),
            "--data.split", "group_kfold", "--data.num_folds", "4", "--data.flip", "0",
            "--data.cache_dir", str(work / "cache"), "--data.dataset_options", json.dumps({"progress": False}),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(work / "runs"),
            "--trainer.enable_progress_bar", "false", "--trainer.accelerator", accelerator,
            "--trainer.devices", "1", "--trainer.precision", "bf16-mixed", "--run_name", "gpu_fit"]
    start = time.perf_counter()
    record, cpu_seconds = run_fit(args)
    return {"wall_s": time.perf_counter() - start, "cpu_s": cpu_seconds, "epochs": epochs,
            "test_acc": record.get("test", {}).get("test/acc"), "precision": "bf16-mixed", "accelerator": accelerator}


def run(device: torch.device, quick: bool) -> dict:
    start = time.perf_counter()
    repeats = 3 if quick else 20
    spec = dataclasses.replace(ACTION_SETS["hard"], groups=2 if quick else 4, clips_per_group=1, seed=0)
    fit_spec = dataclasses.replace(ACTION_SETS["still"], num_classes=6, groups=4, clips_per_group=2 if quick else 4,
                                   num_frames=(40, 80), seed=0)
    result = {"quick": quick, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        tmp = Path(tmp)
        result["layers_ms"] = layers(device, repeats)
        result["rnn_clips_per_s"] = rnns(device, repeats)
        root = make_action_set(tmp / "feed", spec, size=papers.UCF11_FRAME_SIZE, progress=False)
        result["feed"] = feed(device, root, tmp / "feed_cache", 1 if quick else 3)
        fit_root = make_action_set(tmp / "fit", fit_spec, size=papers.UCF11_FRAME_SIZE, progress=False)
        result["fit"] = short_fit(device, fit_root, tmp / "fit_work", 2 if quick else 20)
    result["total_s"] = time.perf_counter() - start
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                         "cuda": torch.version.cuda}
    return result


def markdown(r: dict) -> str:
    lines = [f"GPU benchmark on {r['device_name']} ({r['device']}){'; --quick' if r['quick'] else ''}, "
             f"{r['total_s']:.0f} s in all.", "",
             "Layers, forward+backward (batch 96, 57,600 -> 1,024), ms:", "",
             "| layer | float32 | bf16 autocast |", "|---|---:|---:|"]
    for name in r["layers_ms"]["float32"]:
        lines.append(f"| {name} | {r['layers_ms']['float32'][name]:.3f} | {r['layers_ms']['bf16'][name]:.3f} |")
    lines += ["", "RNN training step (batch 16, 6 frames of 57,600), clips/s:", "",
              "| model | float32 | bf16 autocast |", "|---|---:|---:|"]
    for name in r["rnn_clips_per_s"]["float32"]:
        lines.append(f"| {name} | {r['rnn_clips_per_s']['float32'][name]:,.0f} | "
                     f"{r['rnn_clips_per_s']['bf16'][name]:,.0f} |")
    rates = r["feed"]["clips_per_s"]
    step = rates["TT-GRU step (bf16)"]
    lines += ["", f"fit's training feed ({r['feed']['clips']} noisy generated clips, JPEG store, batch 16, through "
                  "the transfer and on_after_batch_transfer), clips/s:", "",
              "| path | clips/s | vs TT-GRU step |", "|---|---:|---:|"]
    for name, rate in rates.items():
        lines.append(f"| {name} | {rate:,.0f} | {rate / step:.2f}x |")
    f = r["fit"]
    lines += ["", f"`tensorrnn fit` (configs/ucf11_tt_gru.yaml, {f['precision']}, {f['accelerator']}): {f['epochs']} "
                  f"epochs in {f['wall_s']:.0f} s, test accuracy "
                  + ("n/a" if f["test_acc"] is None else f"{f['test_acc']:.3f}") + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device here; expected a machine with a GPU "
                         "(or --device cpu for a smoke run of the script)")
    warnings.simplefilter("ignore", UserWarning)
    result = run(device, args.quick)
    stem = "gpu_quick" if args.quick else "gpu"
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in ((f"{stem}.json", json.dumps(result, indent=2)), (f"{stem}.md", markdown(result))):
        atomic_write_text(args.out / name, text)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
