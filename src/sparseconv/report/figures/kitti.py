"""The KITTI page's figure: the error on the held-out returns against the share kept."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.models import NEAREST_LABEL
from sparseconv.report.figures.style import FONT, empty_figure, legend_below, model_style
from sparseconv.report.kitti_tables import NEAREST

__all__ = ["kitti_error_figure"]


def kitti_error_figure(means: pd.DataFrame, metric: str = "MAE") -> Figure:
    """One panel per training share, one line per model (mean over seeds, bars: one
    standard deviation), raw nearest neighbour dashed: the error (m) on the held-out
    returns against the share of the returns the test input keeps (log scale)."""
    if means.empty:
        return empty_figure("no KITTI run has finished yet")
    levels = [s for s in KITTI_TRAIN_SPARSITIES if s in set(means["sparsity"])]
    fig, axes = plt.subplots(1, len(levels), figsize=(9, 3.6), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        part = means[means["sparsity"] == level]
        for model, rows in part.groupby("model", sort=False):
            rows = rows.sort_values("kept")
            if model == NEAREST:
                style = {"label": NEAREST_LABEL, "color": "k", "linestyle": "--", "marker": ""}
            else:
                style = model_style(model)
            ax.errorbar(rows["kept"], rows["mean"], yerr=rows["std"].fillna(0), ms=4,
                        capsize=2, **style)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 25, 50, 90], ["5", "10", "25", "50", "90"])
        ax.minorticks_off()
        ax.set_xlabel("returns kept at test (%, log scale)")
        ax.set_title(f"trained keeping {100 * (1 - level):.0f} %", fontsize=FONT)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"{metric} on the held-out returns (m)")
    legend_below(fig, list(axes[0]))
    return fig
