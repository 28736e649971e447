"""What the depth page shows, computed from the depth records (see ``book/depth.md``)."""

from __future__ import annotations

import math
import os
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from sparseconv.data.scenes import window_counts
from sparseconv.nn.networks import build_model
from sparseconv.registry.models import DEPTH_TUNED_MODELS, MODEL_LABELS, NEAREST_LABEL
from sparseconv.registry.study import DEFAULTS, EARLY_STOPPING, LEARNING_RATES, TUNING
from sparseconv.report.analysis import grid_progress, load_study, time_by_device
from sparseconv.report.benchmark_tables import depth_capacity, depth_capacity_text
from sparseconv.report.book import depth_tests_table
from sparseconv.report.claims import CLAIMS, find, judge_claims
from sparseconv.report.claims_report import verdict_basis
from sparseconv.report.depth_tables import (
    depth_curve,
    depth_fit_table,
    depth_table,
    flatness_table,
    kernel_flatness,
    nearest_curve,
    pattern_of,
    versus_nearest,
    window_count_errors,
)
from sparseconv.report.figures import (
    FONT,
    depth_mae_curves,
    depth_panels,
    kernel_grid,
    legend_below,
)
from sparseconv.report.stats import ALPHA
from sparseconv.report.tables import intervals, styled
from sparseconv.report.training_figures import depth_validation_curves, empty_figure, tuning_curves
from sparseconv.sweep.tuning import at_grid_edge, best_learning_rates, load_tuning, tuning_table
from sparseconv.train.depth import decode_depth_examples, depth_masks, load_depth, split_indices

__all__ = [
    "depth_page",
    "standouts",
    "lines_table",
    "findings",
    "transfer_reading",
    "flatness_text",
    "window_table",
    "rmse_table",
]

NAN = float("nan")
RMSE_LEVEL = 0.98  # the test sparsity at which the RMSE of the normalised layers explodes


