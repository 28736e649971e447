"""Depth records as tables: the error table, the fit table, the comparison with
nearest-neighbour interpolation, claim 4's level-wise tests, the lines pattern, every
metric at the training density, and the KITTI benchmark beside our models.

The curves these read are in :mod:`sparseconv.report.depth_curves`, the diagnostics of
the normalised layers' errors in :mod:`sparseconv.report.depth_diagnostics`; their names
stay importable from here.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL, models_of
from sparseconv.registry.records import resolve_results_dir
from sparseconv.registry.study import GRIDS
from sparseconv.report.claims import claim_of, family_of, level_tests
from sparseconv.report.depth_curves import (
    METRIC_SHORT,
    METRIC_WORDS,
    NAN,
    depth_curve,
    mean_sd_cell,
    nearest_curve,
    pattern_of,
    uniform_runs,
)
from sparseconv.report.depth_diagnostics import (
    RMSE_LEVEL,
    flatness_means,
    flatness_table,
    kernel_flatness,
    rmse_table,
    window_count_errors,
    window_table,
)
from sparseconv.report.stats import one_sample
from sparseconv.report.tables import intervals

__all__ = [
    "depth_table",
    "depth_fit_table",
    "versus_nearest",
    "depth_tests_table",
    "lines_table",
    "metrics_table",
    "load_kitti_benchmark",
    "benchmark_table",
    # from depth_curves and depth_diagnostics, importable here as before
    "METRIC_WORDS",
    "METRIC_SHORT",
    "NAN",
    "pattern_of",
    "uniform_runs",
    "depth_curve",
    "nearest_curve",
    "RMSE_LEVEL",
    "kernel_flatness",
    "flatness_means",
    "flatness_table",
    "window_count_errors",
    "window_table",
    "rmse_table",
]


def _level_label(a: float, b: float) -> str:
    return f"{100 * (1 - a):g} % → {100 * (1 - b):g} %"


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
            row[_level_label(a, b)] = mean_sd_cell(
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
