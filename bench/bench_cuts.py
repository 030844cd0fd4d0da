"""Cuts in ``tensorrnn predict --timeline``: how well the detector finds them, what it costs per
frame, and what it changes for a user.

1. Accuracy. Generated shot sequences (``tensorrnn.data.synthetic.render_clip``: each shot a clip of
   a random motion, 10-60 frames, one after another), encoded as MPEG-4 and decoded frame by
   frame at the detector's 64x48 as the timeline decodes them. Settings: dim scenes with a panning
   camera and a distractor (the ``hard`` set's look), cluttered scenes (``cluttered``), a still
   camera (the demo's look), a pan with a zoom, and cuts within one scene (the shots share the
   background and the object: only the objects jump), among them the demo's 24-frame clips of one
   class. Detectors: the timeline's :class:`~tensorrnn.deploy.timeline.CutDetector`, the pair test
   of ``tensorrnn.nn.motion`` (``is_cut`` of ``frame_features`` and ``shift_between``; its
   thresholds were set on frames 5-40 apart) and PySceneDetect's content detector (mean change of
   the HSV channels of consecutive frames above its default 27; here on the same 64x48 frames).
   Precision and recall of the cut frames (exact frame), and the scores' margins: the largest
   score within a shot against the smallest at a cut.
2. Cost per frame: PyAV decoding alone, then with every frame converted to 64x48 (swscale) and
   with the detector, on 160x120 and 640x480 MPEG-4.
3. ``--scenario``: the user's case (minutes). The demo's TT-GRU (``configs/demo_tt_gru.yaml``)
   trained ``--budget`` seconds (``--trainer.max_time``) on the demo's generated set; a long video
   of three actions in turn, each eight held-out clips of its class joined in file order, read by
   the timeline (2 s windows, 1 s stride) with and without cuts; a part is named right when most
   windows centred in it name its class. The same with all six classes.

    python bench/bench_cuts.py               # 1 and 2 (a few minutes)
    python bench/bench_cuts.py --scenario    # also 3 (about 5 more minutes)
    python bench/bench_cuts.py --quick       # smoke run

Writes ``bench/results/cuts.json`` and ``bench/results/cuts.md`` (a run without ``--scenario``
keeps the scenario's last results).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blocks  # noqa: E402 - a sibling: the docs' blocks that read this script's JSON
from bench_timeline import decode_only  # noqa: E402 - a sibling script: the same decoding floor

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
FPS = 25
#: PySceneDetect's ContentDetector default threshold (mean HSV change, 0-255 channels).
CONTENT_THRESHOLD = 27.0


@dataclasses.dataclass(frozen=True)
class Setting:
    """One kind of shot sequence."""

    name: str
    size: tuple[int, int] = (160, 120)
    camera: str | None = "pan"
    distractors: int = 1
    clutter: bool = False
    noise: int = 16
    object_size: tuple[float, float] = (0.15, 0.3)
    speed: tuple[float, float] = (1.3, 1.8)
    same_scene: bool = False       # every shot of a sequence shares the background and the object
    motion: str | None = None      # every shot of this motion (None: a random one per shot)
    frames: tuple[int, int] = (10, 60)


SETTINGS = (
    Setting("dim scenes, pan, distractor"),
    Setting("cluttered scenes, pan, distractor, noise 24", clutter=True, noise=24, object_size=(0.08, 0.3),
            speed=(0.8, 1.8)),
    Setting("dim scenes, still camera", camera=None, distractors=0),
    Setting("dim scenes, pan and zoom, distractor", camera="pan_zoom"),
    Setting("one scene, pan, distractor (objects jump)", same_scene=True),
    Setting("one scene, cluttered, pan, distractor", same_scene=True, clutter=True, noise=24),
    Setting("demo clips of one class, one scene (objects jump)", size=(80, 60), camera=None, distractors=0,
            same_scene=True, motion="left_right", frames=(24, 24)),
)


# --- 1. accuracy ------------------------------------------------------------------------------

def shot_sequence(setting: Setting, shots: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Frames ``(T, H, W, 3)`` of ``shots`` shots one after another, and the cut frames."""
    from tensorrnn.data.synthetic import MOTIONS, _background, _clutter, _object_texture, render_clip, scene_size

    width, height = scene_size(setting.size, setting.camera)
    look = None
    parts, cuts, total = [], [], 0
    for _ in range(shots):
        if look is None or not setting.same_scene:
            look = ((_clutter if setting.clutter else _background)(rng, height, width), _object_texture(rng))
        motion = setting.motion or MOTIONS[rng.integers(len(MOTIONS))]
        frames = render_clip(motion, setting.size, int(rng.integers(setting.frames[0], setting.frames[1] + 1)), rng,
                             *look, object_size=setting.object_size, speed=setting.speed, noise=setting.noise,
                             distractors=setting.distractors, camera=setting.camera)
        if total:
            cuts.append(total)
        parts.append(frames)
        total += len(frames)
    return np.concatenate(parts), cuts


