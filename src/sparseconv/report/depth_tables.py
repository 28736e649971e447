"""Depth records as tables: error curves, the error table, the fit table, the comparison
with nearest-neighbour interpolation and the kernels' flat share.

``metric`` names one of the error fields of a depth record (``depth_run.depth_errors``):
"mae_missing" (the default: the pixels to fill), "mae", "mae_passthrough", and the RMSE
alike. A record stores it per test density as ``test_<metric>_by_sparsity`` and raw
nearest-neighbour interpolation's as ``nn_<metric>_by_sparsity`` (all and missing only).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sparseconv.data.scenes import COUNT_BINS, window_counts
from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL, models_of
from sparseconv.registry.records import resolve_results_dir
from sparseconv.registry.study import GRIDS
from sparseconv.report.claims import claim_of, family_of, level_tests
from sparseconv.report.stats import one_sample
from sparseconv.report.tables import intervals
from sparseconv.train.depth import depth_masks, split_indices

__all__ = [
    "METRIC_WORDS",
    "METRIC_SHORT",
    "pattern_of",
    "depth_curve",
    "nearest_curve",
    "depth_table",
    "depth_fit_table",
    "flatness_table",
    "versus_nearest",
    "kernel_flatness",
    "window_count_errors",
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


def pattern_of(runs: pd.DataFrame) -> pd.Series:
    """The sampling pattern of each run ("uniform" or "lines")."""
    return runs["record"].map(lambda r: r.get("pattern", "uniform"))


def _selected(runs: pd.DataFrame, trained: float, pattern: str) -> pd.DataFrame:
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
    chosen = _selected(runs, trained, pattern)
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


def _level_label(a: float, b: float) -> str:
    return f"{100 * (1 - a):g} % → {100 * (1 - b):g} %"


def _cell(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    mean = sum(values) / len(values)
    text = f"{mean:.{digits}f}"
    if len(values) > 1:
        text += f" ± {pd.Series(values).std():.{digits}f}"
    return text + f" ({len(values)})"


def depth_table(runs: pd.DataFrame, metric: str = "mae_missing") -> pd.DataFrame:
    """Depth error (m) per model and sampling pattern, trained at one grid density and
    tested at each; cells 'mean ± sd (n)' over seeds, '–' where no run.

    Columns: model, pattern, then "a % → b %" for training density a and test density b;
    raw nearest-neighbour interpolation (no training: one row per pattern) comes last.
    """
    if runs.empty:
        return pd.DataFrame()
    levels = sorted(GRIDS["depth"][0], reverse=True)
    pairs = [(a, b) for a in levels for b in levels]
    frame = runs.assign(pattern=pattern_of(runs))
    order = {m: i for i, m in enumerate(models_of("depth"))}
    rows = []
    for (model, pat), group in sorted(
        frame.groupby(["model", "pattern"]), key=lambda g: (g[0][1] != "uniform", order[g[0][0]])
    ):
        row = {"model": MODEL_LABELS.get(model, model), "pattern": pat}
        for a, b in pairs:
            trained = group[(group["sparsity"] - a).abs() < 1e-9]
            row[_level_label(a, b)] = _cell(
                [r[f"test_{metric}_by_sparsity"][f"{b:g}"] for r in trained["record"]]
            )
        rows.append(row)
    if f"nn_{metric}_by_sparsity" in frame["record"].iloc[0]:
        for pat in sorted(frame["pattern"].unique(), key=lambda p: p != "uniform"):
            curve = nearest_curve(runs, pat, metric)
            row = {"model": NEAREST_LABEL, "pattern": pat}
            row.update({_level_label(a, b): f"{curve.get(b, float('nan')):.2f}" for a, b in pairs})
            rows.append(row)
    return pd.DataFrame(rows)


def depth_fit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """How each depth model trained, per model, pattern and training density (means over
    seeds): epochs run, best validation epoch, runs stopped by the plateau rule (of the
    seeds), the last
    epoch's training loss (L1, m), the missing-pixel MAE (m) on training maps in eval mode,
    on validation (best epoch) and on test at the training density. (Run times, which
    depend on the device, are in ``analysis.run_times``.)"""
    if runs.empty:
        return pd.DataFrame()
    frame = runs.assign(pattern=pattern_of(runs))
    rows = []
    order = {m: i for i, m in enumerate(models_of("depth"))}
    for (model, pat, sparsity), group in sorted(
        frame.groupby(["model", "pattern", "sparsity"]),
        key=lambda g: (g[0][1] != "uniform", -g[0][2], order[g[0][0]]),
    ):
        records = list(group["record"])

        def mean(key: str, records: list[dict] = records) -> float:
            return float(pd.Series([r[key] for r in records]).mean())

        rows.append(
            {
                "model": MODEL_LABELS.get(model, model),
                "trained on": f"{pat}, {100 * (1 - sparsity):g} %",
                "epochs": f"{mean('epochs_run'):.1f}",
                "best epoch": f"{mean('best_epoch'):.1f}",
                "plateau stops": f"{sum(r['stopped_early'] for r in records)} of {len(records)}",
                "training loss": float(
                    pd.Series([r["history"][-1]["loss"] for r in records]).mean()
                ),
                "training maps": mean("train_eval_mae_missing"),
                "validation": mean("val_mae_missing"),
                "test": mean("test_mae_missing"),
            }
        )
    return pd.DataFrame(rows)


def versus_nearest(runs: pd.DataFrame, pattern: str = "uniform") -> pd.DataFrame:
    """Each model at its own training density against raw nearest-neighbour interpolation
    on the same test masks: the model's missing-pixel MAE minus interpolation's (m;
    negative: the network fills the gaps better), mean over seeds with its 95 % interval.

    Columns: model, density, seeds, network, nearest neighbour, difference, low, high."""
    rows = []
    if runs.empty:
        return pd.DataFrame()
    frame = runs[pattern_of(runs) == pattern]
    order = {m: i for i, m in enumerate(models_of("depth"))}
    for (model, sparsity), group in sorted(
        frame.groupby(["model", "sparsity"]), key=lambda g: (-g[0][1], order[g[0][0]])
    ):
        key = f"{sparsity:g}"
        own = [r["test_mae_missing_by_sparsity"][key] for r in group["record"]]
        nearest = [r["nn_mae_missing_by_sparsity"][key] for r in group["record"]]
        est = one_sample([a - b for a, b in zip(own, nearest, strict=True)])
        rows.append(
            {
                "model": MODEL_LABELS.get(model, model),
                "density": f"{100 * (1 - sparsity):g} %",
                "seeds": est.n,
                "network": sum(own) / len(own),
                "nearest neighbour": sum(nearest) / len(nearest),
                "difference": est.mean,
                "low": est.low,
                "high": est.high,
            }
        )
    return pd.DataFrame(rows)


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
            row[f"trained at {100 * (1 - level):g} %"] = _cell(values, 3)
        rows.append(row)
    return pd.DataFrame(rows)


def window_count_errors(runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0]) -> pd.DataFrame:
    """MAE on the missing pixels (m) at the training density ``trained`` (uniform), grouped
    by the valid pixels in each pixel's 11 x 11 window (``depth.COUNT_BINS``): one row per
    model (mean over the runs that store it, their number in brackets), then raw nearest
    neighbour and the share of the missing pixels in each group (%)."""
    chosen = _selected(runs, trained, "uniform")
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


def depth_tests_table(runs: pd.DataFrame, dataset: str = "depth") -> pd.DataFrame:
    """Claim 4's level-wise findings for each sparse variant: per baseline and direction,
    the baseline's MAE minus the sparse network's (m; positive favours the sparse
    network), paired by seed, the variance pooled across directions, Holm-corrected over
    each baseline's directions. ``runs``: the study's records of ``dataset`` ("depth":
    the synthetic scenes, "kitti": real LiDAR)."""
    claim = claim_of(dataset, "depth")
    frames = []
    for variant in claim.variants:
        tests = level_tests(family_of(claim, runs, variant))
        if not tests.empty:
            frames.append(tests.assign(model=MODEL_LABELS[variant]))
    if not frames:
        return pd.DataFrame()
    tests = pd.concat(frames, ignore_index=True)
    return pd.DataFrame(
        {
            "model": tests["model"],
            "compared with": tests["baseline"].map(MODEL_LABELS),
            "trained → tested (density)": tests["comparison"],
            "seeds": tests["n"],
            "baseline MAE − sparse MAE (m)": tests["mean"],
            "95 % interval": intervals(tests["low"], tests["high"], 3),
            "p (Holm)": tests["p_holm"],
        }
    )


NAN = float("nan")


RMSE_LEVEL = 0.98  # the test sparsity at which the RMSE of the normalised layers explodes


def uniform_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[pattern_of(runs) == "uniform"] if not runs.empty else runs


def lines_table(runs: pd.DataFrame) -> pd.DataFrame:
    """MAE on the missing pixels (m) of the models trained at 5 % density on the lines
    pattern, mean over seeds, by test density (% kept, ascending), with raw
    nearest-neighbour interpolation as the last row."""
    lines = runs[pattern_of(runs) == "lines"] if not runs.empty else runs
    if lines.empty:
        return pd.DataFrame()
    table = {
        f"{MODEL_LABELS[m]} ({len(group)})": depth_curve(lines, m, DEPTH_DENSITIES[0], "lines")
        for m, group in lines.groupby("model", sort=False)
    }
    table[NEAREST_LABEL] = nearest_curve(lines, "lines")
    frame = pd.DataFrame(table).T
    frame = frame[sorted(frame.columns, reverse=True)]
    frame.columns = [f"{100 * (1 - float(c)):g} %" for c in frame.columns]
    frame.index.name = "model (seeds)"
    return frame


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


def metrics_table(runs: pd.DataFrame) -> pd.DataFrame:
    """At each model's own training density (uniform): MAE and RMSE on the missing
    pixels, on all pixels, and on all pixels with the observed values passed through."""
    uniform = uniform_runs(runs)
    rows = []
    order = list(MODEL_LABELS)
    cells = sorted(
        {
            (m, lv)
            for m, lv in zip(uniform.get("model", []), uniform.get("sparsity", []), strict=True)
        },
        key=lambda c: (-c[1], order.index(c[0])),
    )
    for model, level in cells:
        row: dict[str, Any] = {"model": MODEL_LABELS[model], "density": f"{100 * (1 - level):g} %"}
        for metric, name in (
            ("mae_missing", "MAE missing"),
            ("mae", "MAE all"),
            ("mae_passthrough", "MAE pass-through"),
            ("rmse_missing", "RMSE missing"),
            ("rmse", "RMSE all"),
        ):
            row[name] = depth_curve(uniform, model, level, metric=metric).get(level, NAN)
        rows.append(row)
    return pd.DataFrame(rows)


def load_kitti_benchmark(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """The KITTI depth completion benchmark's published errors,
    ``results/reference/kitti_benchmark.csv`` (empty if the file is missing)."""
    path = resolve_results_dir(results_dir) / "reference" / "kitti_benchmark.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def benchmark_table(bench: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The benchmark's entries (MAE and RMSE, mm) beside our model of the same kind on
    the synthetic scenes, trained and tested at 5 % density (missing-pixel MAE and RMSE,
    m, mean over seeds); raw nearest neighbour beside interpolation alone."""
    if bench.empty:
        return pd.DataFrame()
    trained = DEPTH_DENSITIES[0]
    rows = []
    for _, entry in bench.iterrows():
        model = entry["model"] if isinstance(entry["model"], str) else None
        if model is not None:
            mae = depth_curve(runs, model, trained).get(trained, NAN)
            rmse = depth_curve(runs, model, trained, metric="rmse_missing").get(trained, NAN)
        elif entry["method"].startswith("NadarayaW"):
            mae = nearest_curve(runs).get(trained, NAN)
            rmse = nearest_curve(runs, metric="rmse_missing").get(trained, NAN)
        else:
            mae = rmse = NAN
        rows.append({"KITTI entry": entry["method"], "KITTI MAE (mm)": entry["mae_mm"],
                     "KITTI RMSE (mm)": entry["rmse_mm"],
                     "ours, synthetic 5 %: MAE (m)": mae, "ours: RMSE (m)": rmse})  # fmt: skip
    return pd.DataFrame(rows)
