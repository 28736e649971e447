"""Result figures: accuracy against sparsity, the train x test matrices, the first
page's figure at a glance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sparseconv.registry.datasets import DATASET_NAMES, DEPTH_DENSITIES
from sparseconv.registry.models import VARIANTS
from sparseconv.registry.study import (
    GRIDS,
)
from sparseconv.report.analysis import (
    cross_matrix,
    cross_summary,
    seed_summary,
)
from sparseconv.report.families import metric_key
from sparseconv.report.figures.depth import depth_mae_curves
from sparseconv.report.figures.style import FONT, empty_figure, legend_below, model_style


def invariance_figures(runs: pd.DataFrame, dataset: str) -> tuple[Any, Any]:
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


def accuracy_figure(runs: pd.DataFrame, references: pd.DataFrame, dataset: str, metric: str) -> Any:
    summary = seed_summary(runs, metric)
    if summary.empty:
        return empty_figure(f"no finished {DATASET_NAMES[dataset]} runs yet", (7.0, 4.0))
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    refs = references[references["dataset"] == dataset] if metric == "test_accuracy" else None
    ylabel = "test accuracy (%)" if metric == "test_accuracy" else "mean per-class accuracy (%)"
    accuracy_vs_sparsity(summary, ax=ax, references=refs, ylabel=ylabel, legend_outside=True)
    return fig


def glance_figure(study: dict[str, pd.DataFrame]) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.2))
    for ax, dataset in zip(axes[0], ("mnist", "caltech101"), strict=True):
        runs = study[dataset]
        title = DATASET_NAMES[dataset]
        if runs.empty:
            ax.text(0.5, 0.5, f"no finished {title} runs yet", ha="center", transform=ax.transAxes)
            ax.set_title(title)
            ax.set_axis_off()
        else:
            accuracy_vs_sparsity(seed_summary(runs), ax=ax, title=title)
    depth = study["depth"]
    for ax, level in zip(axes[1], DEPTH_DENSITIES, strict=True):
        depth_mae_curves(depth, level, ax=ax)
    legend_below(fig, list(axes.ravel()))
    return fig


def by_sparsity_figure(
    by_sparsity: Mapping[str, float], train_sparsity: float, ylabel: str = "test accuracy (%)"
) -> Figure:
    """One trained model tested at every sparsity; the training sparsity is marked."""
    levels = sorted(float(k) for k in by_sparsity)
    values = [100 * by_sparsity[f"{v:g}"] for v in levels]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([100 * v for v in levels], values, marker="o", ms=4)
    ax.axvline(100 * train_sparsity, color="grey", ls="--", lw=1, label="training sparsity")
    ax.set_xlabel("test sparsity (% of pixels removed)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def accuracy_vs_sparsity(
    summary: Any,
    ax: Any = None,
    title: str = "",
    ylabel: str = "test accuracy (%)",
    references: Any = None,
    legend_outside: bool = False,
) -> Figure:
    """Mean +- sd over seeds per model against the training sparsity (= test sparsity).

    ``summary``: the frame of :func:`sparseconv.report.analysis.seed_summary` (fractions).
    ``references``: optional frame (source, model, sparsity, accuracy in %) drawn dashed.
    ``legend_outside``: the legend right of the panel, so it covers no curve.
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    for model, style in ((m, model_style(m)) for m in VARIANTS):
        rows = summary[summary["model"] == model].sort_values("sparsity")
        if rows.empty:
            continue
        std = rows["std"].fillna(0.0)
        ax.errorbar(
            100 * rows["sparsity"],
            100 * rows["mean"],
            yerr=100 * std,
            capsize=3,
            ms=4,
            lw=1.5,
            **style,
        )
    if references is not None:
        for (source, model), rows in references.groupby(["source", "model"]):
            style = model_style(model)
            rows = rows.sort_values("sparsity")
            ax.plot(
                100 * rows["sparsity"],
                rows["accuracy"],
                ls="--" if source == "group66" else ":",
                color=style["color"],
                lw=1,
                alpha=0.8,
                label=f"{style['label']} ({source})",
            )
    ax.set_xlim(0, 95)  # the grids span 5-90 %; fixed, so sparse grids read alike
    ax.set_xlabel("sparsity (% removed; train = test)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend_outside:
        ax.legend(fontsize=FONT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    else:
        ax.legend(fontsize=FONT)
    if title:
        ax.set_title(title, fontsize=FONT)
    if fig is None:
        fig = ax.figure
    fig.tight_layout()
    return fig


def cross_heatmaps(
    matrices: Mapping[str, Any],
    title: str = "",
    vmin: float = 0.0,
    train_levels: Sequence[float] | None = None,
    label: str | None = None,
) -> Figure:
    """One heat map per model: rows train sparsity, columns test sparsity, accuracy in %
    (``label``: the colour bar's, default 'test accuracy (%)').

    ``matrices``: model -> frame from :func:`sparseconv.report.analysis.cross_summary` (fractions).
    ``train_levels``: the rows to show (a grid's training sparsities); rows without a
    finished run are left grey, so the layout does not change as runs arrive.
    """
    models = [m for m in VARIANTS if m in matrices and not matrices[m].empty]
    # one panel per row, the page's width each: twelve columns of two-digit numbers at a
    # legible size need about 0.55 inch per cell
    n = max(1, len(models))
    cols, rows_n = 1, n
    fig, axes = plt.subplots(rows_n, cols, figsize=(9.0, 3.9 * rows_n), squeeze=False)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    image = None
    for ax, model in zip(axes.flat, models, strict=False):
        m = matrices[model]
        if train_levels is not None:
            m = m.reindex(list(train_levels))
        values = 100 * m.to_numpy(dtype=float)
        image = ax.imshow(
            np.ma.masked_invalid(values), vmin=100 * vmin, vmax=100, cmap=cmap, aspect="auto"
        )
        ax.set_xticks(range(len(m.columns)), [f"{100 * c:g}" for c in m.columns], fontsize=FONT)
        ax.set_yticks(range(len(m.index)), [f"{100 * r:g}" for r in m.index], fontsize=FONT)
        ax.set_xlabel("test sparsity (%)")
        ax.set_ylabel("training sparsity (%)")
        ax.set_title(model_style(model)["label"], fontsize=FONT)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    dark = values[i, j] < 100 * (vmin + 1) / 2
                    ax.text(
                        j,
                        i,
                        f"{values[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=FONT,
                        color="white" if dark else "black",
                    )
    for ax in list(axes.flat)[len(models) :]:
        ax.set_axis_off()
    fig.tight_layout()
    if image is not None:
        fig.colorbar(
            image, ax=axes.ravel().tolist(), label=label or "test accuracy (%)", shrink=0.6
        )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def cross_curves(
    long: Any, train_sparsity: float, ax: Any = None, ylabel: str = "test accuracy (%)"
) -> Figure:
    """Models trained at ``train_sparsity`` tested at every level (mean +- sd over seeds).

    ``long``: the frame of :func:`sparseconv.report.analysis.cross_matrix`.
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    rows = long[np.isclose(long["train_sparsity"], train_sparsity)]
    for model, style in ((m, model_style(m)) for m in VARIANTS):
        sub = rows[rows["model"] == model]
        if sub.empty:
            continue
        stats = sub.groupby("test_sparsity")["value"].agg(["mean", "std"]).reset_index()
        ax.errorbar(
            100 * stats["test_sparsity"],
            100 * stats["mean"],
            yerr=100 * stats["std"].fillna(0.0),
            capsize=3,
            ms=4,
            lw=1.5,
            **style,
        )
    ax.axvline(100 * train_sparsity, color="grey", ls="--", lw=1)
    ax.set_xlabel("test sparsity (% of pixels removed)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"trained at {100 * train_sparsity:g} % sparsity", fontsize=FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT)
    if fig is None:
        fig = ax.figure
    fig.tight_layout()
    return fig
