"""Depth records as curves: a model's mean error by test sparsity, raw nearest
neighbour's, and the run selections and cell format the depth tables share.

``metric`` names one of the error fields of a depth record (``depth_run.depth_errors``):
"mae_missing" (the default: the pixels to fill), "mae", "mae_passthrough", and the RMSE
alike. A record stores it per test density as ``test_<metric>_by_sparsity`` and raw
nearest-neighbour interpolation's as ``nn_<metric>_by_sparsity`` (all and missing only).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = [
    "METRIC_WORDS",
    "METRIC_SHORT",
    "NAN",
    "pattern_of",
    "uniform_runs",
    "selected_runs",
    "depth_curve",
    "nearest_curve",
    "mean_sd_cell",
]

METRIC_WORDS = {
    "mae_missing": "MAE on the missing pixels",
    "rmse_missing": "RMSE on the missing pixels",
    "mae": "MAE on all pixels",
    "rmse": "RMSE on all pixels",
    "mae_passthrough": "MAE on all pixels, observed values passed through",
    "rmse_passthrough": "RMSE on all pixels, observed values passed through",
}

# the same, short enough for an axis label
METRIC_SHORT = {
    "mae_missing": "missing-pixel MAE",
    "rmse_missing": "missing-pixel RMSE",
    "mae": "all-pixel MAE",
    "rmse": "all-pixel RMSE",
    "mae_passthrough": "pass-through MAE",
    "rmse_passthrough": "pass-through RMSE",
}

NAN = float("nan")


def pattern_of(runs: pd.DataFrame) -> pd.Series:
    """The sampling pattern of each run ("uniform" or "lines")."""
    return runs["record"].map(lambda r: r.get("pattern", "uniform"))


def selected_runs(runs: pd.DataFrame, trained: float, pattern: str) -> pd.DataFrame:
    """The runs trained at sparsity ``trained`` on ``pattern``."""
    if runs.empty:
        return runs
    return runs[((runs["sparsity"] - trained).abs() < 1e-9) & (pattern_of(runs) == pattern)]


def _mean_curve(dicts: Sequence[dict[str, float]]) -> pd.Series:
    if not dicts:
        return pd.Series(dtype=float)
    curve = pd.DataFrame(list(dicts)).mean()
    curve.index = [float(c) for c in curve.index]
    return curve.sort_index()


def depth_curve(
    runs: pd.DataFrame,
    model: str,
    trained: float,
    pattern: str = "uniform",
    metric: str = "mae_missing",
) -> pd.Series:
    """Mean error (m) over seeds of ``model`` trained at sparsity ``trained``, indexed by
    the test sparsity (float, ascending); empty when no such run has finished."""
    chosen = selected_runs(runs, trained, pattern)
    if chosen.empty:
        return pd.Series(dtype=float)
    chosen = chosen[chosen["model"] == model]
    return _mean_curve([r[f"test_{metric}_by_sparsity"] for r in chosen["record"]])


def nearest_curve(
    runs: pd.DataFrame, pattern: str = "uniform", metric: str = "mae_missing"
) -> pd.Series:
    """Raw nearest-neighbour interpolation's error (m) by test sparsity, the mean over the
    test masks of the seeds present (one record per seed: the masks depend on the seed)."""
    if runs.empty:
        return pd.Series(dtype=float)
    same = runs[pattern_of(runs) == pattern].drop_duplicates("seed")
    return _mean_curve([r[f"nn_{metric}_by_sparsity"] for r in same["record"]])


def uniform_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs on the uniform sampling pattern."""
    return runs[pattern_of(runs) == "uniform"] if not runs.empty else runs


def mean_sd_cell(values: list[float], digits: int = 2) -> str:
    """'mean ± sd (n)' of ``values`` (no sd for one value), '–' for none."""
    if not values:
        return "–"
    mean = sum(values) / len(values)
    text = f"{mean:.{digits}f}"
    if len(values) > 1:
        text += f" ± {pd.Series(values).std():.{digits}f}"
    return text + f" ({len(values)})"
