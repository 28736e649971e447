"""Tables the book reads from the measurements in ``results/benchmarks/`` that check how
well the networks are trained (architecture and training length), as data frames."""

from __future__ import annotations

import json
import os

import pandas as pd

from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.records import resolve_results_dir
from sparseconv.report.analysis import load_runs
from sparseconv.report.depth_curves import pattern_of

__all__ = [
    "architecture_candidates",
    "depth_capacity",
    "longer_training",
]


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
        rows.append(
            {
                "architecture": r["architecture"],
                "epochs": r["epochs"],
                "minutes": r["minutes"],
                "validation": 100 * r["val_accuracy"],
                "training images (eval mode)": 100 * r["train_eval_accuracy"],
                "test": 100 * r["test_accuracy"],
                "test, mean per class": 100 * r["test_mean_class_accuracy"],
            }
        )
    return pd.DataFrame(rows)


def longer_training(
    results_dir: str | os.PathLike[str] = "results",
    dataset: str = "mnist",
    grid: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The runs of ``benchmarks/epochs.py`` for ``dataset`` beside the grid's record of the
    same model, sparsity and seed: per (model, sparsity, seed) and epoch count, the kept epoch
    and the accuracies (%) on training images (eval mode), validation and test images,
    all at the training sparsity (Caltech-101 also the test mean per-class accuracy).
    Rows of cells whose grid record is missing show only the longer run."""
    longer = _rows(results_dir, f"{dataset}_epochs")
    if not longer:
        return pd.DataFrame()
    grid = load_runs(results_dir, dataset) if grid is None else grid
    rows = []
    order = list(MODEL_LABELS)
    for r in sorted(longer, key=lambda r: (order.index(r["model"]), r["sparsity"], r["seed"])):
        cell = (
            grid[
                (grid["model"] == r["model"])
                & (grid["seed"] == r["seed"])
                & ((grid["sparsity"] - r["sparsity"]).abs() < 1e-9)
            ]
            if not grid.empty
            else grid
        )
        runs = [(cell["record"].iloc[0], "grid")] if len(cell) else []
        for record, source in runs + [(r, "longer")]:
            row = {
                "model": MODEL_LABELS[r["model"]],
                "sparsity": f"{100 * r['sparsity']:g} %",
                "seed": r["seed"],
                "epochs": len(record["history"]) if source == "grid" else record["epochs"],
                "kept epoch": record["best_epoch"],
                "training images (eval mode)": 100 * record["train_eval_accuracy"],
                "validation": 100 * record["val_accuracy"],
                "test": 100 * record["test_accuracy"],
            }
            if dataset == "caltech101":
                row["test, mean per class"] = 100 * record["test_mean_class_accuracy"]
            rows.append(row)
    return pd.DataFrame(rows)


def depth_capacity(
    results_dir: str | os.PathLike[str] = "results", grid: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The depth runs of ``benchmarks/depth_fit.py`` (5 % density, seed 0, another width or
    epoch limit) beside the grid's seed-0 record of the same model (16 channels, 30
    epochs, uniform sampling): per model and setting, epochs run, the missing-pixel MAE
    (m) on training maps (eval mode), validation and test, and raw nearest neighbour's
    test MAE on the same masks."""
    fits = _rows(results_dir, "depth_fit")
    if not fits:
        return pd.DataFrame()
    grid = load_runs(results_dir, "depth") if grid is None else grid
    if not grid.empty:
        grid = grid[
            (grid["seed"] == 0)
            & ((grid["sparsity"] - DEPTH_DENSITIES[0]).abs() < 1e-9)
            & (pattern_of(grid) == "uniform")
        ]
    order = list(MODEL_LABELS)
    rows = []
    for model in sorted({r["model"] for r in fits}, key=order.index):
        cell = grid[grid["model"] == model] if not grid.empty else grid
        entries = (
            [
                (
                    cell["record"].iloc[0],
                    16,
                    cell["record"].iloc[0]["epochs"],
                    cell["record"].iloc[0]["nn_mae_missing_by_sparsity"][str(DEPTH_DENSITIES[0])],
                )
            ]
            if len(cell)
            else []
        )
        mine = sorted(
            (r for r in fits if r["model"] == model),
            key=lambda r: (r["candidate"].split("-")[1], r["epoch_limit"]),
        )
        for r in mine:
            channels = int(r["candidate"].split("-c")[1].split("-")[0])
            entries.append((r, channels, r["epoch_limit"], r["nn_mae_missing"]))
        for record, channels, limit, nearest in entries:
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "channels": channels,
                    "epoch limit": limit,
                    "epochs run": len(record["history"]),
                    "training maps": record["train_eval_mae_missing"],
                    "validation": record["val_mae_missing"],
                    "test": record["test_mae_missing"],
                    "nearest neighbour": nearest,
                }
            )
    return pd.DataFrame(rows)
