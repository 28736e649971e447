"""Figures that show how the networks trained: a run's history, validation curves, the
learning-rate search and the budget check."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sparseconv.registry.study import BUDGET_CHECK
from sparseconv.report.budget import BASELINE, UNITS, budget_means
from sparseconv.report.figures.style import FONT, empty_figure, legend_below, model_style
from sparseconv.sweep.tuning import level_text

__all__ = ["training_curves", "tuning_curves", "search_curves", "history_figure", "budget_figure"]


def training_curves(runs: pd.DataFrame, sparsity: float, seed: int = 0) -> Figure:
    """Per model trained at ``sparsity`` with ``seed``: training loss (left) and
    validation accuracy (right) per epoch; the kept (best validation) epoch is circled."""
    chosen = runs[((runs["sparsity"] - sparsity).abs() < 1e-9) & (runs["seed"] == seed)]
    if chosen.empty:
        return empty_figure(f"no run trained at {100 * sparsity:g} % with seed {seed} yet")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.3))
    for _, run in chosen.iterrows():
        record: dict[str, Any] = run["record"]
        history = record["history"]
        style = model_style(run["model"])
        epochs = [h["epoch"] for h in history]
        ax1.plot(epochs, [h["loss"] for h in history], ms=3, lw=1.3, **style)
        val = [100 * h["val_accuracy"] for h in history]
        ax2.plot(epochs, val, ms=3, lw=1.3, **style)
        best = record.get("best_epoch", len(history))
        if 1 <= best <= len(val):
            ax2.plot([best], [val[best - 1]], "o", ms=9, mfc="none", color=style.get("color"))
    ax1.set_yscale("log")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax2.set_ylabel("validation accuracy (%)")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT)
    fig.suptitle(f"trained at {100 * sparsity:g} % sparsity, seed {seed}", fontsize=FONT + 1)
    legend_below(fig, [ax2])
    return fig


def tuning_curves(frame: pd.DataFrame, chosen: dict[str, float], dataset: str = "mnist") -> Figure:
    """The validation score against the learning rate (log axis) per model, from
    :func:`sparseconv.sweep.tuning.load_tuning`; the chosen rate of each model is circled.

    Classification: validation error (100 - accuracy, %, log axis, so that both a
    collapse to chance and a tenth of a point show). Depth: the validation MAE on the
    missing pixels (m, log axis, for the same reason)."""
    if frame.empty:
        return empty_figure("the learning-rate search has not run yet")
    depth = dataset == "depth"
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    for model, rows in frame.groupby("model"):
        rows = rows.sort_values("lr")
        style = model_style(model)
        error = rows["val"] if depth else 100 * (1 - rows["val"])
        ax.plot(rows["lr"], error, ms=6, lw=1.5, **style)
        if model in chosen:
            best = rows["lr"] == chosen[model]
            ax.plot(
                rows.loc[best, "lr"], error[best], "o", ms=14, mfc="none", color=style.get("color")
            )
    rates = sorted(frame["lr"].unique())
    ax.set_xscale("log")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    # log axis (a collapsed run and differences of a tenth of a point both show), ranged
    # to the data so that close curves stay apart
    values = frame["val"] if depth else 100 * (1 - frame["val"])
    low, high = float(values.min()), float(values.max())
    ax.set_yscale("log")
    ax.set_ylim(low / 1.08, high * 1.08)
    ticks = _log_ticks(low / 1.08, high * 1.08)
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    if depth:
        ax.set_xlabel("learning rate (Adam)")
        ax.set_ylabel("validation missing MAE (m, log)")
    else:
        ax.set_xlabel("learning rate (SGD)")
        ax.set_ylabel("validation error (%, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def search_curves(
    frame: pd.DataFrame,
    chosen: dict[str, float],
    levels: Sequence[float],
    titles: Sequence[str],
    rates: Sequence[float] = (),
) -> Figure:
    """A search over several training levels (``study.SEARCH``, depth errors in m): one
    panel per level (``titles``), the validation MAE against the learning rate per model
    (mean over the search's seeds; log axes, ticks at ``rates`` and the rates run); each
    model's chosen rate, made on the mean over the levels, is circled in every panel; raw
    nearest neighbour on the same validation inputs dashed, where the records hold it
    (column ``val_nn``)."""
    if frame.empty:
        return empty_figure("the learning-rate search has not run yet")
    fig, axes = plt.subplots(1, len(levels), figsize=(9.5, 4.6), sharey=True, squeeze=False)
    nearest = frame.dropna(subset=["val_nn"]) if "val_nn" in frame else frame.iloc[0:0]
    values = pd.concat([frame["val"].dropna(), nearest["val_nn"] if len(nearest) else None])
    low, high = float(values.min()) / 1.08, float(values.max()) * 1.08
    rates = sorted(set(rates) | set(frame["lr"]))
    for ax, level, title in zip(axes[0], levels, titles, strict=True):
        at = frame[(frame["sparsity"] - level).abs() < 1e-9]
        for model, rows in at.groupby("model", sort=False):
            means = rows.groupby("lr")["val"].mean().sort_index()
            style = model_style(model)
            ax.plot(means.index, means.to_numpy(), ms=6, lw=1.5, **style)
            if chosen.get(model) in means.index:
                lr = chosen[model]
                ax.plot([lr], [means[lr]], "o", ms=14, mfc="none", color=style.get("color"))
        baseline = nearest[(nearest["sparsity"] - level).abs() < 1e-9]["val_nn"]
        if len(baseline):
            ax.axhline(float(baseline.mean()), color="0.35", ls="--", lw=1.3,
                       label="raw nearest neighbour")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlim(rates[0] / 1.5, rates[-1] * 1.5)
        ax.set_xticks(rates, [f"{r:g}" for r in rates])
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ticks = _log_ticks(low, high)
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_title(title, fontsize=FONT + 1)
        ax.set_xlabel("learning rate (Adam)")
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=FONT)
    axes[0][0].set_ylabel("validation MAE (m, log)")
    legend_below(fig, list(axes[0]))
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig


def _log_ticks(low: float, high: float) -> list[float]:
    """Round tick values for a log axis from ``low`` to ``high``: 1-2-5 steps, finer
    (every unit of the leading digit) where the range is narrow."""
    steps = ((1, 2, 5), tuple(range(1, 10)), tuple(d / 2 for d in range(2, 20)))
    exponents = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    ticks: list[float] = []
    for digits in steps:
        ticks = [
            round(d * 10.0**e, 10) for e in exponents for d in digits if low <= d * 10.0**e <= high
        ]
        if len(ticks) >= 3:
            break
    return ticks


def budget_figure(frame: pd.DataFrame, dataset: str) -> Figure:
    """Against the budget, one column per training level: the validation score of each
    model (top; mean over seeds, each seed a dot) and each model's paired difference to
    the ConvNet (bottom; points, or metres for KITTI), the comparison the budget must no
    longer move."""
    if frame.empty:
        return empty_figure("no budget runs yet", (7.0, 3.5))
    levels = BUDGET_CHECK[dataset]["sparsities"]
    budgets = BUDGET_CHECK[dataset]["epochs"]
    means = budget_means(frame)
    fig, axes = plt.subplots(2, len(levels), figsize=(10, 6.6), sharex=True, squeeze=False)
    for col, level in enumerate(levels):
        mine = frame[(frame["sparsity"] - level).abs() < 1e-9]
        cell = means[(means["sparsity"] - level).abs() < 1e-9]
        for model, group in mine.groupby("model"):
            style: dict[str, Any] = model_style(model)
            mean = group.groupby("epochs")["val"].mean()
            axes[0, col].plot(
                mean.index,
                mean.to_numpy(),
                color=style["color"],
                marker=style["marker"],
                label=style["label"],
            )
            axes[0, col].scatter(
                group["epochs"], group["val"], color=style["color"], s=12, alpha=0.5
            )
            if model != BASELINE:
                diff = cell[cell["model"] == model].sort_values("epochs")
                axes[1, col].plot(
                    diff["epochs"], diff["diff"], color=style["color"], marker=style["marker"]
                )
        name = level_text(dataset, level)
        title = f"trained keeping {name.removesuffix(' kept')}" if name.endswith(" kept") else (
            f"trained at {name}")  # fmt: skip
        axes[0, col].set_title(title, fontsize=12)
        axes[1, col].axhline(0.0, color="grey", lw=1)
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_xticks(budgets, [str(e) for e in budgets])
            ax.minorticks_off()
            ax.grid(alpha=0.3)
        axes[1, col].set_xlabel("training budget (epochs)")
    if UNITS[dataset] == "m":
        axes[0, 0].set_ylabel("validation MAE (m)")
        axes[1, 0].set_ylabel("minus the ConvNet (m)")
    else:
        axes[0, 0].set_ylabel("validation score (%)")
        axes[1, 0].set_ylabel("minus the ConvNet (points)")
    legend_below(fig, list(axes[0]), ncol=4)
    return fig


def history_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Training loss and accuracy per epoch: the running training accuracy and the
    validation accuracy (``val_accuracy``; older records: ``test_accuracy``)."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o", ms=3)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax2.plot(epochs, [100 * h["train_accuracy"] for h in history], marker="o", ms=3, label="train")
    key, label = (
        ("val_accuracy", "validation")
        if "val_accuracy" in history[0]
        else ("test_accuracy", "test")
    )
    ax2.plot(epochs, [100 * h[key] for h in history], marker="s", ms=3, label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=FONT)
    fig.tight_layout()
    return fig
