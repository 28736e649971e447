"""What the depth page shows, computed from the depth records (see ``book/depth.md``)."""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt

from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    DEFAULTS,
    EARLY_STOPPING,
    LEARNING_RATES,
    PROTOCOL,
    REPORTED_PROTOCOL,
    TUNING,
    grid_epochs,
    grid_tuned_models,
)
from sparseconv.report.analysis import load_study
from sparseconv.report.benchmark_tables import depth_capacity
from sparseconv.report.claims import claim_of, find, judge_claims
from sparseconv.report.depth_diagnostics import (
    flatness_table,
    rmse_table,
    window_count_errors,
    window_table,
)
from sparseconv.report.depth_tables import (
    benchmark_table,
    depth_fit_table,
    depth_table,
    depth_tests_table,
    lines_table,
    load_kitti_benchmark,
    metrics_table,
    versus_nearest,
)
from sparseconv.report.figures.depth import (
    depth_mae_curves,
    depth_validation_curves,
    examples_and_kernels,
    patterns_figure,
)
from sparseconv.report.figures.style import legend_below
from sparseconv.report.figures.training import tuning_curves
from sparseconv.report.tables import intervals, styled
from sparseconv.report.text.claims import verdict_basis
from sparseconv.report.text.results import (
    band_reading,
    benchmark_reading,
    findings,
    flatness_text,
    kernel_reading,
    lagging_seeds_reading,
    standouts,
    transfer_reading,
)
from sparseconv.report.text.runs import depth_capacity_text, grid_progress, time_by_device
from sparseconv.report.text.search import search_progress
from sparseconv.sweep.tuning import (
    at_grid_edge,
    best_learning_rates,
    load_tuning,
    search_table,
    tuning_table,
)

__all__ = [
    "depth_page",
]


def _tuning_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    chosen = best_learning_rates(results_dir, "depth")
    edge = at_grid_edge(results_dir, "depth")
    table = tuning_table(results_dir, "depth")
    rates = LEARNING_RATES.get("depth", {})
    searched = grid_tuned_models("depth", REPORTED_PROTOCOL["depth"])
    return {
        "depth_tune_rates": ", ".join(f"{lr:g}" for lr in TUNING["depth"]["lrs"]),
        "depth_tune_done": f"{len(load_tuning(results_dir, 'depth'))} of "
        f"{len(TUNING['depth']['lrs']) * len(searched)}",
        "depth_tune_edge": (
            "the best rate of "
            + ", ".join(MODEL_LABELS[m] for m in edge)
            + " lies at the edge of the grid"
        )
        if edge
        else "no model's best rate lies at the edge of the grid",
        "depth_rates": "; ".join(f"{MODEL_LABELS[m]}: {rates[m]:g}" for m in searched if m in rates)
        + (f"; sparse conv (one lr): the ConvNet's {rates['dense']:g}" if "dense" in rates else "")
        or f"not chosen yet: every model uses {DEFAULTS['depth']['lr']:g}",
        "depth_tuning": styled(
            table.rename(index=MODEL_LABELS).rename_axis("model"),
            "Validation MAE on the missing pixels (m) after the search, at "
            "5 % density, seed 0; * marks each model's chosen rate "
            "(columns: Adam's learning rate).",
            3,
            empty="the learning-rate search has not run yet",
        ),
        "fig_depth_tuning": tuning_curves(load_tuning(results_dir, "depth"), chosen, "depth"),
        "depth_search_text": search_progress("depth", results_dir),
        "tab_depth_search": styled(
            search_table(results_dir, "depth", protocol=PROTOCOL["depth"]),
            "The protocol-3 learning-rate search: validation MAE on the missing pixels (m) "
            "per model and training density (seed 0), and the mean over both densities on "
            "which the rate is chosen (* the chosen rate; (n/m): a mean of fewer runs than "
            "the search holds; columns: Adam's rate).",
            3,
            empty="no run of the protocol-3 learning-rate search has finished yet",
        ),
    }


