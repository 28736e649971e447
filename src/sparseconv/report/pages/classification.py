"""What the MNIST and Caltech-101 pages show, computed from the study's records.

``dataset_page(dataset)`` returns every value the page glues (keys start with the data
set's name); the page itself holds prose and one :func:`sparseconv.report.book.publish` call.
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from sparseconv.nn.networks import build_model, count_parameters
from sparseconv.registry.datasets import DATASET_NAMES, VERDICT_METRIC
from sparseconv.registry.models import MODEL_LABELS, tuned_models
from sparseconv.registry.study import (
    DEFAULTS,
    FIT_TARGET,
    GRIDS,
    LEARNING_RATES,
    REPORTED_PROTOCOL,
    TUNING,
    default_lr,
)
from sparseconv.report.analysis import (
    comparison_table,
    grid_progress,
    kept_late,
    load_references,
    load_study,
    reference_gap,
    seed_summary,
)
from sparseconv.report.benchmark_tables import (
    architecture_candidates,
    longer_training,
    longer_training_text,
)
from sparseconv.report.claims import (
    CLAIMS,
    Judgement,
    accuracy_family,
    family_of,
    find,
    judge_claims,
    level_tests,
    metric_key,
)
from sparseconv.report.claims_report import verdict_basis
from sparseconv.report.figures import accuracy_vs_sparsity
from sparseconv.report.stats import ALPHA, MIN_SEEDS
from sparseconv.report.tables import intervals, styled
from sparseconv.report.training_figures import empty_figure, training_curves, tuning_curves
from sparseconv.sweep.tuning import (
    at_grid_edge,
    best_learning_rates,
    choice_under,
    load_tuning,
    tuning_table,
)

__all__ = [
    "dataset_page",
    "setup_table",
    "fit_table",
    "fit_check",
    "trap_table",
    "claim_tests_table",
    "accuracy_reading",
]

SUBJECTS = {"sparse": "The paper's layer", "sparse_partial": "Partial convolution"}
METRIC_WORDS = {"accuracy": "accuracy", "mean_class_accuracy": "mean per-class accuracy"}


def setup_table(dataset: str) -> pd.DataFrame:
    """Per model: parameters, the reported grid's learning rate and how its steps are
    sized (every model has the architecture of :func:`architecture_of`)."""
    rows = []
    for model in GRIDS[dataset][1]:
        net = build_model(dataset, model)
        tuned = model in LEARNING_RATES.get(dataset, {}) or (
            model == "sparse_naive" and "dense" in LEARNING_RATES.get(dataset, {})
        )
        rows.append(
            {
                "model": MODEL_LABELS[model],
                "parameters": count_parameters(net),
                "learning rate": default_lr(dataset, model, REPORTED_PROTOCOL[dataset]),
                "rate from": ("the ConvNet's" if model == "sparse_naive" else "validation")
                if tuned
                else "default (not tuned yet)",
                "paper-layer steps": "matched (lr × k⁴, decay / k⁴)"
                if model == "sparse"
                else "one rate for all weights"
                if model == "sparse_naive"
                else "–",
            }
        )
    return pd.DataFrame(rows)


def architecture_of(dataset: str) -> str:
    """The architecture every model of ``dataset`` shares (the ConvNet + mask takes one
    more input channel), e.g. 'conv5-pool-conv3-pool-conv3 (16 ch) -> fc128 -> fc'."""
    return build_model(dataset, "dense").spec.describe()


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
        median_epoch = pd.Series([r["best_epoch"] for r in records]).median()
        rows.append(
            {
                "model": MODEL_LABELS[model],
                "runs": len(records),
                "final training loss": f"{loss:.4f}",
                "train accuracy (eval mode)": 100
                * pd.Series([r["train_eval_accuracy"] for r in records]).mean(),
                "validation accuracy": 100 * pd.Series([r["val_accuracy"] for r in records]).mean(),
                "test accuracy": 100 * group["test_accuracy"].mean(),
                "test, mean per class": 100 * group["test_mean_class_accuracy"].mean(),
                "kept epoch (median)": f"{median_epoch:g}",
            }
        )
    order = {MODEL_LABELS[m]: i for i, m in enumerate(MODEL_LABELS)}
    return pd.DataFrame(rows).sort_values("model", key=lambda s: s.map(order))


def fit_check(runs: pd.DataFrame, target: tuple[float, float] | None = None) -> str:
    """One sentence on fit: with ``target`` = (sparsity, accuracy), the ConvNet's test
    accuracy at that sparsity against the target; then the runs whose accuracy on training
    images (eval mode) is below their test accuracy, by how much and at which sparsities."""
    if runs.empty:
        return "no runs yet"
    parts = []
    if target is not None:
        level, goal = target
        dense = runs[(runs["model"] == "dense") & ((runs["sparsity"] - level).abs() < 1e-9)]
        if not dense.empty:
            accuracy = float(dense["test_accuracy"].mean())
            verdict = "meets" if accuracy >= goal else "misses"
            parts.append(
                f"the ConvNet reaches {100 * accuracy:.1f} % test accuracy at "
                f"{100 * level:g} % sparsity ({verdict} the {100 * goal:g} % target)"
            )
    gap = runs["test_accuracy"] - runs["record"].map(lambda r: r["train_eval_accuracy"])
    below = runs[gap > 0]
    if below.empty:
        parts.append("every run is at least as accurate on training images as on test images")
    else:
        models = "; ".join(sorted({MODEL_LABELS[m] for m in below["model"]}))
        levels = _and([f"{100 * s:g}" for s in sorted(set(below["sparsity"]))])
        parts.append(
            f"{len(below)} of {len(runs)} runs are less accurate on training images than on "
            f"test images, by at most {100 * gap.max():.2f} points, all at {levels} % "
            f"sparsity ({models})"
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
    """The accuracy claim's level-wise findings for ``variant`` (against the ConvNet): per
    training level, seeds, mean difference (points) with its 95 % interval and p from the
    mixed model that pools the variance across levels, and Holm-adjusted p over the
    levels (:func:`sparseconv.report.claims.level_tests`)."""
    claim = next(c for c in CLAIMS if c.kind == "accuracy" and c.dataset == dataset)
    tests = level_tests(family_of(claim, runs, variant))
    if tests.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "trained and tested at": tests["comparison"].str.removeprefix("trained at "),
            "seeds": tests["n"],
            "difference (points)": tests["mean"],
            "95 % interval": intervals(tests["low"], tests["high"], 2),
            "p": tests["p"],
            "p (Holm)": tests["p_holm"],
        }
    )


def _and(names: list[str]) -> str:
    """'a, b and c'."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _levels(tests: pd.DataFrame) -> str:
    """'70, 80 and 90 %' from the comparisons 'trained at 70 %', ... of ``tests``."""
    names = [c.removeprefix("trained at ").removesuffix(" %") for c in tests["comparison"]]
    return _and(names) + " %" if names else "no level"