def decode_small(path: Path) -> np.ndarray:
    """Every frame of ``path`` at the detector's size, as the timeline converts them."""
    import av

    from tensorrnn.data.video import to_rgb
    from tensorrnn.deploy.timeline import CUT_SIZE

    with av.open(str(path)) as container:
        return np.stack([to_rgb(frame, *CUT_SIZE) for frame in container.decode(container.streams.video[0])])


def hsv(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(..., 3)`` -> float HSV as OpenCV's 8-bit (H 0-180, S and V 0-255), what
    PySceneDetect's content detector compares."""
    x = frames.astype(np.float32) / 255
    high, low = x.max(-1), x.min(-1)
    spread = np.maximum(high - low, 1e-6)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    hue = np.where(high == r, (g - b) / spread % 6, np.where(high == g, (b - r) / spread + 2, (r - g) / spread + 4))
    hue = np.where(high == low, 0, hue * 30)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0) * 255
    return np.stack([hue, saturation, high * 255], -1)


def scores(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair of consecutive frames ``(T - 1,)``: the timeline detector's change and decisions,
    motion.py's histogram distance, aligned residual and decision, the HSV content change."""
    import torch

    from tensorrnn.deploy.timeline import CutDetector
    from tensorrnn.nn import motion

    detector = CutDetector()
    decisions, changes = [], []   # pair n - 1 -> n at n - 1
    for n, frame in enumerate(frames):
        cut = detector(frame)  # the verdict on pair n - 2 -> n - 1, one frame late
        if n >= 2:
            decisions.append(cut)
        if n:
            changes.append(detector.score)
    decisions.append(detector.finish())
    features = motion.frame_features(torch.from_numpy(frames).float())
    prev, cur = (motion.FrameFeatures(*(f[part] for f in features)) for part in (slice(0, -1), slice(1, None)))
    shift = motion.shift_between(prev, cur)
    # the two scores is_cut compares with its thresholds, as it computes them
    prev_grey, cur_grey = prev.grey.unsqueeze(-1), cur.grey.unsqueeze(-1)
    aligned, cover = motion.shift_frames(prev_grey, shift / 2)
    content = np.abs(np.diff(hsv(frames), axis=0)).mean((1, 2, 3))
    return {"timeline": np.array(decisions), "change": np.array(changes),
            "motion": motion.is_cut(prev, cur, shift).numpy(),
            "histogram": motion.histogram_distance(prev.colours, cur.colours).numpy(),
            "residual": motion.residual_ratio(prev_grey, cur_grey, aligned, cover).numpy(),
            "content": content > CONTENT_THRESHOLD, "content_score": content}


DETECTORS = {"timeline": "timeline CutDetector (change)", "motion": "nn.motion is_cut",
             "content": f"HSV content > {CONTENT_THRESHOLD:g} (PySceneDetect default)"}


def accuracy(settings, sequences: int, shots: int, tmp: Path, seed: int = 0) -> list[dict]:
    from tensorrnn.data.synthetic import write_video

    rows = []
    for k, setting in enumerate(settings):
        rng = np.random.default_rng([seed, k])
        counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in DETECTORS}
        within: dict[str, list[float]] = {"change": [], "histogram": [], "residual": [], "content_score": []}
        at_cuts: dict[str, list[float]] = {key: [] for key in within}
        frames_seen = 0
        for _ in range(sequences):
            frames, cuts = shot_sequence(setting, shots, rng)
            small = decode_small(write_video(tmp / "shots.avi", frames))
            frames_seen += len(small)
            s = scores(small)
            truth = np.zeros(len(small) - 1, bool)
            truth[np.asarray(cuts) - 1] = True  # pair n - 1 -> n
            for name in DETECTORS:
                found = s[name].astype(bool)
                counts[name]["tp"] += int((found & truth).sum())
                counts[name]["fp"] += int((found & ~truth).sum())
                counts[name]["fn"] += int((~found & truth).sum())
            for key in within:
                within[key] += s[key][~truth].tolist()
                at_cuts[key] += s[key][truth].tolist()
        row = {"setting": setting.name, "spec": dataclasses.asdict(setting), "sequences": sequences,
               "frames": frames_seen, "cuts": counts["timeline"]["tp"] + counts["timeline"]["fn"], "detectors": {}}
        for name, c in counts.items():
            found, real = c["tp"] + c["fp"], c["tp"] + c["fn"]
            row["detectors"][name] = {**c, "precision": c["tp"] / found if found else 1.0,
                                      "recall": c["tp"] / real if real else 1.0}
        row["scores"] = {key: {"largest_within_shot": float(np.max(within[key])),
                               "p99_within_shot": float(np.percentile(within[key], 99)),
                               "smallest_at_cut": float(np.min(at_cuts[key])),
                               "p5_at_cut": float(np.percentile(at_cuts[key], 5))} for key in within}
        rows.append(row)
        d = row["detectors"]
        print(f"{setting.name}: {row['cuts']} cuts; timeline P {d['timeline']['precision']:.3f} R "
              f"{d['timeline']['recall']:.3f}; motion P {d['motion']['precision']:.3f} R {d['motion']['recall']:.3f}; "
              f"change within <= {row['scores']['change']['largest_within_shot']:.2f}, at cuts >= "
              f"{row['scores']['change']['smallest_at_cut']:.2f}", flush=True)
    return rows


