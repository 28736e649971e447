"""Figures shared by the notebooks and the book (matplotlib, small and labelled)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .sparsify import fixed_mask

__all__ = ["to_display", "sparsity_examples", "history_figure", "by_sparsity_figure"]


def to_display(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] -> (H, W) or (H, W, 3) float for imshow."""
    x = image.detach().cpu().float()
    if image.dtype == torch.uint8:
        x = x / 255.0
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def sparsity_examples(
    images: Tensor,
    sparsities: Sequence[float],
    seed: int = 0,
    indices: Sequence[int] | None = None,
    scale: float = 1.2,
) -> Figure:
    """A grid: one row per image, one column per sparsity, missing pixels black.

    images: (N, C, H, W) uint8 or float in [0, 1]; the masks are the fixed test masks
    of image ``indices[i]`` (default 0..N-1), as the models see them.
    """
    n, _, h, w = images.shape
    indices = list(range(n)) if indices is None else list(indices)
    fig, axes = plt.subplots(
        n, len(sparsities), figsize=(scale * len(sparsities), scale * n), squeeze=False
    )
    for j, s in enumerate(sparsities):
        masks = fixed_mask(indices, h, w, s, seed)
        for i in range(n):
            img = images[i].float() / (255.0 if images.dtype == torch.uint8 else 1.0)
            ax = axes[i, j]
            ax.imshow(to_display(img * masks[i]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{100 * s:g} %", fontsize=9)
    fig.supxlabel("sparsity (fraction of pixels removed)", fontsize=9)
    fig.tight_layout()
    return fig


def history_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Training loss and train/test accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o", ms=3)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax2.plot(epochs, [100 * h["train_accuracy"] for h in history], marker="o", ms=3, label="train")
    ax2.plot(epochs, [100 * h["test_accuracy"] for h in history], marker="s", ms=3, label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
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