def _uniform(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[pattern_of(runs) == "uniform"] if not runs.empty else runs


def lines_table(runs: pd.DataFrame) -> pd.DataFrame:
    """MAE on the missing pixels (m) of the models trained at 5 % density on the lines
    pattern, mean over seeds, by test density (% kept, ascending), with raw
    nearest-neighbour interpolation as the last row."""
    lines = runs[pattern_of(runs) == "lines"] if not runs.empty else runs
    if lines.empty:
        return pd.DataFrame()
    table = {
        f"{MODEL_LABELS[m]} ({len(group)})": depth_curve(lines, m, 0.95, "lines")
        for m, group in lines.groupby("model", sort=False)
    }
    table[NEAREST_LABEL] = nearest_curve(lines, "lines")
    frame = pd.DataFrame(table).T
    frame = frame[sorted(frame.columns, reverse=True)]
    frame.columns = [f"{100 * (1 - float(c)):g} %" for c in frame.columns]
    frame.index.name = "model (seeds)"
    return frame


def findings(runs: pd.DataFrame) -> str:
    """Sentences on the grid's main numbers, generated from the records: per training
    density, the best network at its own density against raw nearest-neighbour
    interpolation on the missing pixels."""
    uniform = _uniform(runs)
    if uniform.empty:
        return "No depth run of the current protocol has finished yet."
    sentences = []
    for level in (0.95, 0.5):
        density = f"{100 * (1 - level):g} %"
        own = {m: depth_curve(uniform, m, level).get(level, NAN) for m in uniform["model"].unique()}
        own = {m: v for m, v in own.items() if not math.isnan(v)}
        if not own:
            sentences.append(f"No network trained at {density} density has finished yet.")
            continue
        best = min(own, key=own.__getitem__)
        trained = uniform[(uniform["sparsity"] - level).abs() < 1e-9]
        nearest = nearest_curve(trained).get(level, NAN)
        verb = "below" if own[best] < nearest else "above"
        sentences.append(
            f"Trained and tested at {density} density, the best network is the "
            f"{MODEL_LABELS[best]} with a missing-pixel MAE of {own[best]:.2f} m, {verb} raw "
            f"nearest-neighbour interpolation's {nearest:.2f} m."
        )
    return " ".join(sentences)


def transfer_reading(runs: pd.DataFrame) -> str:
    """Sentences on the errors at an unseen density, generated from the records: for
    each direction between the two grid densities (uniform sampling), every model's mean
    missing-pixel MAE at the test density, smallest first, with raw nearest neighbour and
    the paper's layer trained at the test density itself."""
    uniform = _uniform(runs)
    if uniform.empty:
        return "No depth run of the current protocol has finished yet."
    sentences = []
    for a, b in ((0.95, 0.5), (0.5, 0.95)):
        at = {m: depth_curve(uniform, m, a).get(b, NAN) for m in MODEL_LABELS}
        at = {m: v for m, v in at.items() if not math.isnan(v)}
        if not at:
            continue
        ranked = ", ".join(
            f"{MODEL_LABELS[m]} {v:.2f} m" for m, v in sorted(at.items(), key=lambda kv: kv[1])
        )
        text = (
            f"Trained at {100 * (1 - a):g} % and tested at {100 * (1 - b):g} % density: "
            f"{ranked}; raw nearest neighbour {nearest_curve(uniform).get(b, NAN):.2f} m"
        )
        home = depth_curve(uniform, "sparse", b).get(b, NAN)
        if not math.isnan(home):
            text += f"; the paper's layer trained at {100 * (1 - b):g} % reaches {home:.2f} m"
        sentences.append(text + ".")
    return " ".join(sentences)


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
    uniform = _uniform(runs)
    rows = []
    for model in [m for m in MODEL_LABELS if m in set(uniform.get("model", []))]:
        mae = depth_curve(uniform, model, 0.95, metric="mae_missing").get(level, NAN)
        rmse = depth_curve(uniform, model, 0.95, metric="rmse_missing").get(level, NAN)
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


def _metrics_table(runs: pd.DataFrame) -> pd.DataFrame:
    """At each model's own training density (uniform): MAE and RMSE on the missing
    pixels, on all pixels, and on all pixels with the observed values passed through."""
    uniform = _uniform(runs)
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


def _examples_and_kernels(runs: pd.DataFrame) -> dict[str, Any]:

    uniform = _uniform(runs)
    chosen = (
        uniform[np.isclose(uniform["sparsity"], 0.95) & (uniform["seed"] == 0)]
        if len(uniform)
        else uniform
    )
    out: dict[str, Any] = {}
    if chosen.empty:
        out["fig_depth_examples"] = empty_figure("no finished run at 5 % density yet")
    else:
        preds = {
            MODEL_LABELS[m]: decode_depth_examples(r["example_predictions"])
            for m, r in zip(chosen["model"], chosen["record"], strict=True)
        }
        test = load_depth(limit=3).test
        masks = depth_masks(split_indices("test", 3), 0.95, "uniform", seed=0)
        out["fig_depth_examples"] = depth_panels(test, masks, preds)
    kernels = (
        {
            m: r["first_layer_kernels"]
            for m, r in zip(chosen["model"], chosen["record"], strict=True)
        }
        if len(chosen)
        else {}
    )
    shown = [m for m in MODEL_LABELS if m in kernels]
    out["fig_depth_kernels"] = (
        kernel_grid({MODEL_LABELS[m]: kernels[m] for m in shown})
        if kernels
        else empty_figure("no run at 5 % density with seed 0 yet")
    )
    torch.manual_seed(0)  # one fixed draw of initial weights: the same number every build
    init = build_model("depth", "sparse").blocks[0].conv.weight.detach()[:, 0].tolist()
    out["depth_flatness"] = flatness_text(
        {m: kernel_flatness(kernels[m]) for m in shown}, kernel_flatness(init)
    )
    return out


def flatness_text(shares: dict[str, float], initial: float) -> str:
    """A sentence on the flat share of the first-layer kernels (``kernel_flatness``) of
    each model in ``shares``, against the random initial weights' ``initial``."""
    if not shares:
        return (
            f"Random initial weights give {initial:.3f}; no trained network's kernels "
            "are stored yet."
        )
    parts = [f"{value:.3f} for the {MODEL_LABELS[m]}" for m, value in shares.items()]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f"It is {listed}; random initial weights give {initial:.3f}."


def _patterns_figure() -> plt.Figure:

    scene = load_depth(limit=1).test
    levels = (0.98, 0.95, 0.9, 0.8, 0.5)
    fig, axes = plt.subplots(2, len(levels), figsize=(2.0 * len(levels), 4.3))
    for row, pattern in enumerate(("uniform", "lines")):
        for col, level in enumerate(levels):
            mask = depth_masks(split_indices("test", 1), level, pattern, seed=0)
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
    return fig


def _tuning_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    chosen = best_learning_rates(results_dir, "depth")
    edge = at_grid_edge(results_dir, "depth")
    table = tuning_table(results_dir, "depth")
    rates = LEARNING_RATES.get("depth", {})
    return {
        "depth_tune_rates": ", ".join(f"{lr:g}" for lr in TUNING["depth"]["lrs"]),
        "depth_tune_done": f"{len(load_tuning(results_dir, 'depth'))} of "
        f"{len(TUNING['depth']['lrs']) * len(DEPTH_TUNED_MODELS)}",
        "depth_tune_edge": (
            "the best rate of "
            + ", ".join(MODEL_LABELS[m] for m in edge)
            + " lies at the edge of the grid"
        )
        if edge
        else "no model's best rate lies at the edge of the grid",
        "depth_rates": "; ".join(
            f"{MODEL_LABELS[m]}: {rates[m]:g}" for m in DEPTH_TUNED_MODELS if m in rates
        )
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
    }


def standouts(tests: pd.DataFrame) -> str:
    """One sentence naming the level-wise findings of :func:`depth_tests_table` whose
    Holm-adjusted p is below 0.05, with their effects."""
    if tests.empty:
        return ""
    hits = tests[tests["p (Holm)"] < ALPHA]
    if hits.empty:
        return (
            f"No level-wise difference stands out after Holm's correction "
            f"({int(tests['seeds'].max())} seeds)."
        )
    parts = [
        f"{r['model']} against {r['compared with']}, {r['trained → tested (density)']} "
        f"({r['baseline MAE − sparse MAE (m)']:+.2f} m)"
        for _, r in hits.iterrows()
    ]
    return (
        "Level-wise, only these differences stand out after Holm's correction: "
        + "; ".join(parts)
        + "."
    )


def depth_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the depth page glues."""
    study = load_study(results_dir)
    runs = study["depth"]
    rule = EARLY_STOPPING["depth"]
    out: dict[str, Any] = {
        "depth_done": len(runs),
        "depth_progress": grid_progress("depth", results_dir, runs),
        "depth_time": time_by_device(runs),
        "depth_max_epochs": DEFAULTS["depth"]["epochs"],
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
        f"{DEFAULTS['depth']['epochs']}), the kept epoch, the seeds "
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
    for ax, level in zip(axes, (0.95, 0.5), strict=True):
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
    metrics = _metrics_table(runs)
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
    claim = next(c for c in CLAIMS if c.kind == "depth")
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
    out.update(_examples_and_kernels(runs))
    out["fig_depth_patterns"] = _patterns_figure()
    lines = lines_table(runs)
    out["depth_lines"] = styled(
        lines,
        "MAE on the missing pixels (m) of the models trained "
        "at 5 % density on the lines pattern, tested on the same "
        "pattern at every density (% kept), mean over seeds.",
        empty="no run on the lines pattern yet",
    )
    return out
