"""Depth records as tables: the error curves, the MAE table and the kernels' flat share."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .study import GRIDS, MODEL_LABELS

__all__ = ["depth_curve", "depth_table", "kernel_flatness"]


def depth_curve(
    runs: pd.DataFrame, model: str, trained: float, pattern: str = "uniform"
) -> pd.Series:
    """Mean test MAE (m) over seeds of ``model`` trained at sparsity ``trained``, indexed
    by the test sparsity (float, ascending); empty when no such run has finished."""
    if runs.empty:
        return pd.Series(dtype=float)
    chosen = runs[
        (runs["model"] == model)
        & ((runs["sparsity"] - trained).abs() < 1e-9)
        & (runs["record"].map(lambda r: r.get("pattern", "uniform")) == pattern)
    ]
    if chosen.empty:
        return pd.Series(dtype=float)
    table = pd.DataFrame([r["test_mae_by_sparsity"] for r in chosen["record"]])
    curve = table.mean()
    curve.index = [float(c) for c in curve.index]
    return curve.sort_index()


def kernel_flatness(kernels: Sequence[Sequence[Sequence[float]]]) -> float:
    """The share of a layer's weight energy in the flat (constant) part of its kernels.

    kernels: (C_out, k, k). Returns sum_c k^2 mean(w_c)^2 / sum_c sum w_c^2, in [0, 1]:
    1 when every kernel is constant (a weighted box filter, whose output on a locally
    constant input does not depend on which pixels are valid), 0 when every kernel sums
    to zero; independent random weights give about 1 / k^2.
    """
    import numpy as np

    w = np.asarray(kernels, dtype=float)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"kernels must have shape (C_out, k, k), got {w.shape}")
    energy = float((w**2).sum())
    if energy == 0.0:
        raise ValueError("kernels are all zero: flatness is undefined")
    k2 = w.shape[1] * w.shape[2]
    return float((k2 * w.mean(axis=(1, 2)) ** 2).sum() / energy)


def depth_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Depth test MAE (m) per model and sampling pattern, trained at one density and
    tested at both grid densities; cells 'mean ± sd (n)' over seeds, '–' where no run.

    Columns: model, pattern, then "a % → b %" for training density a and test density b;
    nearest-neighbour interpolation (no training: one row per pattern) comes last.
    """
    if runs.empty:
        return pd.DataFrame()
    levels = sorted(GRIDS["depth"][0], reverse=True)
    pairs = [(a, b) for a in levels for b in levels]

    def label(a: float, b: float) -> str:
        return f"{100 * (1 - a):g} % → {100 * (1 - b):g} %"

    def cell(values: list[float]) -> str:
        if not values:
            return "–"
        mean = sum(values) / len(values)
        text = f"{mean:.2f}"
        if len(values) > 1:
            text += f" ± {pd.Series(values).std():.2f}"
        return text + f" ({len(values)})"

    pattern = runs["record"].map(lambda r: r.get("pattern", "uniform"))
    frame = runs.assign(pattern=pattern)
    rows = []
    for (model, pat), group in frame.groupby(["model", "pattern"], sort=True):
        row = {"model": MODEL_LABELS.get(model, model), "pattern": pat}
        for a, b in pairs:
            trained = group[(group["sparsity"] - a).abs() < 1e-9]
            row[label(a, b)] = cell(
                [r["test_mae_by_sparsity"][f"{b:g}"] for r in trained["record"]]
            )
        rows.append(row)
    for pat, group in frame.groupby("pattern", sort=True):
        record = group["record"].iloc[0]
        row = {"model": "nearest neighbour", "pattern": pat}
        for a, b in pairs:
            row[label(a, b)] = f"{record['nearest_mae_by_sparsity'][f'{b:g}']:.2f}"
        rows.append(row)
    return pd.DataFrame(rows)
