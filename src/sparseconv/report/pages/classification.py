"""What the MNIST and Caltech-101 pages show, computed from the study's records.

``dataset_page(dataset)`` returns every value the page glues (keys start with the data
set's name); the page itself holds prose and one :func:`sparseconv.report.publish.publish` call.
"""

from __future__ import annotations

import os
from typing import Any

from sparseconv.registry.datasets import DATASET_NAMES, VERDICT_METRIC
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    DEFAULTS,
    FIT_TARGET,
    LEARNING_RATES,
    TUNING,
)
from sparseconv.report.analysis import comparison_table, load_references, load_study, reference_gap
from sparseconv.report.benchmark_tables import architecture_candidates, longer_training
from sparseconv.report.claims import (
    find,
    judge_claims,
)
from sparseconv.report.classification_tables import (
    architecture_of,
    claim_tests_table,
    fit_table,
    setup_table,
    trap_table,
)
from sparseconv.report.figures.results import accuracy_figure
from sparseconv.report.figures.training import training_curves, tuning_curves
from sparseconv.report.stats import MIN_SEEDS
from sparseconv.report.tables import styled
from sparseconv.report.text.claims import verdict_basis
from sparseconv.report.text.results import METRIC_WORDS, accuracy_reading, verdict_of
from sparseconv.report.text.runs import (
    fit_check,
    grid_progress,
    kept_late,
    longer_training_text,
    runs_of_search,
)
from sparseconv.sweep.tuning import (
    at_grid_edge,
    best_learning_rates,
    choice_under,
    load_tuning,
    tuning_table,
)

__all__ = [
    "dataset_page",
]