def depth_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the depth page glues."""
    study = load_study(results_dir)
    runs = study["depth"]
    rule = EARLY_STOPPING["depth"]
    out: dict[str, Any] = {
        "depth_done": len(runs),
        "depth_progress": grid_progress("depth", results_dir, runs),
        "depth_time": time_by_device(runs),
        "depth_max_epochs": grid_epochs("depth", REPORTED_PROTOCOL["depth"]),
        "depth_min_gain": 100 * rule["min_gain"],
        "depth_patience": int(rule["patience"]),
        "depth_lr_patience": int(rule["lr_patience"]),
        "depth_factor": rule["factor"],
        "depth_findings": findings(runs),
        "depth_transfer": transfer_reading(runs),
    }
    out.update(_tuning_values(results_dir))
    fit = depth_fit_table(runs)
    out["depth_fit"] = styled(
        fit,
        "How each depth model trained (means over seeds): epochs "
        "run (the plateau rule or the limit of "
        f"{grid_epochs('depth', REPORTED_PROTOCOL['depth'])}), the kept epoch, the seeds "
        "stopped by the plateau rule, the last "
        "epoch's training loss (L1 over all pixels, m), and the MAE on "
        "the missing pixels (m) on 1,000 training maps in eval mode, "
        "on validation and on test, at the training density.",
        3,
        empty="no finished depth run yet",
    )
    capacity = depth_capacity(results_dir, runs)
    out["depth_capacity"] = styled(
        capacity,
        "Each model at 5 % density, seed 0: the grid's "
        "run (16 channels, 30 epochs at most) and the runs of "
        "benchmarks/depth_fit.py with up to 150 epochs or 32 "
        "channels; MAE on the missing pixels (m) on training maps "
        "in eval mode, validation and test, and raw nearest "
        "neighbour's test MAE on the same masks.",
        3,
        empty="depth_fit.py has not been run",
    )
    out["depth_capacity_text"] = depth_capacity_text(capacity)
    flat = flatness_table(runs)
    caption = (
        "Flat share of the first-layer kernels (1 for box filters) by training "
        "density, mean ± standard deviation over seeds (number of seeds)."
    )
    out["depth_flatness_table"] = styled(flat, caption, empty="no depth run yet")
    out["fig_depth_val"] = depth_validation_curves(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4), sharey=True)
    for ax, level in zip(axes, DEPTH_DENSITIES, strict=True):
        depth_mae_curves(runs, level, ax=ax)
    axes[1].set_ylabel("")
    legend_below(fig, axes)
    out["fig_depth_mae"] = fig
    table = depth_table(runs)
    out["depth_mae_table"] = styled(
        table,
        "MAE on the missing pixels (m) of each model "
        "trained at one density and tested at the same or the "
        "other grid density, mean ± standard deviation over "
        "seeds (number of seeds).",
        empty="no finished depth run yet",
    )
    versus = versus_nearest(runs)
    if not versus.empty:
        versus = versus.assign(**{"95 % interval": intervals(versus["low"], versus["high"], 3)})
        versus = versus.drop(columns=["low", "high"]).rename(
            columns={"difference": "network − nearest neighbour"}
        )
    out["depth_versus_nearest"] = styled(
        versus,
        "Each network at its own training density "
        "against raw nearest-neighbour interpolation on the "
        "same test masks: MAE on the missing pixels (m), "
        "and the difference per seed (negative: the network "
        "fills the gaps better) with its 95 % interval.",
        3,
        empty="no finished depth run yet",
    )
    metrics = metrics_table(runs)
    out["depth_metrics"] = styled(
        metrics,
        "Errors (m) at each model's own training density, "
        "means over seeds: on the missing pixels, on all pixels, "
        "and on all pixels with the observed values passed "
        "through.",
        3,
        empty="no finished depth run yet",
    )
    counts = window_count_errors(runs)
    out["depth_by_count"] = styled(
        counts,
        "MAE on the missing pixels (m) at 5 % density, test set, grouped by "
        "the number of valid pixels in the pixel's 11 × 11 window, mean over the runs "
        "trained at 5 % (number in brackets); last row: the share of the missing "
        "pixels in each group (%).",
        3,
        empty="no run trained at 5 % density stores these errors yet",
    )
    tests = depth_tests_table(runs)
    out["depth_tests"] = styled(
        tests,
        "Trained at one density, tested at the other: the baseline's MAE on "
        "the missing pixels minus the sparse network's (m; positive favours the sparse "
        "network), both trained at the same density, paired by seed, Holm-corrected "
        "per variant.",
        3,
        empty="no model type has runs at both densities yet",
    )
    out["depth_standouts"] = standouts(tests)
    claim = claim_of("depth", "depth")
    judgements = judge_claims(study)
    for variant in claim.variants:
        mine = find(judgements, "depth", "depth", variant)
        out[f"depth_{variant}_verdict"] = (
            " ".join(verdict_basis(j) for j in mine) if len(runs) else "Not judged yet (no runs)."
        )
    out["depth_windows"] = styled(
        window_table(),
        "First-layer (11 × 11) windows of the test "
        "masks, uniform sampling, 200 scenes: the share holding no, "
        "one or two valid pixels, and the mean count.",
    )
    rmse = rmse_table(runs)
    out["depth_rmse"] = styled(
        rmse,
        "Models trained at 5 % density tested at 2 %: error on "
        "the missing pixels (m), means over seeds.",
        empty="no run trained at 5 % density yet",
    )
    figures = examples_and_kernels(runs)
    out["depth_flatness"] = flatness_text(*figures.pop("flatness"))
    out["depth_band_reading"] = band_reading(runs)
    out["depth_kernel_reading"] = kernel_reading(runs)
    out["depth_lagging"] = " ".join(lagging_seeds_reading(runs, level) for level in DEPTH_DENSITIES)
    bench = benchmark_table(load_kitti_benchmark(results_dir), runs)
    out["depth_benchmark"] = styled(
        bench,
        "KITTI's depth completion test server (published numbers, not measured here: "
        "1216 × 352 crops, semi-dense ground truth, MAE and RMSE in mm) beside our model "
        "of the same kind on the synthetic scenes, trained and tested at 5 % density "
        "(missing pixels, m, mean over seeds; interpolation alone beside raw nearest "
        "neighbour).",
        empty="results/reference/kitti_benchmark.csv is missing",
    )
    out["depth_benchmark_reading"] = benchmark_reading(bench)
    out.update(figures)
    out["fig_depth_patterns"] = patterns_figure()
    lines = lines_table(runs)
    out["depth_lines"] = styled(
        lines,
        "MAE on the missing pixels (m) of the models trained "
        "at 5 % density on the lines pattern, tested on the same "
        "pattern at every density (% kept), mean over seeds.",
        empty="no run on the lines pattern yet",
    )
    return out
