"""Run records as pandas tables: loading, seed averages, the train x test matrix.

The book and the README's summary read results/ only through this module.

    python -m sparseconv.analysis   # results/<dataset>/summary.csv, results/summary.md
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from .records import atomic_write_text, iter_records, resolve_results_dir
from .study import DATASET_NAMES, MODEL_LABELS, PROTOCOL

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = [
    "note_table",
    "MODEL_LABELS",
    "load_runs",
    "seed_summary",
    "cross_matrix",
    "cross_summary",
    "write_summaries",
    "load_references",
    "comparison_table",
    "accuracy_table",
    "paired_difference",
    "invariance_drop",
    "run_times",
    "t_interval",
    "depth_mismatch",
    "depth_verdicts",
    "invariance_verdict",
    "depth_table",
    "kernel_flatness",
    "invariance_comparisons",
    "outcome",
    "claim_outcomes",
    "grid_progress",
    "reference_gap",
    "depth_curve",
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


def note_table(text: str) -> Styler:
    """A one-cell table that says why a table is empty (for the book's glued tables)."""
    return pd.DataFrame({"note": [text]}).style.hide(axis="index")


def study_names(dataset: str) -> set[str]:
    """The run names of ``dataset``'s study grid under the current protocol."""
    from .sweep import grid

    return {run.name for run in grid(dataset)}


def load_runs(
    results_dir: str | os.PathLike[str] = "results",
    dataset: str | None = None,
    study_only: bool = True,
) -> pd.DataFrame:
    """One row per record (columns RUN_COLUMNS and ``record``), sorted.

    ``study_only``: only the study's records: a cell of the data set's grid under the
    current protocol (``study.PROTOCOL``, ``study.GRIDS``, the chosen learning rates),
    with its executed notebook beside it. A run made by hand (another seed, sparsity,
    rate or a quick ``limit`` run), an older protocol's record, or a record without
    its notebook is left out. Missing folders give an empty frame.
    """
    rows = []
    names: dict[str, set[str]] = {}
    for path, record in iter_records(results_dir, None if dataset is None else [dataset]):
        ds = record["dataset"]
        if study_only:
            if record.get("protocol", 1) != PROTOCOL.get(ds):
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


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows: models; columns: training sparsity (%); cells 'mean ± sd (n)' in % accuracy."""
    summary = seed_summary(runs)
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


def run_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time of the finished runs per (dataset, model, layout): count, median and
    maximum of training + final evaluation, in minutes of one process (its ``threads``
    column says how many CPU threads it had). ``layout`` is the record's memory format
    (records without one were computed channels-first)."""
    columns = ["dataset", "model", "layout", "runs", "threads", "median_min", "max_min"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    minutes = (runs["train_seconds"] + runs["eval_seconds"].fillna(0.0)) / 60.0
    layout = runs["record"].map(lambda r: r.get("memory_format", "channels_first"))
    frame = runs.assign(minutes=minutes, layout=layout)
    table = frame.groupby(["dataset", "model", "layout"], sort=True).agg(
        runs=("minutes", "size"),
        threads=("threads", "max"),
        median_min=("minutes", "median"),
        max_min=("minutes", "max"),
    )
    return table.reset_index()[columns]


DEPTH_DIRECTIONS = {"5 % -> 50 %": (0.95, 0.5), "50 % -> 5 %": (0.5, 0.95)}


def depth_mismatch(runs: pd.DataFrame) -> pd.DataFrame:
    """The cost of a density the depth model was not trained at, per model and seed.

    For a model trained at density a and tested at density b ("a -> b" in
    ``DEPTH_DIRECTIONS``): its test MAE at b divided by the MAE of the same model type
    and seed trained at b. 1 means no cost: the sparsity invariance the paper claims.
    Uniform sampling only. Columns: model, seed, direction, ratio.
    """
    rows = []
    if runs.empty:
        return pd.DataFrame(rows, columns=["model", "seed", "direction", "ratio"])
    uniform = runs[runs["record"].map(lambda r: r.get("pattern", "uniform")) == "uniform"]
    mae = {
        (run["model"], run["seed"], round(run["sparsity"], 6)): run["record"][
            "test_mae_by_sparsity"
        ]
        for _, run in uniform.iterrows()
    }
    for (model, seed, trained), by in sorted(mae.items()):
        for direction, (source, target) in DEPTH_DIRECTIONS.items():
            own = mae.get((model, seed, round(target, 6)))
            if trained != round(source, 6) or own is None:
                continue
            ratio = by[f"{target:g}"] / own[f"{target:g}"]
            rows.append({"model": model, "seed": seed, "direction": direction, "ratio": ratio})
    return pd.DataFrame(rows, columns=["model", "seed", "direction", "ratio"])


def invariance_verdict(n: int, low: float, high: float, too_few: str) -> str:
    """The verdict on a paired difference (sparse model minus baseline, lower = more
    invariant) from its 95 % interval [low, high] over ``n`` pairs; ``too_few`` below 2."""
    if n < 2:
        return too_few
    if high < 0:
        return "sparse more invariant"
    if low > 0:
        return "sparse less invariant"
    return "no significant difference"


def depth_verdicts(runs: pd.DataFrame) -> pd.DataFrame:
    """Each sparse model against each baseline on ``depth_mismatch``, paired by seed.

    Per direction, sparse model (``sparse``, and ``sparse_partial`` where it has runs) and
    baseline (``dense``, ``dense_mask``): pairs, the mean ratio of each, and the 95 %
    t-interval of the mean of log(ratio_sparse) - log(ratio_other), shown as a factor
    (below 1: the sparse model pays less for the unseen density). Columns: direction,
    model, compared with, pairs, sparse ratio, other ratio, factor, low, high, verdict.
    """
    import math

    columns = ["direction", "model", "compared with", "pairs", "sparse ratio", "other ratio",
               "factor", "low", "high", "verdict"]  # fmt: skip
    ratios = depth_mismatch(runs)
    rows = []
    if ratios.empty:
        return pd.DataFrame(rows, columns=columns)
    wide = ratios.pivot_table(index=["direction", "seed"], columns="model", values="ratio")
    for direction in DEPTH_DIRECTIONS:
        if direction not in wide.index.get_level_values(0):
            continue
        sub = wide.loc[direction]
        for model in ("sparse", "sparse_partial"):
            for other in ("dense", "dense_mask"):
                if model not in sub or other not in sub:
                    continue
                pairs = sub[[model, other]].dropna()
                if pairs.empty:
                    continue
                logs = (pairs[model].map(math.log) - pairs[other].map(math.log)).tolist()
                n, mean, low, high = t_interval(logs)
                verdict = invariance_verdict(n, low, high, "one seed: not judged")
                rows.append({
                    "direction": direction, "model": model, "compared with": other,
                    "pairs": n, "sparse ratio": float(pairs[model].mean()),
                    "other ratio": float(pairs[other].mean()),
                    "factor": math.exp(mean), "low": math.exp(low), "high": math.exp(high),
                    "verdict": verdict,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def depth_curve(
    runs: pd.DataFrame, model: str, trained: float, pattern: str = "uniform"
) -> pd.Series:
    """Mean test MAE (m) over seeds of ``model`` trained at sparsity ``trained``, indexed
    by the test sparsity (float, ascending); empty when no such run has finished."""
    if runs.empty:
        return pd.Series(dtype=float)
    chosen = runs[
        (runs["model"] == model)
        & ((runs["sparsity"] - trained).abs() < 1e-9)
        & (runs["record"].map(lambda r: r.get("pattern", "uniform")) == pattern)
    ]
    if chosen.empty:
        return pd.Series(dtype=float)
    table = pd.DataFrame([r["test_mae_by_sparsity"] for r in chosen["record"]])
    curve = table.mean()
    curve.index = [float(c) for c in curve.index]
    return curve.sort_index()


def kernel_flatness(kernels: Sequence[Sequence[Sequence[float]]]) -> float:
    """The share of a layer's weight energy in the flat (constant) part of its kernels.

    kernels: (C_out, k, k). Returns sum_c k^2 mean(w_c)^2 / sum_c sum w_c^2, in [0, 1]:
    1 when every kernel is constant (a weighted box filter, whose output on a locally
    constant input does not depend on which pixels are valid), 0 when every kernel sums
    to zero; independent random weights give about 1 / k^2.
    """
    import numpy as np

    w = np.asarray(kernels, dtype=float)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"kernels must have shape (C_out, k, k), got {w.shape}")
    energy = float((w**2).sum())
    if energy == 0.0:
        raise ValueError("kernels are all zero: flatness is undefined")
    k2 = w.shape[1] * w.shape[2]
    return float((k2 * w.mean(axis=(1, 2)) ** 2).sum() / energy)


def depth_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Depth test MAE (m) per model and sampling pattern, trained at one density and
    tested at both grid densities; cells 'mean ± sd (n)' over seeds, '–' where no run.

    Columns: model, pattern, then "a % → b %" for training density a and test density b;
    nearest-neighbour interpolation (no training: one row per pattern) comes last.
    """
    if runs.empty:
        return pd.DataFrame()
    levels = sorted({t for pair in DEPTH_DIRECTIONS.values() for t in pair}, reverse=True)
    pairs = [(a, b) for a in levels for b in levels]

    def label(a: float, b: float) -> str:
        return f"{100 * (1 - a):g} % → {100 * (1 - b):g} %"

    def cell(values: list[float]) -> str:
        if not values:
            return "–"
        mean = sum(values) / len(values)
        text = f"{mean:.2f}"
        if len(values) > 1:
            text += f" ± {pd.Series(values).std():.2f}"
        return text + f" ({len(values)})"

    pattern = runs["record"].map(lambda r: r.get("pattern", "uniform"))
    frame = runs.assign(pattern=pattern)
    rows = []
    for (model, pat), group in frame.groupby(["model", "pattern"], sort=True):
        row = {"model": MODEL_LABELS.get(model, model), "pattern": pat}
        for a, b in pairs:
            trained = group[(group["sparsity"] - a).abs() < 1e-9]
            row[label(a, b)] = cell(
                [r["test_mae_by_sparsity"][f"{b:g}"] for r in trained["record"]]
            )
        rows.append(row)
    for pat, group in frame.groupby("pattern", sort=True):
        record = group["record"].iloc[0]
        row = {"model": "nearest neighbour", "pattern": pat}
        for a, b in pairs:
            row[label(a, b)] = f"{record['nearest_mae_by_sparsity'][f'{b:g}']:.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def invariance_comparisons(runs: pd.DataFrame, direction: str = "both") -> pd.DataFrame:
    """Claim 3 for one classification data set: each sparse model's ``invariance_drop``
    (over the test levels of ``direction``) against each baseline's (and the two sparse
    models against each other), paired by (training sparsity, seed), with the 95 %
    t-interval of the mean difference in points.

    Columns: model, compared with, pairs, difference, low, high, verdict ("sparse more
    invariant" when the interval lies below 0, "sparse less invariant" above, "no
    significant difference", or "one pair: not judged").
    """
    columns = ["model", "compared with", "pairs", "difference", "low", "high", "verdict"]
    drops = invariance_drop(runs, direction=direction) if not runs.empty else pd.DataFrame()
    rows = []
    if drops.empty:
        return pd.DataFrame(rows, columns=columns)
    wide = drops.pivot_table(index=["sparsity", "seed"], columns="model", values="drop")
    pairs = (("sparse", "dense"), ("sparse", "dense_mask"), ("sparse_partial", "dense"),
             ("sparse_partial", "dense_mask"), ("sparse", "sparse_partial"))  # fmt: skip
    for model, other in pairs:
        if model not in wide or other not in wide:
            continue
        n, mean, low, high = t_interval((wide[model] - wide[other]).dropna().tolist())
        verdict = invariance_verdict(n, low, high, "one pair: not judged")
        rows.append({"model": model, "compared with": other, "pairs": n, "difference": mean,
                     "low": low, "high": high, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def outcome(better: int, worse: int, judged: int, better_word: str, worse_word: str,
            unit: str) -> str:  # fmt: skip
    """One claim's outcome in words, from the counts of significant results for and
    against it among ``judged`` comparisons (levels, baselines)."""
    if judged == 0:
        return "not yet judged (fewer than two seeds)"
    rest = judged - better - worse
    tail = f" of {judged} {unit}" + (f" (no significant difference in {rest})" if rest else "")
    if better and not worse:
        verdict = "supported" if better == judged else "partly supported"
        return f"{verdict}: {better_word} in {better}" + tail
    if worse and not better:
        return f"not reproduced, the opposite holds: {worse_word} in {worse}" + tail
    if not better and not worse:
        return f"not reproduced: no significant difference in any of {judged} {unit}"
    return f"mixed: {better_word} in {better}, {worse_word} in {worse}" + tail


def grid_progress(dataset: str, results_dir: str | os.PathLike[str] = "results") -> str:
    """One sentence for a book page: how much of ``dataset``'s study grid has finished
    (record and executed notebook in ``results_dir``) and what a missing run looks like."""
    from .sweep import grid, pending

    expected = grid(dataset, results_dir=str(results_dir))
    left = len(pending(expected))
    name = DATASET_NAMES[dataset]
    if left == 0:
        return f"All {len(expected)} runs of the {name} grid have finished."
    return (
        f"{len(expected) - left} of the {len(expected)} runs of the {name} grid have "
        f"finished; {left} are still to come (rerunning python -m sparseconv.sweep "
        f"{dataset} resumes where it stopped). Missing runs appear as gaps in the figures "
        'and as "–" in the tables.'
    )


def _verdicts_outcome(verdicts: pd.Series, better_word: str, worse_word: str) -> str:
    """``outcome`` over a column of judged invariance verdicts, one per baseline."""
    return outcome(int((verdicts == "sparse more invariant").sum()),
                   int((verdicts == "sparse less invariant").sum()),
                   len(verdicts), better_word, worse_word, "baselines")  # fmt: skip


def claim_outcomes(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """Every claim the study tests with its outcome in words (columns: claim, outcome).

    1-2: sparse vs ConvNet accuracy per sparsity level (``paired_difference``);
    3: sparsity invariance on classification (``invariance_comparisons``, the two
    ConvNets as baselines); 4: depth completion by direction (``depth_verdicts``).
    """
    rows = []
    for number, dataset in (("1", "mnist"), ("2", "caltech101")):
        diff = paired_difference(load_runs(results_dir, dataset), "sparse", "dense")
        judged = diff[diff["n"] >= 2]
        rows.append({
            "claim": f"{number}. the sparse network beats the ConvNet on "
                     f"{DATASET_NAMES[dataset]} (group 66)",
            "outcome": outcome(int((judged["low"] > 0).sum()), int((judged["high"] < 0).sum()),
                               len(judged), "better", "worse", "sparsity levels"),
        })  # fmt: skip
    labels = {"sparse": "the paper's layer", "sparse_partial": "partial normalisation"}
    for dataset in ("mnist", "caltech101"):
        runs = load_runs(results_dir, dataset)
        tables = {d: invariance_comparisons(runs, d) for d in ("both", "denser")}
        for model, label in labels.items():
            words = []
            for table in tables.values():
                mine = table[(table["model"] == model)
                             & (table["compared with"] != "sparse_partial")
                             & (table["pairs"] >= 2)]  # fmt: skip
                words.append(_verdicts_outcome(mine["verdict"], "more invariant",
                                               "less invariant"))  # fmt: skip
            rows.append({
                "claim": "3. the sparse network is more sparsity invariant than the ConvNets, "
                         f"{DATASET_NAMES[dataset]} ({label})",
                "outcome": f"all other test levels: {words[0]}. Denser test inputs only (the "
                           f"paper's direction): {words[1]}",
            })  # fmt: skip
    depth = depth_verdicts(load_runs(results_dir, "depth"))
    for direction in DEPTH_DIRECTIONS:
        trained, tested = (part.strip().replace(" %", "\u00a0%") for part in direction.split("->"))
        for model, label in labels.items():
            mine = depth[(depth["model"] == model) & (depth["direction"] == direction)
                         & (depth["pairs"] >= 2)]  # fmt: skip
            rows.append({
                "claim": f"4. depth completion, trained at {trained}, tested at {tested} "
                         "density: the unseen density costs the sparse network less than "
                         f"the ConvNets ({label})",
                "outcome": _verdicts_outcome(mine["verdict"], "less", "more"),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=["claim", "outcome"])


def write_summaries(
    results_dir: str | os.PathLike[str] = "results",
    datasets: Sequence[str] = ("mnist", "caltech101"),
) -> str:
    """Write ``<dataset>/summary.csv`` and ``summary.md`` in ``results_dir``; return the text."""
    root = resolve_results_dir(results_dir)
    parts = [
        "# Summary of the finished runs",
        "",
        "Generated by `python -m sparseconv.analysis` from the run records; test accuracy "
        "in % at the training sparsity, mean ± standard deviation over seeds (number of "
        "seeds).",
        "",
    ]
    claims = claim_outcomes(root)
    parts += [
        "## Claims",
        "",
        "Each claim the study tests, with its outcome counted from the paired tests "
        "(95 % t-intervals over seeds; the book's conclusions page has the tables).",
        "",
        _markdown_table(claims),
        "",
    ]
    for dataset in datasets:
        runs = load_runs(root, dataset)
        summary = seed_summary(runs)
        if (root / dataset).is_dir():
            atomic_write_text(root / dataset / "summary.csv", summary.to_csv(index=False))
        parts.append(f"## {dataset}")
        parts.append("")
        table = accuracy_table(runs)
        parts.append(_markdown_table(table) if not table.empty else "No finished runs yet.")
        parts.append("")
    depth = depth_table(load_runs(root, "depth"))
    parts += [
        "## depth",
        "",
        "Test MAE in metres of the depth models trained at one density (% of pixels kept) "
        'and tested at another ("5 % → 50 %": trained at 5 %, tested at 50 %), mean ± '
        "standard deviation over seeds (number of seeds); nearest-neighbour interpolation "
        "needs no training.",
        "",
        _markdown_table(depth) if not depth.empty else "No finished runs yet.",
        "",
    ]
    times = run_times(load_runs(root))
    parts += [
        "## Run times",
        "",
        "Training plus final evaluation, minutes of one process (median and maximum over "
        "the finished runs); the sweep runs two one-thread processes at once on a 2-core "
        "machine, so the grid advances one run per half the median.",
        "",
    ]
    if times.empty:
        parts.append("No finished runs yet.")
    else:
        shown = times.assign(
            median_min=times["median_min"].map("{:.1f}".format),
            max_min=times["max_min"].map("{:.1f}".format),
        ).rename(columns={"median_min": "median (min)", "max_min": "max (min)"})
        parts.append(_markdown_table(shown))
    parts.append("")
    text = "\n".join(parts)
    atomic_write_text(root / "summary.md", text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sparseconv.analysis", description="Aggregate the run records."
    )
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args(argv)
    print(write_summaries(args.results_dir))
    return 0


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


def t_interval(values: Sequence[float]) -> tuple[int, float, float, float]:
    """(n, mean, low, high): the mean of ``values`` and its 95 % Student-t interval
    (NaN bounds with fewer than two values)."""
    from scipy import stats

    data = [float(v) for v in values]
    n = len(data)
    if n == 0:
        return 0, float("nan"), float("nan"), float("nan")
    mean = sum(data) / n
    if n < 2:
        return n, mean, float("nan"), float("nan")
    sd = (sum((v - mean) ** 2 for v in data) / (n - 1)) ** 0.5
    half = float(stats.t.ppf(0.975, n - 1)) * sd / n**0.5
    return n, mean, mean - half, mean + half


def paired_difference(
    runs: pd.DataFrame, model_a: str, model_b: str, metric: str = "test_accuracy"
) -> pd.DataFrame:
    """``model_a - model_b`` per sparsity, paired by seed (same seed, same test masks).

    Columns: sparsity, n (paired seeds), mean, low, high (95 % t-interval of the mean
    difference; NaN with fewer than two pairs), in the metric's units.
    """
    a = runs[runs["model"] == model_a].set_index(["sparsity", "seed"])[metric]
    b = runs[runs["model"] == model_b].set_index(["sparsity", "seed"])[metric]
    diff = (a - b).dropna()
    rows = []
    for sparsity, values in diff.groupby(level="sparsity"):
        n, mean, low, high = t_interval(values.tolist())
        rows.append({"sparsity": sparsity, "n": n, "mean": mean, "low": low, "high": high})
    return pd.DataFrame(rows, columns=["sparsity", "n", "mean", "low", "high"])


DIRECTIONS = ("both", "denser", "sparser")


def invariance_drop(
    runs: pd.DataFrame, levels: Sequence[float] | None = None, direction: str = "both"
) -> pd.DataFrame:
    """Per run: the mean absolute change of accuracy (points) between the training
    sparsity and every other test level in ``levels`` (default: 5 % to 90 %). A sparsity
    invariant model has a small drop. ``direction`` keeps only the test levels with fewer
    missing pixels than in training ("denser": the paper's direction, trained sparse and
    used on denser input), only those with more ("sparser"), or all ("both"); a run with
    no such level gets NaN. Columns: model, seed, sparsity, drop."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    levels = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] if levels is None else levels
    keep = {  # (test level s, training level t)
        "both": lambda s, t: abs(s - t) > 1e-9,
        "denser": lambda s, t: s < t - 1e-9,
        "sparser": lambda s, t: s > t + 1e-9,
    }[direction]
    rows = []
    for _, run in runs.iterrows():
        by = run["record"]["test_accuracy_by_sparsity"]
        own = by[f"{run['sparsity']:g}"]
        others = [by[f"{s:g}"] for s in levels if keep(s, run["sparsity"])]
        drop = 100 * sum(abs(own - v) for v in others) / len(others) if others else float("nan")
        rows.append(
            {"model": run["model"], "seed": run["seed"], "sparsity": run["sparsity"], "drop": drop}
        )
    return pd.DataFrame(rows, columns=["model", "seed", "sparsity", "drop"])


if __name__ == "__main__":
    raise SystemExit(main())
