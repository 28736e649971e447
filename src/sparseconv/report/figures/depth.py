"""Depth figures: error curves per test density, example maps, first-layer kernels,
the two sampling patterns and the validation curves."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator
from torch import Tensor

from sparseconv.data.scenes import nearest_fill
from sparseconv.nn.networks import build_model
from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL, VARIANTS
from sparseconv.report.depth_curves import METRIC_SHORT, nearest_curve, pattern_of, uniform_runs
from sparseconv.report.depth_diagnostics import kernel_flatness
from sparseconv.report.figures.style import FONT, empty_figure, legend_below, model_style
from sparseconv.train.depth import decode_depth_examples, depth_masks, load_depth, split_indices


def patterns_figure() -> plt.Figure:

    scene = load_depth(limit=1).test
    levels = (0.98, 0.95, 0.9, 0.8, 0.5)
    fig, axes = plt.subplots(2, len(levels), figsize=(2.0 * len(levels), 4.3))
    for row, pattern in enumerate(("uniform", "lines")):
        for col, level in enumerate(levels):
            mask = depth_masks(split_indices("test", 1), level, pattern, seed=0)
            shown = np.ma.masked_where(mask[0, 0].numpy() == 0, scene[0, 0].numpy())
            ax = axes[row, col]
            ax.imshow(shown, cmap="magma_r", vmin=0, vmax=float(scene.max()))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{100 * (1 - level):g} % kept", fontsize=FONT)
            if col == 0:
                ax.set_ylabel(pattern, fontsize=FONT)
    fig.tight_layout()
    return fig


def depth_validation_curves(
    runs: pd.DataFrame, levels: tuple[float, ...] = DEPTH_DENSITIES
) -> Figure:
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


def lidar_panels(depth: Tensor, keep: Tensor, top: int = 0) -> Figure:
    """One KITTI scan from row ``top`` down: its returns, the kept share (the input) and
    raw nearest-neighbour fill of that input (metres). depth: (1, H, W) m, 0 where no
    return; keep: (1, H, W) bool. Returns are drawn 3 x 3 pixels wide to be visible."""
    depth, keep = depth[:, top:].cpu(), keep[:, top:].cpu()
    kept = depth * keep
    fill = nearest_fill(kept[None], keep[None].to(depth.dtype))[0]

    def widened(values: Tensor) -> np.ndarray:
        # the nearest return's depth within a 3 x 3 window, for display only
        grown = torch.nn.functional.max_pool2d(values[None], 3, 1, 1)[0, 0].numpy()
        return np.ma.masked_where(grown == 0, grown)

    panels = [("returns", widened(depth)), ("input: the kept returns", widened(kept)),
              ("nearest-neighbour fill of the input", fill[0].numpy())]  # fmt: skip
    fig, axes = plt.subplots(3, 1, figsize=(8, 5.2))
    vmax = float(depth.max()) if depth.numel() else 1.0
    image = None
    for ax, (name, values) in zip(axes, panels, strict=True):
        ax.set_facecolor("white")
        image = ax.imshow(values, cmap="magma_r", vmin=0, vmax=vmax, aspect="auto",
                          interpolation="nearest")  # fmt: skip
        ax.set_title(name, fontsize=FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="depth (m)", shrink=0.8)
    return fig


def depth_history_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Training loss (L1, m) and the validation MAE (m) per epoch: on the missing pixels
    and on all pixels (synthetic scenes), or on the held-out returns (KITTI)."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o", ms=3)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss, L1 (m)")
    if history and "val_mae_missing" in history[0]:
        ax2.plot(epochs, [h["val_mae_missing"] for h in history], marker="o", ms=3,
                 label="missing pixels")  # fmt: skip
        ax2.plot(epochs, [h["val_mae"] for h in history], marker="s", ms=3, label="all pixels")
    else:  # kitti: the held-out returns
        ax2.plot(epochs, [h["val_mae"] for h in history], marker="o", ms=3,
                 label="held-out returns")  # fmt: skip
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation MAE (m)")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=FONT)
    fig.tight_layout()
    return fig


def examples_and_kernels(runs: pd.DataFrame) -> dict[str, Any]:

    uniform = uniform_runs(runs)
    chosen = (
        uniform[np.isclose(uniform["sparsity"], DEPTH_DENSITIES[0]) & (uniform["seed"] == 0)]
        if len(uniform)
        else uniform
    )
    out: dict[str, Any] = {}
    if chosen.empty:
        out["fig_depth_examples"] = empty_figure("no finished run at 5 % density yet")
    else:
        preds = {
            MODEL_LABELS[m]: decode_depth_examples(r["example_predictions"])
            for m, r in zip(chosen["model"], chosen["record"], strict=True)
        }
        test = load_depth(limit=3).test
        masks = depth_masks(split_indices("test", 3), DEPTH_DENSITIES[0], "uniform", seed=0)
        out["fig_depth_examples"] = depth_panels(test, masks, preds)
    kernels = (
        {
            m: r["first_layer_kernels"]
            for m, r in zip(chosen["model"], chosen["record"], strict=True)
        }
        if len(chosen)
        else {}
    )
    shown = [m for m in MODEL_LABELS if m in kernels]
    out["fig_depth_kernels"] = (
        kernel_grid({MODEL_LABELS[m]: kernels[m] for m in shown})
        if kernels
        else empty_figure("no run at 5 % density with seed 0 yet")
    )
    torch.manual_seed(0)  # one fixed draw of initial weights: the same number every build
    init = build_model("depth", "sparse").blocks[0].conv.weight.detach()[:, 0].tolist()
    # the kernels' flat shares, for the page's sentence (report.text.results.flatness_text)
    out["flatness"] = ({m: kernel_flatness(kernels[m]) for m in shown}, kernel_flatness(init))
    return out
