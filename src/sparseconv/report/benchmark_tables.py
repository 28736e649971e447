"""Tables the book reads from the measurements in ``results/benchmarks/`` that check how
well the networks are trained (architecture and training length), as data frames."""

from __future__ import annotations

import json
import os

import pandas as pd

from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.records import resolve_results_dir
from sparseconv.report.analysis import load_runs
from sparseconv.report.depth_tables import pattern_of

__all__ = [
    "architecture_candidates",
    "depth_capacity",
    "depth_capacity_text",
    "longer_training",
    "longer_training_text",
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


def _verb(value: float) -> str:
    return "leads" if value >= 0 else "trails"


def longer_training_text(table: pd.DataFrame, column: str = "test") -> str:
    """One reading of :func:`longer_training` (the numbers are in its table): how much
    the models gain from the longer run (points of ``column``: "test" or "test, mean per
    class"; means over seeds), and how the paper's layer's gap to the ConvNet changes at
    each level where both were trained longer."""
    if table.empty:
        return "benchmarks/epochs.py has not been run for this data set."
    test = table.pivot_table(index=["sparsity", "model"], columns="epochs", values=column)
    if test.shape[1] < 2:
        return "The grid's records of the cells trained longer are missing."
    short, long = test.columns.min(), test.columns.max()
    seeds = sorted({int(x) for x in table["seed"]})
    change = (test[long] - test[short]).dropna()
    listed = f"{', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"means over seeds {listed}"
    low, high = change.idxmin()[1], change.idxmax()[1]
    verb = "gains" if (change > 0).all() else "changes"
    text = (
        f"Trained for {long} instead of {short} epochs ({which}), every model {verb}: "
        f"from {change.min():+.2f} points ({low}) to {change.max():+.2f} ({high})"
    )
    sparse, dense = MODEL_LABELS["sparse"], MODEL_LABELS["dense"]
    for level in test.index.get_level_values(0).unique():
        cell = test.loc[level]
        if {sparse, dense} <= set(cell.index):
            lead = (cell.loc[sparse] - cell.loc[dense]).dropna()
            if len(lead) < 2:
                continue
            same = _verb(lead[short]) == _verb(lead[long])
            then = "by" if same else f"{_verb(lead[long])} it by"
            text += (
                f"; at {level} the paper's layer {_verb(lead[short])} the ConvNet by "
                f"{abs(lead[short]):.2f} points after {short} epochs and {then} "
                f"{abs(lead[long]):.2f} after {long}"
            )
    return text + "."


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
            & ((grid["sparsity"] - 0.95).abs() < 1e-9)
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
                    cell["record"].iloc[0]["nn_mae_missing_by_sparsity"]["0.95"],
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


def depth_capacity_text(table: pd.DataFrame) -> str:
    """One reading of :func:`depth_capacity` (the numbers are in its table): the largest
    gain any model takes from more width or epochs, and which models stay above raw
    nearest neighbour's test error even at their best setting."""
    if table.empty:
        return "benchmarks/depth_fit.py has not been run."
    nearest = float(table["nearest neighbour"].iloc[0])
    best = table.groupby("model", sort=False)["test"].min()
    first = table.groupby("model", sort=False)["test"].first()
    gain = (first - best).sort_values(ascending=False)
    above = [m for m, v in best.items() if v > nearest]
    text = (
        f"More width or epochs lower a model's test MAE by at most {gain.iloc[0]:.2f} m "
        f"({gain.index[0]})"
    )
    if above:
        names = " and ".join(above) if len(above) <= 2 else ", ".join(above)
        return text + (
            f"; even at its best setting, {names} stays above raw nearest "
            f"neighbour's {nearest:.2f} m."
        )
    return text + f"; at their best, every model is below raw nearest neighbour ({nearest:.2f} m)."
