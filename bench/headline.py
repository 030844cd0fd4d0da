"""The README's one table of results, rendered from three benchmarks' JSON (no measurement here).

Per model of the papers (UCF11 shapes): held-out accuracy on the generated action sets
(``bench_accuracy.py``, default recipe and paper recipe), the training step against the dense
LSTM (``bench_rnn.py``), and the exported file and streamed frame (``bench_deploy.py``).
``bench/blocks.py`` writes it into the README's ``headline`` block whenever one of the three
JSON files is written.
"""
from __future__ import annotations

from tensorrnn import papers
from tensorrnn.nn import ConvStem
from tensorrnn.train.datamodule import RECIPE_FRAMES

#: The rows: the model's name here, in bench_accuracy (its ``MODELS`` keys), in bench_rnn and in
#: bench_deploy (None: that benchmark does not run it).
ROWS = (("TT-GRU", "tt_gru", "TT-GRU", "UCF11 TT-GRU"), ("TT-LSTM", "tt_lstm", "TT-LSTM", None),
        ("TR-LSTM", "tr_lstm", "TR-LSTM", "UCF11 TR-LSTM"), ("BT-LSTM", "bt_lstm", "BT-LSTM", "UCF11 BT-LSTM"),
        ("GRU (dense)", "gru", None, "UCF11 GRU (dense)"), ("LSTM (dense)", None, "LSTM (dense)", "UCF11 LSTM (dense)"))
SETS = ("easy", "hard")
#: The weights the stem adds to a model of RGB frames (``model.stem``).
_STEM_WEIGHTS = sum(p.numel() for p in ConvStem(3).parameters())


def _accuracy(accuracy: dict, set_name: str, model: str | None) -> str:
    row = next((r for r in accuracy["summary"] if r["set"] == set_name and r["model"] == model
                and r["size"] == "160x120"), None) if model else None
    if row is None:
        return "-"
    return " / ".join(f"{row[recipe]['mean']:.3f}" if recipe in row else "-" for recipe in ("default", "paper"))


def _mb(n: int) -> str:  # as bench_deploy's table writes them
    return f"{n / 1e6:.3f}" if n < 10e6 else f"{n / 1e6:.1f}"


def _set_note(accuracy: dict, set_name: str) -> str:
    spec = accuracy["sets"][f"{set_name}_160x120"]
    budgets = {r["budget_cpu_seconds"] for r in accuracy["runs"] if r["set"] == set_name and "budget_cpu_seconds" in r}
    budget = f", {max(budgets) / 60:.0f} CPU-minutes a run" if budgets else ""
    return f"`{set_name}` {spec['classes']} classes{budget}"


def _stem_note(steps: dict, files: dict) -> str:
    """The step, speed-up and streamed frame columns are the papers' models; the TT-GRU behind
    the stem, as the default recipe trains it, where both benchmarks ran it."""
    step, file = steps.get("TT-GRU, stem"), files.get("UCF11 TT-GRU, stem")
    if step is None or file is None:
        return ""
    return ("The last four columns are the papers' models; the TT-GRU behind the stem: "
            f"{step['best_ms']:.0f} ms a step, {step['speedup']:.1f}x, {file['ort_fp32_step_ms']:.3f} ms a "
            "streamed frame. ")


def _allocator_note(rnn: dict, run: dict) -> str:
    """With glibc's default allocator the dense LSTM's step pays for mapping its gradients
    afresh every step, which made the speed-ups larger: both, where bench_rnn timed both."""
    system = next((r for r in rnn.get("runs_system_allocator", []) if r["threads"] == run["threads"]), None)
    if system is None:
        return ""
    kept, other = ({r["model"]: r for r in x["rows"]} for x in (run, system))
    dense, tt = "LSTM (dense)", "TT-GRU"
    return (f" (with glibc's default allocator the dense LSTM's step is {other[dense]['best_ms']:.0f} ms, not "
            f"{kept[dense]['best_ms']:.0f}, and the TT-GRU's speed-up {other[tt]['speedup']:.1f}x: "
            "`bench/results/rnn.md`)")


def block(accuracy: dict, rnn: dict, deploy: dict) -> str:
    run = max(rnn["runs"], key=lambda r: r["threads"])
    steps = {r["model"]: r for r in run["rows"]}
    files = {r["model"]: r for r in deploy["rows"]}
    lines = ["| model | parameters | " + " | ".join(f"`{s}`, default / paper recipe" for s in SETS)
             + " | training step | speed-up over the dense LSTM | ONNX file fp32 / int8 (MB) "
             "| streamed frame, onnxruntime |",
             "|---|---:|" + "---:|" * len(SETS) + "---:|---:|---:|---:|"]
    for name, acc_name, rnn_name, deploy_name in ROWS:
        step, file = steps.get(rnn_name), files.get(deploy_name)
        params = (step or {}).get("params") or file["parameters"]
        lines.append(
            f"| {name} | {params:,} | " + " | ".join(_accuracy(accuracy, s, acc_name) for s in SETS) + " | "
            + (f"{step['best_ms']:.0f} ms | {step['speedup']:.1f}x" if step else "- | -") + " | "
            + (f"{_mb(file['fp32_bytes'])} / {_mb(file['int8_bytes'])} | {file['ort_fp32_step_ms']:.3f} ms"
               if file else "- | -") + " |")
    lines += ["", "Accuracy: generated action sets (" + "; ".join(_set_note(accuracy, s) for s in SETS)
              + "), 160x120 frames, test groups never seen in training, mean over seeds; the default recipe "
              f"reads {RECIPE_FRAMES} frames a clip through the stem (`model.stem`: a 4x4 convolution and a ReLU "
              f"before the map, {_STEM_WEIGHTS} weights more than the parameters above) and tests its last "
              "epoch's checkpoint, the paper recipe "
              f"{papers.FRAMES_PER_CLIP} frames straight into the map, and selects its checkpoint on the test clips. "
              + _stem_note(steps, files) + "Training step: batch "
              f"{rnn['batch']} clips x {rnn['frames']} frames, forward and backward, {run['threads']} threads, best of "
              f"{rnn['reps']}, freed memory kept in the heap as `tensorrnn` runs" + _allocator_note(rnn, run)
              + ". ONNX: the whole classifier, uint8 frames to probabilities, batch 1, "
              f"{deploy['threads']} thread. {rnn['machine']}, torch {rnn['torch']}."]
    return "\n".join(lines) + "\n"
