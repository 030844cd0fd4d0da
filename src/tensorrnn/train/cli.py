"""``tensorrnn fit | validate | test | cv``: the training application on LightningCLI.

One YAML config (``--config configs/ucf11_tt_gru.yaml``) holds ``model:``, ``data:`` and
``trainer:`` sections; any key can be overridden with a dotted flag (``--data.root DIR``,
``--trainer.max_epochs 5``, ``--trainer.devices 2 --trainer.strategy ddp``), and
``--print_config`` prints the fully resolved config. ``num_classes``, ``multilabel`` and the
class names flow from the data to the model.

Every run logs to ``{trainer.default_root_dir}/{run_name}/version_N/`` (CSV always,
TensorBoard when installed; the run name is the config file's, ``paper_ucf11_tt_gru`` for
``configs/paper/ucf11_tt_gru.yaml``: :func:`config_run_name`), keeps ``checkpoints/last.ckpt``
(written atomically) and the best checkpoint, and ends by writing ``metrics.json`` there and
printing ``metrics: PATH`` as the last line of stdout. ``fit`` evaluates one checkpoint once on
the test split, ``--select``'s: ``last`` (the default: the last epoch, where the schedule ends) or
``best`` (best ``val/acc`` or ``val/map`` on the validation clips, the papers' twins; the last
epoch when the split leaves no validation clips); ``metrics.json`` holds those numbers under
``test``. ``fit --ckpt_path last`` resumes the newest ``last.ckpt`` of the run name, and only
a checkpoint of the same network and recipe (:func:`~tensorrnn.train.checkpoint.check_recipe`).
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from jsonargparse import ArgumentError
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import CheckpointIO

from tensorrnn.errors import UsageError
from tensorrnn.files import atomic_write_text, file_in_the_way
from tensorrnn.train.checkpoint import (AtomicCheckpointIO, check_compatible, check_recipe, find_last_checkpoint,
                                        load_checkpoint)
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import NonFiniteLossError, VideoClassifier, fitting_in_shape

DEFAULT_ROOT = "runs"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class TensorrnnCLI(LightningCLI):
    """LightningCLI for :class:`VideoClassifier` + :class:`VideoDataModule`, without subcommands
    (``tensorrnn`` dispatches them), plus ``--ckpt_path`` and ``--run_name``."""

    def __init__(self, command: str, args: list[str]) -> None:
        self.command = command
        self.checkpoint_path: Path | None = None
        self.resumed_from: Path | None = None
        super().__init__(
            VideoClassifier, VideoDataModule, args=args, run=False, auto_configure_optimizers=False,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": DEFAULT_ROOT},
            parser_kwargs={"exit_on_error": False, "prog": f"tensorrnn {command}",
                           "description": f"tensorrnn {command}: {_DESCRIPTIONS[command]}"},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="checkpoint to resume (fit: one of the same network and recipe) or evaluate "
                                 "(validate/test); 'last' = the newest last.ckpt of this run name under "
                                 "trainer.default_root_dir")
        parser.add_argument("--select", type=str, default=SELECT[0],
                            help="fit: the checkpoint tested once at the end: 'last' (the last epoch, where the "
                                 "learning rate's schedule ends; the default recipe) or 'best' (best val/acc, or "
                                 "val/map, on the validation clips: the papers' twins). Both are kept.")
        parser.add_argument("--run_name", type=Optional[str], default=None,
                            help="log folder name under trainer.default_root_dir (default: the config "
                                 "file's name, e.g. ucf11_tt_gru or paper_ucf11_tt_gru; without a config file "
                                 "DATASET_FACTORIZATION_ARCH)")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.multilabel", "model.multilabel", apply_on="instantiate")
        parser.link_arguments("data.classes", "model.class_names", apply_on="instantiate")
        parser.link_arguments("data.frame_features", "model.frame_features", apply_on="instantiate")

    @property
    def run_name(self) -> str:
        """``--run_name`` when given; else the name of the config file (the last ``--config``
        when there are several: :func:`config_run_name`); else, with no config file,
        ``DATASET_FACTORIZATION_ARCH``."""
        if self.config.get("run_name"):
            return self.config.run_name
        files = [f for f in self.config.get("config") or [] if f is not None]
        if files:
            return config_run_name(str(getattr(files[-1], "absolute", files[-1])))
        hp = self.model.hparams
        return f"{self.datamodule.hparams.dataset}_{hp.factorization}_{hp.arch}"

    def _root_dir(self) -> str:
        return self.config.trainer.get("default_root_dir") or DEFAULT_ROOT

    @property
    def select(self) -> str:
        """``--select``: the checkpoint ``fit`` tests (:data:`SELECT`)."""
        return self.config.get("select", SELECT[0])

    def _check_select(self) -> None:
        if self.select not in SELECT:
            raise ValueError(f"select={self.select!r}: expected one of {', '.join(map(repr, SELECT))} (the "
                             "checkpoint fit tests: the last epoch's, or the best on the validation clips)")

    def _resolve_checkpoint(self) -> None:
        ckpt = self.config.get("ckpt_path")
        if not ckpt:
            if self.command in ("validate", "test"):
                raise UsageError(f"tensorrnn {self.command}: expected --ckpt_path CKPT (the checkpoint to evaluate)")
            return
        if ckpt == "last":
            path = find_last_checkpoint(self._root_dir(), self.run_name)
            if path is None:
                raise FileNotFoundError(
                    f"--ckpt_path last: no {self._root_dir()}/{self.run_name}/version_*/checkpoints/last.ckpt "
                    "(set --trainer.default_root_dir / --run_name of the run to resume)")
        else:
            path = Path(ckpt)
        checkpoint = load_checkpoint(path)
        check_compatible(checkpoint, self.model, path)
        if self.command == "fit":  # evaluation may read a checkpoint with other data options
            check_recipe(checkpoint, self.model, self.datamodule, path)
        self.checkpoint_path = path
        if self.command == "fit":
            self.resumed_from = path

    def _check_shapes(self) -> None:
        features = self.datamodule.frame_features
        if features != self.model.in_features:
            raise ValueError(
                f"model.in_shape={list(self.model.in_shape)} has {self.model.in_features} features per frame but the data "
                f"gives {features} ({self.datamodule.frame_description}); expected a shape whose product is {features}, "
                f"{fitting_in_shape(features, len(self.model.in_shape))} or model.in_shape: auto (or another data.size)")
        if self.model.stem is not None:
            data = self.datamodule.hparams
            if data.features:
                raise ValueError(f"model.stem=True with data.features={data.features!r}: the stem reads video "
                                 "frames (H, W, 3), not feature arrays; expected model.stem: false")
            width, height = data.size
            depth = self.model.stem.depth
            if width % 2 ** depth or height % 2 ** depth:
                expected = "an even width and height" if depth == 1 else \
                    f"a width and height that are multiples of {2 ** depth} (model.stem_depth={depth})"
                raise ValueError(f"model.stem=True with data.size={[width, height]}: the stem halves the frame"
                                 f"{'' if depth == 1 else f' {depth} times'}; expected {expected}")

    def _loggers(self, root: str) -> list:
        csv_logger = CSVLogger(root, name=self.run_name)
        loggers = [csv_logger]
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(root, name=self.run_name, version=csv_logger.version,
                                             default_hp_metric=False))
        except (ImportError, ModuleNotFoundError):
            pass
        return loggers

    def before_instantiate_classes(self) -> None:
        # Before the data set is probed (minutes on a real one) and before Lightning's start-up
        # lines, whose first makedirs would fail naming no option.
        root = Path(self._root_dir())
        blocker = file_in_the_way(root)
        if blocker is not None:
            raise NotADirectoryError(f"trainer.default_root_dir={str(root)!r}: {str(blocker)!r} is a file; "
                                     "expected a folder for the runs")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        # Runs after the model and the data module exist: validate before Lightning starts.
        self._check_shapes()
        self._check_select()
        self.datamodule.setup()  # split errors surface here, before Lightning's start-up lines
        self._resolve_checkpoint()
        config = self._get(self.config_init, "trainer", default={})
        root = self._root_dir()
        if config.get("logger") in (None, True):
            kwargs["logger"] = self._loggers(root)
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins.append(AtomicCheckpointIO())
        kwargs["plugins"] = plugins
        callbacks = config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        wants_checkpoints = config.get("enable_checkpointing") is not False  # Lightning refuses both at once
        validates = self.datamodule.has_validation
        if self.command == "fit" and wants_checkpoints and not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks += default_checkpoints(self.model.hparams.multilabel, best=validates)
        if self.command == "fit" and not validates:  # nothing to validate on: no empty loop, no warnings
            kwargs["limit_val_batches"] = 0
        if self.command != "fit":  # evaluation writes no checkpoints
            kwargs["enable_checkpointing"] = False
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)


def config_run_name(path: str | os.PathLike) -> str:
    """The run name of a config file: its path below the nearest folder named ``configs``,
    folders joined by ``_``, without the suffix; a file in no ``configs`` folder: its name
    without the suffix.

    So the shipped configs keep their names and their ``paper/`` twins get a name of their own
    (two configs never share a run folder, whose ``--ckpt_path last`` would resume the other's
    checkpoint), and a config elsewhere is named by its file. The path is made absolute first,
    so ``cd configs/paper; tensorrnn fit --config ucf11_tt_gru.yaml`` names the same run.

    Examples:
        >>> config_run_name("configs/ucf11_tt_gru_full.yaml")
        'ucf11_tt_gru_full'
        >>> config_run_name("configs/paper/ucf11_tt_gru.yaml")
        'paper_ucf11_tt_gru'
        >>> config_run_name("/home/me/experiments/lr3.yaml")
        'lr3'
    """
    parts = Path(os.path.abspath(path)).with_suffix("").parts
    folders = [i for i, part in enumerate(parts[:-1]) if part == "configs"]
    return "_".join(parts[folders[-1] + 1:] if folders else parts[-1:])


#: What ``fit --select`` may test, the default first: the last epoch's checkpoint, or the best on the validation clips.
SELECT = ("last", "best")


def default_checkpoints(multilabel: bool, best: bool = True) -> list[ModelCheckpoint]:
    """The best epoch by validation accuracy / mAP (when ``best``), and ``last.ckpt`` after
    EVERY epoch.

    Two callbacks because ``ModelCheckpoint(save_last=True)`` with a monitor refreshes
    ``last.ckpt`` only when the monitored value improves; resuming must lose at most the epoch
    in progress. ``last.ckpt`` is overwritten in place (atomically, by AtomicCheckpointIO).
    """
    last = ModelCheckpoint(monitor=None, save_top_k=1, filename="last", enable_version_counter=False)
    if not best:
        return [last]
    monitor = "val/map" if multilabel else "val/acc"
    top = ModelCheckpoint(monitor=monitor, mode="max", save_top_k=1, filename="best-{epoch:03d}-{step}",
                          auto_insert_metric_name=False)
    return [top, last]


def _checkpoint_paths(trainer: Trainer) -> tuple[str | None, float | None, str | None]:
    """(best path, best score, last path) from the trainer's checkpoint callbacks."""
    best = last = score = None
    for callback in trainer.checkpoint_callbacks:
        if callback.monitor is None:
            last = callback.best_model_path or callback.last_model_path or last
        elif callback.best_model_path:
            best, score = callback.best_model_path, callback.best_model_score
        if callback.last_model_path:
            last = callback.last_model_path
    return best or None, (float(score) if score is not None else None), last or None


