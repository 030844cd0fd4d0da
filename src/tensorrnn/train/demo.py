"""``tensorrnn demo [--out DIR] [--quick]``: TT-GRU against a dense GRU on generated videos.

Generates the synthetic action videos of :func:`tensorrnn.data.synthetic.make_demo_videos`
(UCF11 layout; the class is the motion, never the look of a frame), decodes them once into a
frame cache, and runs ``tensorrnn fit`` with the shipped ``configs/demo_tt_gru.yaml`` twice: a
TT-GRU, and a dense GRU (``--model.factorization dense``) with the same data, split and recipe.
Both are selected on validation groups and tested on groups never seen in training (the
background and object of a test clip were never in a training clip). Prints a table
(parameters, test accuracy, training time), writes the learning curves as a PNG and
``demo.json``; the checkpoints can be used with ``tensorrnn predict``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from tensorrnn.errors import ArgumentParser


@dataclass(frozen=True)
class DemoSetting:
    """Sizes of one demo run (the full one and ``--quick``)."""

    num_classes: int
    groups: int
    clips_per_group: int
    size: tuple[int, int]          # (width, height) of the frames
    num_frames: int                # frames per generated clip
    in_shape: tuple[int, ...]      # factorisation of width * height * 3
    hidden_shape: tuple[int, ...]
    rank: int
    epochs: int


#: The shipped config the demo trains with: ``tensorrnn fit --config`` runs the same.
CONFIG = "demo_tt_gru.yaml"
# 15 groups of 4 clips per class; 3 groups of every class (72 clips) are the test set (group
# k-fold, fold 0 of 5) and 2 of the remaining 12 validate. Every group has its own background
# and object, so a model can fit the training clips by their looks; the videos make the motion
# the easier signal (one sweep per clip, low-contrast scenes, see tensorrnn.data.synthetic).
# The sizes and epochs are the config's; --quick shrinks them for a smoke run.
FULL = DemoSetting(num_classes=6, groups=15, clips_per_group=4, size=(80, 60), num_frames=24,
                   in_shape=(6, 10, 16, 15), hidden_shape=(4, 4, 4, 4), rank=4, epochs=25)
QUICK = DemoSetting(num_classes=4, groups=5, clips_per_group=3, size=(40, 30), num_frames=16,
                    in_shape=(4, 6, 10, 15), hidden_shape=(2, 2, 4, 4), rank=3, epochs=4)
MODELS = (("TT-GRU", "tt"), ("GRU", "dense"))


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="tensorrnn demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds) to check the installation")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the videos and the training")
    return parser


def _videos(out: Path, setting: DemoSetting, seed: int) -> Path:
    """Generate the videos once; reuse them when a previous run made the same set."""
    from tensorrnn.data.synthetic import make_demo_videos
    from tensorrnn.files import atomic_write_text

    root = out / "videos"
    stamp = root / "demo_videos.json"
    wanted = json.dumps({"setting": [setting.num_classes, setting.groups, setting.clips_per_group,
                                     list(setting.size), setting.num_frames], "seed": seed})
    if stamp.is_file() and stamp.read_text() == wanted:
        return root
    make_demo_videos(root, num_classes=setting.num_classes, groups=setting.groups,
                     clips_per_group=setting.clips_per_group, size=setting.size,
                     num_frames=setting.num_frames, seed=seed, progress=True)
    atomic_write_text(stamp, wanted)
    return root


def config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "configs" / CONFIG


def fit_arguments(name: str, factorization: str, root: Path, out: Path, setting: DemoSetting, epochs: int,
                  seed: int) -> list[str]:
    """The ``tensorrnn fit`` arguments of one demo model: the shipped config, the data's
    location, and (``--quick``) smaller sizes. Nothing of the recipe is set here."""
    args = ["--config", str(config_path()), "--data.root", str(root), "--data.cache_dir", str(out / "cache"),
            "--data.dataset_options", json.dumps({"progress": False}),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(out / "runs"),
            "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.enable_model_summary", "false",
            "--trainer.log_every_n_steps", "1", "--seed_everything", str(seed),
            "--run_name", name.lower().replace("-", "_")]
    if setting != FULL:
        args += ["--data.size", json.dumps(list(setting.size)), "--model.in_shape", json.dumps(list(setting.in_shape)),
                 "--model.hidden_shape", json.dumps(list(setting.hidden_shape)), "--model.rank", str(setting.rank)]
    if factorization == "dense":
        args += ["--model.factorization", "dense", "--model.rank", "null"]
    return args


def _train(name: str, factorization: str, root: Path, out: Path, setting: DemoSetting, epochs: int,
           seed: int) -> dict:
    from tensorrnn.train.cli import _fit, _finish, _log_dir, _make_cli
    from tensorrnn.train.plots import read_epoch_metrics

    cli = _make_cli("fit", fit_arguments(name, factorization, root, out, setting, epochs, seed))
    record = _fit(cli)
    _finish(cli, record)
    model, data = cli.model, cli.datamodule
    series = read_epoch_metrics([_log_dir(cli.trainer) / "metrics.csv"])
    sizes = data.split_sizes()
    return {
        "model": name, "factorization": factorization,
        "parameters": sum(p.numel() for p in model.parameters()),
        "input_map_parameters": sum(p.numel() for p in model.net.rnn.input_proj.parameters()),
        "held_out_accuracy": float(record["test"]["test/acc"]),
        "held_out_accuracy_1view": float(record["test"]["test/acc_1view"]),
        "train_seconds": round(record["fit_seconds"], 1), "epochs": epochs,
        "train_clips": sizes["train"], "val_clips": sizes["val"], "held_out_clips": sizes["test"],
        "chance": 1.0 / data.num_classes, "selection": record["selection"],
        "checkpoint": str(record["selected_checkpoint"]), "metrics_json": str(_log_dir(cli.trainer) / "metrics.json"),
        "curves": {k: [series[k][e] for e in sorted(series[k])] for k in ("train/loss", "val/acc") if k in series},
    }


def _print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    first = results[0]
    table = Table(title=f"demo: {first['train_clips']} training and {first['val_clips']} validation clips, "
                        f"{first['held_out_clips']} test clips of unseen groups, chance {first['chance']:.3f}")
    for name in ("model", "parameters", "input map", "held-out accuracy", "training time"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for r in results:
        table.add_row(r["model"], f"{r['parameters']:,}", f"{r['input_map_parameters']:,}",
                      f"{r['held_out_accuracy']:.3f}", f"{r['train_seconds']:.1f} s")
    Console().print(table)


def main(argv: list[str]) -> int:
    args = _parser().parse_or_help(argv)
    if args is None:  # --help
        return 0
    setting = QUICK if args.quick else FULL
    epochs = setting.epochs if args.epochs is None else args.epochs
    if epochs < 1:
        raise ValueError(f"--epochs {epochs}: expected a positive integer")
    assert math.prod(setting.in_shape) == setting.size[0] * setting.size[1] * 3
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {str(out)!r}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no "GPU available: False" chatter

    start = time.perf_counter()
    root = _videos(out, setting, args.seed)
    results = [_train(name, fact, root, out, setting, epochs, args.seed) for name, fact in MODELS]
    total = time.perf_counter() - start

    from tensorrnn.files import atomic_write_text
    from tensorrnn.train.plots import plot_demo_curves

    plot = plot_demo_curves({r["model"]: r["curves"] for r in results}, out / "learning_curves.png")
    _print_table(results)
    summary = {"setting": {**setting.__dict__, "epochs": epochs, "config": CONFIG},
               "total_seconds": round(total, 1), "results": results}
    atomic_write_text(out / "demo.json", json.dumps(summary, indent=2) + "\n")
    tt = results[0]
    print(f"learning curves: {plot}")
    print(f"results: {out / 'demo.json'} (total {total:.0f} s)")
    print(f"try: tensorrnn predict --ckpt_path {tt['checkpoint']} "
          f"{next(iter(sorted(root.rglob('*.avi'))))}")
    return 0
