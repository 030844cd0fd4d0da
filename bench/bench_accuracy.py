r"""Generalisation: held-out accuracy of every shipped RNN config on generated action sets of
graded difficulty and on real footage, after a fixed CPU-time budget, with the default recipe
and the papers'.

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
the default recipe tests its last epoch (``select: last``; the best on its validation groups is
tested too, ``test_acc_best_val``), the paper recipe its best on the test split, which it
validates on as the papers' code did, which favours it. ``--size`` runs the same configs on smaller frames
(the input shape refactorised with the config's number of modes; ranks unchanged).

Sets: the graded ones (``easy``, ``medium``, ``hard``, ``varied``, ``cluttered``); the camera
as an axis of its own on ``hard``'s classes and groups (``still``, ``pan``, ``pan_zoom``, and
each with one distractor: ``still_distractor``, ``pan_distractor`` = ``hard``,
``pan_zoom_distractor``); the scene as evidence of the class (``scene`` = ``easy``,
``scene_hard`` = ``hard``, each with the scenes of a class sharing a look).

Real footage: ``--real DIR`` runs the same configs, recipes, seeds and CPU budget
(``--real-budget``) on a folder of real clips in any layout ``tensorrnn fit`` reads
(``--real-dataset``, default ``folder``: one sub-folder per class; ``--real-options`` for the
layout's options, e.g. ``{group_depth: 1}`` when a sub-folder names the person), its rows
labelled by the folder's name (``--real-name``). The split is ``--real-split`` (default
``auto``: group k-fold where the clips have groups, else the TT-RNN clip split) with
max(5, ``--real-folds``) folds; seed s tests fold s (mod the folds) as on the generated sets,
and with ``--real-folds K`` the K folds from s on. Flip stays 0 (``--real-flip``): a flip
would swap direction classes such as swipe left and swipe right. Nothing in the tests needs a
real data set.

Results accumulate in ``bench/results/accuracy.json`` (a run already there is skipped, so the
benchmark can be continued); ``accuracy.md`` and ``accuracy.png`` are rewritten from all of it.
Every run records its set, the set's spec (generated) or folder, dataset and options (real),
the config, the seed, the fold and the split, and the test accuracy.

    python bench/bench_accuracy.py                                   # easy and hard (hours on 2 cores)
    python bench/bench_accuracy.py --sets easy --models tt_gru gru --seeds 0 1 2
    python bench/bench_accuracy.py --sets still pan pan_zoom still_distractor pan_distractor pan_zoom_distractor
    python bench/bench_accuracy.py --sets easy scene hard scene_hard --models tt_gru
    python bench/bench_accuracy.py --quick                           # smoke run, seconds

    # EgoGestAR: 10 gesture classes, one folder per class, no person labels, so split auto
    # is the TT-RNN clip split (one person's clips may be in train and test); its swipes
    # left / right are mirror images, so flip stays 0 (the default)
    python bench/bench_accuracy.py --real /path/egogestar --real-dataset folder --real-flip 0 \
        --models tt_gru gru --seeds 0 1 2 --real-folds 5
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
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
          "ht_lstm": "HT-LSTM", "tt_gru_full": "TT-GRU, TT U", "tt_lstm_full": "TT-LSTM, TT U",
          "tt_gru_hue": "TT-GRU, any hue", "tt_gru_drift": "TT-GRU, drifting crop", "tt_gru_nostem": "TT-GRU, no stem",
          "tt_gru_stem_appearance": "TT-GRU, frame and difference",
          "tt_gru_stem_he": "TT-GRU, stem with He's init", "tt_gru_stem2": "TT-GRU, two-level stem",
          "tt_gru_context": "TT-GRU, the scene's look",
          "tt_gru_stem_stabilize": "TT-GRU, stabilised",
          "tt_gru_6frames": "TT-GRU, no stem, 6 frames (the papers')", "tt_gru_16frames": "TT-GRU, no stem, 16 frames",
          "tt_gru_rank8": "TT-GRU, no stem, TT-rank 8",
          "tt_gru_stabilize": "TT-GRU, no stem, 6 frames, stabilised",
          "tt_gru_appearance": "TT-GRU, no stem, 6 frames, frame and difference",
          "tt_gru_stabilize_appearance": "TT-GRU, no stem, 6 frames, stabilised, frame and difference",
          "tt_gru_mean": "TT-GRU, no stem, 6 frames, mean state",
          "tt_gru_appearance_mean": "TT-GRU, no stem, 6 frames, frame and difference, mean state",
          "tt_gru_augment_loader": "TT-GRU, no stem, 6 frames, augmented in the loader"}
#: Models that are a shipped config with options set on the command line (default recipe
#: only): name -> (the config's model, fit arguments).
NOSTEM = ["--model.stem", "false"]  # the shipped configs' model until the stem became the default
SIX = [*NOSTEM, "--data.num_frames", "6"]  # the papers' frames a clip, the default's until it read 12
VARIANTS = {"tt_gru_nostem": ("tt_gru", NOSTEM),
            # each training clip's colours turned about the grey axis by up to half a turn
            "tt_gru_hue": ("tt_gru", ["--data.hue", "0.5"]),
            # each training clip's crop box travelling across the clip, as a panning camera's view
            "tt_gru_drift": ("tt_gru", ["--data.drift", "1.0"]),
            # the frame beside its difference, through the stem (6 -> 24 channels, 2,328 weights)
            "tt_gru_stem_appearance": ("tt_gru", ["--model.appearance", "true"]),
            # the stem's weights drawn for a unit mean square (He's) instead of torch's Conv2d default
            "tt_gru_stem_he": ("tt_gru", ["--model.stem_init", "he"]),
            # a second level in the stem (4x4 stride 2 and a ReLU, 12 -> 48 channels at 30x40): each
            # feature sees 10x10 pixels instead of 4x4, about a checkerboard cell or a stripe of the objects
            "tt_gru_stem2": ("tt_gru", ["--model.stem_depth", "2"]),
            # the logits of the frames' look pooled over the frame and the clip (16 channels of 4x4
            # patches, standardised), added to the network's: the scene as evidence, 971 weights
            "tt_gru_context": ("tt_gru", ["--model.context", "true"]),
            # the camera's shift cancelled before differencing, with the stem and 12 frames
            "tt_gru_stem_stabilize": ("tt_gru", ["--model.stabilize", "true"]),
            # the variants below were measured before the stem was the default: they keep its absence
            "tt_gru_6frames": ("tt_gru", SIX),
            # more of a motion's path than the default's 12, a third more per step
            "tt_gru_16frames": ("tt_gru", [*NOSTEM, "--data.num_frames", "16"]),
            # the input map's TT-rank twice the papers' 4: 12,352 weights instead of 4,000
            "tt_gru_rank8": ("tt_gru", [*NOSTEM, "--model.rank", "8"]),
            # the switches below were measured when the default read the papers' 6 frames: they keep them
            "tt_gru_stabilize": ("tt_gru", [*SIX, "--model.stabilize", "true"]),
            "tt_gru_appearance": ("tt_gru", [*SIX, "--model.appearance", "true"]),
            "tt_gru_stabilize_appearance": ("tt_gru", [*SIX, "--model.stabilize", "true", "--model.appearance", "true"]),
            "tt_gru_mean": ("tt_gru", [*SIX, "--model.readout", "mean"]),
            "tt_gru_appearance_mean": ("tt_gru", [*SIX, "--model.appearance", "true", "--model.readout", "mean"]),
            # the augmentation clip by clip in the loader, as before data.augment_on device (the default)
            "tt_gru_augment_loader": ("tt_gru", [*SIX, "--data.augment_on", "loader"])}
#: The models the benchmark runs unless told (the papers' ones); the others have no paper twin.
DEFAULT_MODELS = ["tt_gru", "tt_lstm", "tr_lstm", "bt_lstm", "gru"]
RECIPES = ("default", "paper")
#: CPU-seconds of training per run (process CPU time, all threads), by set: the budgets the targets are stated for
#: (the sets of hard's 384 clips get hard's, "scene" easy's).
BUDGETS = {"easy": 180.0, "medium": 300.0, "hard": 480.0, "varied": 480.0, "cluttered": 480.0, "still": 480.0,
           "pan": 480.0, "pan_zoom": 480.0, "still_distractor": 480.0, "pan_distractor": 480.0,
           "pan_zoom_distractor": 480.0, "scene": 180.0, "scene_hard": 480.0}
#: Folds of the split of the generated sets (fold = seed mod NUM_FOLDS), and at least of a real set's.
NUM_FOLDS = 5
#: The data options of the generated sets' fits (the config's dataset, ucf11: their layout).
GENERATED = {"dataset": None, "split": "group_kfold", "num_folds": NUM_FOLDS, "flip": 0.0, "options": {},
             "annotations": None}
#: The targets of the benchmark (held-out accuracy, default recipe).
TARGETS = {"easy": 0.95, "hard": 0.75}


def config_path(model: str, recipe: str) -> Path:
    model = VARIANTS.get(model, (model,))[0]
    return CONFIGS / ("paper" if recipe == "paper" else "") / f"ucf11_{model}.yaml"


def config_name(model: str, recipe: str) -> str:
    """The config as a user names it from the repository root: ``configs/paper/ucf11_gru.yaml``."""
    name = (Path("configs") / config_path(model, recipe).relative_to(CONFIGS)).as_posix()
    return " ".join([name, *VARIANTS.get(model, (model, []))[1]])


def make_set(name: str, size: tuple[int, int], cache: Path, quick: bool) -> tuple[Path, object]:
    """The generated set (written once into ``cache``) and its spec."""
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
             epochs: int, quick: bool, store: str = "raw", data: dict | None = None, fold: int | None = None) -> list[str]:
    """``tensorrnn fit``'s arguments: the config, and the data options ``data`` (:data:`GENERATED`
    by default: the generated sets, fold = seed mod :data:`NUM_FOLDS`)."""
    import yaml

    from tensorrnn.tensor import factorize

    data = GENERATED if data is None else data
    fold = seed % data["num_folds"] if fold is None else fold
    config = yaml.safe_load(config_path(model, recipe).read_text())
    args = ["--config", str(config_path(model, recipe)), "--data.root", str(root),
            "--data.split", data["split"], "--data.num_folds", str(data["num_folds"]), "--data.fold", str(fold),
            "--data.flip", str(data["flip"]), "--data.cache_dir", str(cache), "--data.store", store,
            "--data.num_workers", "0", "--data.dataset_options", json.dumps({"progress": False, **data["options"]}),
            "--seed_everything", str(seed),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(work / "runs"),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--run_name", f"{model}_{recipe}_{seed}_fold{fold}"]
    if data["dataset"] is not None:
        args += ["--data.dataset", data["dataset"]]
    if data["annotations"] is not None:
        args += ["--data.annotations", str(data["annotations"])]
    if list(size) != config["data"]["size"]:
        modes = len(config["model"]["in_shape"])
        args += ["--data.size", json.dumps(list(size)),
                 "--model.in_shape", json.dumps(list(factorize(size[0] * size[1] * 3, modes)))]
    if quick:
        args += ["--data.batch_size", "8"]
    return args + VARIANTS.get(model, (model, []))[1]


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


def real_set(root: Path, data: dict, cache: Path, size, store: str = "raw"):
    """The real folder as ``tensorrnn fit`` will read it with ``data``'s options: decoded into
    the clip store once (before anything is timed), and its data module, which knows the
    split's protocol and folds (``auto`` resolved for these clips)."""
    from tensorrnn.train.datamodule import VideoDataModule

    module = VideoDataModule(dataset=data["dataset"], root=str(root), split=data["split"], num_folds=data["num_folds"],
                             size=list(size), cache_dir=str(cache), store=store, flip=data["flip"],
                             dataset_options={"progress": True, **data["options"]}, annotations=data["annotations"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.full  # noqa: B018 (builds the dataset, and the store)
    return module


def one_run(set_name: str, model: str, recipe: str, seed: int, root: Path, work: Path, cache: Path, size,
            budget: float, quick: bool, store: str = "raw", epochs: int | None = None,
            paired_store: str | None = None, data: dict | None = None, fold: int | None = None) -> dict:
    """Calibrate (the CPU time of the second of two epochs), then fit for the epochs the budget
    allows (or exactly ``epochs``, without calibrating); the test accuracy of the selected checkpoint,
    and with ``paired_store`` that checkpoint's test accuracy from the other store (:func:`paired_test`).
    ``data`` and ``fold`` as in :func:`fit_args`."""
    data = GENERATED if data is None else data
    fold = seed % data["num_folds"] if fold is None else fold
    per_epoch = None
    if epochs is None:
        clock = epoch_clock()
        run_fit(fit_args(model, recipe, root, work / "calibrate", cache, size, seed, 2, quick, store, data, fold),
                clock)
        per_epoch = clock.marks[-1] - clock.marks[-2]
        epochs = 2 if quick else max(1, int(budget // per_epoch))
    args = fit_args(model, recipe, root, work / "fit", cache, size, seed, epochs, quick, store, data, fold)
    record, cpu = run_fit(args)
    run = {"set": set_name, "model": model, "recipe": recipe, "seed": seed, "fold": fold,
           "num_folds": data["num_folds"], "config": config_name(model, recipe), "flip": data["flip"],
           "split": record["split"], "epochs": epochs,
           "cpu_seconds": round(cpu, 1), "epoch_cpu_seconds": round(per_epoch if per_epoch else cpu / epochs, 2),
           "budget_cpu_seconds": budget, "test_acc": record["test"].get("test/acc"),
           "last_val_acc": record["metrics"].get("val/acc"), "train_acc": record["metrics"].get("train/acc"),
           "test_acc_1view": record["test"].get("test/acc_1view"), "selection": record["selection"],
           "validation": record["validation"], "parameters": record["num_parameters"]}
    best = record["best_model_path"]
    if best:  # best-{epoch:03d}-{step}.ckpt: the 0-based epoch the validation clips chose
        run["best_val_epoch"] = int(Path(best).name.split("-")[1])
    if best and best != record["selected_checkpoint"]:  # the other choice of fit --select, on the same fit
        other = paired_test(args, best, store)
        run.update(test_acc_best_val=other["test_acc"], test_acc_1view_best_val=other["test_acc_1view"])
    if paired_store and paired_store != store:
        run[f"paired_{paired_store}"] = paired_test(args, record["selected_checkpoint"], paired_store)
    return run


def paired_test(args: list[str], checkpoint: str, store: str) -> dict:
    """A checkpoint of a fit tested once more, its test clips served from ``store``: the same
    weights and the same (evenly spaced) test views. With another store than the fit's, any
    change is the store's pixels alone, free of the seed-to-seed spread of training; with the
    fit's own, another checkpoint of the same fit (the best on validation)."""
    from tensorrnn.train.cli import _evaluate, _make_cli

    swapped = list(args)
    swapped[swapped.index("--data.store") + 1] = store
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = _make_cli("test", swapped + ["--ckpt_path", checkpoint])
        metrics = _evaluate(cli, "test")["metrics"]
    return {"test_acc": metrics.get("test/acc"), "test_acc_1view": metrics.get("test/acc_1view")}


def backfill(run: dict) -> dict:
    """A run recorded before runs carried their fold and config: what the script then always
    did (group k-fold of NUM_FOLDS, fold = seed mod NUM_FOLDS, flip 0, a generated set)."""
    run.setdefault("kind", "generated")
    run.setdefault("fold", run["seed"] % NUM_FOLDS)
    run.setdefault("num_folds", NUM_FOLDS)
    run.setdefault("config", config_name(run["model"], run["recipe"]))
    run.setdefault("flip", 0.0)
    return run


def run_key(run: dict) -> tuple:
    """What makes two runs the same run (a run already recorded is skipped)."""
    return run["set"], run["model"], run["recipe"], run["seed"], run["size"], run["fold"], run["num_folds"]


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
                           "runs": len(rs), "seeds": sorted({r["seed"] for r in rs}),
                           "folds": sorted({r["fold"] for r in rs}),
                           "cpu_minutes": statistics.fmean(r["cpu_seconds"] for r in rs) / 60}
        out.append(row)
    return out


def set_label(name: str, spec: dict) -> str:
    """A set's name in the table: ``easy (6 classes, 360 clips)``, ``egogestar (real, folder, ...)``."""
    kind = f"real, {spec['dataset']}, " if spec.get("kind") == "real" else ""
    return f"{name} ({kind}{spec['classes']} classes, {spec['clips']} clips)"


def _against(*accs: list[float]) -> str:
    """The runs of a comparison's cell: ``0.931/0.944 against 0.972/0.986``."""
    return " against ".join("/".join(f"{a:.3f}" for a in acc) for acc in accs)


def comparison_table(data: dict, before: dict, variant: str, columns: tuple[str, str], caption: str) -> str:
    """A default against what it replaced, set by set: the old runs are the TT-GRU's
    ``tt_gru_<variant>`` runs in ``data`` and, for the other models, their default runs in
    ``before`` (the table as it stood before the default changed); ``columns`` names the new and
    the old (``(label, short)`` pairs joined by ``|``: ``"12 frames (default)|12"``)."""
    def runs(source: dict, model: str, set_name: str) -> list[dict]:
        return sorted((r for r in source["runs"] if r["recipe"] == "default" and r["model"] == model
                       and r["set"] == set_name and r["size"] == "160x120"), key=lambda r: (r["seed"], r["fold"]))

    (new_label, new_short), (old_label, old_short) = (c.split("|") for c in columns)
    lines = [caption, "", f"| set | model | {new_label} | {old_label} | runs, {new_short} against {old_short} | "
             f"epochs, {new_short} / {old_short} |", "|---|---|---:|---:|---|---:|"]
    sets = sorted({r["set"] for r in data["runs"]})
    for set_name in sets:
        for model in DEFAULT_MODELS:
            new = runs(data, model, set_name)
            old = runs(data, f"{model}_{variant}", set_name) if model == "tt_gru" else runs(before, model, set_name)
            if not new or not old:
                continue
            accs = [[r["test_acc"] for r in rs] for rs in (new, old)]
            epochs = [statistics.fmean(r["epochs"] for r in rs) for rs in (new, old)]
            lines.append(f"| {set_name} | {MODELS[model]} | {statistics.fmean(accs[0]):.3f} | "
                         f"{statistics.fmean(accs[1]):.3f} | "
                         + _against(*accs)
                         + f" | {epochs[0]:.0f} / {epochs[1]:.0f} |")
    return "\n".join(lines) + "\n"


def stem_table(data: dict, before: dict) -> str:
    """The default's stem against the model without it (``before``: ``accuracy_nostem.json``,
    the table as it stood without the stem)."""
    return comparison_table(data, before, "nostem", ("stem (default)|stem", "no stem|none"),
                            "Held-out test accuracy, mean over runs (the runs in order of seed or fold), and the "
                            "mean epochs each run's CPU budget allowed, of the shipped configs with the stem "
                            "(the default) and without it; 12 frames of 160x120.")


def paired_table(data: dict, variant: str, columns: tuple[str, str], compared: str, frames: str = "") -> str:
    """The shipped TT-GRU against one of its :data:`VARIANTS` on the runs both have (the same
    set, seed and fold), set by set; ``columns`` names the variant and the default (``(label,
    short)`` pairs joined by ``|``); the caption says what is ``compared`` ("with X and with Y
    (the default)") and what the frames go through (``frames``, after "12 frames of 160x120")."""
    caption = (f"Held-out test accuracy of the UCF11 TT-GRU config {compared}, on the runs both have (same set, "
               "seed and fold; in order of seed or fold; the last epoch's checkpoint tested), and the mean epochs "
               f"each run's CPU budget allowed; 12 frames of 160x120{frames}.")
    (new_label, new_short), (old_label, old_short) = (c.split("|") for c in columns)
    lines = [caption, "", f"| set | {new_label} | {old_label} | runs, {new_short} against {old_short} | "
             f"epochs, {new_short} / {old_short} |", "|---|---:|---:|---|---:|"]
    runs: dict[tuple, dict[str, dict]] = {}
    for r in data["runs"]:
        if r["recipe"] == "default" and r["model"] in ("tt_gru", variant):
            runs.setdefault((r["set"], r["size"]), {}).setdefault((r["seed"], r["fold"]), {})[r["model"]] = r
    for (set_name, _), by_run in sorted(runs.items()):
        pairs = [(p[variant], p["tt_gru"]) for _, p in sorted(by_run.items()) if len(p) == 2]
        if not pairs:
            continue
        accs = [[pair[k]["test_acc"] for pair in pairs] for k in (0, 1)]
        epochs = [statistics.fmean(pair[k]["epochs"] for pair in pairs) for k in (0, 1)]
        lines.append(f"| {set_name} | {statistics.fmean(accs[0]):.3f} | {statistics.fmean(accs[1]):.3f} | "
                     + _against(*accs)
                     + f" | {epochs[0]:.0f} / {epochs[1]:.0f} |")
    return "\n".join(lines) + "\n"


def selection_table(data: dict) -> str:
    """The checkpoint ``fit`` tests: the last epoch's (``select: last``, the default) against
    the best on the validation clips (``select: best``), on the same fits of the shipped TT-GRU."""
    lines = ["Held-out test accuracy of the same fits of the UCF11 TT-GRU config (default recipe), tested "
             "with the last epoch's checkpoint (`select: last`, the default) and with the best on the "
             "validation clips (`select: best`); mean over runs (in order of seed or fold), and where in "
             "the fit the best was.", "",
             "| set | last epoch (default) | best on validation | runs, last against best | "
             "best's epoch / epochs |", "|---|---:|---:|---|---:|"]
    runs: dict[str, list[dict]] = {}
    for r in data["runs"]:
        if r["recipe"] == "default" and r["model"] == "tt_gru" and "test_acc_best_val" in r:
            runs.setdefault(r["set"], []).append(r)
    for set_name, rs in sorted(runs.items()):
        rs.sort(key=lambda r: (r["seed"], r["fold"]))
        last, best = [r["test_acc"] for r in rs], [r["test_acc_best_val"] for r in rs]
        where = ", ".join(f"{r['best_val_epoch'] + 1}/{r['epochs']}" for r in rs if "best_val_epoch" in r)
        lines.append(f"| {set_name} | {statistics.fmean(last):.3f} | {statistics.fmean(best):.3f} | "
                     + _against(last, best)
                     + f" | {where or '-'} |")
    return "\n".join(lines) + "\n"


def hue_table(data: dict) -> str:
    """``tt_gru_hue`` (any hue a training clip) against the shipped TT-GRU, run by run."""
    return paired_table(data, "tt_gru_hue", ("any hue (`--data.hue 0.5`)|hue", "own colours (default)|own"),
                        "with each training clip's colours turned by up to half a turn and with the clips' own "
                        "colours (the default)", " through the stem")


def drift_table(data: dict) -> str:
    """``tt_gru_drift`` (each training clip's crop box travelling across it) against the shipped
    TT-GRU, run by run."""
    return paired_table(data, "tt_gru_drift", ("drifting crop (`--data.drift 1`)|drift", "still crop (default)|still"),
                        "with each training clip's crop box travelling across the clip (up to the whole way to a "
                        "second random place) and with one box for every frame (the default)", " through the stem")


def stem2_table(data: dict) -> str:
    """``tt_gru_stem2`` (a second level in the stem) against the shipped TT-GRU, run by run."""
    return paired_table(data, "tt_gru_stem2", ("two levels (`--model.stem_depth 2`)|two", "one level (default)|one"),
                        "with a second level in its stem (a 4x4 stride-2 convolution and a ReLU, 12 -> 48 "
                        "channels at 30x40) and with one (the default)")


def appearance_table(data: dict) -> str:
    """``tt_gru_stem_appearance`` (the frame beside its difference, through the stem) against
    the shipped TT-GRU, run by run."""
    return paired_table(data, "tt_gru_stem_appearance",
                        ("frame and difference (`--model.appearance true`)|both", "difference (default)|diff"),
                        "reading each frame beside its difference (6 channels into the stem, 2,328 weights) and "
                        "the difference alone (the default)", " through the stem")


def context_table(data: dict) -> str:
    """``tt_gru_context`` (the logits of the scene's pooled look added) against the shipped
    TT-GRU, run by run."""
    return paired_table(data, "tt_gru_context", ("the scene's look (`--model.context true`)|look", "without (default)|none"),
                        "with the logits of the frames' pooled look added to the network's and without (the "
                        "default)", " through the stem")


def stabilize_table(data: dict) -> str:
    """``tt_gru_stem_stabilize`` (the camera's shift cancelled before differencing) against the
    shipped TT-GRU, run by run."""
    return paired_table(data, "tt_gru_stem_stabilize", ("stabilised (`--model.stabilize true`)|stabilised",
                                                         "plain differences (default)|plain"),
                        "with the camera's shift cancelled before differencing and with plain frame differences "
                        "(the default)", " through the stem")


def frames_table(data: dict, before: dict) -> str:
    """The default's 12 frames a clip against the papers' 6 (``data``: the table as it stood
    when 12 frames became the default; ``before``: ``accuracy_6frames.json``, as it stood at 6)."""
    return comparison_table(data, before, "6frames", ("12 frames (default)|12", "6 frames (the papers')|6"),
                            "Held-out test accuracy, mean over runs (the runs in order of seed or fold), and the "
                            "mean epochs each run's CPU budget allowed, of the shipped configs at the default's 12 "
                            "frames a clip and at the papers' 6; 160x120 frames.")


def variants_table(data: dict) -> str:
    """The shipped TT-GRU against its variants (:data:`VARIANTS`), run by run: the same set,
    seed and fold side by side, each cell the held-out accuracy and the epochs its budget
    allowed."""
    variants = [m for m in VARIANTS if any(r["model"] == m for r in data["runs"])]
    base = VARIANTS[variants[0]][0] if variants else "tt_gru"
    cells: dict[tuple, dict[str, dict]] = {}
    for r in data["runs"]:
        if r["recipe"] == "default" and (r["model"] == base or r["model"] in variants):
            cells.setdefault((r["set"], r["size"], r["seed"], r["fold"]), {})[r["model"]] = r
    models = [base, *variants]
    lines = [f"Held-out test accuracy (epochs in the budget) of `{config_name(base, 'default')}` and its variants, "
             "run by run: same set, seed and fold; the options each variant adds are in its column.", "",
             "| set | frames | seed | fold | " + " | ".join(
                 f"{MODELS[m]}" + (f" (`{' '.join(VARIANTS[m][1])}`)" if m in VARIANTS else "") for m in models) + " |",
             "|---|---|---:|---:|" + "---:|" * len(models)]
    for (name, size, seed, fold), runs in sorted(cells.items()):
        if not any(m in runs for m in variants):
            continue
        row = [f"{runs[m]['test_acc']:.3f} ({runs[m]['epochs']})" if m in runs else "-" for m in models]
        lines.append(f"| {name} | {size} | {seed} | {fold} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_table(data: dict) -> str:
    budget = data.get("protocol", "each run gets the set's CPU budget (process CPU time, both cores)")
    real = {key: spec for key, spec in data["sets"].items() if spec.get("kind") == "real"}
    split = f"generated sets: group-disjoint, fold = seed of a {NUM_FOLDS}-fold group split, one run a seed" + (
        "; real footage: its split and folds below the table" if real else "")
    lines = [f"Held-out test accuracy, mean +- std over runs ({split}); {budget}. Default = the shipped config, "
             "paper = its configs/paper/ twin (which validates on the test split). Chance = 1 / classes.", "",
             "| set | frames | model | chance | default | paper | runs | CPU min / run (default, paper) |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for row in data["summary"]:
        spec = data["sets"][f"{row['set']}_{row['size']}"]
        cells = []
        for recipe in RECIPES:
            s = row.get(recipe)
            cells.append(f"{s['mean']:.3f} +- {s['std']:.3f}" if s else "-")
        runs = "/".join(str(row[r].get("runs", len(row[r]["seeds"]))) if r in row else "0" for r in RECIPES)
        cpu = ", ".join(f"{row[r]['cpu_minutes']:.1f}" if r in row else "-" for r in RECIPES)
        lines.append(f"| {set_label(row['set'], spec)} | {row['size']} | {MODELS[row['model']]} | "
                     f"{1 / spec['classes']:.3f} | {cells[0]} | {cells[1]} | {runs} | {cpu} |")
    if real:
        lines += ["", "Real footage:"]
        for key, spec in sorted(real.items()):
            runs = [r for r in data["runs"] if f"{r['set']}_{r['size']}" == key]
            if not runs:
                continue
            protocols = ", ".join(sorted({r["split"]["protocol"] for r in runs}))
            folds = ", ".join(f"{f} of {n}" for f, n in sorted({(r["fold"], r["num_folds"]) for r in runs}))
            flips = ", ".join(sorted({str(r["flip"]) for r in runs}))
            notes = " ".join(sorted({n for r in runs for n in r["split"]["notes"]}))
            options = f" with {spec['options']}" if spec["options"] else ""
            lines.append(f"- {runs[0]['set']} ({runs[0]['size']}): `{spec['path']}` read as `{spec['dataset']}`"
                         f"{options}, split `{spec['split']}` ({protocols}), folds {folds}, flip {flips}."
                         + (f" Split notes: {notes}" if notes else ""))
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

    from tensorrnn.figures import save_figure

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
    from tensorrnn.heap import keep_freed_memory

    keep_freed_memory()                               # as `tensorrnn fit` does (the CPU budgets count page faults)
    from tensorrnn.data import DATASETS
    from tensorrnn.data.splits import PROTOCOLS
    from tensorrnn.data.synthetic import ACTION_SETS

    examples = __doc__[__doc__.index("    python bench/bench_accuracy.py"):]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="examples:\n" + examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=None, metavar="SET",
                        help=f"presets of ACTION_SETS ({', '.join(ACTION_SETS)}); default easy and hard, none "
                             "with --real")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS),
                        help="shipped configs configs/ucf11_MODEL.yaml (models without a paper twin run the "
                             f"default recipe only; default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES,
                        help="default: the shipped config; paper: its configs/paper/ twin (default: both)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="seed_everything of each fit, and its fold: seed mod the split's folds (default: 0 1 2)")
    parser.add_argument("--size", nargs=2, type=int, default=[160, 120], metavar=("W", "H"),
                        help="frame size of every fit: generated sets are rendered at it, real clips resized to it "
                             "(default: 160 120)")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every CPU budget (default: 1)")
    parser.add_argument("--cache", default=None, help="folder for the generated sets and frame caches "
                                                      "(default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="tiny sets and 2 epochs: a smoke run (a real "
                                                             "folder is read whole)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train exactly this many epochs instead of the CPU budget (same work whatever the "
                             "machine's load: for comparing stores or models run by run); results in "
                             "accuracy[_jpeg][_paired_STORE]_<N>epochs.*")
    parser.add_argument("--store", choices=["raw", "jpeg"], default="raw",
                        help="clip store the fits read (default raw, as the published table; jpeg writes "
                             "accuracy_jpeg.* to compare the stores)")
    parser.add_argument("--paired-store", choices=["raw", "jpeg"], default=None,
                        help="also test each fit's selected checkpoint with its test clips from this store "
                             "(same weights, same views: the store's effect alone, without training's spread)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder (default: bench/results)")
    real = parser.add_argument_group("real footage", "a folder of real clips, run beside the generated sets with "
                                                     "the same configs, recipes, seeds and frame size")
    real.add_argument("--real", default=None, metavar="DIR",
                      help="the folder of real clips (the data.root of tensorrnn fit)")
    real.add_argument("--real-dataset", default="folder", choices=list(DATASETS),
                      help="its layout, tensorrnn fit's data.dataset (default: folder, one sub-folder per class)")
    real.add_argument("--real-split", default="auto", choices=["auto", *PROTOCOLS],
                      help="data.split of its fits (default: auto, group k-fold where the clips have groups, else "
                           "the TT-RNN clip split)")
    real.add_argument("--real-folds", type=int, default=1, metavar="K",
                      help=f"folds run per seed: the split has max({NUM_FOLDS}, K) folds (fewer where auto finds "
                           "fewer groups), seed s runs the K folds from s mod the folds on (1: fold = seed, as on "
                           "the generated sets; the default)")
    real.add_argument("--real-flip", type=float, default=0.0, metavar="P",
                      help="data.flip of its fits (default: 0: a flip swaps left and right; raise it only for "
                           "mirror-symmetric classes)")
    real.add_argument("--real-options", default=None, metavar="YAML",
                      help="data.dataset_options of its fits, e.g. '{group_depth: 1}' when the folder below a "
                           "class folder names the person")
    real.add_argument("--real-annotations", default=None, metavar="FILE",
                      help="data.annotations, the list file of --real-dataset annotations")
    real.add_argument("--real-name", default=None, metavar="NAME",
                      help="its rows' label (default: the folder's name)")
    real.add_argument("--real-budget", type=float, default=480.0, metavar="SECONDS",
                      help="CPU seconds of training per run on it, times --budget-scale (default: 480, the hard "
                           "set's)")
    args = parser.parse_args(argv)
    import yaml

    from tensorrnn.files import atomic_write_text

    sets = args.sets if args.sets is not None else [] if args.real else ["easy", "hard"]
    unknown = set(sets) - set(ACTION_SETS)
    if unknown:
        parser.error(f"--sets {sorted(unknown)}: expected some of {sorted(ACTION_SETS)}")
    if args.real_folds < 1:
        parser.error(f"--real-folds {args.real_folds}: expected an integer >= 1")
    real_data = None
    if args.real:
        if not Path(args.real).is_dir():
            parser.error(f"--real {args.real}: no such directory")
        real_name = args.real_name or Path(args.real).resolve().name
        if real_name in ACTION_SETS:
            parser.error(f"--real {args.real}: its name {real_name!r} is a generated set's; expected --real-name")
        options = yaml.safe_load(args.real_options) if args.real_options else {}
        if not isinstance(options, dict):
            parser.error(f"--real-options {args.real_options!r}: expected a mapping, e.g. '{{group_depth: 1}}'")
        real_data = {"dataset": args.real_dataset, "split": args.real_split,
                     "num_folds": max(NUM_FOLDS, args.real_folds), "flip": args.real_flip, "options": options,
                     "annotations": str(Path(args.real_annotations).resolve()) if args.real_annotations else None}
    elif any(value != parser.get_default(key) for key, value in vars(args).items() if key.startswith("real_")):
        parser.error("--real-* options without --real DIR")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = Path(args.out)
    stem = (("accuracy_quick" if args.quick else "accuracy") + ("_jpeg" if args.store == "jpeg" else "")
            + (f"_paired_{args.paired_store}" if args.paired_store else "")
            + (f"_{args.epochs}epochs" if args.epochs else ""))
    path = out / f"{stem}.json"
    data = json.loads(path.read_text()) if path.is_file() else {"runs": [], "sets": {}}
    data["runs"] = [backfill(r) for r in data["runs"]]
    size = f"{args.size[0]}x{args.size[1]}"
    done = {run_key(r) for r in data["runs"]}
    if args.epochs:
        data["protocol"] = f"every run trains {args.epochs} epochs (no CPU budget), store {args.store}"
    with contextlib.ExitStack() as stack:
        cache = Path(args.cache) if args.cache else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        # (name, videos, frame cache, the runs' description of the set, data options, folds of the split,
        #  the folds seed s runs, budget)
        plans = []
        for set_name in sets:
            root, spec = make_set(set_name, tuple(args.size), cache, args.quick)
            frames = cache / f"frames_{set_name}_{size}{'_quick' if args.quick else ''}"
            build_cache(root, frames, args.size, args.store)
            if args.paired_store and args.paired_store != args.store:
                build_cache(root, frames, args.size, args.paired_store)
            data["sets"][f"{set_name}_{size}"] = {"kind": "generated", "classes": spec.num_classes,
                                                  "clips": spec.num_clips, "spec": repr(spec)}
            described = {"kind": "generated", "spec": dataclasses.asdict(spec)}
            plans.append((set_name, root, frames, described, GENERATED, NUM_FOLDS, lambda s: [s % NUM_FOLDS],
                          BUDGETS.get(set_name, 300.0) * args.budget_scale))
        if real_data is not None:
            root = Path(args.real).resolve()
            frames = cache / f"frames_real_{real_name}_{size}"
            try:  # a layout, option or split that does not fit the folder: one line, before any fit
                module = real_set(root, real_data, frames, args.size, args.store)
                if args.paired_store and args.paired_store != args.store:
                    real_set(root, real_data, frames, args.size, args.paired_store)
                folds = module.num_folds  # of the split auto (or --real-split) makes of these clips
            except (ValueError, OSError) as err:
                parser.error(f"--real {args.real}: {err}")
            about = {"path": str(root), "dataset": real_data["dataset"], "options": real_data["options"],
                     "annotations": real_data["annotations"], "split": real_data["split"]}
            data["sets"][f"{real_name}_{size}"] = {"kind": "real", "classes": module.num_classes,
                                                   "clips": len(module.full), **about}
            plans.append((real_name, root, frames, {"kind": "real", "real": about}, real_data, folds,
                          lambda s: sorted({(s + k) % folds for k in range(min(args.real_folds, folds))}),
                          args.real_budget * args.budget_scale))
        for set_name, root, frames, described, options, num_folds, folds_of, budget in plans:
            for model in args.models:
                for recipe in args.recipes:
                    if not config_path(model, recipe).is_file() or (model in VARIANTS and recipe != "default"):
                        continue  # no paper twin
                    for seed in args.seeds:
                        for fold in folds_of(seed):
                            key = (set_name, model, recipe, seed, size, fold, num_folds)
                            if key in done:
                                continue
                            work = cache / "work" / f"{set_name}_{size}"
                            start = time.perf_counter()
                            run = one_run(set_name, model, recipe, seed, root, work, frames, args.size, budget,
                                          args.quick, args.store, args.epochs, args.paired_store, options, fold)
                            run.update(described, num_folds=num_folds, size=size, store=args.store,
                                       wall_seconds=round(time.perf_counter() - start, 1))
                            print(f"{set_name} {size} {model} {recipe} seed {seed} fold {fold}: test acc "
                                  f"{run['test_acc']:.3f} ({run['epochs']} epochs, {run['cpu_seconds'] / 60:.1f} "
                                  "CPU min)", flush=True)
                            data["runs"].append(run)
                            data["summary"] = summarize(data["runs"])
                            data["machine"] = {"platform": platform.platform(), "python": sys.version.split()[0],
                                               "cpus": os.cpu_count()}
                            atomic_write_text(path, json.dumps(data, indent=2) + "\n")  # after every run
    data["summary"] = summarize(data["runs"])
    table = write_table(data)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / f"{stem}.md", table)
    plot(data, out / f"{stem}.png")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import blocks  # bench/blocks.py: the README's and docs' blocks that read this JSON

    blocks.update(path)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
