"""Why the normalised layers err where they do on the synthetic scenes: the flat share
of the first-layer kernels, the error by the number of valid pixels in a pixel's window,
how many windows hold none, and where the RMSE explodes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sparseconv.data.scenes import COUNT_BINS, window_counts
from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL
from sparseconv.report.depth_curves import (
    NAN,
    depth_curve,
    mean_sd_cell,
    nearest_curve,
    pattern_of,
    selected_runs,
    uniform_runs,
)
from sparseconv.train.depth import depth_masks, split_indices

__all__ = [
    "RMSE_LEVEL",
    "kernel_flatness",
    "flatness_means",
    "flatness_table",
    "window_count_errors",
    "window_table",
    "rmse_table",
]

RMSE_LEVEL = 0.98  # the test sparsity at which the RMSE of the normalised layers explodes


def kernel_flatness(kernels: Sequence[Sequence[Sequence[float]]]) -> float:
    """The share of a layer's weight energy in the flat (constant) part of its kernels.

    kernels: (C_out, k, k). Returns sum_c k^2 mean(w_c)^2 / sum_c sum w_c^2, in [0, 1]:
    1 when every kernel is constant (a weighted box filter, whose output on a locally
    constant input does not depend on which pixels are valid), 0 when every kernel sums
    to zero; independent random weights give about 1 / k^2.
    """
    w = np.asarray(kernels, dtype=float)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"kernels must have shape (C_out, k, k), got {w.shape}")
    energy = float((w**2).sum())
    if energy == 0.0:
        raise ValueError("kernels are all zero: flatness is undefined")
    k2 = w.shape[1] * w.shape[2]
    return float((k2 * w.mean(axis=(1, 2)) ** 2).sum() / energy)


def flatness_means(runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0]) -> dict[str, float]:
    """Per model: the mean over seeds of the first-layer kernels' flat share
    (:func:`kernel_flatness`) of the uniform-sampling runs trained at ``trained``."""
    uniform = runs[pattern_of(runs) == "uniform"] if len(runs) else runs
    out = {}
    for model in [m for m in MODEL_LABELS if len(uniform) and m in set(uniform["model"])]:
        same = uniform[(uniform["model"] == model) & np.isclose(uniform["sparsity"], trained)]
        values = [kernel_flatness(r["first_layer_kernels"]) for r in same["record"]
                  if r.get("first_layer_kernels")]  # fmt: skip
        if values:
            out[model] = float(np.mean(values))
    return out


def flatness_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The flat share of the first-layer kernels (:func:`kernel_flatness`) of every
    uniform-sampling run that stores them: rows models, columns the training density;
    cells 'mean ± sd (n)' over seeds, '–' where no run."""
    uniform = runs[pattern_of(runs) == "uniform"] if len(runs) else runs
    levels = sorted(uniform["sparsity"].unique(), reverse=True) if len(uniform) else []
    rows = []
    for model in [m for m in MODEL_LABELS if len(uniform) and m in set(uniform["model"])]:
        row = {"model": MODEL_LABELS[model]}
        for level in levels:
            same = uniform[(uniform["model"] == model) & np.isclose(uniform["sparsity"], level)]
            values = [
                kernel_flatness(r["first_layer_kernels"])
                for r in same["record"]
                if r.get("first_layer_kernels")
            ]
            row[f"trained at {100 * (1 - level):g} %"] = mean_sd_cell(values, 3)
        rows.append(row)
    return pd.DataFrame(rows)


def window_count_errors(runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0]) -> pd.DataFrame:
    """MAE on the missing pixels (m) at the training density ``trained`` (uniform), grouped
    by the valid pixels in each pixel's 11 x 11 window (``depth.COUNT_BINS``): one row per
    model (mean over the runs that store it, their number in brackets), then raw nearest
    neighbour and the share of the missing pixels in each group (%)."""
    chosen = selected_runs(runs, trained, "uniform")
    key = "test_mae_missing_by_window_count"
    if chosen.empty:
        return pd.DataFrame()
    chosen = chosen[chosen["record"].map(lambda r: key in r)]
    if chosen.empty:
        return pd.DataFrame()
    records = chosen["record"].tolist()
    columns = [label for label, _, _ in COUNT_BINS]
    rows = {}
    for model in [m for m in MODEL_LABELS if m in set(chosen["model"])]:
        mine = [r[key] for r in chosen[chosen["model"] == model]["record"]]
        rows[f"{MODEL_LABELS[model]} ({len(mine)})"] = pd.DataFrame(mine).mean()
    rows[NEAREST_LABEL] = pd.DataFrame(
        [r["nn_mae_missing_by_window_count"] for r in records]
    ).mean()
    share = pd.DataFrame([r["missing_share_by_window_count"] for r in records]).mean()
    rows["share of missing pixels (%)"] = 100 * share
    table = pd.DataFrame(rows).T.reindex(columns=columns)
    table.index.name = "valid pixels in the 11 × 11 window"
    return table


def window_table(levels: tuple[float, ...] = (0.5, 0.9, 0.95, 0.98)) -> pd.DataFrame:
    """Share (%) of the first layer's 11 x 11 windows holding 0, 1 or 2 valid pixels, and
    the mean count, on the test masks (uniform sampling, seed 0) at each ``levels``."""
    rows = []
    for level in levels:
        counts = window_counts(depth_masks(split_indices("test", 200), level, "uniform"))
        rows.append(
            {
                "density": f"{100 * (1 - level):g} %",
                "no valid pixel (%)": 100 * counts["0"],
                "one (%)": 100 * counts["1"],
                "two (%)": 100 * counts["2"],
                "mean count": counts["mean"],
            }
        )
    return pd.DataFrame(rows)


def rmse_table(runs: pd.DataFrame, level: float = RMSE_LEVEL) -> pd.DataFrame:
    """Per model trained at 5 % density (uniform): the MAE and RMSE on the missing pixels
    (m) when tested at ``level``, means over seeds, and their ratio (large when a few
    pixels carry huge errors)."""
    uniform = uniform_runs(runs)
    rows = []
    for model in [m for m in MODEL_LABELS if m in set(uniform.get("model", []))]:
        mae = depth_curve(uniform, model, DEPTH_DENSITIES[0], metric="mae_missing").get(level, NAN)
        rmse = depth_curve(uniform, model, DEPTH_DENSITIES[0], metric="rmse_missing").get(
            level, NAN
        )
        if not math.isnan(mae):
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "MAE (m)": mae,
                    "RMSE (m)": rmse,
                    "RMSE / MAE": rmse / mae,
                }
            )
    if rows:
        mae = nearest_curve(uniform, metric="mae_missing").get(level, NAN)
        rmse = nearest_curve(uniform, metric="rmse_missing").get(level, NAN)
        rows.append(
            {"model": NEAREST_LABEL, "MAE (m)": mae, "RMSE (m)": rmse, "RMSE / MAE": rmse / mae}
        )
    return pd.DataFrame(rows)