_DESCRIPTIONS = {
    "fit": "train a model from a YAML config",
    "validate": "evaluate a checkpoint on the validation split",
    "test": "evaluate a checkpoint on the test split",
    "cv": "train and evaluate every fold of the configured split; mean +- std",
}


#: Options whose value is a list of numbers: ``--data.size 64 64`` is read as ``--data.size '[64, 64]'``.
LIST_OPTIONS = ("--data.size", "--data.crop_scale", "--model.in_shape", "--model.hidden_shape", "--model.rank")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def join_list_values(argv: list[str]) -> list[str]:
    """``--data.size 64 64`` -> ``--data.size [64, 64]``: the numbers after an option of
    :data:`LIST_OPTIONS` become one JSON list (one number stays as it is, as does ``'[64, 64]'``).

    Examples:
        >>> join_list_values(["--data.size", "64", "48", "--trainer.max_epochs", "3"])
        ['--data.size', '[64, 48]', '--trainer.max_epochs', '3']
    """
    out, i = [], 0
    while i < len(argv):
        out.append(argv[i])
        i += 1
        if out[-1] in LIST_OPTIONS:
            end = i
            while end < len(argv) and _is_number(argv[end]):
                end += 1
            if end - i >= 2:
                out.append("[" + ", ".join(argv[i:end]) + "]")
                i = end
    return out


