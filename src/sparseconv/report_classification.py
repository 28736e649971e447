"""What the MNIST and Caltech-101 pages show, computed from the study's records.

``dataset_page(dataset)`` returns every value the page glues (keys start with the data
set's name); the page itself holds prose and one :func:`sparseconv.report.publish` call.
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from .analysis import (
    comparison_table,
    grid_progress,
    load_references,
    load_runs,
    reference_gap,
    seed_summary,
)
from .claims import CLAIMS, judge, metric_key
from .plots import accuracy_vs_sparsity
from .study import (
    DATASET_NAMES,
    DEFAULTS,
    GRIDS,
    LEARNING_RATES,
    MODEL_LABELS,
    TUNING,
    VERDICT_METRIC,
    default_lr,
)
from .tables import intervals, note_table, styled
from .training_plots import empty_figure, training_curves, tuning_curves
from .tuning import at_grid_edge, best_learning_rates, load_tuning, tuning_table

__all__ = [
    "dataset_page",
    "setup_table",
    "fit_table",
    "fit_check",
    "architecture_candidates",
    "trap_table",
    "claim_tests_table",
]

METRIC_WORDS = {"accuracy": "accuracy", "mean_class_accuracy": "mean per-class accuracy"}


def setup_table(dataset: str) -> pd.DataFrame:
    """Per model: architecture, parameters, learning rate and how its steps are sized."""
    from .models import build_model, count_parameters

    rows = []
    for model in GRIDS[dataset][1]:
        net = build_model(dataset, model)
        tuned = model in LEARNING_RATES.get(dataset, {}) or (
            model == "sparse_naive" and "dense" in LEARNING_RATES.get(dataset, {})
        )
        rows.append({
            "model": MODEL_LABELS[model],
            "architecture": net.spec.describe(),
            "parameters": count_parameters(net),
            "learning rate": default_lr(dataset, model),
            "rate from": ("the ConvNet's" if model == "sparse_naive" else "validation")
            if tuned else "default (not tuned yet)",
            "paper-layer steps": "matched (lr × k⁴, decay / k⁴)" if model == "sparse"
            else "one rate for all weights" if model == "sparse_naive" else "–",
        })  # fmt: skip
    return pd.DataFrame(rows)


def fit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model, means over its runs (%): last-epoch training loss, accuracy in eval mode
    on training images, validation and test accuracy at the training sparsity, kept epoch.
    A model whose training accuracy is below its test accuracy underfits."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for model, group in runs.groupby("model", sort=False):
        records = group["record"].tolist()
        loss = pd.Series([r["history"][-1]["loss"] for r in records]).mean()
        rows.append({
            "model": MODEL_LABELS[model],
            "runs": len(records),
            "final training loss": f"{loss:.4f}",
            "train accuracy (eval mode)": 100 * pd.Series(
                [r["train_eval_accuracy"] for r in records]).mean(),
            "validation accuracy": 100 * pd.Series([r["val_accuracy"] for r in records]).mean(),
            "test accuracy": 100 * group["test_accuracy"].mean(),
            "test, mean per class": 100 * group["test_mean_class_accuracy"].mean(),
            "kept epoch (median)": f"{pd.Series([r['best_epoch'] for r in records]).median():g}",
        })  # fmt: skip
    order = {MODEL_LABELS[m]: i for i, m in enumerate(MODEL_LABELS)}
    return pd.DataFrame(rows).sort_values("model", key=lambda s: s.map(order))


def architecture_candidates(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """The Caltech-101 architectures measured by ``benchmarks/caltech_fit.py`` (ConvNet at
    5 % sparsity, seed 0, the default learning rate): minutes on one CPU thread and the
    accuracies (%), one row per candidate file in ``results/benchmarks/caltech_fit/``."""
    import json

    from .records import resolve_results_dir

    folder = resolve_results_dir(results_dir) / "benchmarks" / "caltech_fit"
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        r = json.loads(path.read_text())["rows"][0]
        rows.append({
            "architecture": r["architecture"], "epochs": r["epochs"],
            "minutes": r["minutes"], "validation": 100 * r["val_accuracy"],
            "training images (eval mode)": 100 * r["train_eval_accuracy"],
            "test": 100 * r["test_accuracy"],
            "test, mean per class": 100 * r["test_mean_class_accuracy"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def fit_check(runs: pd.DataFrame, target: float = 0.60, level: float = 0.05) -> str:
    """One sentence on the fit targets: the ConvNet's test accuracy at ``level`` sparsity
    against ``target``, and the models whose accuracy on training images (eval mode) is
    below their test accuracy (underfitting)."""
    if runs.empty:
        return "no runs yet"
    dense = runs[(runs["model"] == "dense") & ((runs["sparsity"] - level).abs() < 1e-9)]
    parts = []
    if not dense.empty:
        accuracy = float(dense["test_accuracy"].mean())
        verdict = "meets" if accuracy >= target else "misses"
        parts.append(
            f"the ConvNet reaches {100 * accuracy:.1f} % test accuracy at "
            f"{100 * level:g} % sparsity ({verdict} the {100 * target:g} % target)"
        )
    below = runs[runs["record"].map(lambda r: r["train_eval_accuracy"]) < runs["test_accuracy"]]
    if below.empty:
        parts.append("every run is at least as accurate on training images as on test images")
    else:
        models = ", ".join(sorted({MODEL_LABELS[m] for m in below["model"]}))
        parts.append(
            f"{len(below)} of {len(runs)} runs are less accurate on training images "
            f"than on test images (underfitting: {models})"
        )
    return "; ".join(parts)


def trap_table(runs: pd.DataFrame, dataset: str, seed: int = 0) -> pd.DataFrame:
    """Seed-``seed`` accuracy (%, the verdict metric) at the training sparsity of the
    paper's layer trained with one learning rate (``sparse_naive``), with matched step
    sizes (``sparse``), partial convolution and the ConvNet; rows: sparsity."""
    key = metric_key(dataset, by_sparsity=False)
    mine = runs[runs["seed"] == seed]
    if mine.empty:
        return pd.DataFrame()
    values = mine.assign(value=mine["record"].map(lambda r: r[key]))
    wide = 100 * values.pivot_table(index="sparsity", columns="model", values="value")
    models = [m for m in ("sparse_naive", "sparse", "sparse_partial", "dense") if m in wide]
    table = wide[models]
    table.columns = [MODEL_LABELS[m] for m in models]
    table.index = [f"{100 * s:g} %" for s in table.index]
    table.index.name = "sparsity"
    return table


def claim_tests_table(dataset: str, runs: pd.DataFrame, variant: str = "sparse") -> pd.DataFrame:
    """The accuracy claim's family for ``variant`` (against the ConvNet): per training level,
    seeds, mean difference (points) with its 95 % interval, p and Holm-adjusted p."""
    claim = next(c for c in CLAIMS if c.kind == "accuracy" and c.dataset == dataset)
    tests = judge(claim, runs, variant).tests
    if tests.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "trained and tested at": tests["comparison"].str.removeprefix("trained at "),
        "seeds": tests["n"],
        "difference (points)": tests["mean"],
        "95 % interval": intervals(tests["low"], tests["high"], 2),
        "p": tests["p"],
        "p (Holm)": tests["p_holm"],
    })  # fmt: skip


def _accuracy_figure(runs: pd.DataFrame, references: pd.DataFrame, dataset: str,
                     metric: str) -> Any:  # fmt: skip
    summary = seed_summary(runs, metric)
    if summary.empty:
        return empty_figure(f"no finished {DATASET_NAMES[dataset]} runs yet", (7.0, 4.0))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    refs = references[references["dataset"] == dataset] if metric == "test_accuracy" else None
    ylabel = "test accuracy (%)" if metric == "test_accuracy" else "mean per-class accuracy (%)"
    accuracy_vs_sparsity(summary, ax=ax, references=refs, ylabel=ylabel)
    return fig


def dataset_page(dataset: str, results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the MNIST or Caltech-101 page glues, keyed ``<dataset>_<name>``."""
    runs = load_runs(results_dir, dataset)
    references = load_references(results_dir)
    d = DEFAULTS[dataset]
    chosen = best_learning_rates(results_dir, dataset)
    tuning = load_tuning(results_dir, dataset)
    edge = at_grid_edge(results_dir, dataset)
    out: dict[str, Any] = {
        "progress": grid_progress(dataset, results_dir),
        "epochs": d["epochs"],
        "batch": d["batch_size"],
        "metric": METRIC_WORDS[VERDICT_METRIC[dataset]],
        "tune_sparsity": f"{100 * TUNING[dataset]['sparsity']:g} %",
        "tune_rates": ", ".join(f"{lr:g}" for lr in TUNING[dataset]["lrs"]),
        "tune_done": len(tuning),
        "tune_edge": ("the best rate of " + ", ".join(MODEL_LABELS[m] for m in edge)
                      + " is at the edge of the grid, so the grid must be widened") if edge
        else "no model's best rate lies at the edge of the grid",
        "tune_agrees": "agrees" if chosen == LEARNING_RATES.get(dataset, {}) else
        "does not yet agree (the search is incomplete or the table not updated)",
    }  # fmt: skip
    setup = setup_table(dataset)
    out["setup"] = styled(setup, f"The {DATASET_NAMES[dataset]} networks and their learning "
                          "rates (SGD with Nesterov momentum 0.9, weight decay 5e-4, cosine "
                          "decay).")  # fmt: skip
    table = tuning_table(results_dir, dataset)
    out["tuning"] = (
        styled(
            table.rename(index=MODEL_LABELS).rename_axis("model"),
            "Validation accuracy (%) after the learning-rate search; * marks "
            "each model's chosen rate (columns: learning rate).",
        )
        if not table.empty
        else note_table("the learning-rate search has not run")
    )
    out["fig_tuning"] = tuning_curves(tuning, chosen)  # fmt: skip
    fit = fit_table(runs)
    out["fit"] = (
        styled(fit, "How well each model fits, means over its finished runs (%; loss in nats).")
        if not fit.empty
        else note_table("no runs yet")
    )
    out["fig_curves"] = training_curves(runs, TUNING[dataset]["sparsity"])
    out["fig_accuracy"] = _accuracy_figure(runs, references, dataset, "test_accuracy")
    out["fig_mca"] = _accuracy_figure(runs, references, dataset, "test_mean_class_accuracy")
    comparison = comparison_table(runs, references, dataset)
    out["comparison"] = styled(comparison, f"Our {DATASET_NAMES[dataset]} accuracy (%, mean "
                               "over seeds) beside both earlier reproductions' and the "
                               "differences in points.")  # fmt: skip
    trap = trap_table(runs, dataset)
    out["trap"] = (
        styled(
            trap,
            f"The paper's layer trained three ways and the ConvNet, seed "
            f"0, {METRIC_WORDS[VERDICT_METRIC[dataset]]} (%) at the training "
            "sparsity.",
        )
        if not trap.empty
        else note_table("no seed-0 runs yet")
    )
    gap = (
        (trap[MODEL_LABELS["sparse"]] - trap[MODEL_LABELS["sparse_naive"]]).dropna()
        if {MODEL_LABELS["sparse"], MODEL_LABELS["sparse_naive"]} <= set(trap.columns)
        else None
    )
    out["trap_gap"] = float(gap.mean()) if gap is not None and len(gap) else float("nan")
    out["trap_levels"] = len(gap) if gap is not None else 0
    tests = claim_tests_table(dataset, runs)
    out["claim_tests"] = (
        styled(
            tests,
            "The paper's layer minus the ConvNet at each training "
            f"sparsity ({METRIC_WORDS[VERDICT_METRIC[dataset]]}), paired "
            "by seed; Holm's correction over the ten levels.",
            3,
        )
        if not tests.empty
        else note_table("no paired runs yet")
    )
    gap = reference_gap(references, "group66", dataset)
    out["g66_gap_first"] = float(gap.iloc[0]) if len(gap) else float("nan")
    out["g66_gap_min"] = float(gap.min()) if len(gap) else float("nan")
    out["g66_gap_max"] = float(gap.max()) if len(gap) else float("nan")
    g75 = references[(references["source"] == "group75") & (references["dataset"] == dataset)
                     & (references["model"] == "dense")].sort_values("sparsity")  # fmt: skip
    out["g75_dense_first"] = float(g75["accuracy"].iloc[0]) if len(g75) else float("nan")
    out["fit_check"] = fit_check(runs)
    candidates = architecture_candidates(results_dir)
    out["architectures"] = (
        styled(
            candidates,
            "Candidate Caltech-101 architectures: the "
            "ConvNet trained at 5 % sparsity (seed 0, learning rate "
            "0.02), minutes of one run on one CPU thread and accuracy "
            "(%).",
            1,
        )
        if not candidates.empty
        else note_table("benchmarks/caltech_fit.py has not been run")
    )
    claim = next(c for c in CLAIMS if c.kind == "accuracy" and c.dataset == dataset)
    out["verdict"] = judge(claim, runs, "sparse").verdict if not runs.empty else "no runs yet"
    return {f"{dataset}_{k}": v for k, v in out.items()}
