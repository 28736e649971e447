"""Run records as pandas tables: loading, seed averages, the train x test matrix.

The book and the README's summary read results/ only through this module.

    python -m sparseconv.report   # results/<dataset>/summary.csv, results/summary.md
"""

from __future__ import annotations

import os

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.records import iter_records, resolve_results_dir
from sparseconv.registry.study import REPORTED_PROTOCOL
from sparseconv.sweep.runs import grid

__all__ = [
    "study_names",
    "load_runs",
    "seed_summary",
    "cross_matrix",
    "cross_summary",
    "load_references",
    "comparison_table",
    "accuracy_table",
    "run_times",
    "load_study",
    "reference_gap",
]

RUN_COLUMNS = [
    "dataset",
    "model",
    "sparsity",
    "seed",
    "epochs",
    "lr",
    "batch_size",
    "limit",
    "test_accuracy",
    "test_mean_class_accuracy",
    "train_seconds",
    "eval_seconds",
    "n_parameters",
    "device",
    "threads",
    "executor",
    "git_commit",
    "started_at",
]


def study_names(dataset: str) -> set[str]:
    """The run names of ``dataset``'s study grid under the reported protocol."""
    return {run.name for run in grid(dataset, protocol=REPORTED_PROTOCOL[dataset])}


def load_runs(
    results_dir: str | os.PathLike[str] = "results",
    dataset: str | None = None,
    study_only: bool = True,
) -> pd.DataFrame:
    """One row per record (columns RUN_COLUMNS and ``record``), sorted.

    ``study_only``: only the study's records: a cell of the data set's grid under the
    reported protocol (``study.REPORTED_PROTOCOL``, ``study.GRIDS``, the chosen learning rates),
    with its executed notebook beside it. A run made by hand (another seed, sparsity,
    rate or a quick ``limit`` run), an older protocol's record, or a record without
    its notebook is left out. Missing folders give an empty frame.
    """
    rows = []
    names: dict[str, set[str]] = {}
    for path, record in iter_records(results_dir, None if dataset is None else [dataset]):
        ds = record["dataset"]
        if study_only:
            if record.get("protocol", 1) != REPORTED_PROTOCOL.get(ds):
                continue
            if ds not in names:
                names[ds] = study_names(ds)
            if path.stem not in names[ds] or not path.with_suffix(".ipynb").is_file():
                continue
        row = {c: record.get(c) for c in RUN_COLUMNS}
        row["record"] = record
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "record"])
    return frame.sort_values(["dataset", "model", "sparsity", "seed"], ignore_index=True)