# --- 2. cost ----------------------------------------------------------------------------------

def cost(tmp: Path, seconds: int, repeats: int) -> list[dict]:
    """Milliseconds per frame (best of ``repeats`` passes): decoding alone; then, timed apart in one
    pass, the conversion of every frame to 64x48 (the timeline's :class:`RGB`, and
    ``data.video.to_rgb`` for reference) and the detector."""
    import av

    from tensorrnn.data.synthetic import write_video
    from tensorrnn.data.video import to_rgb
    from tensorrnn.deploy.timeline import CUT_SIZE, RGB, CutDetector

    rows = []
    for size in ((160, 120), (640, 480)):
        rng = np.random.default_rng(1)
        setting = Setting("cost", size=size)
        parts, count = [], 0
        while count < seconds * FPS:
            frames, _ = shot_sequence(setting, 1, rng)
            parts.append(frames)
            count += len(frames)
        video = write_video(tmp / f"cost_{size[0]}.avi", np.concatenate(parts)[:seconds * FPS])

        def stages() -> tuple[float, float, float]:
            small, detector, spent = RGB(*CUT_SIZE), CutDetector(), [0.0, 0.0, 0.0]
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    t0 = time.perf_counter()
                    rgb = small(frame)
                    t1 = time.perf_counter()
                    detector(rgb)
                    t2 = time.perf_counter()
                    to_rgb(frame, *CUT_SIZE)
                    spent[0] += t1 - t0
                    spent[1] += t2 - t1
                    spent[2] += time.perf_counter() - t2
            return tuple(spent)

        frames = seconds * FPS
        decode_ms = min(decode_only(video) for _ in range(repeats)) / frames * 1e3
        convert, detect, reference = (min(v) / frames * 1e3 for v in zip(*(stages() for _ in range(repeats))))
        rows.append({"size": list(size), "frames": frames, "decode_ms": decode_ms, "convert_ms": convert,
                     "detect_ms": detect, "cuts_ms": convert + detect, "to_rgb_ms": reference,
                     "cuts_share_of_decode": (convert + detect) / decode_ms})
        print(f"cost at {size[0]}x{size[1]}: decode {decode_ms:.3f} ms/frame, 64x48 conversion {convert:.3f} "
              f"(to_rgb {reference:.3f}), detector {detect:.3f}", flush=True)
    return rows


