"""Benchmark: one training step of the papers' factorised RNNs against a dense LSTM, same run.

A step is forward + cross-entropy + backward (no optimizer update) of a video classifier on
a batch of 16 clips x 6 frames of 160x120x3 = 57,600 pixels, hidden size 256, 11 classes:
TT-GRU and TT-LSTM (rank 4), TR-LSTM (the TR paper's UCF11 configuration), BT-LSTM (rank 4,
2 blocks), each a ``SequenceClassifier`` with a linear head, the TT-GRU behind the model's
optional stem (``model.stem``: a 4x4 stride-2 convolution and a ReLU on the 120x160x3 frames,
:class:`tensorrnn.nn.ConvStem`), and the references ``torch.nn.LSTM(57600, 256)`` and
``torch.nn.GRU(57600, 256)`` with the same head: the papers' models are read against the dense
LSTM, the TT-GRU behind the stem (the shipped configs' model) against the dense GRU of the same
input as well (#21's target). Timed twice, each in a child process: with freed memory kept in the
heap, as ``tensorrnn fit`` runs (:func:`tensorrnn.heap.keep_freed_memory`), and with glibc's
default allocator (``TENSORRNN_KEEP_HEAP=0``, as a script of one's own runs), which maps every
batch-sized block afresh each step: that costs the dense models' large weight gradients most, so
the speed-ups differ between the two.

Time: the models are interleaved within each repetition (in a rotating order) so that load
from other processes on the shared machine hits them alike. The speed-up is the ratio of the
best-of-N step times, reference / model (on a shared machine the minimum is the estimate least
disturbed by other processes); the medians and every time are in the JSON.

Peak memory: measured in a fresh child process per model, as the Linux peak resident set
size (``VmHWM``, reset through ``/proc/self/clear_refs``) during one warm step minus the
resident size just before it, with model, input and targets already allocated. The child runs
with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc returns every large freed block to the OS
at once, which makes the resident size follow the live tensors. Compared with the input
batch's size (16 x 6 x 57,600 float32 = 22.1 MB).

Threads: timed once with 1 thread and once with torch's default (2 here). On a machine that
other processes load, the 2-thread runs of the factorised models are dominated by OpenMP
threads waiting for each other (many small kernels, one barrier each), while the dense
reference's large GEMMs are not; the 1-thread run shows the arithmetic.

Writes ``bench/results/rnn.json`` and ``bench/results/rnn.md``. ``--quick``: one repetition.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import blocks
import torch
from torch import nn

from tensorrnn import papers
from tensorrnn.files import atomic_write_text
from tensorrnn.heap import ENV as HEAP_ENV
from tensorrnn.heap import keep_freed_memory
from tensorrnn.nn import ConvStem, SequenceClassifier, TensorizedGRU, TensorizedLSTM
from tensorrnn.train.datamodule import RECIPE_FRAMES

RESULTS = Path(__file__).resolve().parent / "results"
BATCH, FRAMES, CLASSES = 16, papers.FRAMES_PER_CLIP, len(papers.UCF11_CLASSES)
IN_FEATURES, HIDDEN = 57_600, 256
INPUT_BYTES = BATCH * FRAMES * IN_FEATURES * 4
#: Targets (2-core CPU): speed-up over the dense LSTM (the papers' models), and for the shipped
#: config's TT-GRU behind the stem over the dense GRU of the same input (#21's); memory over the input.
REFERENCE, GRU_REFERENCE = "LSTM (dense)", "GRU (dense)"
TARGET_SPEEDUP = {"TT-GRU": (REFERENCE, 20), "TT-GRU, stem": (GRU_REFERENCE, 20), "TT-LSTM": (REFERENCE, 20),
                  "TR-LSTM": (REFERENCE, 20), "BT-LSTM": (REFERENCE, 10)}
TARGET_MEMORY = 3.0
FRAME = (120, 160, 3)   # the 57,600 inputs as the frame the stem reads


class Stemmed(nn.Module):
    """A classifier behind the stem, on the flat batch: ``(B, T, 57600)`` read as frames."""

    def __init__(self, classifier: SequenceClassifier) -> None:
        super().__init__()
        self.stem, self.classifier = ConvStem(FRAME[-1]), classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.stem(x.view(*x.shape[:2], *FRAME), grad_in_place=True))  # as the model

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.classifier.loss(logits, y)


def build(name: str) -> nn.Module:
    """The classifier of one benchmarked model, float32, seeded."""
    torch.manual_seed(0)
    tt_in, hid = papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE
    if name == REFERENCE:
        return SequenceClassifier(nn.LSTM(IN_FEATURES, HIDDEN, batch_first=True), CLASSES)
    if name == GRU_REFERENCE:
        return SequenceClassifier(nn.GRU(IN_FEATURES, HIDDEN, batch_first=True), CLASSES)
    if name == "TT-GRU, stem":
        return Stemmed(SequenceClassifier(TensorizedGRU(tt_in, hid, "tt", 4), CLASSES))
    if name == "TT-GRU":
        rnn = TensorizedGRU(tt_in, hid, "tt", 4)
    elif name == "TT-LSTM":
        rnn = TensorizedLSTM(tt_in, hid, "tt", 4)
    elif name == "TR-LSTM":
        tr_in, tr_hid = papers.TR_UCF11_IN_SHAPE, papers.TR_UCF11_HIDDEN_SHAPE
        rank = [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * (len(tr_in) + len(tr_hid) - 1)
        rnn = TensorizedLSTM(tr_in, tr_hid, "tr", rank)
    elif name == "BT-LSTM":
        rnn = TensorizedLSTM(tt_in, hid, "bt", papers.BT_UCF11_RANK, blocks=papers.BT_UCF11_BLOCKS)
    else:
        raise ValueError(f"model={name!r}: expected one of {', '.join(MODELS)}")
    return SequenceClassifier(rnn, CLASSES)


MODELS = ["TT-GRU", "TT-GRU, stem", "TT-LSTM", "TR-LSTM", "BT-LSTM", GRU_REFERENCE, REFERENCE]


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, FRAMES, IN_FEATURES, generator=g)           # (16, 6, 57600)
    y = torch.randint(0, CLASSES, (BATCH,), generator=g)
    return x, y


def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One training step without the optimizer update: forward, loss, backward."""
    model.zero_grad(set_to_none=True)
    model.loss(model(x), y).backward()


