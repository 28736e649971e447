"""Figures shared by the notebooks and the book (matplotlib, small and labelled)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator
from torch import Tensor

from sparseconv.data.sparsify import fixed_mask
from sparseconv.registry.models import NEAREST_LABEL, VARIANTS
from sparseconv.report.depth_tables import METRIC_SHORT, nearest_curve, pattern_of

__all__ = ["to_display", "sparsity_examples", "history_figure", "by_sparsity_figure"]


def to_display(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] -> (H, W) or (H, W, 3) float for imshow."""
    x = image.detach().cpu().float()
    if image.dtype == torch.uint8:
        x = x / 255.0
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def sparsity_examples(
    images: Tensor | Sequence[Tensor],
    sparsities: Sequence[float],
    seed: int = 0,
    indices: Sequence[int] | None = None,
    scale: float = 1.2,
    columns: int | None = None,
) -> Figure:
    """A grid of each image at each sparsity (each level once, in increasing order),
    missing pixels black; with ``columns``, the levels wrap into rows of that many.

    images: (N, C, H, W) or a list of (C, H, W), uint8 or float in [0, 1]; rows may
    differ in size and channels. The masks are the fixed test masks of image
    ``indices[i]`` (default 0..N-1), as the models see them.
    """
    rows = list(images)
    levels = sorted({round(float(s), 6) for s in sparsities})
    per_row = columns or len(levels)
    chunks = [levels[k : k + per_row] for k in range(0, len(levels), per_row)]
    indices = list(range(len(rows))) if indices is None else list(indices)
    n_rows = len(rows) * len(chunks)
    fig, axes = plt.subplots(
        n_rows, per_row, figsize=(scale * per_row, scale * n_rows + 0.5), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, image in enumerate(rows):
        _, h, w = image.shape
        img = image.float() / (255.0 if image.dtype == torch.uint8 else 1.0)
        for c, chunk in enumerate(chunks):
            for j, s in enumerate(chunk):
                mask = fixed_mask([indices[i]], h, w, s, seed)[0]
                ax = axes[i * len(chunks) + c, j]
                ax.set_axis_on()
                ax.imshow(to_display(img * mask), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{100 * s:g} %", fontsize=FONT)
    fig.supxlabel("sparsity (% of pixels removed)", fontsize=FONT)
    fig.tight_layout()
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


def model_style(name: str) -> dict[str, str]:
    """Label, colour and marker of model ``name`` from its registry row (line styles are
    drawn only where two variants share a colour family); an unknown name: its label."""
    row = VARIANTS.get(name)
    if row is None:
        return {"label": name}
    return {"label": row.label, "color": row.color, "marker": row.marker}


FONT = 12  # the smallest text in a figure (annotations, ticks, legends), in points
# Figures are at most 10 inches wide and shown at the book's page width (about 7.3 inches),
# so text set at 12-14 pt reads at 9 pt or more on the page.
plt.rcParams.update(
    {
        "font.size": 14,
        "axes.titlesize": 14,
        "axes.labelsize": 14,
        "xtick.labelsize": 13,
        "ytick.labelsize": 13,
        "legend.fontsize": FONT,
        "figure.titlesize": 15,
    }
)


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


def depth_mae_curves(
    runs: Any, train_sparsity: float, ax: Any = None, metric: str = "mae_missing"
) -> Figure:
    """Depth models trained at ``train_sparsity`` (uniform sampling) tested at every density:
    the error ``metric`` (m, mean +- sd over seeds; default the MAE on the missing pixels)
    against the test density on a log axis running from dense (left) to sparse (right),
    with raw nearest-neighbour interpolation as a dashed line and the training density
    dotted.

    ``runs``: the frame of :func:`sparseconv.report.analysis.load_runs` for "depth".
    """
    import pandas as pd

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.8))
    density = 100 * (1 - train_sparsity)
    sub = runs
    if not runs.empty:
        sub = runs[(pattern_of(runs) == "uniform") & np.isclose(runs["sparsity"], train_sparsity)]
    if sub.empty:
        ax.text(
            0.5,
            0.5,
            f"no model trained at {density:g} % density yet",
            ha="center",
            transform=ax.transAxes,
        )
    for model, style in ((m, model_style(m)) for m in VARIANTS):
        rows = sub[sub["model"] == model] if not sub.empty else sub
        if rows.empty:
            continue
        table = pd.DataFrame([r[f"test_{metric}_by_sparsity"] for r in rows["record"]])
        x = [100 * (1 - float(c)) for c in table.columns]
        ax.errorbar(x, table.mean(), yerr=table.std().fillna(0.0), capsize=3, ms=4, **style)
    nearest = nearest_curve(sub, "uniform", metric) if not sub.empty else pd.Series(dtype=float)
    if not nearest.empty:
        ax.plot(100 * (1 - nearest.index), nearest.values, "k--", lw=1, label=NEAREST_LABEL)
    ax.axvline(density, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")  # equal ratios, equal distances: a flat curve is invariance
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks([2, 5, 10, 20, 30, 50, 70], ["2", "5", "10", "20", "30", "50", "70"])
    ax.minorticks_off()
    # density falls to the right, as sparsity rises to the right in the classification
    # figures: in every figure of the book the input gets sparser to the right
    ax.invert_xaxis()
    ax.set_xlabel("test density (% kept, log; sparser to the right)")
    ax.set_ylabel(f"{METRIC_SHORT[metric]} (m, log scale)")
    ax.set_title(f"depth, trained at {density:g} % density", fontsize=FONT)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=FONT)
    if fig is None:
        fig = ax.figure
    return fig