# --- 3. the user's scenario -------------------------------------------------------------------

SCENARIO_CLASSES = ("left_right", "up_down", "right_left")
CLIPS_PER_PART = 8


def train_demo(work: Path, budget: float, quick: bool):
    """The demo's set and the demo config's TT-GRU trained ``budget`` seconds: ``(checkpoint,
    held-out clips by class, record)``."""
    from tensorrnn.data.synthetic import make_demo_videos
    from tensorrnn.train.cli import _fit, _make_cli

    root = work / "videos"
    if quick:
        make_demo_videos(root, num_classes=6, groups=5, clips_per_group=8, progress=False)
    else:
        make_demo_videos(root, num_classes=6, groups=15, clips_per_group=4, progress=False)
    hours, rest = divmod(int(budget), 3600)
    args = ["--config", str(REPO / "configs" / "demo_tt_gru.yaml"), "--data.root", str(root),
            "--data.cache_dir", str(work / "cache"), "--data.dataset_options", json.dumps({"progress": False}),
            "--trainer.max_time", f"00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
            "--trainer.default_root_dir", str(work / "runs"), "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--run_name", "demo_tt_gru"]
    if quick:
        args += ["--data.num_folds", "5", "--trainer.max_epochs", "1"]
    cpu = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = _make_cli("fit", args)
        record = _fit(cli)
    record["cpu_seconds"] = time.process_time() - cpu
    test = cli.datamodule._splits["test"]
    held_out: dict[str, list[Path]] = {}
    for clip in sorted(test.clips, key=lambda c: str(c.path)):
        held_out.setdefault(test.classes[clip.target], []).append(Path(clip.path))
    return record["selected_checkpoint"], held_out, record


def long_video(path: Path, classes, held_out, per_part: int) -> tuple[Path, list[tuple[str, int, int]], list[int]]:
    """The held-out clips of each class in file order, ``per_part`` of each, joined: the file, its
    parts ``(class, first frame, end frame)`` and its cuts (the first frame of every clip but the first)."""
    from tensorrnn.data.synthetic import write_video
    from tensorrnn.data.video import read_frames

    chunks, parts, cuts, total = [], [], [], 0
    for name in classes:
        first = total
        for clip in held_out[name][:per_part]:
            chunks.append(read_frames(clip))
            cuts.append(total)
            total += len(chunks[-1])
        parts.append((name, first, total))
    return write_video(path, np.concatenate(chunks)), parts, cuts[1:]


def read_parts(timeline, parts) -> list[dict]:
    """Per part: the label most windows centred in it give, and the share of those that name its class."""
    out = []
    for name, first, end in parts:
        labels = [w.label for w in timeline.windows if first <= (w.start_frame + w.end_frame) / 2 < end]
        top = max(set(labels), key=labels.count) if labels else None
        out.append({"class": name, "frames": [first, end], "windows": len(labels), "named": top,
                    "right": top == name, "windows_right": labels.count(name) / len(labels) if labels else 0.0})
    return out