def dataset_page(dataset: str, results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the MNIST or Caltech-101 page glues, keyed ``<dataset>_<name>``."""
    study = load_study(results_dir)
    runs = study[dataset]
    judgements = judge_claims(study)
    references = load_references(results_dir)
    d = DEFAULTS[dataset]
    chosen = best_learning_rates(results_dir, dataset)
    tuning = load_tuning(results_dir, dataset)
    edge = at_grid_edge(results_dir, dataset)
    out: dict[str, Any] = {
        "progress": grid_progress(dataset, results_dir, runs),
        "epochs": d["epochs"],
        "batch": d["batch_size"],
        "metric": METRIC_WORDS[VERDICT_METRIC[dataset]],
        "tune_sparsity": f"{100 * TUNING[dataset]['sparsity']:g} %",
        "tune_rates": ", ".join(f"{lr:g}" for lr in TUNING[dataset]["lrs"]),
        "tune_done": runs_of_search(len(tuning), dataset),
        "tune_edge": (
            "the best rate of "
            + ", ".join(MODEL_LABELS[m] for m in edge)
            + " is at the edge of the grid, so the grid must be widened"
        )
        if edge
        else "no model's best rate lies at the edge of the grid",
        "tune_agrees": "agrees"
        if chosen == LEARNING_RATES.get(dataset, {})
        else "does not yet agree (the search is incomplete or the table not updated)",
    }
    if VERDICT_METRIC[dataset] == "mean_class_accuracy":
        out["tune_by_metric"] = choice_under(
            results_dir, dataset, "val_mean_class_accuracy", "validation mean per-class accuracy"
        )
        per_class = tuning_table(results_dir, dataset, "val_mean_class_accuracy")
        out["tuning_per_class"] = styled(
            per_class.rename(index=MODEL_LABELS).rename_axis("model"),
            "Validation mean per-class "
            "accuracy (%) of the same runs; * marks the rate "
            "chosen on plain accuracy.",
            empty="the search has not run",
        )
    setup = setup_table(dataset)
    out["setup"] = styled(
        setup,
        f"The {DATASET_NAMES[dataset]} networks, all "
        f"{architecture_of(dataset)} (the ConvNet + mask with one more input "
        "channel), and their learning rates (SGD with Nesterov momentum 0.9, "
        "weight decay 5e-4, cosine decay).",
    )
    table = tuning_table(results_dir, dataset)
    out["tuning"] = styled(
        table.rename(index=MODEL_LABELS).rename_axis("model"),
        "Validation accuracy (%) after the learning-rate search; * marks "
        "each model's chosen rate (columns: learning rate).",
        empty="the learning-rate search has not run",
    )
    out["fig_tuning"] = tuning_curves(tuning, chosen)
    fit = fit_table(runs)
    out["fit"] = styled(
        fit,
        "How well each model fits, means over its finished runs (%; loss in nats).",
        empty="no runs yet",
    )
    out["fig_curves"] = training_curves(runs, TUNING[dataset]["sparsity"])
    out["fig_accuracy"] = accuracy_figure(runs, references, dataset, "test_accuracy")
    out["fig_mca"] = accuracy_figure(runs, references, dataset, "test_mean_class_accuracy")
    comparison = comparison_table(runs, references, dataset)
    out["comparison"] = styled(
        comparison,
        f"Our {DATASET_NAMES[dataset]} accuracy (%, mean "
        "over seeds) beside both earlier reproductions' and the "
        "differences in points.",
    )
    trap = trap_table(runs, dataset)
    out["trap"] = styled(
        trap,
        f"The paper's layer trained three ways and the ConvNet, seed "
        f"0, {METRIC_WORDS[VERDICT_METRIC[dataset]]} (%) at the training "
        "sparsity.",
        empty="no seed-0 runs yet",
    )
    gap = (
        (trap[MODEL_LABELS["sparse"]] - trap[MODEL_LABELS["sparse_naive"]]).dropna()
        if {MODEL_LABELS["sparse"], MODEL_LABELS["sparse_naive"]} <= set(trap.columns)
        else None
    )
    out["trap_gap"] = float(gap.mean()) if gap is not None and len(gap) else float("nan")
    out["trap_levels"] = len(gap) if gap is not None else 0
    tests = claim_tests_table(dataset, runs)
    out["claim_tests"] = styled(
        tests,
        "The paper's layer minus the ConvNet at each training "
        f"sparsity ({METRIC_WORDS[VERDICT_METRIC[dataset]]}, points), paired "
        "by seed: level-wise findings with the variance pooled across levels "
        "(mixed model, seed as random effect), Holm's correction over the levels.",
        3,
        empty="no paired runs yet",
    )
    gap = reference_gap(references, "group66", dataset)
    out["g66_gap_first"] = float(gap.iloc[0]) if len(gap) else float("nan")
    out["g66_gap_min"] = float(gap.min()) if len(gap) else float("nan")
    out["g66_gap_max"] = float(gap.max()) if len(gap) else float("nan")
    g75 = references[
        (references["source"] == "group75")
        & (references["dataset"] == dataset)
        & (references["model"] == "dense")
    ].sort_values("sparsity")
    out["g75_dense_first"] = float(g75["accuracy"].iloc[0]) if len(g75) else float("nan")
    out["fit_check"] = fit_check(runs, FIT_TARGET.get(dataset))
    out["kept_late"] = kept_late(runs) if not runs.empty else "no runs"
    longer = longer_training(results_dir, dataset, runs)
    out["longer"] = styled(
        longer,
        "Runs of the grid beside the same cells and seeds trained longer "
        "(benchmarks/epochs.py), accuracy (%) at the training sparsity.",
        empty=f"benchmarks/epochs.py --dataset {dataset} has not been run",
    )
    column = "test, mean per class" if dataset == "caltech101" else "test"
    out["longer_text"] = longer_training_text(longer, column)
    candidates = architecture_candidates(results_dir)
    out["architectures"] = styled(
        candidates,
        "Candidate Caltech-101 architectures: the "
        "ConvNet trained at 5 % sparsity (seed 0, learning rate "
        "0.02), minutes of one run on one CPU thread and accuracy "
        "(%).",
        1,
        empty="benchmarks/caltech_fit.py has not been run",
    )
    out["verdict"] = verdict_of(dataset, judgements, "sparse")
    main = find(judgements, dataset, "accuracy", "sparse")
    out["verdict_basis"] = verdict_basis(main[0]) if main else "No runs yet."
    out["reading"] = accuracy_reading(dataset, runs, judgements) or (
        f"The reading of the verdict waits for {MIN_SEEDS} seeds of every model."
    )
    return {f"{dataset}_{k}": v for k, v in out.items()}
