"""Figures that show how the networks trained: validation curves and the rate search."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

from .plots import FONT, MODEL_STYLE

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
    from .plots import legend_below

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.3))
    for _, run in chosen.iterrows():
        record: dict[str, Any] = run["record"]
        history = record["history"]
        style = MODEL_STYLE.get(run["model"], {"label": run["model"]})
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
    """One panel per training sparsity in ``levels`` (uniform pattern): the validation MAE
    on the missing pixels (m) per epoch of every run, one line per seed, coloured by model;
    the kept (best validation) epoch is circled. Where a line ends, the plateau rule or the
    epoch limit stopped training."""
    from .depth_analysis import pattern_of
    from .plots import legend_below

    uniform = runs[pattern_of(runs) == "uniform"] if not runs.empty else runs
    if uniform.empty:
        return empty_figure("no finished depth run yet")
    fig, axes = plt.subplots(1, len(levels), figsize=(10, 4.6), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        chosen = uniform[(uniform["sparsity"] - level).abs() < 1e-9]
        seen: set[str] = set()
        for _, run in chosen.sort_values(["model", "seed"]).iterrows():
            style = dict(MODEL_STYLE.get(run["model"], {"label": run["model"]}))
            style.pop("marker", None)
            if run["model"] in seen:
                style.pop("label", None)
            seen.add(run["model"])
            history = run["record"]["history"]
            val = [h["val_mae_missing"] for h in history]
            ax.plot([h["epoch"] for h in history], val, lw=1.2, alpha=0.85, **style)
            best = run["record"]["best_epoch"]
            if 1 <= best <= len(val):
                ax.plot([best], [val[best - 1]], "o", ms=6, mfc="none", color=style["color"])
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
    :func:`sparseconv.tuning.load_tuning`; the chosen rate of each model is circled.

    Classification: validation error (100 - accuracy, %, log axis, so that both a
    collapse to chance and a tenth of a point show). Depth: the validation MAE on the
    missing pixels (m, log axis, for the same reason)."""
    if frame.empty:
        return empty_figure("the learning-rate search has not run yet")
    depth = dataset == "depth"
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for model, rows in frame.groupby("model"):
        rows = rows.sort_values("lr")
        style = MODEL_STYLE.get(model, {"label": model})
        error = rows["val"] if depth else 100 * (1 - rows["val"])
        ax.plot(rows["lr"], error, ms=6, lw=1.5, **style)
        if model in chosen:
            best = rows["lr"] == chosen[model]
            ax.plot(rows.loc[best, "lr"], error[best], "o", ms=14, mfc="none",
                    color=style.get("color"))  # fmt: skip
    rates = sorted(frame["lr"].unique())
    ax.set_xscale("log")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.minorticks_off()
    if depth:
        # log axis: a collapsed run (about 11 m) and differences of centimetres both show
        ax.set_yscale("log")
        ax.set_yticks([0.5, 1, 2, 5, 10, 20], ["0.5", "1", "2", "5", "10", "20"])
        ax.set_xlabel("learning rate (Adam)")
        ax.set_ylabel("validation missing MAE (m, log)")
    else:
        ax.set_yscale("log")
        ax.set_yticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
        ax.set_xlabel("learning rate (SGD)")
        ax.set_ylabel("validation error (%, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT, loc="upper left")
    fig.tight_layout()
    return fig
