"""The KITTI page's figures: the error on the held-out returns against the share kept, and
the models' completions of a frame with KITTI's ground truth."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from sparseconv.data.kitti import GroundTruthFrame, ground_truth_frames
from sparseconv.data.scenes import nearest_fill
from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.models import NEAREST_LABEL
from sparseconv.report.figures.style import FONT, empty_figure, legend_below, model_style
from sparseconv.report.kitti_tables import NEAREST, stored_examples

__all__ = ["kitti_error_figure", "frame_blocks", "kitti_prediction_figure", "predictions_figure"]


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


def frame_blocks(depth: torch.Tensor, stride: int, how: str = "mean") -> np.ndarray:
    """A frame (..., H, W) in metres, 0 where nothing is measured, over blocks of
    ``stride`` x ``stride`` pixels (the grid of a stored completion): the mean of each
    block's measured pixels (``"mean"``, 0 where none) or their maximum (``"max"``)."""
    frame = depth.float().reshape(1, 1, *depth.shape[-2:])
    if how == "max":
        return F.max_pool2d(frame, stride, ceil_mode=True)[0, 0].numpy()
    measured = (frame > 0).float()
    total = F.avg_pool2d(frame, stride, ceil_mode=True, count_include_pad=False)
    share = F.avg_pool2d(measured, stride, ceil_mode=True, count_include_pad=False)
    return torch.where(share > 0, total / share.clamp_min(1e-12), 0.0)[0, 0].numpy()


def kitti_prediction_figure(
    frame: GroundTruthFrame, predictions: Mapping[str, np.ndarray], stride: int
) -> Figure:
    """One ground-truth frame from the first row with ground truth down, two panels a
    row: the input (its full velodyne_raw, each block's nearest return, so that the
    returns show), KITTI's semi-dense ground truth, raw nearest-neighbour fill of the
    input, then each model's completion (``predictions``: label -> map at ``stride``, as
    stored in the records); one colour scale in metres, white where nothing is measured."""
    raw, truth = frame.velodyne_raw, frame.groundtruth
    keep = (raw > 0).float().reshape(1, 1, *raw.shape[-2:])
    fill = nearest_fill(raw.reshape(1, 1, *raw.shape[-2:]) * keep, keep)
    panels = {
        "input: the full scan": frame_blocks(raw, stride, "max"),
        "KITTI's ground truth": frame_blocks(truth, stride),
        NEAREST_LABEL: frame_blocks(fill, stride),
        **dict(predictions),
    }
    rows_with_truth = np.flatnonzero(panels["KITTI's ground truth"].max(axis=1) > 0)
    top = int(rows_with_truth[0]) if len(rows_with_truth) else 0
    vmax = float(np.percentile(truth[truth > 0].numpy(), 98)) if bool((truth > 0).any()) else 1.0
    cols = 2
    n_rows = -(-len(panels) // cols)
    height, width = panels[NEAREST_LABEL][top:].shape
    panel_h = 4.6 * height / width + 0.4  # inches, with the title
    fig, axes = plt.subplots(n_rows, cols, figsize=(9.4, panel_h * n_rows + 0.9), squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.97, bottom=0.16, wspace=0.04, hspace=0.3)
    image = None
    for ax, (name, values) in zip(axes.ravel(), panels.items(), strict=False):
        shown = values[top:]
        masked = np.ma.masked_where(shown <= 0, shown) if name != NEAREST_LABEL else shown
        image = ax.imshow(masked, cmap="magma_r", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if image is not None:
        bar = fig.add_axes((0.3, 0.09, 0.4, 0.02))
        fig.colorbar(image, cax=bar, orientation="horizontal", label="depth (m)")
    return fig


def predictions_figure(runs: pd.DataFrame, sparsity: float, data_dir: str | None = None) -> Figure:
    """:func:`kitti_prediction_figure` of the completions the records trained at
    ``sparsity`` keep (:func:`~sparseconv.report.kitti_tables.stored_examples`), on their
    frame read from the data folder; a note where no record keeps one."""
    name, stride, maps = stored_examples(runs, sparsity)
    if name is None:
        kept = round(100 * (1 - sparsity))
        return empty_figure(f"no KITTI run trained keeping {kept} % has finished yet")
    frame = next(f for f in ground_truth_frames(data_dir) if f.name == name)
    return kitti_prediction_figure(frame, maps, stride)
