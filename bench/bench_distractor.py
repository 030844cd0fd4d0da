r"""What a distractor does to a model: trained with it and without it, tested on fresh scenes
with it and without it.

``medium`` (:data:`tensorrnn.data.synthetic.ACTION_SETS`) is ``easy``'s motions with smaller
objects, clips of 40-160 frames and one distractor a clip (a striped disc with a motion of its
own); ``medium`` without its distractor is the same spec with ``distractors=0``. The script fits
a model (``bench_accuracy``'s shipped configs and variants, the default recipe, the same fit
arguments as ``bench_accuracy.py``: group k-fold, fold = seed) on each of the two for a fixed
number of epochs (``--epochs``, default 85: what the benchmark's CPU budget gives the TT-GRU
config on ``medium``), and tests each on its own held-out groups and on two probe sets of
fresh groups (another seed: scenes, objects and looks no training clip had), one with the
distractor and one without. The 2x2 of the probes tells apart two reasons for a loss on
``medium``: a model that reads motion and is confused by a second mover (high on the probe
without the distractor, low with it), and one that has fitted cues of its training groups
(low on both).

    python bench/bench_distractor.py --cache /tmp/bench_cache                 # about 15 min on 2 cores
    python bench/bench_distractor.py --cache /tmp/bench_cache --models tt_gru tt_gru_hue --seeds 0 1
    python bench/bench_distractor.py --quick                                  # smoke run, 32x24, a minute

Writes ``bench/results/distractor.{json,md}`` (``--out`` elsewhere); runs already in the JSON
are kept and not run again.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_accuracy  # noqa: E402
import blocks  # noqa: E402

RESULTS = HERE / "results"
#: The training sets: ``medium`` as it is, and without its distractor.
TRAINED_ON = {"medium": 1, "medium without distractor": 0}
#: The probes' seed (any other than the set's: fresh groups) and their groups a class.
PROBE_SEED, PROBE_GROUPS = 777, 2


def spec_of(distractors: int, size: tuple[int, int], quick: bool, **changes):
    from tensorrnn.data.synthetic import ACTION_SETS

    spec = dataclasses.replace(ACTION_SETS["medium"], size=tuple(size), distractors=distractors)
    if quick:
        spec = dataclasses.replace(spec, num_classes=3, groups=5, clips_per_group=2, num_frames=12)
    return dataclasses.replace(spec, **changes)


def written(spec, root: Path) -> Path:
    """``spec``'s clips under ``root/videos``, written once (``root/spec.json`` records the spec)."""
    from tensorrnn.data.synthetic import make_action_set
    from tensorrnn.files import atomic_write_text

    stamp = root / "spec.json"
    if not (stamp.is_file() and stamp.read_text() == repr(spec)):
        make_action_set(root / "videos", spec, progress=False)
        atomic_write_text(stamp, repr(spec))
    return root / "videos"


def probe_accuracy(checkpoint: str, videos: Path) -> float:
    """Top-1 accuracy of ``tensorrnn predict``'s answers on every clip under ``videos`` (UCF11
    layout: the class is the clip's grandparent folder)."""
    from tensorrnn.deploy.predict import predict
    from tensorrnn.train.checkpoint import load_model

    model, data = load_model(checkpoint, "cpu")
    paths = sorted(videos.rglob("*.avi"))
    results = predict(model, data, paths, top_k=1)
    right = sum(r["predictions"][0]["class"] == Path(r["file"]).parent.parent.name for r in results)
    return right / len(paths)