def scenario(work: Path, budget: float, quick: bool) -> dict:
    import torch

    from tensorrnn.deploy.timeline import parse_span, run_timeline
    from tensorrnn.train.checkpoint import clip_options, load_model

    ckpt, held_out, record = train_demo(work, budget, quick)
    model, data = load_model(ckpt)
    classes = model.hparams.class_names

    def classify(views):
        with torch.no_grad():
            return model.forward_views(views.unsqueeze(0))[0][0]

    runs = []
    per_part = 2 if quick else CLIPS_PER_PART
    for label, names in (("three actions", SCENARIO_CLASSES), ("all six classes", tuple(sorted(held_out)))):
        video, parts, true_cuts = long_video(work / f"{label.replace(' ', '_')}.avi", names, held_out, per_part)
        for cuts in (False, True):
            timeline = run_timeline(video, classify, clip_options(data), classes, parse_span("--window", "2s"),
                                    parse_span("--stride", "1s"), notify=lambda line: None, cuts=cuts)
            read = read_parts(timeline, parts)
            runs.append({"video": label, "cuts": cuts, "parts": read, "parts_right": sum(p["right"] for p in read),
                         "windows": len(timeline.windows), "cuts_found": [c.frame for c in timeline.cuts],
                         "cuts_true": true_cuts,
                         "segments": [(s.label, round(s.start, 2), round(s.end, 2)) for s in timeline.segments()]})
            print(f"{label}, cuts {'on' if cuts else 'off'}: {runs[-1]['parts_right']} of {len(parts)} parts right "
                  f"({', '.join(p['named'] or '-' for p in read)})", flush=True)
    return {"budget_s": budget, "cpu_seconds": round(record["cpu_seconds"], 1), "epochs": record["epochs"],
            "test_acc": record["test"].get("test/acc"), "held_out_clips": sum(map(len, held_out.values())),
            "classes": list(classes), "three": list(SCENARIO_CLASSES), "clips_per_part": per_part, "runs": runs}


# --- output -----------------------------------------------------------------------------------

