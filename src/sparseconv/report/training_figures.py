"""Figures that show how the networks trained: validation curves and the rate search."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

from sparseconv.registry.models import VARIANTS
from sparseconv.report.depth_tables import pattern_of
from sparseconv.report.figures import FONT, legend_below, model_style

__all__ = ["training_curves", "depth_validation_curves", "tuning_curves", "empty_figure"]


def empty_figure(text: str, size: tuple[float, float] = (7.0, 2.0)) -> Figure:
    """A small figure that says why there is nothing to show yet."""
    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT + 1)
    ax.set_axis_off()
    return fig


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


def depth_validation_curves(runs: pd.DataFrame, levels: tuple[float, ...] = (0.95, 0.5)) -> Figure:
    """One panel per training sparsity in ``levels`` (uniform pattern): per model, the
    mean over seeds of the validation MAE on the missing pixels (m) per epoch, with the
    range over the seeds shaded; dots mark each seed's kept (best validation) epoch on
    the mean. Where a line ends, the plateau rule or the epoch limit stopped the last
    seed (the mean covers the seeds still training)."""
    uniform = runs[pattern_of(runs) == "uniform"] if not runs.empty else runs
    if uniform.empty:
        return empty_figure("no finished depth run yet")
    fig, axes = plt.subplots(1, len(levels), figsize=(10, 4.6), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        chosen = uniform[(uniform["sparsity"] - level).abs() < 1e-9]
        for model, group in chosen.groupby("model", sort=False):
            style = dict(model_style(model))
            style.pop("marker", None)
            curves = pd.DataFrame(
                {
                    seed: pd.Series({h["epoch"]: h["val_mae_missing"] for h in r["history"]})
                    for seed, r in zip(group["seed"], group["record"], strict=True)
                }
            )
            mean = curves.mean(axis=1)
            ax.plot(
                mean.index,
                mean.to_numpy(),
                lw=1.8,
                ls=VARIANTS[model].linestyle if model in VARIANTS else "-",
                **style,
            )
            ax.fill_between(
                curves.index,
                curves.min(axis=1),
                curves.max(axis=1),
                color=style["color"],
                alpha=0.15,
                lw=0,
            )
            kept = [r["best_epoch"] for r in group["record"] if r["best_epoch"] in mean.index]
            ax.plot(kept, mean.loc[kept].to_numpy(), "o", ms=4, color=style["color"])
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("epoch")
        ax.set_title(f"trained at {100 * (1 - level):g} % density", fontsize=FONT)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=FONT)
    axes[0][0].set_ylabel("validation MAE, missing pixels (m)")
    legend_below(fig, list(axes[0]))
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


def _log_ticks(low: float, high: float) -> list[float]:
    """Round tick values for a log axis from ``low`` to ``high``: 1-2-5 steps, finer
    (every unit of the leading digit) where the range is narrow."""
    import math

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