def one_run(model: str, trained_on: str, seed: int, sets: dict, probes: dict, work: Path, cache: Path,
            size, epochs: int, quick: bool) -> dict:
    root = sets[trained_on]
    frames = cache / f"frames_{root.parent.name}"
    args = bench_accuracy.fit_args(model, "default", root, work, frames, size, seed, epochs, quick)
    record, cpu = bench_accuracy.run_fit(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probed = {name: round(probe_accuracy(record["selected_checkpoint"], videos), 4)
                  for name, videos in probes.items()}
    return {"model": model, "trained_on": trained_on, "seed": seed, "fold": seed % bench_accuracy.NUM_FOLDS,
            "epochs": epochs, "cpu_seconds": round(cpu, 1), "train_acc": record["metrics"].get("train/acc"),
            "test_acc": record["test"].get("test/acc"), "probes": probed}


def markdown(result: dict) -> str:
    probes = list(result["probes"])
    lines = [f"Accuracy of the default recipe after a fixed number of epochs, by what it was trained on: "
             f"its held-out groups (group k-fold, fold = seed) and {result['probe_clips']} clips of "
             f"{PROBE_GROUPS} fresh groups a class (seed {PROBE_SEED}), with and without a distractor.", "",
             "| model | trained on | seed | epochs | training | held out | "
             + " | ".join(f"fresh, {p}" for p in probes) + " |",
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(probes)]
    for run in sorted(result["runs"], key=lambda r: (r["model"], list(TRAINED_ON).index(r["trained_on"]), r["seed"],
                                                      r["epochs"])):
        cells = [bench_accuracy.MODELS.get(run["model"], run["model"]), run["trained_on"], str(run["seed"]),
                 str(run["epochs"]), f"{run['train_acc']:.3f}", f"{run['test_acc']:.3f}",
                 *(f"{run['probes'][p]:.3f}" for p in probes)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tt_gru"],
                        help=f"shipped configs and variants of bench_accuracy ({', '.join(bench_accuracy.MODELS)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=85, help="epochs of every fit (default 85)")
    parser.add_argument("--size", nargs=2, type=int, default=None, metavar=("W", "H"),
                        help="frames (default 160 120, with --quick 32 24)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the sets and their frames (kept)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 classes, tiny clips, 1 epoch")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(bench_accuracy.MODELS))
    if unknown:
        parser.error(f"--models {unknown}: expected some of {sorted(bench_accuracy.MODELS)}")
    if args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: expected a positive integer")
    from tensorrnn.heap import keep_freed_memory

    keep_freed_memory()  # as the CLI does
    import torch

    size = tuple(args.size) if args.size else (32, 24) if args.quick else (160, 120)
    epochs = 1 if args.quick else args.epochs
    name = "distractor_quick" if args.quick else "distractor"
    path = args.out / f"{name}.json"
    result = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    done = {(r["model"], r["trained_on"], r["seed"], r["epochs"]) for r in result["runs"]}
    with tempfile.TemporaryDirectory(prefix="bench_distractor_") as tmp:
        cache = args.cache or Path(tmp) / "cache"
        tag = f"{size[0]}x{size[1]}{'_quick' if args.quick else ''}"
        sets = {trained: written(spec_of(count, size, args.quick), cache / f"distractor_{count}_{tag}")
                for trained, count in TRAINED_ON.items()}
        probes = {label: written(spec_of(count, size, args.quick, seed=PROBE_SEED, groups=PROBE_GROUPS),
                                 cache / f"probe_{count}_{tag}")
                  for label, count in (("a distractor", 1), ("none", 0))}
        for model in args.models:
            for trained_on in TRAINED_ON:
                for seed in args.seeds:
                    if (model, trained_on, seed, epochs) in done:
                        continue
                    work = Path(tmp) / "work" / f"{model}_{seed}_{TRAINED_ON[trained_on]}"
                    run = one_run(model, trained_on, seed, sets, probes, work, cache, size, epochs, args.quick)
                    print(f"{model} trained on {trained_on}, seed {seed}: held out {run['test_acc']:.3f}, "
                          + ", ".join(f"fresh {k} {v:.3f}" for k, v in run["probes"].items()), flush=True)
                    result["runs"].append(run)
                    result.update(size=list(size), quick=args.quick,
                                  probes={label: str(videos.parent.name) for label, videos in probes.items()},
                                  probe_clips=sum(1 for _ in probes["none"].rglob("*.avi")),
                                  machine={"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "torch": torch.__version__})
                    from tensorrnn.files import atomic_write_text

                    args.out.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(path, json.dumps(result, indent=2))
                    atomic_write_text(path.with_suffix(".md"), markdown(result))
    if result["runs"]:
        blocks.update(path)
        print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