def _signed(values: pd.Series) -> str:
    return ", ".join(f"{v:+.2f}" for v in values)


def _against(t: pd.DataFrame, other: str, margin: float) -> str:
    """'ahead of <other> by more than m points at L (+x), behind it by more than m points
    at L (-y) and within z points elsewhere' from a table of paired tests (column mean)."""
    ahead = t[t["mean"] > margin]
    behind = t[t["mean"] < -margin]
    rest = t[t["mean"].abs() <= margin]
    parts = []
    if not ahead.empty:
        parts.append(
            f"ahead of {other} by more than {margin:g} points at {_levels(ahead)} "
            f"({_signed(ahead['mean'])})"
        )
    if not behind.empty:
        where = "it" if parts else other
        parts.append(
            f"behind {where} by more than {margin:g} points at {_levels(behind)} "
            f"({_signed(behind['mean'])})"
        )
    if not rest.empty:
        within = f"within {rest['mean'].abs().max():.2f} points"
        parts.append(f"{within} elsewhere" if parts else f"{within} of {other} at every level")
    return _and(parts)


def accuracy_reading(
    dataset: str,
    runs: pd.DataFrame,
    judgements: list[Judgement] | None = None,
    margin: float = 0.5,
) -> str:
    """Generated sentences on how far the accuracy verdicts can be read (points of the
    verdict metric, paired by seed, Holm over the levels): the paper's layer against
    partial convolution (the same functions), each against the ConvNet, where they are
    ahead or behind by more than ``margin`` points, and the ConvNet + mask against the
    paper's layer. Empty while any of these has fewer than ``MIN_SEEDS`` seeds."""

    def tests(model: str, baseline: str) -> pd.DataFrame:
        return level_tests(accuracy_family(runs, dataset, model, [baseline]))

    pairs = {
        "same": tests("sparse", "sparse_partial"),
        "sparse": tests("sparse", "dense"),
        "sparse_partial": tests("sparse_partial", "dense"),
        "mask": tests("dense_mask", "sparse"),
    }
    if any(t.empty or int(t["n"].min()) < MIN_SEEDS for t in pairs.values()):
        return ""
    same = pairs["same"]
    out = [
        f"The paper's layer and partial convolution, one family of functions in two "
        f"parametrisations, differ by at most {same['mean'].abs().max():.2f} points at any "
        f"level (smallest Holm-adjusted p {same['p_holm'].min():.2f})."
    ]
    significant_levels = []
    for variant in ("sparse", "sparse_partial"):
        t = pairs[variant]
        significant = t[t["p_holm"] < ALPHA]
        significant_levels += significant["comparison"].tolist()
        text = f"{SUBJECTS[variant]} is {_against(t, 'the ConvNet', margin)}"
        text += f"; significant after Holm: {_levels(significant)}"
        if not significant.empty:
            text += f" (p {', '.join(f'{p:.3f}' for p in significant['p_holm'])})"
        out.append(text + ".")
    if judgements is None:
        judgements = judge_claims({dataset: runs})
    verdicts = {v: verdict_of(dataset, judgements, v) for v in ("sparse", "sparse_partial")}
    if len(set(verdicts.values())) > 1:
        rests = _levels(pd.DataFrame({"comparison": list(dict.fromkeys(significant_levels))}))
        out.append(
            f"So the two verdicts differ ({verdicts['sparse']} against "
            f"{verdicts['sparse_partial']}) although the functions are the same: with "
            f"{int(same['n'].min())} seeds the interval of each estimand is wide, and the "
            f"level-wise findings that stand out after Holm's correction are at {rests}."
        )
    mask = pairs["mask"]
    against_paper = _against(mask, "the paper's layer", margin)
    excluding = mask[(mask["low"] > 0) | (mask["high"] < 0)]
    out.append(
        f"The ConvNet + mask, which sees the mask as a second input channel, is "
        f"{against_paper}; the 95 % interval excludes zero "
        f"at {_levels(excluding)}, and {int((mask['p_holm'] < ALPHA).sum())} of "
        f"{len(mask)} levels survive Holm's correction."
    )
    return " ".join(out)