def _make_cli(command: str, argv: list[str]) -> TensorrnnCLI | None:
    """Parse and instantiate; ``None`` when the parser already answered (``--help``, ``--print_config``)."""
    # "Seed set to N" would be a second stderr line before any one-line error; the seed is
    # recorded in the run's config.yaml.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # argv is given explicitly on purpose (the dispatcher strips the subcommand)
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            return TensorrnnCLI(command, join_list_values(argv))
    except ArgumentError as err:
        raise UsageError(_one_line(err)) from err
    except SystemExit as exit_:
        if exit_.code in (0, None):
            return None
        raise UsageError(f"tensorrnn {command}: invalid arguments (exit code {exit_.code})") from exit_


def _log_dir(trainer: Trainer) -> Path:
    # Not trainer.log_dir: that is a collective (broadcast) and only rank 0 gets here.
    if trainer.loggers:
        return Path(trainer.loggers[0].log_dir)
    return Path(trainer.default_root_dir)


def _scalars(trainer: Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if torch.as_tensor(v).numel() == 1}


def _finish(cli: TensorrnnCLI, record: dict[str, Any]) -> Path | None:
    """Write ``metrics.json`` (rank 0 only) and print its path as the last line of stdout."""
    trainer = cli.trainer
    if not trainer.is_global_zero:
        return None
    path = _log_dir(trainer) / "metrics.json"
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    sys.stdout.flush()
    print(f"metrics: {path}", flush=True)
    return path


