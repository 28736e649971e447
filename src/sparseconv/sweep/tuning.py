"""The learning-rate search: its records, the table the book shows, and the choice.

Every tuned model (``registry.models.tuned_models``) is trained at each rate of ``study.TUNING``
at one sparsity and seed; its record sits in ``results/<dataset>/tuning/``. The rate
with the best validation score (``study.SELECTION``: accuracy for classification, the
error on the missing pixels for depth, of the epoch the model kept) is chosen; the test
set plays no part. ``study.LEARNING_RATES`` holds the chosen rates, and a test checks
that it agrees with :func:`best_learning_rates` on the committed records.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.models import MODEL_LABELS, tuned_models
from sparseconv.registry.records import read_record, resolve_results_dir
from sparseconv.registry.study import (
    REPORTED_PROTOCOL,
    SEARCH,
    SELECTION,
    TUNING,
    search_rates,
)
from sparseconv.sweep.runs import search_folder, separate_search

__all__ = [
    "load_tuning",
    "best_learning_rates",
    "tuning_table",
    "search_table",
    "level_text",
    "at_grid_edge",
    "widening",
    "choice_under",
]

COLUMNS = ["model", "lr", "sparsity", "seed", "val", "train_eval", "final_loss", "best_epoch",
           "diverged", "val_nn", "epochs", "epochs_run", "train_minutes", "minutes",
           "device"]  # fmt: skip


def _minutes(record: dict[str, Any], *keys: str) -> float | None:
    """The sum of a record's ``keys`` (seconds) in minutes; None where the first is
    missing, a missing later one counting 0."""
    if record.get(keys[0]) is None:
        return None
    return sum(record.get(key) or 0.0 for key in keys) / 60.0


def load_tuning(
    results_dir: str | os.PathLike[str],
    dataset: str,
    key: str | None = None,
    protocol: int | None = None,
) -> pd.DataFrame:
    """One row per search record of ``protocol`` (default: the reported one; a new
    protocol's search sits in its own folder, :func:`~sparseconv.sweep.runs.search_folder`)
    (columns ``COLUMNS``): the validation score of the kept epoch (``study.SELECTION``, or
    the record field ``key`` measured the same way, e.g. ``val_mean_class_accuracy``), the
    selection score in eval mode on training images, the last epoch's training loss,
    whether the loss became non-finite, and raw nearest neighbour's error on the same
    validation inputs where the record has it (KITTI; else None), and what the run cost
    (its budget, epochs trained, minutes of training and of training + final
    evaluation, the device)."""
    val_key, train_key, _ = SELECTION[dataset]
    val_key = key or val_key
    protocol = REPORTED_PROTOCOL[dataset] if protocol is None else protocol
    folder = resolve_results_dir(results_dir) / dataset / search_folder(dataset, protocol)
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = read_record(path)
        if record.get("protocol", 1) != protocol or record.get("limit") is not None:
            continue
        rows.append(
            {
                "model": record["model"],
                "lr": record["lr"],
                "sparsity": record.get("sparsity"),
                "seed": record.get("seed"),
                "val": record[val_key],
                "train_eval": record[train_key],
                "final_loss": record["history"][-1]["loss"] if record["history"] else None,
                "best_epoch": record["best_epoch"],
                "diverged": "diverged_at_epoch" in record,
                # raw nearest neighbour on the run's validation inputs (KITTI records)
                "val_nn": record.get("val_nn_mae"),
                # what the run cost (None where a record lacks it): its budget, epochs
                # trained, minutes (training; training + final evaluation)
                "epochs": record.get("epochs"),
                "epochs_run": record.get("epochs_run", len(record["history"])),
                "train_minutes": _minutes(record, "train_seconds"),
                "minutes": _minutes(record, "train_seconds", "eval_seconds"),
                "device": record.get("device", "cpu"),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["model", "lr"], ignore_index=True)


def best_learning_rates(
    results_dir: str | os.PathLike[str],
    dataset: str,
    key: str | None = None,
    protocol: int | None = None,
) -> dict[str, float]:
    """Per tuned model with a complete search (every rate of ``study.TUNING``, or for a
    new protocol every rate, level and seed of ``study.SEARCH``): the rate with the best
    validation score (``study.SELECTION``, or the higher-is-better record field ``key``;
    the mean over the levels and seeds; ties: the smaller rate; a diverged run counts as
    worst)."""
    frame = load_tuning(results_dir, dataset, key, protocol)
    own = separate_search(dataset, REPORTED_PROTOCOL[dataset] if protocol is None else protocol)
    cells = 1
    if own:
        cells = len(SEARCH[dataset]["sparsities"]) * len(SEARCH[dataset]["seeds"])

    def rates(model: str) -> tuple[float, ...]:
        if own:
            return search_rates(dataset, model)
        return TUNING[dataset]["lrs"] if dataset in TUNING else ()

    chosen: dict[str, float] = {}
    if frame.empty:
        return chosen
    higher_better = SELECTION[dataset][2]
    worst = -float("inf") if higher_better else float("inf")
    frame = frame.assign(val=frame["val"].where(~frame["diverged"], worst).fillna(worst))
    grouped = frame.groupby(["model", "lr"])["val"]
    means = grouped.mean().reset_index().assign(n=grouped.count().to_numpy())
    for model in tuned_models(dataset):
        mine = means[means["model"] == model]
        done = set(mine.loc[mine["n"] >= cells, "lr"])
        if not set(rates(model)) <= done:
            continue
        best = mine.sort_values(["val", "lr"], ascending=[not higher_better, True]).iloc[0]
        chosen[model] = float(best["lr"])
    return chosen


def at_grid_edge(
    results_dir: str | os.PathLike[str], dataset: str, protocol: int | None = None
) -> list[str]:
    """The models whose chosen rate is the smallest or largest rate tried (the search
    should then be widened)."""
    rates = load_tuning(results_dir, dataset, protocol=protocol)
    edges = []
    for model, lr in best_learning_rates(results_dir, dataset, protocol=protocol).items():
        tried = rates.loc[rates["model"] == model, "lr"]
        if lr in (tried.min(), tried.max()):
            edges.append(model)
    return edges


def widening(
    results_dir: str | os.PathLike[str], dataset: str, protocol: int | None = None
) -> dict[str, float]:
    """For a search of its own (``study.SEARCH``): per model whose chosen rate is the
    smallest or largest of its rates (``study.search_rates``), the rate to add beyond it,
    continuing its sequence (the second largest times the ratio of two steps, so that a
    1-3-10 grid goes on with 30 and a doubling one doubles). Empty when every choice
    lies inside the rates tried."""
    protocol = REPORTED_PROTOCOL[dataset] if protocol is None else protocol
    if not separate_search(dataset, protocol):
        return {}
    out: dict[str, float] = {}
    for model, lr in best_learning_rates(results_dir, dataset, protocol=protocol).items():
        rates = list(search_rates(dataset, model))
        if len(rates) >= 3:
            up, down = rates[-2] * rates[-1] / rates[-3], rates[1] * rates[0] / rates[2]
        else:  # one step (or none): go on with its ratio (or double)
            ratio = rates[-1] / rates[0] if len(rates) == 2 else 2.0
            up, down = rates[-1] * ratio, rates[0] / ratio
        if lr == rates[-1]:
            out[model] = float(f"{up:.3g}")
        elif lr == rates[0]:
            out[model] = float(f"{down:.3g}")
    return out


def tuning_table(
    results_dir: str | os.PathLike[str], dataset: str, key: str | None = None
) -> pd.DataFrame:
    """Validation score per model (rows) and learning rate (columns): accuracy (%) for
    classification, MAE on the missing pixels (m) for depth; with ``key``, that record
    field instead (a classification score, in %). The chosen rate of each model (always
    chosen on ``study.SELECTION``) is marked with an asterisk, a diverged run reads
    'diverged'."""
    frame = load_tuning(results_dir, dataset, key)
    if frame.empty:
        return pd.DataFrame()
    chosen = best_learning_rates(results_dir, dataset)
    cells: dict[str, dict[str, str]] = {}
    for _, row in frame.iterrows():
        metres = DATASETS[dataset].task != "classification"
        value = f"{row['val']:.3f}" if metres else f"{100 * row['val']:.2f}"
        text = "diverged" if row["diverged"] else value
        if chosen.get(row["model"]) == row["lr"]:
            text += " *"
        cells.setdefault(row["model"], {})[f"{row['lr']:g}"] = text
    table = pd.DataFrame(cells).T
    table = table[sorted(table.columns, key=float)].fillna("–")
    return table.loc[[m for m in tuned_models(dataset) if m in table.index]]


def level_text(dataset: str, sparsity: float) -> str:
    """A training level as the data set's pages name it: '10 % sparsity' (classification),
    '5 % density' (synthetic depth), '10 % kept' (KITTI: the share of the returns)."""
    if dataset == "kitti":
        return f"{100 * (1 - sparsity):g} % kept"
    if DATASETS[dataset].task == "classification":
        return f"{100 * sparsity:g} % sparsity"
    return f"{100 * (1 - sparsity):g} % density"


def search_table(
    results_dir: str | os.PathLike[str], dataset: str, protocol: int | None = None
) -> pd.DataFrame:
    """A search over several levels (``study.SEARCH``) as the book shows it: per model,
    one row per training level (the validation score, mean over the search's seeds) and
    a row "mean", the mean over levels and seeds that the choice is made on; columns
    "model", "trained at" and one per learning rate. Accuracy in %, MAE in m; '–' where
    no run has finished, 'diverged' where one did, ``(n/m)`` on a mean of fewer runs than
    the search holds, and * on the chosen rate's mean."""
    frame = load_tuning(results_dir, dataset, protocol=protocol)
    if frame.empty:
        return pd.DataFrame()
    chosen = best_learning_rates(results_dir, dataset, protocol=protocol)
    spec = SEARCH[dataset]
    cells = len(spec["sparsities"]) * len(spec["seeds"])
    metres = DATASETS[dataset].task != "classification"
    rates = sorted(set(spec["lrs"]) | set(frame["lr"]))

    def text(rows: pd.DataFrame, full: int) -> str:
        if rows.empty:
            return "–"
        if rows["diverged"].any():
            return "diverged"
        mean = float(rows["val"].mean())
        value = f"{mean:.3f}" if metres else f"{100 * mean:.2f}"
        return value if len(rows) >= full else f"{value} ({len(rows)}/{full})"

    table = []
    for model in [m for m in tuned_models(dataset) if m in set(frame["model"])]:
        mine = frame[frame["model"] == model]
        for level in spec["sparsities"]:
            at = mine[mine["sparsity"] == level]
            row = {"model": MODEL_LABELS[model], "trained at": level_text(dataset, level)}
            for lr in rates:
                row[f"{lr:g}"] = text(at[at["lr"] == lr], len(spec["seeds"]))
            table.append(row)
        row = {"model": MODEL_LABELS[model], "trained at": "mean"}
        for lr in rates:
            row[f"{lr:g}"] = text(mine[mine["lr"] == lr], cells)
            if chosen.get(model) == lr:
                row[f"{lr:g}"] += " *"
        table.append(row)
    return pd.DataFrame(table)


def choice_under(results_dir: str | os.PathLike[str], dataset: str, key: str, words: str) -> str:
    """One sentence: whether choosing each model's rate on the validation field ``key``
    (named ``words`` in the sentence) instead of ``study.SELECTION`` changes the choice."""
    usual = best_learning_rates(results_dir, dataset)
    other = best_learning_rates(results_dir, dataset, key)
    if not usual or set(usual) != set(other):
        return f"Not every search is complete, so the choice on {words} is not compared yet."
    changed = [f"{MODEL_LABELS[m]} ({other[m]:g} instead of {usual[m]:g})"
               for m in usual if other[m] != usual[m]]  # fmt: skip
    if not changed:
        return f"Chosen on {words} instead, every model's rate would be the same."
    return f"Chosen on {words} instead, the rate would change for " + ", ".join(changed) + "."
