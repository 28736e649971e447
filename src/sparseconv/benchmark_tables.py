"""Tables the book reads from the measurements in ``results/benchmarks/`` that check how
well the networks are trained (architecture and training length), as data frames."""

from __future__ import annotations

import json
import os

import pandas as pd

from .records import resolve_results_dir
from .study import MODEL_LABELS

__all__ = ["architecture_candidates", "longer_training", "longer_training_text"]


def _rows(results_dir: str | os.PathLike[str], name: str) -> list[dict]:
    folder = resolve_results_dir(results_dir) / "benchmarks" / name
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [row for path in paths for row in json.loads(path.read_text())["rows"]]


def architecture_candidates(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """The Caltech-101 architectures measured by ``benchmarks/caltech_fit.py`` (ConvNet at
    5 % sparsity, seed 0, the default learning rate): minutes on one CPU thread and the
    accuracies (%), one row per candidate file in ``results/benchmarks/caltech_fit/``."""
    rows = []
    for r in _rows(results_dir, "caltech_fit"):
        rows.append({
            "architecture": r["architecture"], "epochs": r["epochs"],
            "minutes": r["minutes"], "validation": 100 * r["val_accuracy"],
            "training images (eval mode)": 100 * r["train_eval_accuracy"],
            "test": 100 * r["test_accuracy"],
            "test, mean per class": 100 * r["test_mean_class_accuracy"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def longer_training(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """The MNIST runs of ``benchmarks/mnist_epochs.py`` beside the grid's seed-0 record of
    the same model and sparsity: per (model, sparsity) and epoch count, the kept epoch and
    the accuracies (%) on training images (eval mode), validation and test images, all at
    the training sparsity. Rows of cells whose grid record is missing show only the
    longer run."""
    from .analysis import load_runs

    longer = _rows(results_dir, "mnist_epochs")
    if not longer:
        return pd.DataFrame()
    grid = load_runs(results_dir, "mnist")
    rows = []
    for r in sorted(longer, key=lambda r: (list(MODEL_LABELS).index(r["model"]), r["sparsity"])):
        cell = grid[(grid["model"] == r["model"]) & (grid["seed"] == r["seed"])
                    & ((grid["sparsity"] - r["sparsity"]).abs() < 1e-9)] if not grid.empty \
            else grid  # fmt: skip
        runs = [(cell["record"].iloc[0], "grid")] if len(cell) else []
        for record, source in runs + [(r, "longer")]:
            rows.append({
                "model": MODEL_LABELS[r["model"]],
                "sparsity": f"{100 * r['sparsity']:g} %",
                "epochs": len(record["history"]) if source == "grid" else record["epochs"],
                "kept epoch": record["best_epoch"],
                "training images (eval mode)": 100 * record["train_eval_accuracy"],
                "validation": 100 * record["val_accuracy"],
                "test": 100 * record["test_accuracy"],
            })  # fmt: skip
    return pd.DataFrame(rows)


def longer_training_text(table: pd.DataFrame) -> str:
    """One sentence from :func:`longer_training`: per cell, the change of test accuracy
    (points) from the grid's epochs to the longer run, and the paper's layer's lead over
    the ConvNet at each length where both were trained longer."""
    if table.empty:
        return "benchmarks/mnist_epochs.py has not been run"
    test = table.pivot_table(index=["sparsity", "model"], columns="epochs", values="test")
    if test.shape[1] < 2:
        return "the grid's records of the cells trained longer are missing"
    short, long = test.columns.min(), test.columns.max()
    change = (test[long] - test[short]).dropna()
    parts = [f"{model} {value:+.2f}" for (level, model), value in change.items()]
    text = (f"Trained for {long} instead of {short} epochs (seed 0), test accuracy changes by "
            f"{'; '.join(parts)} points")  # fmt: skip
    sparse, dense = MODEL_LABELS["sparse"], MODEL_LABELS["dense"]
    for level in test.index.get_level_values(0).unique():
        cell = test.loc[level]
        if {sparse, dense} <= set(cell.index):
            lead = cell.loc[sparse] - cell.loc[dense]
            text += (f"; at {level} the paper's layer leads the ConvNet by "
                     f"{lead[short]:+.2f} points after {short} epochs and "
                     f"{lead[long]:+.2f} after {long}")  # fmt: skip
    return text + "."
