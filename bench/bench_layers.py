"""Benchmark: the factorised linear layers against nn.Linear and one pass over the input.

The UCF11 input-to-hidden map of an LSTM (57,600 -> 4 x 256 = 1,024, the gate factor on the
first output mode) at batch 96, float32, on the CPU:

- TT: 8x20x20x18 -> 16x4x4x4, rank 4 (Yang et al. 2017)
- TR: 4x2x5x8x6x5x3x2 -> 16x4x2x4x2, ranks 5 with closing rank 10 (Pan et al. 2019)
- BT: 8x20x20x18 -> 16x4x4x4, rank 4, 2 blocks (Ye et al. 2018)
- HT: 8x20x20x18 -> 16x4x4x4, rank 7 over the balanced tree (3,255 weights, about TT rank 4's)

Every layer's forward (no grad) and forward+backward (parameter gradients; the input is data
and needs none) is timed in the same run as ``nn.Linear(57600, 1024)`` and as ``x.clone()``
(one read and one write of the input: the floor for anything that reads the input). The BT
layer is also timed with the contraction order it had before the planned sweep (the whole
network handed to ``opt_einsum``), as a reference. The machine is shared, so timings are
interleaved round-robin; the ratios use the best round of each task (as ``timeit`` advises:
slower rounds are other processes interfering), and the median is reported beside it. The
process CPU time of each call is recorded too (best round): on a loaded machine it is less
disturbed by waiting for a core than the wall time. Ratios are what to compare across machines.

Two floors are timed in the same rounds: the TT layer's first GEMM alone (its forward cannot be
faster), and the BT sweep's first GEMMs alone, whose rate bounds how much faster than
``nn.Linear`` the BT layer's forward+backward multiply-adds can run.

Writes ``bench/results/layers.json`` and ``bench/results/layers.md``.

Usage::

    python bench/bench_layers.py           # full run
    python bench/bench_layers.py --quick   # smoke run (few repeats)
    python bench/bench_layers.py --threads 1   # one intra-op thread (less noise when loaded)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import blocks
import torch
from torch import nn
from tqdm import tqdm

from tensorrnn import papers
from tensorrnn.files import atomic_write_text
from tensorrnn.nn import BTLinear, HTLinear, TRLinear, TTLinear
from tensorrnn.tensor import bt, plan

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 96
GATES = papers.NUM_GATES["lstm"]
#: Targets (2-core CPU): forward+backward at least this many times faster than nn.Linear.
TARGETS = {"TT (rank 4)": 10, "TR (ranks 10/5)": 10, "BT (rank 4, 2 blocks)": 6, "HT (rank 7)": 10}


class EinsumBT(nn.Module):
    """A BT layer's parameters contracted in the order ``opt_einsum`` picks for the whole
    network (the layer's path before the planned sweep): the reference for the new path."""

    def __init__(self, layer: BTLinear) -> None:
        super().__init__()
        self.layer = layer
        self.in_features, self.out_features = layer.in_features, layer.out_features
        d = len(layer.in_shape)
        shapes = [layer.in_shape, tuple(layer.core.shape), *(tuple(f.shape) for f in layer.factors)]
        self.macs = plan.macs_per_row(bt.bt_network(d), shapes)

    def forward(self, x):
        xs = x.reshape(-1, *self.layer.in_shape)  # (B, m_1, ..., m_d)
        y = plan.contract(bt.bt_network(len(self.layer.in_shape)), xs, self.layer.core, *self.layer.factors)
        return y.reshape(x.shape[0], -1) + self.layer.bias


def build_layers() -> dict[str, nn.Module]:
    """The three published UCF11 configurations, an HT layer of about TT rank 4's size
    (``configs/ucf11_ht_lstm.yaml``), the dense layer they replace, and the BT layer's previous
    contraction order."""
    hidden = papers.UCF11_HIDDEN_SHAPE
    gated = (hidden[0] * GATES, *hidden[1:])  # (16, 4, 4, 4)
    tr_hidden = papers.TR_UCF11_HIDDEN_SHAPE
    tr_gated = (tr_hidden[0] * GATES, *tr_hidden[1:])  # (16, 4, 2, 4, 2)
    n_tr = len(papers.TR_UCF11_IN_SHAPE) + len(tr_hidden)
    tr_rank = [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * (n_tr - 1)
    in_features = papers.UCF11_DENSE_PARAMS["fc"] // 256  # 57,600
    bt_layer = BTLinear(papers.UCF11_IN_SHAPE, gated, rank=papers.BT_UCF11_RANK, blocks=papers.BT_UCF11_BLOCKS)
    return {
        "TT (rank 4)": TTLinear(papers.UCF11_IN_SHAPE, gated, rank=4),
        "TR (ranks 10/5)": TRLinear(papers.TR_UCF11_IN_SHAPE, tr_gated, rank=tr_rank),
        "BT (rank 4, 2 blocks)": bt_layer,
        "BT, previous opt_einsum order": EinsumBT(bt_layer),
        "HT (rank 7)": HTLinear(papers.UCF11_IN_SHAPE, gated, rank=7),
        "nn.Linear": nn.Linear(in_features, 1024),
    }


def _forward(layer, x):
    def run():
        with torch.no_grad():
            layer(x)
    return run


def _forward_backward(layer, x):
    def run():
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return run


def _tt_first_gemm(layer: TTLinear, x: torch.Tensor):
    """The first GEMM of the TT layer's planned sweep alone (the input against the first merged
    group of cores): a floor for its forward, which cannot skip it."""
    ranks = tuple(layer.ranks)
    chain = plan.plan_chain(layer.in_shape, layer.out_shape, ranks, x.shape[0])
    first, last = chain.groups[0]
    g = plan.merge_cores(list(layer.cores)[first:last + 1]).detach()  # (r_a, M, N_g, r_d)
    weight = g.permute(1, 0, 2, 3).reshape(g.shape[1], -1)
    macs = x.numel() * weight.shape[1]
    return (lambda: x.reshape(-1, weight.shape[0]) @ weight), macs


def _bt_skinny_gemm(layer: BTLinear, x: torch.Tensor):
    """The BT sweep's first and largest GEMM alone, as it runs it (the factors of the last input
    mode of all blocks stacked, against every cache-sized chunk of the input; inner size m_d),
    and the multiply-adds of the layer's forward+backward: the forward, then the backward's two
    GEMMs per step, less the input gradient of the first step (the input needs none)."""
    last = layer.factors[-1].detach()  # (N, m_d, n_d, R_d)
    blocks, m, n, r = last.shape
    weight = last.permute(0, 2, 3, 1).reshape(blocks * n * r, m)  # all blocks in one GEMM
    sweep = plan.plan_bt(layer.in_shape, layer.out_shape, tuple(layer.ranks), x.shape[0])

    def run():
        for chunk in x.split(sweep.chunk):
            weight @ chunk.reshape(-1, m).T
    assert sweep.split < len(layer.in_shape) - 1, "the sweep starts with the merged core, not a factor"
    first = blocks * x.shape[1] * n * r  # per row
    return run, x.shape[0] * first, 3 * layer.macs - first


def _time(fn, repeats: int) -> tuple[float, float]:
    """(wall, process CPU) seconds per call, the mean of ``repeats`` calls after one warm-up call."""
    fn()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats, (time.process_time() - cpu) / repeats


def run(rounds: int, repeats: int, batch: int = BATCH) -> dict:
    torch.manual_seed(0)
    layers = build_layers()
    in_features = next(iter(layers.values())).in_features
    x = torch.randn(batch, in_features)  # (B, 57600)
    tasks = {("x.clone()", "forward"): lambda: x.clone()}
    for name, layer in layers.items():
        tasks[(name, "forward")] = _forward(layer, x)
        tasks[(name, "forward+backward")] = _forward_backward(layer, x)
    tt_gemm, tt_gemm_macs = _tt_first_gemm(layers["TT (rank 4)"], x)
    bt_gemm, bt_gemm_macs, bt_fb_macs = _bt_skinny_gemm(layers["BT (rank 4, 2 blocks)"], x)
    tasks[("TT first GEMM", "forward")] = tt_gemm
    tasks[("BT first GEMMs", "forward")] = bt_gemm
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in tasks}
    cpu_samples: dict[tuple[str, str], list[float]] = {key: [] for key in tasks}
    for _ in tqdm(range(rounds), desc="bench_layers", unit="round"):
        for key, fn in tasks.items():  # round-robin: load changes hit every task alike
            wall, cpu = _time(fn, repeats)
            samples[key].append(wall)
            cpu_samples[key].append(cpu)
    ms = {key: 1e3 * min(v) for key, v in samples.items()}
    cpu_ms = {key: 1e3 * min(v) for key, v in cpu_samples.items()}
    median = {key: 1e3 * statistics.median(v) for key, v in samples.items()}
    clone = ms[("x.clone()", "forward")]
    rows = []
    for name, layer in layers.items():
        fwd, fb = ms[(name, "forward")], ms[(name, "forward+backward")]
        params = sum(p.numel() for n_, p in layer.named_parameters() if not n_.endswith("bias"))
        rows.append({
            "layer": name,
            "params": params,
            "macs_per_row": getattr(layer, "macs", layer.in_features * layer.out_features),
            "forward_ms": round(fwd, 3),
            "forward_backward_ms": round(fb, 3),
            "forward_ms_median": round(median[(name, "forward")], 3),
            "forward_backward_ms_median": round(median[(name, "forward+backward")], 3),
            "forward_cpu_ms": round(cpu_ms[(name, "forward")], 3),
            "forward_backward_cpu_ms": round(cpu_ms[(name, "forward+backward")], 3),
            "forward_vs_clone": round(fwd / clone, 2),
            "forward_backward_vs_clone": round(fb / clone, 2),
            "linear_over_layer_forward": round(ms[("nn.Linear", "forward")] / fwd, 1),
            "linear_over_layer_forward_backward": round(ms[("nn.Linear", "forward+backward")] / fb, 1),
            "linear_over_layer_forward_backward_cpu": round(
                cpu_ms[("nn.Linear", "forward+backward")] / cpu_ms[(name, "forward+backward")], 1),
        })
    linear_fb = ms[("nn.Linear", "forward+backward")]
    linear_gmacs = 2 * layers["nn.Linear"].weight.numel() * batch / linear_fb / 1e6
    bt_gmacs = bt_gemm_macs / ms[("BT first GEMMs", "forward")] / 1e6
    bt_floor = bt_fb_macs * batch / bt_gmacs / 1e6
    floors = {
        "tt_first_gemm_ms": round(ms[("TT first GEMM", "forward")], 3),
        "tt_first_gemm_vs_clone": round(ms[("TT first GEMM", "forward")] / clone, 2),
        "tt_first_gemm_gmacs": round(tt_gemm_macs / ms[("TT first GEMM", "forward")] / 1e6, 1),
        "bt_first_gemm_inner": layers["BT (rank 4, 2 blocks)"].in_shape[-1],
        "bt_first_gemms_ms": round(ms[("BT first GEMMs", "forward")], 3),
        "bt_first_gemms_gmacs": round(bt_gmacs, 1),
        "linear_forward_backward_gmacs": round(linear_gmacs, 1),
        "bt_forward_backward_macs_per_row": bt_fb_macs,
        "linear_forward_backward_macs_per_row": 2 * layers["nn.Linear"].weight.numel(),
        "bt_forward_backward_floor_ms": round(bt_floor, 2),
        "bt_speedup_ceiling": round(linear_fb / bt_floor, 1),
        "bt_gmacs_needed_for_10x": round(10 * bt_fb_macs * batch / linear_fb / 1e6, 1),
    }
    return {
        "benchmark": "layers",
        "floors": floors,
        "batch": batch,
        "in_features": in_features,
        "out_features": 1024,
        "dtype": "float32",
        "clone_ms": round(clone, 3),
        "clone_ms_median": round(median[("x.clone()", "forward")], 3),
        "clone_cpu_ms": round(cpu_ms[("x.clone()", "forward")], 3),
        "rounds": rounds,
        "repeats": repeats,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }


def markdown(result: dict) -> str:
    lines = [
        f"UCF11 input map 57,600 -> 1,024 (LSTM, 4 gates), batch {result['batch']}, float32, "
        f"{result['threads']} threads; `x.clone()` = {result['clone_ms']:.2f} ms. Best of "
        f"{result['rounds']} interleaved rounds (median in brackets); ratios from the best. "
        f"CPU ms: process CPU time of the best round (all threads).",
        "",
        "| layer | params | MACs/row | forward ms | fwd+bwd ms | fwd / fwd+bwd CPU ms | forward / clone "
        "| fwd+bwd / clone | nn.Linear / layer (fwd) | nn.Linear / layer (fwd+bwd) "
        "| nn.Linear / layer (fwd+bwd CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['layer']} | {r['params']:,} | {r['macs_per_row']:,} "
            f"| {r['forward_ms']:.2f} ({r['forward_ms_median']:.1f}) "
            f"| {r['forward_backward_ms']:.2f} ({r['forward_backward_ms_median']:.1f}) "
            f"| {r['forward_cpu_ms']:.1f} / {r['forward_backward_cpu_ms']:.1f} "
            f"| {r['forward_vs_clone']:.2f}x "
            f"| {r['forward_backward_vs_clone']:.2f}x | {r['linear_over_layer_forward']:.1f}x "
            f"| {r['linear_over_layer_forward_backward']:.1f}x "
            f"| {r['linear_over_layer_forward_backward_cpu']:.1f}x |")
    f = result["floors"]
    lines += [
        "",
        f"Floors, same run. The TT layer's first GEMM alone (the input against its first merged "
        f"group of cores, {f['tt_first_gemm_gmacs']:.0f} GMAC/s) takes {f['tt_first_gemm_ms']:.2f} ms = "
        f"{f['tt_first_gemm_vs_clone']:.2f}x `x.clone()`: its forward cannot be faster. The BT sweep's "
        f"first GEMMs (inner size {f['bt_first_gemm_inner']}, as the sweep runs them) reach {f['bt_first_gemms_gmacs']:.0f} GMAC/s, "
        f"nn.Linear's forward+backward {f['linear_forward_backward_gmacs']:.0f} GMAC/s. If every product "
        f"of the BT layer ran at its first GEMMs' rate, its {f['bt_forward_backward_macs_per_row']:,} "
        f"multiply-adds per row forward+backward (nn.Linear: {f['linear_forward_backward_macs_per_row']:,}) "
        f"would take {f['bt_forward_backward_floor_ms']:.1f} ms, {f['bt_speedup_ceiling']:.1f}x faster than "
        f"nn.Linear; 10x needs {f['bt_gmacs_needed_for_10x']:.0f} GMAC/s, more per multiply-add than "
        f"nn.Linear's one large GEMM reaches.",
    ]
    targets = [(r, TARGETS[r["layer"]]) for r in result["rows"] if r["layer"] in TARGETS]
    if targets:
        lines += ["", "Targets, forward+backward against nn.Linear (wall time, best round): " + "; ".join(
            f"{r['layer']} >= {t}x: {'met' if r['linear_over_layer_forward_backward'] >= t else 'not met'} "
            f"({r['linear_over_layer_forward_backward']:.1f}x)" for r, t in targets) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds and repeats")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 20, quick 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output folder (default bench/results)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's default, one per core)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads={args.threads}: expected a positive number of threads")
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (2 if args.quick else 20)
    result = run(rounds=rounds, repeats=1)
    result["quick"] = args.quick
    atomic_write_text(args.out / "layers.json", json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    atomic_write_text(args.out / "layers.md", table)
    blocks.update(args.out / "layers.json")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
