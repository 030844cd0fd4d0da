"""Figures of a run: learning curves from the CSV log, a confusion matrix from the test.

matplotlib with the Agg backend (no display needed); files are written atomically.
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from tensorrnn.figures import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    return save_figure(fig, path, dpi=110, bbox_inches="tight")


def read_epoch_metrics(csv_paths: Iterable[str | os.PathLike]) -> dict[str, dict[int, float]]:
    """Per-epoch values ``{metric: {epoch: value}}`` from Lightning CSV logs.

    Several files (a run and the runs it resumed from) are merged; a later file wins for an
    epoch logged twice. Step-level columns (``*_step``) are skipped.
    """
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for path in csv_paths:
        if not Path(path).is_file():
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                epoch = row.get("epoch")
                if epoch in (None, ""):
                    continue
                for key, value in row.items():
                    if key in ("epoch", "step") or key.endswith("_step") or value in (None, ""):
                        continue
                    series[key.removesuffix("_epoch")][int(float(epoch))] = float(value)
    return dict(series)


def plot_learning_curves(series: dict[str, dict[int, float]], path: str | os.PathLike,
                         title: str = "") -> Path | None:
    """Loss (left) and accuracy / mAP (right) against epoch, train and validation; one PNG."""
    panels = [("loss", [k for k in ("train/loss", "val/loss") if k in series]),
              ("accuracy / mAP", [k for k in ("train/acc", "val/acc", "val/acc_top5", "val/map") if k in series])]
    panels = [(label, keys) for label, keys in panels if keys]
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (label, keys) in zip(axes[0], panels):
        for key in keys:
            epochs = sorted(series[key])
            ax.plot([e + 1 for e in epochs], [series[key][e] for e in epochs], marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[float]], classes: Sequence[str],
                          path: str | os.PathLike, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) as a PNG."""
    plt = _pyplot()
    n = len(classes)
    rows = [[v / max(1.0, sum(row)) for v in row] for row in matrix]
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rows, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i][j]:
                    ax.text(j, i, f"{int(matrix[i][j])}", ha="center", va="center", fontsize=7,
                            color="white" if rows[i][j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title or "confusion matrix (row-normalised)")
    return _save(fig, path)


def plot_demo_curves(curves: dict[str, dict[str, list[float]]], path: str | os.PathLike) -> Path:
    """Demo figure: training loss and held-out accuracy per epoch for each model."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, curve in curves.items():
        for ax, key in zip(axes, ("train/loss", "val/acc")):
            values = curve.get(key, [])
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
    for ax, label in zip(axes, ("training loss", "held-out accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)
