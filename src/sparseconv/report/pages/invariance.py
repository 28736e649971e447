"""What the invariance page shows: train at one sparsity, test at all."""

from __future__ import annotations

import os
from typing import Any

from sparseconv.registry.datasets import DATASET_NAMES, VERDICT_METRIC, datasets_of
from sparseconv.report.analysis import load_study
from sparseconv.report.claims import (
    judge_claims,
)
from sparseconv.report.figures.results import invariance_figures
from sparseconv.report.invariance_tables import (
    invariance_judgements,
    invariance_tests_table,
    loss_summary,
    transfer_table,
)
from sparseconv.report.tables import styled
from sparseconv.report.text.claims import verdict_basis

__all__ = [
    "invariance_page",
]


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
        heat, curves = invariance_figures(runs, dataset)
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
