"""The method page's figures: what the averaging makes invariant, the sparsity levels,
the networks and how far the mask spreads through them."""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from sparseconv.data.images import caltech101_example, load_mnist
from sparseconv.data.sparsify import fixed_mask, random_mask
from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.networks import build_model, count_parameters, valid_fraction_per_layer
from sparseconv.registry.datasets import DATASET_NAMES, TEST_SPARSITIES
from sparseconv.registry.models import MODEL_LABELS, MODELS
from sparseconv.registry.study import (
    BUDGET_CHECK,
    DEPTH_MARGIN_SHARE,
    MARGINS,
    PRIMARY_ESTIMANDS,
    VERDICT_MIN_SEEDS,
)
from sparseconv.report.budget import (
    budget_check,
    budget_figure,
    budget_table,
    load_budget,
    sufficient_budget,
)
from sparseconv.report.claims import CLAIMS
from sparseconv.report.figures import FONT, sparsity_examples
from sparseconv.report.tables import styled

__all__ = ["output_moments", "method_page"]


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


def _moments_figure(stats: dict[str, list[tuple[float, float, float]]]) -> Figure:
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


def _valid_fraction_figure() -> Figure:
    """Valid positions after each block against the input sparsity, one panel per data
    set side by side, on the range where they part from 100 % (70 % sparsity and up)."""
    levels = [0.7, 0.8, 0.85, 0.9, 0.95, 0.98]
    fig, axes = plt.subplots(1, 3, figsize=(10, 4.0), sharey=True)
    for ax, (dataset, size) in zip(
        axes, [("mnist", 28), ("caltech101", 64), ("depth", 48)], strict=True
    ):
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


def preregistration_table() -> pd.DataFrame:
    """The verdict rule's fixed choices per claim (``study``): the primary estimand, the
    metric, the baselines, the equivalence margin and its reason."""
    rows = []
    for claim in CLAIMS:
        margin, reason = MARGINS[claim.dataset]
        size = (
            f"{margin:g} {claim.unit}"
            if margin is not None
            else f"{100 * DEPTH_MARGIN_SHARE:g} % of raw NN's MAE"
        )
        rows.append(
            {
                "claim": claim.number,
                "data set": DATASET_NAMES[claim.dataset],
                "primary estimand (per seed)": PRIMARY_ESTIMANDS[claim.kind],
                "baselines": ", ".join(MODEL_LABELS[b] for b in claim.baselines),
                "margin Δ": size,
                "why this margin": reason,
            }
        )
    return pd.DataFrame(rows)


def _budget_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The budget check's table, decision and figure per classification data set."""
    out: dict[str, Any] = {}
    for dataset, setting in BUDGET_CHECK.items():
        frame = load_budget(results_dir, dataset)
        name = DATASET_NAMES[dataset]
        metric = "mean per-class accuracy" if dataset == "caltech101" else "accuracy"
        table = budget_table(frame)
        out[f"budget_{dataset}_table"] = styled(
            table,
            f"{name}: validation {metric} (%) per training level and budget, "
            "mean over the seeds that have run, and each model's difference to the "
            "ConvNet of the same seed (points).",
            empty=f"no {name} budget runs yet",
        )
        out[f"budget_{dataset}_check"] = styled(
            budget_check(frame, dataset),
            f"{name}: the largest change on doubling the budget, over models and levels "
            "(points), against its limits; noise: the standard error of one model's mean "
            "change from the spread over seeds. '–': a budget whose runs are not all in.",
        )
        chosen = sufficient_budget(frame, dataset)
        done = len(frame)
        total = len(setting["sparsities"]) * len(setting["seeds"]) * len(setting["epochs"]) * 4
        out[f"budget_{dataset}_choice"] = (
            f"The smallest sufficient budget for {name} is {chosen} epochs."
            if chosen is not None
            else f"No {name} budget is shown sufficient yet ({done} of {total} budget runs "
            "finished)."
        )
        out[f"fig_budget_{dataset}"] = budget_figure(frame, dataset)
    return out


def method_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the method page glues."""
    stats = output_moments()
    sd = {d: s for d, _, s in stats["sparse conv, random kernel"]}
    digit = load_mnist(train=False)[0][0]
    image = caltech101_example(index=5)
    rows = []
    for dataset in ("mnist", "caltech101", "depth"):
        for model in MODELS:
            net = build_model(dataset, model)
            rows.append(
                {
                    "data set": dataset,
                    "model": MODEL_LABELS[model],
                    "architecture": net.spec.describe(),
                    "parameters": count_parameters(net),
                }
            )
    return {
        "fig_moments": _moments_figure(stats),
        "moments_sd_5": sd[5.0],
        "moments_sd_50": sd[50.0],
        "fig_levels": sparsity_examples([digit, image], TEST_SPARSITIES, scale=1.55, columns=6),
        "tab_models": styled(
            pd.DataFrame(rows),
            "The networks of the study and their "
            "parameter counts (the paper's layer trained two ways shares one "
            "network).",
        ),
        "fig_valid_fraction": _valid_fraction_figure(),
        **_budget_values(results_dir),
        "verdict_min_seeds": VERDICT_MIN_SEEDS,
        "tab_preregistration": styled(
            preregistration_table(),
            "The verdict rule's choices, fixed in sparseconv.registry.study before the protocol-3 "
            "grids ran: per claim the primary estimand, its baselines and the "
            "equivalence margin.",
        ),
    }
