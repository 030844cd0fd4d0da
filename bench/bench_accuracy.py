"""Generalisation: held-out accuracy of every shipped RNN config on generated action sets of
graded difficulty, after a fixed CPU-time budget, with the default recipe and the papers'.

For each set (``tensorrnn.data.synthetic.ACTION_SETS``), model (the shipped
``configs/ucf11_{tt_gru,tt_lstm,tr_lstm,bt_lstm,gru}.yaml`` and their ``configs/paper/`` twins)
and seed, the script runs ``tensorrnn fit`` exactly as a user would, with only what any new
data set needs on the command line: the data's folder, ``--data.split group_kfold`` with
fold = seed (the test groups are never seen in training; every seed holds out other groups),
``--data.flip 0`` (the generated classes are directions of motion), a frame cache, and the
number of epochs that fits the CPU budget (the CPU time of one epoch, training and validation,
measured in a two-epoch calibration fit of the same model, so the cosine schedule of the
default recipe ends with the budget; the frame cache is built before, once per set). The reported number
is the test accuracy of the checkpoint the recipe selects (``metrics.json``: ``test/acc``):
the default recipe selects on validation groups, the paper recipe validates on the test split
as the papers' code did, which favours it. ``--size`` runs the same configs on smaller frames
(the input shape refactorised with the config's number of modes; ranks unchanged).

Results accumulate in ``bench/results/accuracy.json`` (a run already there is skipped, so the
benchmark can be continued); ``accuracy.md`` and ``accuracy.png`` are rewritten from all of it.

    python bench/bench_accuracy.py                                   # everything (hours on 2 cores)
    python bench/bench_accuracy.py --sets easy --models tt_gru gru --seeds 0 1 2
    python bench/bench_accuracy.py --quick                           # smoke run, seconds
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "src" / "tensorrnn" / "configs"
MODELS = {"tt_gru": "TT-GRU", "tt_lstm": "TT-LSTM", "tr_lstm": "TR-LSTM", "bt_lstm": "BT-LSTM", "gru": "GRU (dense)",
          "ht_lstm": "HT-LSTM", "tt_gru_full": "TT-GRU, TT U", "tt_lstm_full": "TT-LSTM, TT U"}
#: The models the benchmark runs unless told (the papers' ones); the others have no paper twin.
DEFAULT_MODELS = ["tt_gru", "tt_lstm", "tr_lstm", "bt_lstm", "gru"]
RECIPES = ("default", "paper")
#: CPU-seconds of training per run (process CPU time, all threads), by set: the issue's budgets.
BUDGETS = {"easy": 180.0, "medium": 300.0, "hard": 480.0, "varied": 480.0, "cluttered": 480.0}
#: The targets of the benchmark (held-out accuracy, default recipe).
TARGETS = {"easy": 0.95, "hard": 0.75}


def config_path(model: str, recipe: str) -> Path:
    return CONFIGS / ("paper" if recipe == "paper" else "") / f"ucf11_{model}.yaml"


def make_set(name: str, size: tuple[int, int], cache: Path, quick: bool) -> tuple[Path, object]:
    """The generated set (written once into ``cache``) and its spec."""
    import dataclasses

    from tensorrnn.data.synthetic import ACTION_SETS, make_action_set
    from tensorrnn.files import atomic_write_text

    spec = dataclasses.replace(ACTION_SETS[name], size=tuple(size))
    if quick:
        spec = dataclasses.replace(spec, groups=5, clips_per_group=2, num_frames=12)
    root = cache / f"{name}_{size[0]}x{size[1]}{'_quick' if quick else ''}"
    stamp = root / "spec.json"
    if not (stamp.is_file() and stamp.read_text() == repr(spec)):
        make_action_set(root / "videos", spec, progress=not quick)
        atomic_write_text(stamp, repr(spec))
    return root / "videos", spec


def fit_args(model: str, recipe: str, root: Path, work: Path, cache: Path, size: tuple[int, int], seed: int,
             epochs: int, quick: bool, store: str = "raw") -> list[str]:
    import yaml

    from tensorrnn.tensor import factorize

    config = yaml.safe_load(config_path(model, recipe).read_text())
    args = ["--config", str(config_path(model, recipe)), "--data.root", str(root),
            "--data.split", "group_kfold", "--data.num_folds", "5", "--data.fold", str(seed % 5),
            "--data.flip", "0", "--data.cache_dir", str(cache), "--data.store", store, "--data.num_workers", "0",
            "--data.dataset_options", "{progress: false}", "--seed_everything", str(seed),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(work / "runs"),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--run_name", f"{model}_{recipe}_{seed}"]
    if list(size) != config["data"]["size"]:
        modes = len(config["model"]["in_shape"])
        args += ["--data.size", json.dumps(list(size)),
                 "--model.in_shape", json.dumps(list(factorize(size[0] * size[1] * 3, modes)))]
    if quick:
        args += ["--data.batch_size", "8"]
    return args


def run_fit(args: list[str], clock=None) -> tuple[dict, float]:
    """``tensorrnn fit`` in this process (with an extra callback ``clock``): its metrics.json
    record and the CPU seconds it took."""
    from tensorrnn.train.cli import _fit, _make_cli

    start = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = _make_cli("fit", args)
        if clock is not None:
            cli.trainer.callbacks.append(clock)
        record = _fit(cli)
    return record, time.process_time() - start


def epoch_clock():
    """A Lightning callback that records the process CPU time at the end of every epoch
    (after validation when there is one) in its ``marks``."""
    from lightning.pytorch.callbacks import Callback

    class EpochClock(Callback):
        def __init__(self) -> None:
            self.marks: list[float] = []

        def on_validation_epoch_end(self, trainer, module) -> None:
            if not trainer.sanity_checking:
                self.marks.append(time.process_time())

        def on_train_epoch_end(self, trainer, module) -> None:
            if trainer.limit_val_batches == 0 or not trainer.val_dataloaders:
                self.marks.append(time.process_time())

    return EpochClock()


def build_cache(root: Path, cache: Path, size, store: str = "raw") -> None:
    """Decode the set into the clip store once, before anything is timed."""
    from tensorrnn.data import UCF11

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        UCF11(root, size=tuple(size), cache_dir=cache, store=store, progress=True)


def one_run(set_name: str, model: str, recipe: str, seed: int, root: Path, work: Path, cache: Path, size,
            budget: float, quick: bool, store: str = "raw", epochs: int | None = None,
            paired_store: str | None = None) -> dict:
    """Calibrate (the CPU time of the second of two epochs), then fit for the epochs the budget
    allows (or exactly ``epochs``, without calibrating); the test accuracy of the selected checkpoint,
    and with ``paired_store`` that checkpoint's test accuracy from the other store (:func:`paired_test`)."""
    per_epoch = None
    if epochs is None:
        clock = epoch_clock()
        run_fit(fit_args(model, recipe, root, work / "calibrate", cache, size, seed, 2, quick, store), clock)
        per_epoch = clock.marks[-1] - clock.marks[-2]
        epochs = 2 if quick else max(1, int(budget // per_epoch))
    args = fit_args(model, recipe, root, work / "fit", cache, size, seed, epochs, quick, store)
    record, cpu = run_fit(args)
    run = {"set": set_name, "model": model, "recipe": recipe, "seed": seed, "epochs": epochs,
            "cpu_seconds": round(cpu, 1), "epoch_cpu_seconds": round(per_epoch if per_epoch else cpu / epochs, 2),
            "budget_cpu_seconds": budget, "test_acc": record["test"].get("test/acc"),
            "last_val_acc": record["metrics"].get("val/acc"), "train_acc": record["metrics"].get("train/acc"),
            "test_acc_1view": record["test"].get("test/acc_1view"), "selection": record["selection"],
            "validation": record["validation"], "parameters": record["num_parameters"]}
    if paired_store and paired_store != store:
        checkpoint = record["best_model_path"] or record["last_model_path"]
        run[f"paired_{paired_store}"] = paired_test(args, checkpoint, paired_store)
    return run


def paired_test(args: list[str], checkpoint: str, store: str) -> dict:
    """The selected checkpoint of a fit tested once more with its test clips served from
    another ``store``: the same weights and the same (evenly spaced) test views, so any change
    is the store's pixels alone, free of the seed-to-seed spread of training."""
    from tensorrnn.train.cli import _evaluate, _make_cli

    swapped = list(args)
    swapped[swapped.index("--data.store") + 1] = store
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = _make_cli("test", swapped + ["--ckpt_path", checkpoint])
        metrics = _evaluate(cli, "test")["metrics"]
    return {"test_acc": metrics.get("test/acc"), "test_acc_1view": metrics.get("test/acc_1view")}


def summarize(runs: list[dict]) -> list[dict]:
    rows = {}
    for r in runs:
        rows.setdefault((r["set"], r["model"], r["size"]), {}).setdefault(r["recipe"], []).append(r)
    out = []
    for (set_name, model, size), by_recipe in sorted(rows.items()):
        row = {"set": set_name, "model": model, "size": size}
        for recipe, rs in by_recipe.items():
            accs = [r["test_acc"] for r in rs]
            row[recipe] = {"mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                           "seeds": sorted(r["seed"] for r in rs),
                           "cpu_minutes": statistics.fmean(r["cpu_seconds"] for r in rs) / 60}
        out.append(row)
    return out


def write_table(data: dict) -> str:
    budget = data.get("protocol", "each run gets the set's CPU budget (process CPU time, both cores)")
    lines = ["Held-out (group-disjoint) test accuracy, mean +- std over seeds (fold = seed of a 5-fold group "
             f"split); {budget}. Default = the shipped "
             "config, paper = its configs/paper/ twin (which validates on the test split).", "",
             "| set | frames | model | chance | default | paper | seeds | CPU min / run (default, paper) |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for row in data["summary"]:
        spec = data["sets"][f"{row['set']}_{row['size']}"]
        cells = []
        for recipe in RECIPES:
            s = row.get(recipe)
            cells.append(f"{s['mean']:.3f} +- {s['std']:.3f}" if s else "-")
        seeds = "/".join(str(len(row[r]["seeds"])) if r in row else "0" for r in RECIPES)
        cpu = ", ".join(f"{row[r]['cpu_minutes']:.1f}" if r in row else "-" for r in RECIPES)
        lines.append(f"| {row['set']} ({spec['classes']} classes, {spec['clips']} clips) | {row['size']} | "
                     f"{MODELS[row['model']]} | {1 / spec['classes']:.3f} | {cells[0]} | {cells[1]} | {seeds} | {cpu} |")
    paired = [(r, store, p) for r in data["runs"] for store, p in
              ((k[len("paired_"):], v) for k, v in r.items() if k.startswith("paired_"))]
    if paired:
        lines += ["", "Paired store check: each fit's selected checkpoint tested again with its test clips served "
                  "from another store (same weights, same evenly spaced views; the difference is the store's "
                  "pixels alone).", "",
                  "| set | frames | model | seed | store of the fit | test | other store | test there | "
                  "1-view | 1-view there |", "|---|---|---|---:|---|---:|---|---:|---:|---:|"]
        for r, store, p in paired:
            lines.append(f"| {r['set']} | {r['size']} | {MODELS[r['model']]} | {r['seed']} | {r.get('store', 'raw')} | "
                         f"{r['test_acc']:.3f} | {store} | {p['test_acc']:.3f} | {r['test_acc_1view']:.3f} | "
                         f"{p['test_acc_1view']:.3f} |")
        for key, name in (("test_acc", "test"), ("test_acc_1view", "1-view")):
            diffs = [p[key] - r[key] for r, _, p in paired]
            mean, std = statistics.fmean(diffs), statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            lines.append(f"\nMean change of {name} accuracy from the other store: {100 * mean:+.1f} +- "
                         f"{100 * std:.1f} points over {len(diffs)} checkpoints.")
    return "\n".join(lines) + "\n"


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tensorrnn.files import save_figure

    rows = data["summary"]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4))
    for k, recipe in enumerate(RECIPES):
        xs = [i + (k - 0.5) * 0.38 for i, row in enumerate(rows) if recipe in row]
        ys = [row[recipe]["mean"] for row in rows if recipe in row]
        es = [row[recipe]["std"] for row in rows if recipe in row]
        ax.bar(xs, ys, width=0.36, yerr=es, capsize=3, label=f"{recipe} recipe")
    for i, row in enumerate(rows):
        spec = data["sets"][f"{row['set']}_{row['size']}"]
        ax.hlines(1 / spec["classes"], i - 0.4, i + 0.4, colors="k", linestyles=":")
    ax.set_xticks(range(len(rows)), [f"{row['set']}\n{MODELS[row['model']]}" for row in rows], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out test accuracy")
    ax.set_title("Generated action sets: default vs paper recipe (dotted: chance)")
    ax.legend(loc="lower right")
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["easy", "hard"], help="presets of ACTION_SETS")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS),
                        help="shipped configs configs/ucf11_MODEL.yaml (models without a paper twin run the "
                             "default recipe only)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--size", nargs=2, type=int, default=[160, 120], metavar=("W", "H"))
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every CPU budget")
    parser.add_argument("--cache", default=None, help="folder for the generated sets and frame caches "
                                                      "(default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="tiny sets and 2 epochs: a smoke run")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train exactly this many epochs instead of the CPU budget (same work whatever the "
                             "machine's load: for comparing stores or models run by run); results in "
                             "accuracy[_jpeg][_paired_STORE]_<N>epochs.*")
    parser.add_argument("--store", choices=["raw", "jpeg"], default="raw",
                        help="clip store the fits read (default raw, as the published table; jpeg writes "
                             "accuracy_jpeg.* for the comparison of issue 12)")
    parser.add_argument("--paired-store", choices=["raw", "jpeg"], default=None,
                        help="also test each fit's selected checkpoint with its test clips from this store "
                             "(same weights, same views: the store's effect alone, without training's spread)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    from tensorrnn.data.synthetic import ACTION_SETS
    from tensorrnn.files import atomic_write_text

    unknown = set(args.sets) - set(ACTION_SETS)
    if unknown:
        parser.error(f"--sets {sorted(unknown)}: expected some of {sorted(ACTION_SETS)}")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = Path(args.out)
    stem = (("accuracy_quick" if args.quick else "accuracy") + ("_jpeg" if args.store == "jpeg" else "")
            + (f"_paired_{args.paired_store}" if args.paired_store else "")
            + (f"_{args.epochs}epochs" if args.epochs else ""))
    path = out / f"{stem}.json"
    data = json.loads(path.read_text()) if path.is_file() else {"runs": [], "sets": {}}
    size = f"{args.size[0]}x{args.size[1]}"
    done = {(r["set"], r["model"], r["recipe"], r["seed"], r["size"]) for r in data["runs"]}
    if args.epochs:
        data["protocol"] = f"every run trains {args.epochs} epochs (no CPU budget), store {args.store}"
    with contextlib.ExitStack() as stack:
        cache = Path(args.cache) if args.cache else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for set_name in args.sets:
            root, spec = make_set(set_name, tuple(args.size), cache, args.quick)
            frames = cache / f"frames_{set_name}_{size}{'_quick' if args.quick else ''}"
            build_cache(root, frames, args.size, args.store)
            if args.paired_store and args.paired_store != args.store:
                build_cache(root, frames, args.size, args.paired_store)
            clips = spec.num_classes * spec.groups * spec.clips_per_group
            data["sets"][f"{set_name}_{size}"] = {"classes": spec.num_classes, "clips": clips, "spec": repr(spec)}
            budget = BUDGETS.get(set_name, 300.0) * args.budget_scale
            for model in args.models:
                for recipe in args.recipes:
                    if not config_path(model, recipe).is_file():
                        continue  # no paper twin
                    for seed in args.seeds:
                        if (set_name, model, recipe, seed, size) in done:
                            continue
                        work = cache / "work" / f"{set_name}_{size}"
                        start = time.perf_counter()
                        run = one_run(set_name, model, recipe, seed, root, work, frames, args.size, budget,
                                      args.quick, args.store, args.epochs, args.paired_store)
                        run.update(size=size, store=args.store, wall_seconds=round(time.perf_counter() - start, 1))
                        print(f"{set_name} {size} {model} {recipe} seed {seed}: test acc {run['test_acc']:.3f} "
                              f"({run['epochs']} epochs, {run['cpu_seconds'] / 60:.1f} CPU min)", flush=True)
                        data["runs"].append(run)
                        data["summary"] = summarize(data["runs"])
                        data["machine"] = {"platform": platform.platform(), "python": sys.version.split()[0],
                                           "cpus": __import__("os").cpu_count()}
                        atomic_write_text(path, json.dumps(data, indent=2) + "\n")  # after every run
    data["summary"] = summarize(data["runs"])
    table = write_table(data)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / f"{stem}.md", table)
    plot(data, out / f"{stem}.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
