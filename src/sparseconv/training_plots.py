"""Figures that show how the networks trained: validation curves and the rate search."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .plots import FONT, MODEL_STYLE

__all__ = ["training_curves", "tuning_curves", "empty_figure"]


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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
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
    ax2.legend(fontsize=FONT)
    fig.suptitle(f"trained at {100 * sparsity:g} % sparsity, seed {seed}", fontsize=FONT + 1)
    fig.tight_layout()
    return fig


def tuning_curves(frame: pd.DataFrame, chosen: dict[str, float]) -> Figure:
    """Validation error (100 - accuracy, %, log axis, so that both a collapse to chance and
    a tenth of a point show) against the learning rate (log axis) per model, from
    :func:`sparseconv.tuning.load_tuning`; the chosen rate of each model is circled."""
    if frame.empty:
        return empty_figure("the learning-rate search has not run yet")
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for model, rows in frame.groupby("model"):
        rows = rows.sort_values("lr")
        style = MODEL_STYLE.get(model, {"label": model})
        error = 100 * (1 - rows["val_accuracy"])
        ax.plot(rows["lr"], error, ms=6, lw=1.5, **style)
        if model in chosen:
            best = rows["lr"] == chosen[model]
            ax.plot(rows.loc[best, "lr"], error[best], "o", ms=14, mfc="none",
                    color=style.get("color"))  # fmt: skip
    rates = sorted(frame["lr"].unique())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.minorticks_off()
    ax.set_yticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
    ax.set_xlabel("learning rate (SGD)")
    ax.set_ylabel("validation error (%, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT, loc="upper left")
    fig.tight_layout()
    return fig
