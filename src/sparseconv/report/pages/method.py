"""The method page's figures: what the averaging makes invariant, the sparsity levels,
the networks and how far the mask spreads through them."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from sparseconv.data.images import caltech101_example, load_mnist
from sparseconv.nn.networks import build_model, count_parameters
from sparseconv.registry.datasets import DATASET_NAMES, TEST_SPARSITIES, datasets_of
from sparseconv.registry.models import MODEL_LABELS, MODELS
from sparseconv.registry.study import (
    BUDGET_CHECK,
    FULL_GRID_LIMIT_HOURS,
    FULL_GRID_SEEDS,
    REDUCED_LEVELS,
    VERDICT_MIN_SEEDS,
)
from sparseconv.report.budget import budget_check, budget_table, load_budget, sufficient_budget
from sparseconv.report.claims_report import preregistration_table
from sparseconv.report.figures.method import (
    moments_figure,
    output_moments,
    sparsity_examples,
    valid_fraction_figure,
)
from sparseconv.report.figures.training import budget_figure
from sparseconv.report.tables import styled
from sparseconv.report.text.results import join_and
from sparseconv.sweep.plan import level_choice
from sparseconv.sweep.runs import budget_grid

__all__ = ["output_moments", "method_page"]


def _budget_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The budget check's table, decision and figure per classification data set (KITTI's
    is on its own page)."""
    out: dict[str, Any] = {}
    for dataset in [d for d in BUDGET_CHECK if d in datasets_of("classification")]:
        frame = load_budget(results_dir, dataset)
        name = DATASET_NAMES[dataset]
        metric = "mean per-class accuracy" if dataset == "caltech101" else "accuracy"
        table = budget_table(frame)
        out[f"budget_{dataset}_table"] = styled(
            table,
            f"{name}: validation {metric} (%) per training level and budget, "
            "mean over the seeds that have run, and each model's difference to the "
            "ConvNet of the same seed (points).",
            empty=f"no {name} budget runs yet",
        )
        out[f"budget_{dataset}_check"] = styled(
            budget_check(frame, dataset),
            f"{name}: the largest change on doubling the budget, over models and levels "
            "(points), against its limits; noise: the standard error of one model's mean "
            "change from the spread over seeds. '–': a budget whose runs are not all in.",
        )
        chosen = sufficient_budget(frame, dataset)
        done = len(frame)
        total = len(budget_grid(dataset, results_dir=str(results_dir)))
        out[f"budget_{dataset}_choice"] = (
            f"The smallest sufficient budget for {name} is {chosen} epochs."
            if chosen is not None
            else f"No {name} budget is shown sufficient yet ({done} of {total} budget runs "
            "finished)."
        )
        out[f"fig_budget_{dataset}"] = budget_figure(frame, dataset)
        out[f"budget_{dataset}_levels"] = levels_text(dataset, frame, chosen, results_dir)
    return out


def levels_text(
    dataset: str, frame: pd.DataFrame, chosen: int | None, results_dir: str | os.PathLike[str]
) -> str:
    """Protocol 3's rule for the grid's levels, applied at the chosen budget (or, before
    one is chosen, at the smallest budget not yet shown insufficient: a lower bound)."""
    if frame.empty:
        return "The rule for the grid's levels waits for the budget check's runs."
    # before a choice: the smallest budget not yet shown insufficient, a lower bound
    check = budget_check(frame, dataset)
    rejected = set(check.loc[check["sufficient"] == "no", "budget (epochs)"])
    open_budgets = [e for e in BUDGET_CHECK[dataset]["epochs"] if e not in rejected]
    epochs = chosen if chosen is not None else (open_budgets or [max(rejected)])[0]
    hours, levels = level_choice(dataset, epochs, results_dir)
    if hours is None:
        return "The rule for the grid's levels waits for a measured run of every model."
    grid = (f"{FULL_GRID_SEEDS} seeds of every tuned model over all ten levels at "
            f"{epochs} epochs would take about {hours:.0f} one-thread CPU-hours")  # fmt: skip
    if levels == REDUCED_LEVELS:
        kept = (
            "the grid keeps the six levels "
            + join_and([f"{100 * v:g}" for v in REDUCED_LEVELS])
            + " %"
        )
        verdict = f"more than the {FULL_GRID_LIMIT_HOURS:g} the protocol allows, so {kept}"
    else:
        verdict = f"within the {FULL_GRID_LIMIT_HOURS:g} the protocol allows, so all ten stay"
    if chosen is not None:
        return f"At the chosen budget, {grid}: {verdict}."
    return (f"The budget will be at least {epochs} epochs (every shorter one is shown "
            f"insufficient); there {grid}: {verdict}.")  # fmt: skip


def method_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the method page glues."""
    stats = output_moments()
    sd = {d: s for d, _, s in stats["sparse conv, random kernel"]}
    digit = load_mnist(train=False)[0][0]
    image = caltech101_example(index=5)
    rows = []
    for dataset in ("mnist", "caltech101", "depth"):
        for model in MODELS:
            net = build_model(dataset, model)
            rows.append(
                {
                    "data set": dataset,
                    "model": MODEL_LABELS[model],
                    "architecture": net.spec.describe(),
                    "parameters": count_parameters(net),
                }
            )
    return {
        "fig_moments": moments_figure(stats),
        "moments_sd_5": sd[5.0],
        "moments_sd_50": sd[50.0],
        "fig_levels": sparsity_examples([digit, image], TEST_SPARSITIES, scale=1.55, columns=6),
        "tab_models": styled(
            pd.DataFrame(rows),
            "The networks of the study and their "
            "parameter counts (the paper's layer trained two ways shares one "
            "network).",
        ),
        "fig_valid_fraction": valid_fraction_figure(),
        **_budget_values(results_dir),
        "verdict_min_seeds": VERDICT_MIN_SEEDS,
        "tab_preregistration": styled(
            preregistration_table(),
            "The verdict rule's choices, fixed in sparseconv.registry.study before the protocol-3 "
            "grids ran: per claim the primary estimand, its baselines and the "
            "equivalence margin.",
        ),
    }