def _fit(cli: TensorrnnCLI) -> dict[str, Any]:
    trainer, model = cli.trainer, cli.model
    if trainer.is_global_zero:
        print(cli.datamodule.describe_split(), flush=True)
    start = time.perf_counter()
    try:
        trainer.fit(model, datamodule=cli.datamodule, ckpt_path=cli.checkpoint_path)
    except NonFiniteLossError as err:
        last = _checkpoint_paths(trainer)[2]
        raise NonFiniteLossError(f"{err}; last good checkpoint: {last or 'none yet'}") from None
    seconds = time.perf_counter() - start
    best, score, last = _checkpoint_paths(trainer)
    fit_metrics = _scalars(trainer)
    record = {
        "command": "fit", "run_name": cli.run_name, "model": cli.model.extra_repr(),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "epochs": trainer.current_epoch, "global_step": trainer.global_step, "fit_seconds": round(seconds, 3),
        "metrics": fit_metrics,
        "validation": cli.datamodule.validation,
        "split": {"protocol": cli.datamodule.protocol[0], "fold": cli.datamodule.hparams.fold,
                  "notes": cli.datamodule.split_notes},
        "input_normalization": _normalization(model),
        "per_class_val": model.results.get("val", {}),
        "best_model_path": best, "best_model_score": score, "last_model_path": last,
        "resumed_from": str(cli.resumed_from) if cli.resumed_from else None,
    }
    record.update(_test_selected(cli, best, last))
    if trainer.is_global_zero:
        record["plots"] = _learning_curves(cli)
    return record


def _normalization(model: VideoClassifier) -> dict[str, Any] | None:
    norm = model.input_norm
    if not norm.fitted:
        return None
    return {"clips": int(norm.count), "mean": norm.mean.tolist(), "std": norm.std.tolist()}


def _test_selected(cli: TensorrnnCLI, best: str | None, last: str | None) -> dict[str, Any]:
    """Evaluate the selected checkpoint (``--select``: the last epoch's, or the best on
    validation when there is one) once on the test split; the ``test`` part of metrics.json."""
    trainer, model = cli.trainer, cli.model
    by_validation = cli.select == "best" and best is not None
    selected = best if by_validation else last
    if selected is None:  # checkpointing off: the weights in memory are the last epoch's
        how = "the weights at the end of training (checkpointing off)"
    elif by_validation:
        how = f"best {'val/map' if model.hparams.multilabel else 'val/acc'} on the validation clips"
    elif cli.select == "best":
        how = "the last epoch (no validation clips)"
    else:
        how = "the last epoch (select: last)"
    trainer.test(model, datamodule=cli.datamodule, ckpt_path=selected, verbose=False)
    metrics = {k: v for k, v in _scalars(trainer).items() if k.startswith("test/")}
    if trainer.is_global_zero:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "test/loss")
        print(f"test ({len(cli.datamodule._splits['test'])} clips, checkpoint: {how}): {shown}", flush=True)
    return {"test": metrics, "per_class": model.results.get("test", {}),
            "selected_checkpoint": selected, "selection": how}


