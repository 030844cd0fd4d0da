"""Benchmark: camera-motion compensation (``model.stabilize``, :mod:`tensorrnn.nn.motion`).

1. **The estimator's error in pixels** on pairs of 160x120 frames whose camera shift is known:
   views of one scene (the generated family's dim scene, its cluttered scene, and a textured
   one) a random ``(dx, dy)`` apart (up to 15 x 10 px), with sensor noise (+-16 grey levels),
   alone, with a distractor (a striped disc moving its own way), with a large actor (a
   checkerboard of a fifth of the frame moving its own way), and under a zoom of 3% between the
   frames (the estimator models translation only). Median, 95th percentile and largest error.
2. **On the generated family's clips** (``tensorrnn.data.synthetic``: dim or cluttered scenes,
   an actor of 15-30% of the frame, 6 sampled frames a clip): with a still camera, the share of
   pairs moved by more than 2 px (the actor's motion taken for the camera's), by the bands'
   vote alone (:func:`~tensorrnn.nn.motion.shift_between`) and with the check that aligning
   moves most of the frame (:func:`~tensorrnn.nn.motion.camera_shift`); under a pan, the share
   of pairs whose shift is cancelled.
3. **Cuts**: frames 5-40 apart in one generated clip (pan, distractor) against frames of two
   clips: the share of false and missed cuts of :func:`tensorrnn.nn.motion.is_cut`.
4. **Cost** against the training step (batch 16 of 160x120: forward, backward and AdamW) of the
   shipped UCF11 TT-GRU config (the stem, 12 frames) and of the papers' TT-GRU (no stem, 6
   frames), in one process with freed memory kept as ``tensorrnn`` keeps it: the stabilised
   input of panning clips (every pair moved: the most it costs) and of still ones (none moved)
   against the plain differences.
5. **In the exported graphs**: the UCF11 TT-GRU with ``stabilize`` exported to ONNX (clip and
   step graphs), its largest difference from PyTorch, and one streamed frame's latency in
   onnxruntime (1 thread) against the same model without.

Writes ``bench/results/motion.json`` and ``bench/results/motion.md``; ``--quick``: a smoke run.
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
import torch.nn.functional as F

from tensorrnn import papers
from tensorrnn.files import atomic_write_text
from tensorrnn.nn import motion

RESULTS = Path(__file__).resolve().parent / "results"
SIZE = (160, 120)
#: Targets: compensation at most 20% of the training step; a streamed frame under 1 ms.
TARGET_COST = 0.20
TARGET_STEP_MS = 1.0


def _scene(kind: str, rng: np.random.Generator) -> torch.Tensor:
    """A scene ``(3, 200, 260)`` float32 in [0, 255]."""
    from tensorrnn.data import synthetic

    height, width = 200, 260
    if kind == "dim":
        image = synthetic._background(rng, height, width)
    elif kind == "cluttered":
        image = synthetic._clutter(rng, height, width)
    else:   # textured: colour cells at three scales
        image = sum(w * np.kron(rng.random((c, c, 3)), np.ones((-(-height // c), -(-width // c), 1)))[:height, :width]
                    for c, w in ((6, 0.5), (14, 0.3), (30, 0.2))) * 255
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)


def _view(scene: torch.Tensor, x0: float, y0: float, zoom: float = 1.0) -> torch.Tensor:
    """The ``(H, W, 3)`` view whose pixel ``u`` sees the scene at ``centre + (u - centre) / zoom``."""
    width, height = SIZE
    _, sh, sw = scene.shape
    cx, cy = x0 + width / 2, y0 + height / 2
    xs = cx + (torch.arange(width) + 0.5 - width / 2) / zoom - 0.5
    ys = cy + (torch.arange(height) + 0.5 - height / 2) / zoom - 0.5
    grid = torch.stack(torch.broadcast_tensors(((2 * xs + 1) / sw - 1)[None], ((2 * ys + 1) / sh - 1)[:, None]), -1)
    return F.grid_sample(scene[None], grid[None], align_corners=False)[0].permute(1, 2, 0)


def _paste(frame: torch.Tensor, what: str, x: float, y: float) -> None:
    width, height = SIZE
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    if what == "distractor":
        inside = (xx - x) ** 2 + (yy - y) ** 2 <= 12 ** 2
        look = ((xx // 4) % 2)[..., None] * torch.tensor([220.0, 20, 20]) + 30
    else:   # a large actor: a checkerboard of a fifth of the frame
        side = 0.45 * height
        inside = ((xx - x).abs() <= side / 2) & ((yy - y).abs() <= side / 2)
        look = (((xx // 10) + (yy // 10)) % 2)[..., None] * torch.tensor([200.0, 220, 90]) + 30
    frame[inside] = look[inside]


def estimator_errors(trials: int) -> list[dict]:
    rows = []
    for kind in ("textured", "cluttered", "dim"):
        for extra in ("none", "distractor", "actor", "zoom"):
            rng = np.random.default_rng(0)
            errors, gated = [], []
            for _ in range(trials):
                scene = _scene(kind, rng)
                dx, dy = rng.uniform(-15, 15), rng.uniform(-10, 10)
                zoom = 1.03 if extra == "zoom" else 1.0
                prev, cur = _view(scene, 50, 40), _view(scene, 50 - dx, 40 - dy, zoom)
                if extra in ("distractor", "actor"):
                    start = rng.uniform(40, 120), rng.uniform(30, 90)
                    step = rng.uniform(-15, 15, 2)
                    _paste(prev, extra, *start)
                    _paste(cur, extra, start[0] + step[0], start[1] + step[1])
                noise = torch.from_numpy(rng.uniform(-16, 16, (2, *prev.shape)).astype(np.float32))
                pair = (torch.stack([prev, cur]) + noise).clamp(0, 255) / 128 - 1
                (ex, ey), = motion.estimate_shift(pair[:1], pair[1:]).tolist()
                errors.append(max(abs(ex - dx), abs(ey - dy)))
                gated.append(ex == 0 and ey == 0)   # no candidate was the camera's: nothing cancelled
            errors, gated = np.array(errors), np.array(gated)
            rows.append({"scene": kind, "with": extra, "trials": trials,
                         "median_px": float(np.median(errors)), "p95_px": float(np.percentile(errors, 95)),
                         "max_px": float(errors.max()), "share_within_0.5px": float((errors <= 0.5).mean()),
                         "share_not_cancelled": float(gated.mean()),
                         "share_wrong_cancelled": float(((errors > 1.0) & ~gated).mean())})
            print(f"bench_motion: {kind:9s} {extra:10s} median {rows[-1]['median_px']:.2f} px", file=sys.stderr)
    return rows


def generated_clips(clips: int) -> list[dict]:
    from tensorrnn.data import synthetic

    rows = []
    for camera in (None, "pan"):
        for distractors in (0, 1):
            rng = np.random.default_rng(2)
            votes, checked = [], []
            for i in range(clips):
                width, height = synthetic.scene_size(SIZE, camera)
                scene = (synthetic._clutter if i % 2 == 0 else synthetic._background)(rng, height, width)
                frames = synthetic.render_clip(synthetic.MOTIONS[i % len(synthetic.MOTIONS)], SIZE, 60, rng, scene,
                                               distractors=distractors, camera=camera)
                x = torch.from_numpy(frames[np.sort(rng.choice(60, 6, replace=False))]).float() / 128 - 1
                before, after = motion.frame_features(x[:-1]), motion.frame_features(x[1:])
                votes.append(motion.shift_between(before, after))
                checked.append(motion.camera_shift(before, after))
            votes, checked = torch.cat(votes), torch.cat(checked)
            rows.append({"camera": camera or "still", "distractors": distractors, "pairs": len(votes),
                         "vote_moved_over_2px": float((votes.abs().amax(-1) > 2).float().mean()),
                         "checked_moved_over_2px": float((checked.abs().amax(-1) > 2).float().mean()),
                         "vote_cancelled": float((votes.abs().amax(-1) > 0).float().mean()),
                         "checked_cancelled": float((checked.abs().amax(-1) > 0).float().mean())})
    return rows


def cut_rates(clips: int) -> dict:
    from tensorrnn.data import synthetic

    rng = np.random.default_rng(1)
    same, cuts = [], []
    for i in range(clips):
        make = synthetic._clutter if i % 3 == 0 else synthetic._background
        width, height = synthetic.scene_size(SIZE, "pan")
        a, b = (synthetic.render_clip(synthetic.MOTIONS[int(rng.integers(12))], SIZE, 60, rng,
                                      make(rng, height, width), distractors=1, camera="pan") for _ in range(2))
        a, b = (torch.from_numpy(c).float() / 128 - 1 for c in (a, b))
        prev = torch.cat([a[10:11]] * 4 + [a[30:31]])
        cur = torch.cat([a[15:16], a[22:23], a[30:31], a[50:51], b[30:31]])
        before, after = motion.frame_features(prev), motion.frame_features(cur)
        flags = motion.is_cut(before, after, motion.shift_between(before, after)).tolist()
        same += flags[:4]
        cuts.append(flags[4])
    return {"same_shot_pairs": len(same), "cut_pairs": len(cuts), "false_cuts": float(np.mean(same)),
            "missed_cuts": float(1 - np.mean(cuts))}


def _median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _ucf11_tt_gru(stabilize: bool):
    from tensorrnn.train.module import VideoClassifier

    torch.manual_seed(0)
    model = VideoClassifier("gru", "tt", list(papers.UCF11_IN_SHAPE), list(papers.UCF11_HIDDEN_SHAPE), rank=4,
                            num_classes=len(papers.UCF11_CLASSES), stabilize=stabilize)
    clips = torch.rand(2, 6, SIZE[1], SIZE[0], 3) * 2 - 1
    model.input_norm.fit([model.steps(clips)])
    return model


def _shipped_config() -> tuple[dict, int]:
    """The model options and frames a clip of ``configs/ucf11_tt_gru.yaml`` (the stem, 12 frames)."""
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "ucf11_tt_gru.yaml").read_text())
    return config["model"], config["data"]["num_frames"]


def cost(reps: int) -> list[dict]:
    """The stabilised input against a whole training step (forward from the plain differences,
    backward, AdamW) of the shipped UCF11 TT-GRU config (the stem, 12 frames a clip) and of the
    papers' model (no stem, 6 frames), batch 16, in this process with freed memory kept in the
    heap, as ``tensorrnn`` runs (:mod:`tensorrnn.heap`)."""
    from tensorrnn.train.module import VideoClassifier

    shipped, frames = _shipped_config()
    rows = []
    for name, options, T in (("UCF11 TT-GRU config (stem)", shipped, frames),
                             ("papers' TT-GRU (no stem)", {**shipped, "stem": False}, 6)):
        torch.manual_seed(0)
        model = VideoClassifier(**options, num_classes=len(papers.UCF11_CLASSES))
        x = torch.rand(16, T, SIZE[1], SIZE[0], 3) * 2 - 1
        y = torch.randint(0, model.hparams.num_classes, (16,))
        model.input_norm.fit([model.steps(x[:2])])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def train_step() -> None:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

        step_ms = _median_ms(train_step, reps)
        panning, still = _cost_clips(T)
        with torch.no_grad():
            moved = motion.camera_shift(*(motion.frame_features(c.flatten(0, 1)) for c in (panning[:, :-1], panning[:, 1:])))
            stabilized_ms = _median_ms(lambda: motion.stabilized_differences(panning), reps)
            still_ms = _median_ms(lambda: motion.stabilized_differences(still), reps)
            plain_ms = _median_ms(lambda: x[:, 1:] - x[:, :-1], reps)
        rows.append({"model": name, "batch": 16, "frames": T, "threads": torch.get_num_threads(),
                     "train_step_ms": step_ms, "stabilized_input_ms": stabilized_ms, "stabilized_still_ms": still_ms,
                     "plain_difference_ms": plain_ms, "panning_pairs_moved": float(moved.ne(0).any(-1).float().mean()),
                     "extra_share_of_step": (stabilized_ms - plain_ms) / step_ms,
                     "extra_share_of_step_still": (still_ms - plain_ms) / step_ms})
        print(f"bench_motion: {name}: step {step_ms:.1f} ms, stabilised input {stabilized_ms:.1f} ms (panning), "
              f"{still_ms:.1f} ms (still)", file=sys.stderr)
    return rows


def _cost_clips(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """16 clips ``(16, frames, 120, 160, 3)`` in [-1, 1] of textured scenes (:func:`_scene`) with
    sensor noise: panning 3 px right and 1 down a frame (the camera's shift found and cancelled in
    every pair: the most stabilising costs), and still (none cancelled: the fewest)."""
    rng = np.random.default_rng(3)
    panning, still = [], []
    for _ in range(16):
        scene = _scene("textured", rng)
        panning.append(torch.stack([_view(scene, 30 + 3 * t, 30 + t) for t in range(frames)]))
        still.append(_view(scene, 40, 40).expand(frames, -1, -1, -1))
    clips = torch.stack(panning + still)
    clips = (clips + torch.from_numpy(rng.uniform(-16, 16, clips.shape).astype(np.float32))).clamp(0, 255) / 128 - 1
    return clips[:16].contiguous(), clips[16:].contiguous()


def exported(reps: int) -> list[dict]:
    import onnxruntime as ort

    from tensorrnn.deploy.export import _serialise, trace
    from tensorrnn.deploy.graphs import ClipGraph, exportable

    rows = []
    rng = np.random.default_rng(0)
    clip = torch.from_numpy(rng.integers(0, 256, (1, 6, SIZE[1], SIZE[0], 3)).astype(np.uint8))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    for stabilize in (False, True):
        model = _ucf11_tt_gru(stabilize).eval()
        with exportable(model):
            with torch.no_grad():
                reference = ClipGraph(model, "unit")(clip).numpy()
            blobs = {kind: _serialise(trace(model, "unit", SIZE, "onnx", kind, 6), "onnx", {})
                     for kind in ("clip", "step")}
            state = model.init_state(1)
        sessions = {kind: ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
                    for kind, blob in blobs.items()}
        probs = sessions["clip"].run(None, {"frames": clip.numpy()})[0]
        step = sessions["step"]
        names = [i.name for i in step.get_inputs()]
        values = [s.numpy() for s in state]
        for t in range(6):
            step_probs, *values = step.run(None, dict(zip(names, [clip[:, t].numpy(), *values])))
        feeds = dict(zip(names, [clip[:, -1].numpy(), *values]))
        rows.append({"stabilize": stabilize, "clip_max_abs_diff": float(np.abs(probs - reference).max()),
                     "step_max_abs_diff": float(np.abs(step_probs - reference).max()),
                     "ort_step_ms": _median_ms(lambda: step.run(None, feeds), reps),
                     "ort_clip_ms": _median_ms(lambda: sessions["clip"].run(None, {"frames": clip.numpy()}), reps)})
    return rows


def run(quick: bool) -> dict:
    torch.set_num_threads(2)
    reps = 3 if quick else 20
    result = {"name": "motion", "quick": quick, "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
              "torch": torch.__version__, "frame_size": list(SIZE), "max_shift": motion.MAX_SHIFT,
              "strips": motion.STRIPS, "camera_share": motion.CAMERA_SHARE,
              "cut_histogram": motion.CUT_HISTOGRAM, "cut_residual": motion.CUT_RESIDUAL,
              "estimator": estimator_errors(4 if quick else 40), "generated": generated_clips(4 if quick else 48),
              "cuts": cut_rates(3 if quick else 60),
              "cost": cost(reps)}
    torch.set_num_threads(1)
    result["export"] = exported(reps)
    result["target_cost"], result["target_step_ms"] = TARGET_COST, TARGET_STEP_MS
    return result


def markdown(result: dict) -> str:
    lines = ["# Camera-motion compensation", "",
             f"{result['machine']}, torch {result['torch']}; frames {result['frame_size'][0]}x{result['frame_size'][1]}"
             f", shifts up to 15 x 10 px, noise +-16 grey levels. Written by `bench/bench_motion.py`.", "",
             "## Estimator error (px, the larger of x and y)", "",
             f"Where aligning by none of the bands' candidate shifts brings at least "
             f"{result['camera_share']:.0%} of the frame's "
             "blocks closer, the shift is not cancelled (0): its error is then the "
             "whole shift; *off by > 1 px* counts the pairs that were moved by a wrong shift.", "",
             "| scene | with | median | 95th pct | max | within 0.5 px | not cancelled | off by > 1 px |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in result["estimator"]:
        lines.append(f"| {row['scene']} | {row['with']} | {row['median_px']:.2f} | {row['p95_px']:.2f} | "
                     f"{row['max_px']:.2f} | {row['share_within_0.5px']:.0%} | {row['share_not_cancelled']:.0%} | "
                     f"{row['share_wrong_cancelled']:.0%} |")
    lines += ["", "## On the generated family's clips", "",
              "6 sampled frames of each clip; *moved > 2 px* under a still camera is the actor's motion taken for "
              "the camera's; *cancelled*: pairs moved by a shift at all.", "",
              "| camera | distractors | pairs | bands' vote: moved > 2 px | checked: moved > 2 px | "
              "bands' vote: cancelled | checked: cancelled |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in result.get("generated", []):
        lines.append(f"| {row['camera']} | {row['distractors']} | {row['pairs']} | {row['vote_moved_over_2px']:.0%} | "
                     f"{row['checked_moved_over_2px']:.0%} | {row['vote_cancelled']:.0%} | "
                     f"{row['checked_cancelled']:.0%} |")
    cuts = result["cuts"]
    lines += ["", "## Cuts", "",
              f"{cuts['same_shot_pairs']} same-shot pairs (5-40 frames apart, pan, distractor): "
              f"{cuts['false_cuts']:.1%} called cuts; {cuts['cut_pairs']} pairs of two clips: "
              f"{cuts['missed_cuts']:.1%} missed.", "",
              "## Cost against the TT-GRU training step", "",
              "Batch 16; the training step is forward (from the plain differences), backward and AdamW; "
              "timed in one process with freed memory kept in the heap, as `tensorrnn` runs.", "",
              "Stabilised: textured scenes with sensor noise, the camera panning (its shift cancelled in every "
              "pair) or still (none cancelled: most pairs' differences are taken plainly).", "",
              "| model | frames | threads | training step (ms) | stabilised, panning (ms) | stabilised, still (ms) | "
              "plain differences (ms) | extra, share of the step: panning / still | target |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in result["cost"]:
        met = "met" if row["extra_share_of_step"] <= result["target_cost"] else "MISSED"
        lines.append(f"| {row['model']} | {row['frames']} | {row['threads']} | {row['train_step_ms']:.1f} | "
                     f"{row['stabilized_input_ms']:.1f} | {row['stabilized_still_ms']:.1f} | "
                     f"{row['plain_difference_ms']:.1f} | {row['extra_share_of_step']:.1%} / "
                     f"{row['extra_share_of_step_still']:.1%} | <= {result['target_cost']:.0%} {met} |")
    lines += ["", "The camera's shift was found (and cancelled) in "
              + ", ".join(f"{row['panning_pairs_moved']:.0%}" for row in result["cost"]) + " of the panning pairs."]
    lines += ["",
              "## Exported (ONNX, onnxruntime, 1 thread)", "",
              "| stabilize | clip graph max abs diff | step graph max abs diff | streamed frame (ms) | clip (ms) |",
              "|---|---:|---:|---:|---:|"]
    for row in result["export"]:
        lines.append(f"| {row['stabilize']} | {row['clip_max_abs_diff']:.1e} | {row['step_max_abs_diff']:.1e} | "
                     f"{row['ort_step_ms']:.2f} | {row['ort_clip_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few trials and repetitions: a smoke run")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    from tensorrnn.heap import keep_freed_memory

    keep_freed_memory()   # as tensorrnn runs: before the first large tensor
    result = run(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "motion.json", json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    atomic_write_text(out / "motion.md", table)
    blocks.update(out / "motion.json")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