# --- memory: one child process per model -------------------------------------------------------

def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(name: str) -> dict:
    model, (x, y) = build(name), batch()
    step(model, x, y)                                   # warm: one-time allocations happen here
    model.zero_grad(set_to_none=True)
    Path("/proc/self/clear_refs").write_text("5")       # reset the peak RSS to the current RSS
    before = _status_kb("VmRSS")
    step(model, x, y)
    peak = _status_kb("VmHWM")
    return {"model": name, "step_peak_bytes": (peak - before) * 1024}


def measure_memory(name: str) -> dict | None:
    if not Path("/proc/self/clear_refs").exists():
        return None                                      # not Linux: no peak-RSS reset
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, __file__, "--memory-child", name], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- timing ----------------------------------------------------------------------------------------

def measure_time(reps: int, warmup: int) -> dict[str, list[float]]:
    models = {name: build(name) for name in MODELS}
    x, y = batch()
    for _ in range(warmup):
        for model in models.values():
            step(model, x, y)
    times: dict[str, list[float]] = {name: [] for name in MODELS}
    for rep in range(reps):
        order = MODELS[rep % len(MODELS):] + MODELS[:rep % len(MODELS)]
        for name in order:                               # interleaved, rotating: same load for all
            t0 = time.perf_counter()
            step(models[name], x, y)
            times[name].append(time.perf_counter() - t0)
        print(f"  repetition {rep + 1}/{reps}: " + ", ".join(f"{n} {t[-1] * 1e3:.0f} ms" for n, t in times.items()),
              file=sys.stderr, flush=True)
    return times


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _speed_table(runs: list[dict]) -> list[str]:
    lines = ["| model | params | threads | step, best (ms) | step, median (ms) | speed-up vs dense LSTM "
             "| vs dense GRU | target |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in MODELS:
        for run in runs:
            row = next((r for r in run["rows"] if r["model"] == name), None)
            if row is None:                          # a run from before the model was benchmarked
                continue
            target, versus = row.get("target_speedup"), row.get("target_reference", REFERENCE)
            gru = f"{row['speedup_vs_gru']:.1f}x" if "speedup_vs_gru" in row else "-"
            mark = f">= {target}x vs {versus.split()[0]} " + _mark(row["speedup_ok"]) if target else "-"
            lines.append(f"| {name} | {row['params']:,} | {run['threads']} | {row['best_ms']:.0f} | "
                         f"{row['median_ms']:.0f} | {row['speedup']:.1f}x | {gru} | {mark} |")
    return lines


def markdown(result: dict) -> str:
    lines = [
        f"One training step (forward + backward), batch {BATCH} x {FRAMES} frames x {IN_FEATURES:,} inputs, "
        f"hidden {HIDDEN}, {CLASSES} classes; {result['machine']}, torch {result['torch']}, "
        f"{result['reps']} repetitions per thread count; speed-up = ratio of the best step times "
        "(medians in `rnn.json`).",
        "",
        "Freed memory kept in the heap, as `tensorrnn` runs (`tensorrnn.heap`):",
        "",
        *_speed_table(result["runs"]),
    ]
    if result.get("runs_system_allocator"):
        lines += ["", "glibc's default allocator (`TENSORRNN_KEEP_HEAP=0`, or a script of one's own): every "
                  "batch-sized block is mapped afresh each step, which costs the dense models' large gradients most:",
                  "", *_speed_table(result["runs_system_allocator"])]
    loads = "; ".join(f"{run['threads']} thread(s): {run['load_average']}" for run in result["runs"])
    lines += ["", f"Load average during the timing (other processes share the machine): {loads}.", ""]

    lines += ["| model | step peak memory (MB) | x input batch | target |", "|---|---:|---:|---:|"]
    for name, mem in result["memory"].items():
        if mem is None:
            lines.append(f"| {name} | n/a | n/a | - |")
            continue
        ratio = mem / INPUT_BYTES
        target = f"< {TARGET_MEMORY:g}x {_mark(ratio < TARGET_MEMORY)}" if name in TARGET_SPEEDUP else "-"
        lines.append(f"| {name} | {mem / 1e6:.1f} | {ratio:.2f} | {target} |")
    lines += ["", f"Input batch: {INPUT_BYTES / 1e6:.1f} MB. Memory: peak resident set size during one warm "
              "step minus the resident size before it (child process per model, "
              "`MALLOC_MMAP_THRESHOLD_=65536`, peak reset through `/proc/self/clear_refs`)."]
    return "\n".join(lines) + "\n"


#: The UCF11 training run the compute estimate is for: a fold of the papers' 5-fold split
#: (4/5 of the clips train), the shipped configs' epochs and the paper configs' (UCF11).
UCF11_TRAIN_CLIPS = papers.UCF11_NUM_CLIPS * 4 // 5
EPOCHS, PAPER_EPOCHS = 100, papers.UCF11_TRAINING["epochs"]


def compute_estimate(result: dict) -> str:
    """What a UCF11 training run costs in model time on this machine, from the step times of
    the run with the most threads: an estimate, not a measurement of a run."""
    run = max(result["runs"], key=lambda r: r["threads"])
    steps = UCF11_TRAIN_CLIPS // result["batch"]
    lines = [f"One training step (batch {result['batch']} clips x {result['frames']} frames, forward + backward, "
             f"{run['threads']} threads; {result['machine']}, torch {result['torch']}), and the model time of "
             f"{EPOCHS} epochs of a UCF11 fold ({UCF11_TRAIN_CLIPS:,} training clips, {steps} steps an epoch; "
             f"the paper configs train {PAPER_EPOCHS}, {PAPER_EPOCHS // EPOCHS}x as long), reading frames aside; "
             f"the shipped configs read {RECIPE_FRAMES} frames a clip, and a step's time grows with its frames "
             f"(the recurrence and the input map run once a frame):",
             "", f"| model | step, best / median (ms) | {EPOCHS} epochs, from the best / median step |",
             "|---|---:|---:|"]
    for row in run["rows"]:
        hours = [ms * steps * EPOCHS / 3.6e6 for ms in (row["best_ms"], row["median_ms"])]
        span = " / ".join(f"{h * 60:.0f} min" if hours[1] < 1 else f"{h:.1f} h" for h in hours)
        lines.append(f"| {row['model']} | {row['best_ms']:.0f} / {row['median_ms']:.0f} | {span} |")
    return "\n".join(lines) + "\n"


def time_run(threads: int, reps: int, warmup: int) -> dict:
    torch.set_num_threads(threads)
    print(f"bench_rnn: timing {len(MODELS)} models, {threads} thread(s), {reps} repetitions", file=sys.stderr)
    times = measure_time(reps, warmup)
    load = _load_average()
    ref, ref_median = min(times[REFERENCE]), statistics.median(times[REFERENCE])
    rows = []
    for name in MODELS:
        best, median = min(times[name]), statistics.median(times[name])
        row = {"model": name, "params": sum(p.numel() for p in build(name).parameters()),
               "best_ms": best * 1e3, "median_ms": median * 1e3, "times_ms": [t * 1e3 for t in times[name]],
               "speedup": ref / best, "speedup_of_medians": ref_median / median}
        if "GRU" in name:                            # the GRUs beside the dense GRU too
            row["speedup_vs_gru"] = min(times[GRU_REFERENCE]) / best
        if name in TARGET_SPEEDUP:
            versus, target = TARGET_SPEEDUP[name]
            row["target_speedup"], row["target_reference"] = target, versus
            row["speedup_ok"] = min(times[versus]) / best >= target
        rows.append(row)
    return {"threads": threads, "load_average": load, "rows": rows}


def time_child(quick: bool, threads: list[int]) -> list[dict]:
    """The timed runs of this process, its allocator set by ``TENSORRNN_KEEP_HEAP``."""
    keep_freed_memory()                              # before the first large tensor (unless the variable says 0)
    return [time_run(n, *_repetitions(quick)) for n in threads]


def _repetitions(quick: bool) -> tuple[int, int]:
    """Timed and warm-up repetitions of every model, per thread count."""
    return (1, 1) if quick else (7, 1)


def _timed(quick: bool, threads: list[int], keep: bool) -> list[dict]:
    env = {**os.environ, HEAP_ENV: "1" if keep else "0"}
    print(f"bench_rnn: timing with freed memory {'kept' if keep else 'returned (glibc default)'}", file=sys.stderr)
    cmd = [sys.executable, __file__, "--time-child", *(["--quick"] if quick else []), "--threads", *map(str, threads)]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, threads: list[int]) -> dict:
    reps = _repetitions(quick)[0]
    runs, system = _timed(quick, threads, True), _timed(quick, threads, False)
    memory = {}
    for name in MODELS:
        print(f"bench_rnn: memory of {name}", file=sys.stderr, flush=True)
        mem = measure_memory(name)
        memory[name] = None if mem is None else mem["step_peak_bytes"]
    return {"name": "rnn", "quick": quick, "reps": reps, "batch": BATCH, "frames": FRAMES,
            "in_features": IN_FEATURES, "hidden": HIDDEN, "input_bytes": INPUT_BYTES,
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores", "torch": torch.__version__,
            "reference": REFERENCE, "runs": runs, "runs_system_allocator": system, "memory": memory,
            "memory_target_over_input": TARGET_MEMORY}


def _load_average() -> str:
    # Other processes share this machine; the load says how much the times can be trusted.
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one repetition (smoke run)")
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, torch.get_num_threads()}),
                   help="torch thread counts to time, one run each (default: %(default)s)")
    p.add_argument("--memory-child", metavar="MODEL", help=argparse.SUPPRESS)
    p.add_argument("--time-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    if any(n < 1 for n in args.threads):
        raise ValueError(f"--threads {args.threads}: expected positive ints")
    if args.time_child:
        print(json.dumps(time_child(args.quick, args.threads)))
        return 0
    result = run(args.quick, args.threads)
    atomic_write_text(RESULTS / "rnn.json", json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    atomic_write_text(RESULTS / "rnn.md", table)
    blocks.update(RESULTS / "rnn.json")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