def _learning_curves(cli: TensorrnnCLI) -> list[str]:
    from tensorrnn.train.plots import plot_learning_curves, read_epoch_metrics

    log_dir = _log_dir(cli.trainer)
    csvs = [log_dir / "metrics.csv"]
    if cli.resumed_from is not None:  # a resumed run logs to a new version: prepend the old curve
        csvs.insert(0, cli.resumed_from.parent.parent / "metrics.csv")
    out = plot_learning_curves(read_epoch_metrics(csvs), log_dir / "learning_curves.png", title=cli.run_name)
    return [str(out)] if out else []


def _evaluate(cli: TensorrnnCLI, stage: str) -> dict[str, Any]:
    trainer, model = cli.trainer, cli.model
    run = trainer.validate if stage == "validate" else trainer.test
    run(model, datamodule=cli.datamodule, ckpt_path=cli.checkpoint_path)
    key = "val" if stage == "validate" else "test"
    record = {"command": stage, "run_name": cli.run_name, "model": model.extra_repr(),
              "ckpt_path": str(cli.checkpoint_path), "metrics": _scalars(trainer),
              "per_class": model.results.get(key, {})}
    result = model.results.get(key, {})
    if trainer.is_global_zero and "confusion" in result:
        from tensorrnn.train.plots import plot_confusion_matrix

        out = plot_confusion_matrix(result["confusion"], result["classes"], _log_dir(trainer) / "confusion_matrix.png",
                                    title=f"{cli.run_name}: {key} confusion matrix")
        record["plots"] = [str(out)]
    return record


def _run(command: str, argv: list[str]) -> int:
    cli = _make_cli(command, argv)
    if cli is None:
        return 0
    record = _fit(cli) if command == "fit" else _evaluate(cli, command)
    _finish(cli, record)
    return 0


def fit_main(argv: list[str]) -> int:
    """``tensorrnn fit --config CONFIG [--data.root DIR] [--trainer.NAME VALUE ...] [--ckpt_path last]``."""
    return _run("fit", argv)


def validate_main(argv: list[str]) -> int:
    """``tensorrnn validate --config CONFIG --ckpt_path CKPT``."""
    return _run("validate", argv)


def test_main(argv: list[str]) -> int:
    """``tensorrnn test --config CONFIG --ckpt_path CKPT``: metrics.json + confusion matrix."""
    return _run("test", argv)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def cv_main(argv: list[str]) -> int:
    """``tensorrnn cv --config CONFIG``: fit every fold of the configured split, report mean +- std.

    Each fold is an ordinary fit (``--data.fold k``, run name ``NAME_foldK``); the summary goes
    to ``{default_root_dir}/{run_name}_cv/metrics.json``.
    """
    probe = _make_cli("cv", argv + ["--trainer.logger", "false"]) if "--help" not in argv and "-h" not in argv \
        else _make_cli("cv", argv)
    if probe is None:
        return 0
    num_folds, name, root = probe.datamodule.num_folds, probe.run_name, probe._root_dir()
    del probe
    folds = []
    for fold in range(num_folds):
        cli = _make_cli("fit", argv + ["--data.fold", str(fold), "--run_name", f"{name}_fold{fold}"])
        record = _fit(cli)
        record["fold"] = fold
        folds.append(record)
        if cli.trainer.is_global_zero:
            _finish(cli, record)
    keys = sorted(set.intersection(*(set(r["test"]) for r in folds)))
    keys = [k for k in keys if k != "test/loss"]
    summary = {k: dict(zip(("mean", "std"), _mean_std([r["test"][k] for r in folds]))) for k in keys}
    record = {"command": "cv", "run_name": name, "num_folds": num_folds, "summary": summary,
              "folds": [{"fold": r["fold"], "test": r["test"], "metrics": r["metrics"],
                         "selected_checkpoint": r["selected_checkpoint"], "selection": r["selection"]}
                        for r in folds]}
    if not cli.trainer.is_global_zero:
        return 0
    _print_cv_table(name, summary, folds)
    path = Path(root) / f"{name}_cv" / "metrics.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(f"metrics: {path}", flush=True)
    return 0


def _print_cv_table(name: str, summary: dict, folds: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}: {len(folds)}-fold cross-validation")
    table.add_column("metric")
    for r in folds:
        table.add_column(f"fold {r['fold']}", justify="right")
    table.add_column("mean +- std", justify="right")
    for key, stats in summary.items():
        table.add_row(key, *(f"{r['test'][key]:.4f}" for r in folds), f"{stats['mean']:.4f} +- {stats['std']:.4f}")
    Console().print(table)
