"""The classification pages' tables: the networks' set-up, how well each model fits,
the single-rate trap and the level-wise tests of a claim."""

from __future__ import annotations

import pandas as pd

from sparseconv.nn.networks import build_model, count_parameters
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    GRIDS,
    LEARNING_RATES,
    REPORTED_PROTOCOL,
    default_lr,
)
from sparseconv.report.claims import CLAIMS, family_of, level_tests
from sparseconv.report.families import metric_key
from sparseconv.report.tables import intervals


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