def markdown(r: dict) -> str:
    lines = ["Cut detection in `tensorrnn predict --timeline` (`bench/bench_cuts.py`). Generated shot sequences "
             "(MPEG-4, decoded at 64x48 as the timeline decodes them); a cut found counts only at its exact frame"
             + ("; --quick smoke run" if r["quick"] else "") + ".", "",
             "| setting | cuts | " + " | ".join(f"{v}: precision / recall" for v in DETECTORS.values())
             + " | change within a shot, largest | change at a cut, smallest |",
             "|---|---|" + "---|" * (len(DETECTORS) + 2)]
    for row in r["accuracy"]:
        d, sc = row["detectors"], row["scores"]["change"]
        lines.append(f"| {row['setting']} | {row['cuts']} | "
                     + " | ".join(f"{d[k]['precision']:.3f} / {d[k]['recall']:.3f}" for k in DETECTORS)
                     + f" | {sc['largest_within_shot']:.2f} | {sc['smallest_at_cut']:.2f} |")
    from tensorrnn.deploy import timeline as tl
    from tensorrnn.nn import motion

    lines += ["", "A change within a shot above the smallest at a cut is fast motion in the shortest shots (an "
              "object sweeping the frame in 10 frames); the test against the next pair rejects it.", ""]
    lines += ["Scores of consecutive frames (largest within a shot / smallest at a cut): the detector's `change` "
              f"(grey levels; a cut above {tl.CUT_LEVEL:g}, {tl.CUT_RATIO:g} x the median of the shot's last "
              f"{tl.CUT_HISTORY} pairs and {tl.CUT_AFTER:g} x the next pair's), `nn.motion`'s histogram distance "
              f"(cut above {motion.CUT_HISTOGRAM:g}) and aligned residual (cut above {motion.CUT_RESIDUAL:g}), "
              f"the HSV content change (cut above {CONTENT_THRESHOLD:g}):", "",
              "| setting | change | histogram | residual | HSV content |", "|---|---|---|---|---|"]
    for row in r["accuracy"]:
        s = row["scores"]
        lines.append(f"| {row['setting']} | "
                     + " | ".join(f"{s[k]['largest_within_shot']:.2f} / {s[k]['smallest_at_cut']:.2f}"
                                  for k in ("change", "histogram", "residual", "content_score")) + " |")
    lines += ["", "Cost per frame (ms, best of runs, one thread for the conversion and the detector; decoding "
              "with PyAV's threads): every frame converted to 64x48 (the timeline's `RGB`, one swscale context "
              "for all frames; `data.video.to_rgb`, a context per frame, for reference) and the detector:", "",
              "| video | PyAV decode | to 64x48 | (to_rgb) | detector | cuts in all | cuts / decode |",
              "|---|---|---|---|---|---|---|"]
    for row in r["cost"]:
        lines.append(f"| {row['size'][0]}x{row['size'][1]} MPEG-4 | {row['decode_ms']:.3f} | {row['convert_ms']:.3f} "
                     f"| ({row['to_rgb_ms']:.3f}) | {row['detect_ms']:.3f} | {row['cuts_ms']:.3f} "
                     f"| {row['cuts_share_of_decode']:.2f} |")
    sc = r.get("scenario")
    if sc:
        lines += ["", f"The user's scenario: the demo config's TT-GRU trained within {sc['budget_s']:.0f} s "
                  f"({sc['epochs']} epochs, {sc['cpu_seconds']:.0f} CPU-s) on the demo's set, held-out clip accuracy "
                  f"{sc['test_acc']:.3f}; long videos of {sc['clips_per_part']} held-out clips per class joined in "
                  "file order, timeline with 2 s windows and 1 s stride:", "",
                  "| video | cuts | parts named right | cuts found (true) / in the video | windows "
                  "| part: named (share of its windows right) |",
                  "|---|---|---|---|---|---|"]
        for run in sc["runs"]:
            hit = len(set(run["cuts_found"]) & set(run["cuts_true"]))
            found = f"{len(run['cuts_found'])} ({hit})" if run["cuts"] else "-"
            lines.append(f"| {run['video']} | {'on' if run['cuts'] else 'off'} | {run['parts_right']} of "
                         f"{len(run['parts'])} | {found} / {len(run['cuts_true'])} | {run['windows']} | "
                         + ", ".join(f"{p['class']}: {p['named']} ({p['windows_right']:.2f})" for p in run["parts"])
                         + " |")
    m = r["machine"]
    lines += ["", f"Machine: {m['cpus']} CPUs (shared with other jobs: times are noisy), Python {m['python']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (few sequences, tiny scenario)")
    parser.add_argument("--sequences", type=int, default=30, help="shot sequences per setting (default 30)")
    parser.add_argument("--shots", type=int, default=6, help="shots per sequence (default 6)")
    parser.add_argument("--scenario", action="store_true", help="also the user's scenario (trains a model: minutes)")
    parser.add_argument("--budget", type=float, default=180.0, help="training seconds of the scenario (default 180)")
    args = parser.parse_args(argv)
    import torch

    previous = json.loads((RESULTS / "cuts.json").read_text()) if (RESULTS / "cuts.json").is_file() else {}
    with tempfile.TemporaryDirectory(prefix="bench_cuts_") as tmp:
        tmp = Path(tmp)
        sequences = 3 if args.quick else args.sequences
        result = {"quick": args.quick, "shots_per_sequence": args.shots,
                  "accuracy": accuracy(SETTINGS, sequences, args.shots, tmp),
                  "cost": cost(tmp, 4 if args.quick else 20, 1 if args.quick else 3)}
        if args.scenario:
            result["scenario"] = scenario(tmp / "scenario", 10 if args.quick else args.budget, args.quick)
        elif previous.get("scenario") and not args.quick:
            result["scenario"] = previous["scenario"]
    result["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version(),
                         "torch": torch.__version__}
    from tensorrnn.files import atomic_write_text

    name = "cuts_quick" if args.quick else "cuts"
    atomic_write_text(RESULTS / f"{name}.json", json.dumps(result, indent=2))
    atomic_write_text(RESULTS / f"{name}.md", markdown(result))
    blocks.update(RESULTS / f"{name}.json")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