def verdict_of(dataset: str, judgements: list[Judgement], variant: str) -> str:
    """The accuracy claim's verdict on ``dataset`` for ``variant`` (against the ConvNet)."""
    found = find(judgements, dataset, "accuracy", variant)
    return found[0].verdict if found and found[0].n_seeds else "no runs yet"


def _accuracy_figure(
    runs: pd.DataFrame, references: pd.DataFrame, dataset: str, metric: str
) -> Any:
    summary = seed_summary(runs, metric)
    if summary.empty:
        return empty_figure(f"no finished {DATASET_NAMES[dataset]} runs yet", (7.0, 4.0))
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    refs = references[references["dataset"] == dataset] if metric == "test_accuracy" else None
    ylabel = "test accuracy (%)" if metric == "test_accuracy" else "mean per-class accuracy (%)"
    accuracy_vs_sparsity(summary, ax=ax, references=refs, ylabel=ylabel, legend_outside=True)
    return fig


def _runs_of_search(done: int, dataset: str) -> str:
    """'all 20 runs' once the search is complete, else '12 of its 20 runs so far'."""
    total = len(TUNING[dataset]["lrs"]) * len(tuned_models(dataset))
    return f"all {total} runs" if done >= total else f"{done} of its {total} runs so far"


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
        "tune_done": _runs_of_search(len(tuning), dataset),
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
    out["fig_accuracy"] = _accuracy_figure(runs, references, dataset, "test_accuracy")
    out["fig_mca"] = _accuracy_figure(runs, references, dataset, "test_mean_class_accuracy")
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
