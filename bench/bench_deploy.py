"""Benchmark: the exported models' size and latency at batch 1, factorised against dense.

For the demo's TT-GRU (80x60 frames, 6 of them) and the papers' UCF11 TT-GRU, TR-LSTM and
BT-LSTM (160x120), each beside the dense GRU / LSTM of the same hidden size (256), all in the
same run: the ONNX file size in fp32 and after onnxruntime's dynamic int8 quantisation
(``tensorrnn export --quantize int8``), and the latency of one clip (uint8 frames in,
probabilities out: pixel scaling, frame differences, normalisation, the RNN and its head) and
of one streamed frame (the step graph: one frame and the state in) at batch 1, in PyTorch
eager, onnxruntime fp32 and onnxruntime int8.

The models have random weights (the shapes set the cost, not the values) and fitted input
statistics. Times are the median of ``reps`` calls after a warm-up, with one thread in
PyTorch and onnxruntime alike (a device classifying one stream; also what load from other
processes on the shared 2-core machine disturbs least); minima are in the JSON. The int8
probabilities' distance from fp32 on random clips is shown for orientation only: the accuracy
change on real clips is what ``tensorrnn export --quantize int8`` prints.

Writes ``bench/results/deploy.json`` and ``bench/results/deploy.md``. ``--quick``: the demo
model and its dense GRU only, three repetitions (a smoke run).
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
import numpy as np
import torch

from tensorrnn import papers
from tensorrnn.deploy.export import _serialise, quantize_int8, trace
from tensorrnn.deploy.graphs import ClipGraph, StepGraph, exportable
from tensorrnn.files import atomic_write_text
from tensorrnn.train.module import VideoClassifier

RESULTS = Path(__file__).resolve().parent / "results"
SCALING = "unit"
#: Targets (2-core CPU): one streamed frame of the UCF11 TT-GRU in onnxruntime, and its fp32 file.
TARGET_STEP_MS = 1.0
TARGET_FILE_BYTES = 1_000_000


def _tr_rank() -> list[int]:
    n = len(papers.TR_UCF11_IN_SHAPE) + len(papers.TR_UCF11_HIDDEN_SHAPE)
    return [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * (n - 1)


#: name -> (VideoClassifier arguments, frame size (width, height), frames per clip)
DEMO_SIZE, UCF11_SIZE = (80, 60), papers.UCF11_FRAME_SIZE
MODELS: dict[str, tuple[dict, tuple[int, int], int]] = {
    "demo TT-GRU": (dict(arch="gru", factorization="tt", in_shape=[6, 10, 16, 15], rank=4), DEMO_SIZE, 6),
    "demo GRU (dense)": (dict(arch="gru", factorization="dense", in_shape=[6, 10, 16, 15], rank=None), DEMO_SIZE, 6),
    "UCF11 TT-GRU": (dict(arch="gru", factorization="tt", in_shape=list(papers.UCF11_IN_SHAPE), rank=4),
                     UCF11_SIZE, papers.FRAMES_PER_CLIP),
    # the shipped config's model: the TT-GRU behind the stem (model.stem)
    "UCF11 TT-GRU, stem": (dict(arch="gru", factorization="tt", in_shape=list(papers.UCF11_IN_SHAPE), rank=4,
                                stem=True), UCF11_SIZE, papers.FRAMES_PER_CLIP),
    "UCF11 TR-LSTM": (dict(arch="lstm", factorization="tr", in_shape=list(papers.TR_UCF11_IN_SHAPE),
                           hidden_shape=list(papers.TR_UCF11_HIDDEN_SHAPE), rank=_tr_rank()),
                      UCF11_SIZE, papers.FRAMES_PER_CLIP),
    "UCF11 BT-LSTM": (dict(arch="lstm", factorization="bt", in_shape=list(papers.UCF11_IN_SHAPE),
                           rank=papers.BT_UCF11_RANK, blocks=papers.BT_UCF11_BLOCKS),
                      UCF11_SIZE, papers.FRAMES_PER_CLIP),
    "UCF11 GRU (dense)": (dict(arch="gru", factorization="dense", in_shape=list(papers.UCF11_IN_SHAPE), rank=None),
                          UCF11_SIZE, papers.FRAMES_PER_CLIP),
    "UCF11 LSTM (dense)": (dict(arch="lstm", factorization="dense", in_shape=list(papers.UCF11_IN_SHAPE), rank=None),
                           UCF11_SIZE, papers.FRAMES_PER_CLIP),
}
QUICK = ["demo TT-GRU", "demo GRU (dense)"]
#: The dense model each factorised one is read against.
DENSE = {"demo TT-GRU": "demo GRU (dense)", "UCF11 TT-GRU": "UCF11 GRU (dense)", "UCF11 TT-GRU, stem": "UCF11 GRU (dense)",
         "UCF11 TR-LSTM": "UCF11 LSTM (dense)", "UCF11 BT-LSTM": "UCF11 LSTM (dense)"}


def build(name: str) -> VideoClassifier:
    torch.manual_seed(0)
    kwargs, (width, height), frames = MODELS[name]
    kwargs = {"hidden_shape": list(papers.UCF11_HIDDEN_SHAPE), **kwargs}
    model = VideoClassifier(num_classes=len(papers.UCF11_CLASSES), **kwargs)
    clips = torch.rand(2, frames, height, width, 3) * 2 - 1
    model.input_norm.fit([model.steps(clips)])
    return model.eval()


def _median_ms(fn, reps: int) -> tuple[float, float]:
    fn()                                                             # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def _session(blob: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def measure(name: str, reps: int) -> dict:
    print(f"bench_deploy: {name}", file=sys.stderr, flush=True)
    model = build(name)
    _, (width, height), T = MODELS[name]
    rng = np.random.default_rng(0)
    clip = torch.from_numpy(rng.integers(0, 256, (1, T, height, width, 3)).astype(np.uint8))
    row: dict = {"model": name, "frame_size": [width, height], "frames": T,
                 "parameters": sum(p.numel() for p in model.parameters())}  # the stem too
    with exportable(model):
        clip_graph, step_graph = ClipGraph(model, SCALING), StepGraph(model, SCALING)
        state = model.init_state(1)
        with torch.no_grad():
            reference = clip_graph(clip).numpy()
            row["torch_clip_ms"], row["torch_clip_min_ms"] = _median_ms(lambda: clip_graph(clip), reps)
            row["torch_step_ms"], row["torch_step_min_ms"] = _median_ms(lambda: step_graph(clip[:, -1], *state), reps)
        start = time.perf_counter()
        blobs = {kind: _serialise(trace(model, SCALING, (width, height), "onnx", kind, T), "onnx", {})
                 for kind in ("clip", "step")}
        row["export_s"] = round(time.perf_counter() - start, 1)
    for precision in ("fp32", "int8"):
        if precision == "int8":
            blobs = {kind: quantize_int8(blob) for kind, blob in blobs.items()}
        row[f"{precision}_bytes"] = len(blobs["clip"])
        clip_session, step_session = _session(blobs["clip"]), _session(blobs["step"])
        probs = clip_session.run(None, {"frames": clip.numpy()})[0]
        row[f"{precision}_max_abs_diff"] = float(np.abs(probs - reference).max())
        row[f"ort_{precision}_clip_ms"], row[f"ort_{precision}_clip_min_ms"] = _median_ms(
            lambda: clip_session.run(None, {"frames": clip.numpy()}), reps)
        names = [i.name for i in step_session.get_inputs()]
        feeds = dict(zip(names, [clip[:, -1].numpy(), *(s.numpy() for s in state)]))
        row[f"ort_{precision}_step_ms"], row[f"ort_{precision}_step_min_ms"] = _median_ms(
            lambda: step_session.run(None, feeds), reps)
    return row


def run(quick: bool) -> dict:
    torch.set_num_threads(1)
    reps = 3 if quick else 30
    names = QUICK if quick else list(MODELS)
    rows = [measure(name, reps) for name in names]
    return {"name": "deploy", "quick": quick, "reps": reps, "threads": 1, "scaling": SCALING,
            "classes": len(papers.UCF11_CLASSES),
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores", "torch": torch.__version__,
            "onnxruntime": __import__("onnxruntime").__version__, "load_average": _load_average(),
            "dense_reference": DENSE, "target_step_ms": TARGET_STEP_MS, "target_file_bytes": TARGET_FILE_BYTES,
            "rows": rows}


def _load_average() -> str:
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _mb(n: int) -> str:
    return f"{n / 1e6:.3f}" if n < 10e6 else f"{n / 1e6:.1f}"


def markdown(result: dict) -> str:
    lines = [f"# Deployment: size and batch-1 latency{' (quick smoke run)' if result['quick'] else ''}", "",
             f"{result['machine']}, torch {result['torch']}, onnxruntime {result['onnxruntime']}, "
             f"1 thread, median of {result['reps']} calls; load average {result['load_average']}. "
             "Clip: uint8 frames to probabilities; step: one streamed frame and the state. Random weights; every "
             # runs before the key was recorded built UCF11's head too
             f"model has a head of {result.get('classes', len(papers.UCF11_CLASSES))} classes (UCF11's), the demo's "
             "models too, so their parameters are not the demo's own.", "",
             "| model | params | fp32 MB | int8 MB | clip ms torch / ort fp32 / ort int8 "
             "| step ms torch / ort fp32 / ort int8 | int8 max abs diff |",
             "|---|---:|---:|---:|---|---|---:|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} ({r['frame_size'][0]}x{r['frame_size'][1]}, {r['frames']} frames) | {r['parameters']:,} "
            f"| {_mb(r['fp32_bytes'])} | {_mb(r['int8_bytes'])} "
            f"| {r['torch_clip_ms']:.2f} / {r['ort_fp32_clip_ms']:.2f} / {r['ort_int8_clip_ms']:.2f} "
            f"| {r['torch_step_ms']:.3f} / {r['ort_fp32_step_ms']:.3f} / {r['ort_int8_step_ms']:.3f} "
            f"| {r['int8_max_abs_diff']:.1e} |")
    by_name = {r["model"]: r for r in result["rows"]}
    lines += ["", "Against the dense model of the same hidden size (same run):", ""]
    for name, dense in result["dense_reference"].items():
        if name in by_name and dense in by_name:
            r, d = by_name[name], by_name[dense]
            lines.append(f"- {name} vs {dense}: file {d['fp32_bytes'] / r['fp32_bytes']:.0f}x smaller (fp32), "
                         f"streamed frame {d['ort_fp32_step_ms'] / r['ort_fp32_step_ms']:.1f}x faster in onnxruntime "
                         f"fp32, clip {d['ort_fp32_clip_ms'] / r['ort_fp32_clip_ms']:.1f}x")
    lines.append("")
    for name in ("UCF11 TT-GRU", "UCF11 TT-GRU, stem"):                # the papers' model, the shipped config's
        if name in by_name:
            r = by_name[name]
            lines.append(f"Targets ({name}): streamed frame in onnxruntime < {result['target_step_ms']:g} ms: "
                         f"{r['ort_fp32_step_ms']:.3f} ms fp32, {r['ort_int8_step_ms']:.3f} ms int8; "
                         f"fp32 file < {result['target_file_bytes'] / 1e6:g} MB: {_mb(r['fp32_bytes'])} MB.  ")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the demo model and its dense GRU, 3 repetitions")
    args = p.parse_args(argv)
    result = run(args.quick)
    atomic_write_text(RESULTS / "deploy.json", json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    atomic_write_text(RESULTS / "deploy.md", table)
    blocks.update(RESULTS / "deploy.json")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
