"""What the depth page shows, computed from the depth records (see ``book/depth.md``)."""

from __future__ import annotations

import math
import os
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .analysis import depth_curve, depth_table, grid_progress, kernel_flatness, load_runs
from .claims import CLAIMS, judge
from .plots import FONT, depth_mae_curves, depth_panels, kernel_grid, legend_below
from .study import MODEL_LABELS
from .tables import note_table, styled
from .training_plots import empty_figure

__all__ = ["depth_page", "lines_table"]

MODELS = ("sparse", "sparse_partial", "dense", "dense_mask")
NAN = float("nan")


def _pattern(runs: pd.DataFrame, pattern: str) -> pd.DataFrame:
    if runs.empty:
        return runs
    return runs[runs["record"].map(lambda r: r.get("pattern", "uniform")) == pattern]


def lines_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Test MAE (m) of the models trained on the lines pattern, by test density (% kept,
    ascending), with nearest-neighbour interpolation as the last row."""
    lines = _pattern(runs, "lines")
    if lines.empty:
        return pd.DataFrame()
    table = {MODEL_LABELS[m]: r["test_mae_by_sparsity"] for m, r in
             zip(lines["model"], lines["record"], strict=True)}  # fmt: skip
    table["nearest neighbour (no training)"] = lines["record"].iloc[0]["nearest_mae_by_sparsity"]
    frame = pd.DataFrame(table).T
    frame = frame[sorted(frame.columns, key=float, reverse=True)]
    frame.columns = [f"{100 * (1 - float(c)):g} %" for c in frame.columns]
    frame.index.name = "model"
    return frame


def _figures(runs: pd.DataFrame) -> dict[str, Any]:
    from .depth_run import decode_depth_examples, depth_masks, load_depth

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2), sharey=True)
    for ax, level in zip(axes, (0.95, 0.5), strict=True):
        depth_mae_curves(runs, level, ax=ax)
    axes[1].set_ylabel("")
    legend_below(fig, axes)
    out: dict[str, Any] = {"fig_depth_mae": fig}
    uniform = _pattern(runs, "uniform")
    chosen = uniform[np.isclose(uniform["sparsity"], 0.95) & (uniform["seed"] == 0)] if len(
        uniform) else uniform  # fmt: skip
    if chosen.empty:
        out["fig_depth_examples"] = empty_figure("no finished run at 5 % density yet")
    else:
        preds = {MODEL_LABELS[m]: decode_depth_examples(r["example_predictions"])
                 for m, r in zip(chosen["model"], chosen["record"], strict=True)}  # fmt: skip
        test = load_depth(limit=3).test
        out["fig_depth_examples"] = depth_panels(
            test, depth_masks(range(3), 0.95, "uniform", seed=0), preds
        )
    kernels = {m: r["first_layer_kernels"] for m, r in zip(chosen["model"], chosen["record"],
               strict=True) if "first_layer_kernels" in r} if len(chosen) else {}  # fmt: skip
    out["fig_depth_kernels"] = (
        kernel_grid({MODEL_LABELS[m]: kernels[m] for m in MODELS if m in kernels})
        if kernels
        else empty_figure("no record with stored kernels yet")
    )
    for model in MODELS:
        out[f"d_flat_{model}"] = kernel_flatness(kernels[model]) if model in kernels else NAN
    from .models import build_model

    torch.manual_seed(0)  # one fixed draw of initial weights: the same number every build
    init = build_model("depth", "sparse").blocks[0].conv.weight.detach()[:, 0].tolist()
    out["d_flat_init"] = kernel_flatness(init)
    scene = load_depth(limit=1).test
    levels = (0.98, 0.95, 0.9, 0.8, 0.5)
    fig, axes = plt.subplots(2, len(levels), figsize=(2.0 * len(levels), 4.3))
    for row, pattern in enumerate(("uniform", "lines")):
        for col, level in enumerate(levels):
            mask = depth_masks(range(1), level, pattern, seed=0)
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
    out["fig_depth_patterns"] = fig
    return out


def _curve_values(runs: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {}
    nearest = runs["record"].iloc[0]["nearest_mae_by_sparsity"] if not runs.empty else {}
    out["d_nn_95"] = nearest.get("0.95", NAN)
    out["d_nn_50"] = nearest.get("0.5", NAN)
    for model in MODELS:
        for trained in (0.95, 0.5):
            curve = depth_curve(runs, model, trained)
            for tested in (0.95, 0.5, 0.3):
                value = float(curve.get(tested, NAN)) if not curve.empty else NAN
                out[f"d_{model}_{100 * (1 - trained):g}_{100 * (1 - tested):g}"] = value
        # flatness of the 5 %-trained curve over 5 to 70 % density: worst / best test MAE
        curve = depth_curve(runs, model, 0.95)
        band = curve[(curve.index >= 0.3 - 1e-9) & (curve.index <= 0.95 + 1e-9)]
        out[f"d_{model}_spread"] = float(band.max() / band.min()) if len(band) else NAN
        lines = depth_curve(runs, model, 0.95, pattern="lines")
        for tested in (0.95, 0.5):
            out[f"l_{model}_{100 * (1 - tested):g}"] = (
                float(lines.get(tested, NAN)) if not lines.empty else NAN
            )
    own = [out[f"d_{m}_5_5"] for m in MODELS]
    finite = [v for v in own if not math.isnan(v)]
    out["d_own5_low"] = min(finite) if finite else NAN
    out["d_own5_high"] = max(finite) if finite else NAN
    return out


def depth_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the depth page glues."""
    from .report import depth_tests_table

    runs = load_runs(results_dir, "depth")
    minutes = (runs["train_seconds"] + runs["eval_seconds"].fillna(0.0)) / 60 if len(runs) else None
    out: dict[str, Any] = {
        "depth_done": len(runs),
        "depth_progress": grid_progress("depth", results_dir),
        "depth_minutes": float(minutes.median()) if minutes is not None else NAN,
    }
    out.update(_figures(runs))
    out.update(_curve_values(runs))
    maes = depth_table(runs)
    out["depth_mae_table"] = (styled(maes, "Test MAE (metres) of each model trained at one "
                                     "density and tested at the same or the other grid "
                                     "density, mean ± standard deviation over seeds (number "
                                     "of seeds).") if not maes.empty
                              else note_table("no finished depth runs yet"))  # fmt: skip
    tests = depth_tests_table(results_dir)
    out["depth_tests"] = (
        styled(
            tests,
            "Trained at one density, tested at the other: the "
            "baseline's MAE minus the sparse network's (m; positive "
            "favours the sparse network), paired by seed, Holm-corrected "
            "per variant.",
            3,
        )
        if not tests.empty
        else note_table("no model type has runs at both densities yet")
    )
    claim = next(c for c in CLAIMS if c.kind == "depth")
    for variant in claim.variants:
        out[f"depth_{variant}_verdict"] = (
            judge(claim, runs, variant).verdict if len(runs) else ("no runs yet")
        )
    lines = lines_table(runs)
    out["depth_lines"] = (styled(lines, "Test MAE (metres) of the models trained at 5 % "
                                 "density on the lines pattern (seed 0), tested on the same "
                                 "pattern at every density.") if not lines.empty
                          else note_table("no run on the lines pattern yet"))  # fmt: skip
    return out
