"""The figures' shared style: font sizes, each model's label, colour and marker, the
legend below the panels, the empty figure and image display."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from sparseconv.registry.models import VARIANTS

__all__ = ["FONT", "model_style", "legend_below", "to_display", "empty_figure"]


def to_display(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] -> (H, W) or (H, W, 3) float for imshow."""
    x = image.detach().cpu().float()
    if image.dtype == torch.uint8:
        x = x / 255.0
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


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


def empty_figure(text: str, size: tuple[float, float] = (7.0, 2.0)) -> Figure:
    """A small figure that says why there is nothing to show yet."""
    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT + 1)
    ax.set_axis_off()
    return fig
