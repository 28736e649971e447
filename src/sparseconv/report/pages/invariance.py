"""What the invariance page shows: train at one sparsity, test at all."""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES, VERDICT_METRIC, datasets_of
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import GRIDS
from sparseconv.report.analysis import cross_matrix, cross_summary, load_study
from sparseconv.report.claims import (
    CLAIMS,
    Judgement,
    family_of,
    find,
    invariance_losses,
    judge_claims,
    level_tests,
    metric_key,
)
from sparseconv.report.claims_report import verdict_basis
from sparseconv.report.figures import cross_curves, cross_heatmaps, legend_below
from sparseconv.report.stats import one_sample
from sparseconv.report.tables import intervals, styled
from sparseconv.report.training_figures import empty_figure

__all__ = [
    "loss_summary",
    "transfer_table",
    "invariance_judgements",
    "invariance_tests_table",
    "invariance_page",
]

DIRECTIONS = {"all": "all other levels", "denser": "denser only", "sparser": "sparser only"}
TRANSFER = [(0.05, 0.05), (0.05, 0.9), (0.5, 0.5), (0.5, 0.9), (0.9, 0.9), (0.9, 0.05)]


def loss_summary(runs: pd.DataFrame, dataset: str, key: str | None = None) -> pd.DataFrame:
    """Per model and direction: the mean signed loss (points) of a model used at a
    sparsity it was not trained at, against the same model type and seed trained there;
    the seed is the unit (per seed, the mean over training and test levels), with the
    95 % interval over seeds. Columns: model, test levels, seeds, loss, 95 % interval."""
    rows = []
    for direction, words in DIRECTIONS.items():
        losses = invariance_losses(runs, dataset, direction, key)
        for model in GRIDS[dataset][1]:
            mine = losses[losses["model"] == model]
            if mine.empty:
                continue
            est = one_sample(mine.groupby("seed")["loss"].mean().tolist())
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "test levels": words,
                    "seeds": est.n,
                    "mean loss (points)": est.mean,
                    "95 % interval": f"[{est.low:+.2f}, {est.high:+.2f}]" if est.n >= 2 else "–",
                }
            )
    return pd.DataFrame(rows)


def transfer_table(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The heat maps read at a few places: the verdict metric (%, mean over seeds) of each
    model trained at one sparsity and tested at the same or another."""
    key = metric_key(dataset)
    table = {}
    for model in GRIDS[dataset][1]:
        matrix = cross_summary(runs, model, key)
        table[MODEL_LABELS[model]] = {
            f"{100 * a:g} → {100 * b:g} %": 100 * matrix.loc[a, b]
            if a in matrix.index and b in matrix.columns
            else float("nan")
            for a, b in TRANSFER
        }
    frame = pd.DataFrame(table).T
    frame.index.name = "model"
    return frame


def invariance_judgements(judgements: list[Judgement], dataset: str) -> list[Judgement]:
    """Claim 3 on ``dataset`` for the paper's layer, one judgement per baseline."""
    return find(judgements, dataset, "invariance", "sparse")


def invariance_tests_table(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Claim 3's level-wise findings for the paper's layer: per baseline and training
    level, the baseline's mean loss minus the sparse network's (points; positive: the
    sparse network is more invariant), paired by seed, the variance pooled across levels,
    Holm-adjusted over each baseline's levels."""
    claim = next(c for c in CLAIMS if c.kind == "invariance" and c.dataset == dataset)
    tests = level_tests(family_of(claim, runs, "sparse"))
    if tests.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "baseline": tests["baseline"].map(MODEL_LABELS),
            "trained at": tests["comparison"].str.removeprefix("trained at "),
            "seeds": tests["n"],
            "baseline loss − sparse loss": tests["mean"],
            "95 % interval": intervals(tests["low"], tests["high"], 2),
            "p (Holm)": tests["p_holm"],
        }
    )


def _figures(runs: pd.DataFrame, dataset: str) -> tuple[Any, Any]:
    key = metric_key(dataset)
    matrices = {m: cross_summary(runs, m, key) for m in GRIDS[dataset][1]}
    if all(m.empty for m in matrices.values()):
        heat = empty_figure(f"no finished {DATASET_NAMES[dataset]} runs yet")
    else:
        label = "mean per-class accuracy (%)" if key.startswith("test_mean") else None
        heat = cross_heatmaps(matrices, train_levels=GRIDS[dataset][0], label=label)
    long = cross_matrix(runs, key)
    curves, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    ylabel = "mean per-class accuracy (%)" if key.startswith("test_mean") else "test accuracy (%)"
    for ax, level in zip(axes, (0.5, 0.9), strict=True):
        if long.empty or not ((long["train_sparsity"] - level).abs() < 1e-9).any():
            ax.text(
                0.5,
                0.5,
                f"no model trained at {100 * level:g} % yet",
                ha="center",
                transform=ax.transAxes,
            )
            ax.set_axis_off()
        else:
            cross_curves(long, level, ax=ax, ylabel=ylabel)
    legend_below(curves, list(axes))  # one legend, clear of the curves
    return heat, curves


def invariance_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the invariance page glues, keyed ``inv_<dataset>_<name>``."""
    out: dict[str, Any] = {}
    study = load_study(results_dir)
    judgements = judge_claims(study)
    for dataset in datasets_of("classification"):
        runs = study[dataset]
        metric = (
            "mean per-class accuracy" if VERDICT_METRIC[dataset] != "accuracy" else ("accuracy")
        )
        heat, curves = _figures(runs, dataset)
        values: dict[str, Any] = {
            "done": len(runs),
            "metric": metric,
            "fig_heatmaps": heat,
            "fig_curves": curves,
        }
        transfer = transfer_table(runs, dataset)
        values["transfer"] = styled(
            transfer,
            f"{DATASET_NAMES[dataset]}, {metric} (%) of "
            "each model trained at one sparsity and tested at the "
            "same or another, mean over seeds.",
            1,
        )
        losses = loss_summary(runs, dataset)
        values["losses"] = styled(
            losses,
            "Signed loss of a model at sparsities it was not "
            "trained at, against the same model type and seed "
            "trained there (points; 0: invariant, negative: better "
            "than the model trained there).",
            empty="no runs yet",
        )
        values["basis"] = " ".join(
            verdict_basis(j) for j in invariance_judgements(judgements, dataset)
        )
        tests = invariance_tests_table(runs, dataset)
        values["tests"] = styled(
            tests,
            "Claim 3 for the paper's layer: the baseline's mean "
            "loss minus the sparse network's, per training level (points), "
            "paired by seed; level-wise findings, the variance pooled across "
            "levels, Holm-corrected over each baseline's levels.",
            3,
            empty="no paired runs yet",
        )
        if dataset == "caltech101":
            plain = loss_summary(runs, dataset, "test_accuracy_by_sparsity")
            values["losses_plain"] = styled(
                plain,
                "The same losses in plain accuracy (points), the metric of "
                "the two student reports.",
                empty="no runs yet",
            )
            key = "test_mean_class_accuracy_by_sparsity_bn_recalibrated"
            recal = loss_summary(runs, dataset, key)
            values["losses_bn"] = styled(
                recal,
                "The same losses after re-estimating the batch-norm "
                "statistics on training images at each test sparsity (no weight "
                "changes).",
                empty="no runs yet",
            )
        out.update({f"inv_{dataset}_{k}": v for k, v in values.items()})
    return out