def kernel_grid(kernels: Mapping[str, Any]) -> Figure:
    """One row per model: its first-layer kernels (C_out, k, k), each on its own symmetric
    colour scale (red positive, blue negative), so that the shape, not the size, shows."""
    names = list(kernels)
    count = max(len(k) for k in kernels.values())
    fig, axes = plt.subplots(
        len(names), count, figsize=(0.62 * count, 0.75 * len(names) + 0.3), squeeze=False
    )
    for i, name in enumerate(names):
        w = np.asarray(kernels[name], dtype=float)
        for j in range(count):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(w):
                limit = float(np.abs(w[j]).max()) or 1.0
                ax.imshow(w[j], cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:
                ax.set_axis_off()
        axes[i, 0].set_ylabel(name, fontsize=FONT + 3, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.24, right=0.99, top=0.97, bottom=0.03, wspace=0.08, hspace=0.1)
    return fig


def legend_below(fig: Figure, axes: Sequence[Any], ncol: int = 3) -> None:
    """One legend for the whole figure, below the panels (the curves stay uncovered):
    every label of ``axes`` once, in order of first appearance; the panels' own legends
    are removed."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
        if ax.get_legend():
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=FONT, frameon=False)
    # room for the legend's rows, in inches (about 0.3 in a row at FONT), as a share
    rows = (len(labels) + ncol - 1) // ncol
    fig.tight_layout(rect=(0, (0.3 + 0.3 * rows) / fig.get_figheight(), 1, 1))


def depth_panels(
    truth: Tensor, mask: Tensor, predictions: Mapping[str, Tensor] | None = None
) -> Figure:
    """Rows: scenes. Columns: ground truth, sparse input, then each prediction (metres).

    truth, mask: (N, 1, S, S); predictions: name -> (N, 1, S, S).
    """
    predictions = dict(predictions or {})
    n = truth.shape[0]
    cols = 2 + len(predictions)
    fig, axes = plt.subplots(n, cols, figsize=(1.7 * cols, 2.0 * n), squeeze=False)
    vmax = float(truth.max())
    image = None
    for i in range(n):
        sparse = np.ma.masked_where(mask[i, 0].cpu().numpy() == 0, truth[i, 0].cpu().numpy())
        panels = [("ground truth", truth[i, 0].cpu().numpy()), ("sparse input", sparse)]
        panels += [(name, p[i, 0].detach().cpu().numpy()) for name, p in predictions.items()]
        for j, (name, values) in enumerate(panels):
            ax = axes[i, j]
            ax.set_facecolor("white")
            image = ax.imshow(values, cmap="magma_r", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(textwrap.fill(name, 10), fontsize=FONT)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="depth (m)", shrink=0.7)
    return fig


def depth_history_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Training loss (L1 over all pixels, m) and the validation MAE (m) on the missing
    pixels and on all pixels, per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o", ms=3)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss, L1 (m)")
    ax2.plot(
        epochs, [h["val_mae_missing"] for h in history], marker="o", ms=3, label="missing pixels"
    )
    ax2.plot(epochs, [h["val_mae"] for h in history], marker="s", ms=3, label="all pixels")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation MAE (m)")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=FONT)
    fig.tight_layout()
    return fig
