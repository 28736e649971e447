"""The method page's illustrations: sparsified examples, what the averaging makes
invariant (output moments against sparsity) and how far the mask spreads."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from sparseconv.data.sparsify import fixed_mask, random_mask
from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.networks import build_model, valid_fraction_per_layer
from sparseconv.registry.datasets import DATASET_NAMES, DATASETS
from sparseconv.report.figures.style import FONT, to_display


def output_moments(
    k: int = 11, size: int = 64, draws: int = 32, seed: int = 0
) -> dict[str, list[tuple[float, float, float]]]:
    """One k x k layer on a constant scene (every valid pixel reads 1), flat and random
    kernel, the paper's layer and a plain convolution divided by k^2: per density
    (% kept), the mean and standard deviation of the output away from the border."""
    densities = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
    g = torch.Generator().manual_seed(seed)
    kernels = {
        "flat kernel": torch.ones(k, k),
        "random kernel": 1.0 + torch.randn(k, k, generator=g),
    }
    x = torch.ones(draws, 1, size, size)
    inner = slice(k, size - k)
    stats: dict[str, list[tuple[float, float, float]]] = {}
    for name, kernel in kernels.items():
        layer = SparseConv2d(1, 1, k, bias=False)
        with torch.no_grad():
            layer.weight.copy_(kernel.view(1, 1, k, k))
        for d in densities:
            mask = (
                random_mask(draws, size, size, 1.0 - d, generator=g)
                if d < 1
                else (torch.ones_like(x))
            )
            with torch.no_grad():
                y, mask_out = layer(x * mask, mask)
                conv = F.conv2d(x * mask, kernel.view(1, 1, k, k) / k**2, padding=k // 2)
            valid = mask_out[..., inner, inner] > 0
            for label, out in ((f"sparse conv, {name}", y), (f"ConvNet, {name}", conv)):
                v = out[..., inner, inner][valid]
                stats.setdefault(label, []).append((100 * d, v.mean().item(), v.std().item()))
    return stats


def moments_figure(stats: dict[str, list[tuple[float, float, float]]]) -> Figure:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = {
        "sparse conv, flat kernel": ("#1f77b4", "-", "o"),
        "sparse conv, random kernel": ("#1f77b4", "--", "D"),
        "ConvNet, flat kernel": ("#d62728", "-", "s"),
        "ConvNet, random kernel": ("#d62728", "--", "^"),
    }
    for label, rows in stats.items():
        color, ls, marker = styles[label]
        d, mean, std = zip(*rows, strict=True)
        ax1.plot(d, mean, color=color, ls=ls, marker=marker, ms=4, label=label)
        ax2.plot(d, std, color=color, ls=ls, marker=marker, ms=4, label=label)
    ax1.set_ylabel("mean of the output")
    ax2.set_ylabel("standard deviation of the output")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks([2, 5, 10, 20, 50, 100], ["2", "5", "10", "20", "50", "100"])
        ax.minorticks_off()
        ax.set_xlabel("input density (% of pixels kept, log scale)")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=FONT)
    fig.tight_layout()
    return fig


def valid_fraction_figure() -> Figure:
    """Valid positions after each block against the input sparsity, one panel per data
    set side by side, on the range where they part from 100 % (70 % sparsity and up)."""
    levels = [0.7, 0.8, 0.85, 0.9, 0.95, 0.98]
    # the data sets with uniform masks over the pixels (KITTI keeps a share of returns)
    shown = [(name, row.size) for name, row in DATASETS.items() if row.task != "lidar"]
    fig, axes = plt.subplots(1, len(shown), figsize=(10, 4.0), sharey=True)
    for ax, (dataset, size) in zip(axes, shown, strict=True):
        net = build_model(dataset, "sparse")
        fractions = [
            valid_fraction_per_layer(net, fixed_mask(range(256), size, size, s)) for s in levels
        ]
        x = [100 * s for s in levels]
        ax.plot(x, [100 * (1 - s) for s in levels], "k--", lw=1, label="input")
        for layer in range(len(net.blocks)):
            ax.plot(
                x,
                [100 * f[layer] for f in fractions],
                marker="o",
                ms=3,
                label=f"block {layer + 1} (conv{net.spec.kernels[layer]})",
            )
        ax.set_xlabel("input sparsity (%)")
        ax.set_title(f"{DATASET_NAMES[dataset]} ({size} × {size})", fontsize=FONT)
        ax.set_ylim(0, 104)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT - 2, loc="center left", bbox_to_anchor=(0.0, 0.6), frameon=False)
    axes[0].set_ylabel("valid positions (%)")
    fig.tight_layout()
    return fig


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