def seed_summary(runs: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Mean, standard deviation (ddof 1) and count over seeds per (model, sparsity)."""
    if runs.empty:
        return pd.DataFrame(columns=["model", "sparsity", "mean", "std", "n"])
    grouped = runs.groupby(["model", "sparsity"])[metric]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return out


def cross_matrix(runs: pd.DataFrame, key: str = "test_accuracy_by_sparsity") -> pd.DataFrame:
    """Long table: model, seed, train_sparsity, test_sparsity, value (from each record)."""
    rows = []
    for _, run in runs.iterrows():
        for level, value in run["record"].get(key, {}).items():
            rows.append(
                {
                    "model": run["model"],
                    "seed": run["seed"],
                    "train_sparsity": run["sparsity"],
                    "test_sparsity": float(level),
                    "value": value,
                }
            )
    return pd.DataFrame(rows, columns=["model", "seed", "train_sparsity", "test_sparsity", "value"])


def cross_summary(
    runs: pd.DataFrame, model: str, key: str = "test_accuracy_by_sparsity"
) -> pd.DataFrame:
    """Seed-mean matrix for ``model``: rows train sparsity, columns test sparsity."""
    long = cross_matrix(runs[runs["model"] == model], key)
    if long.empty:
        return pd.DataFrame()
    return long.pivot_table(
        index="train_sparsity", columns="test_sparsity", values="value", aggfunc="mean"
    )


def accuracy_table(runs: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Rows: models; columns: training sparsity (%); cells 'mean ± sd (n)' of ``metric``
    in % (``test_accuracy`` or ``test_mean_class_accuracy``)."""
    summary = seed_summary(runs, metric)
    if summary.empty:
        return pd.DataFrame()
    cells = {}
    for _, row in summary.iterrows():
        text = f"{100 * row['mean']:.2f}"
        if row["n"] > 1:
            text += f" ± {100 * row['std']:.2f}"
        text += f" ({int(row['n'])})"
        cells.setdefault(MODEL_LABELS.get(row["model"], row["model"]), {})[
            f"{100 * row['sparsity']:g} %"
        ] = text
    table = pd.DataFrame(cells).T.fillna("–")
    table = table[sorted(table.columns, key=lambda c: float(c.rstrip(" %")))]
    table.index.name = "model"
    return table.reset_index()


def with_device(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with a ``device`` column: the record's device, "cpu" where it names none."""
    device = runs["device"] if "device" in runs else pd.Series("cpu", index=runs.index)
    return runs.assign(device=device.fillna("cpu"))


def timed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``minutes`` (training + final evaluation) and ``device``
    (:func:`with_device`)."""
    minutes = (runs["train_seconds"] + runs["eval_seconds"].fillna(0.0)) / 60.0
    return with_device(runs).assign(minutes=minutes)


def run_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time of the finished runs per (dataset, model, device, layout): count, median
    and maximum of training + final evaluation, in minutes of one process (its
    ``threads`` column says how many CPU threads it had; ``device`` is "cpu" or the GPU's
    name). ``layout`` is the record's memory format (records without one were computed
    channels-first)."""
    columns = ["dataset", "model", "device", "layout", "runs", "threads", "median_min", "max_min"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    layout = runs["record"].map(lambda r: r.get("memory_format", "channels_first"))
    frame = timed_runs(runs).assign(layout=layout)
    table = frame.groupby(["dataset", "model", "device", "layout"], sort=True).agg(
        runs=("minutes", "size"),
        threads=("threads", "max"),
        median_min=("minutes", "median"),
        max_min=("minutes", "max"),
    )
    return table.reset_index()[columns]


def load_study(results_dir: str | os.PathLike[str] = "results") -> dict[str, pd.DataFrame]:
    """Every data set's study records (:func:`load_runs`), read once for a page."""
    return {dataset: load_runs(results_dir, dataset) for dataset in DATASET_NAMES}


def load_references(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """The earlier reproductions' accuracies (%), ``results/reference/reproductions.csv``."""
    path = resolve_results_dir(results_dir) / "reference" / "reproductions.csv"
    return pd.read_csv(path)


def reference_gap(references: pd.DataFrame, source: str, dataset: str) -> pd.Series:
    """A reference report's sparse minus ConvNet accuracy (points) per sparsity (float
    index, ascending); empty where the report lacks either model for ``dataset``."""
    chosen = references[(references["source"] == source) & (references["dataset"] == dataset)]
    table = chosen.pivot_table(index="sparsity", columns="model", values="accuracy")
    if not {"sparse", "dense"} <= set(table.columns):
        return pd.Series(dtype=float)
    return (table["sparse"] - table["dense"]).dropna().sort_index()


def comparison_table(runs: pd.DataFrame, references: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Ours (mean over seeds) beside each reference, per (model, sparsity), in %.

    Columns: model, sparsity (%), ours, n seeds, group66, ours - group66, group75,
    ours - group75; a missing value is NaN (a run not finished, or not reported).
    """
    ours = seed_summary(runs)
    refs = references[references["dataset"] == dataset]
    keys = sorted(
        {(m, round(s, 4)) for m, s in zip(refs["model"], refs["sparsity"], strict=True)}
        | {
            (m, round(s, 4))
            for m, s in zip(ours["model"], ours["sparsity"], strict=True)
            if m in ("sparse", "dense")
        }
    )
    rows = []
    for model, sparsity in keys:
        row: dict[str, object] = {
            "model": MODEL_LABELS[model],
            "sparsity (%)": round(100 * sparsity),
        }
        mine = ours[(ours["model"] == model) & (ours["sparsity"].round(4) == sparsity)]
        value = 100 * mine["mean"].iloc[0] if not mine.empty else float("nan")
        row["ours"] = value
        row["n seeds"] = int(mine["n"].iloc[0]) if not mine.empty else 0
        for source in ("group66", "group75"):
            ref = refs[
                (refs["source"] == source)
                & (refs["model"] == model)
                & (refs["sparsity"].round(4) == sparsity)
            ]
            ref_value = ref["accuracy"].iloc[0] if not ref.empty else float("nan")
            row[source] = ref_value
            row[f"ours - {source}"] = value - ref_value
        rows.append(row)
    return pd.DataFrame(rows)
