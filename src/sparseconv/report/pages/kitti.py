"""What the KITTI page shows: the real-data grid's records (``results/kitti/``)."""

from __future__ import annotations

import math
import os
from typing import Any

import pandas as pd
from IPython.display import Markdown

from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.models import MODEL_LABELS, tuned_models
from sparseconv.registry.study import (
    BUDGET_CHECK,
    DEFAULTS,
    LIDAR_CROP,
    LIDAR_STEPS,
    SEARCH,
    grid_epochs,
    search_rates,
    untuned,
)
from sparseconv.report.analysis import load_study
from sparseconv.report.budget import (
    budget_check,
    budget_margin,
    budget_means,
    budget_table,
    load_budget,
    sufficient_budget,
)
from sparseconv.report.claims import claim_of, find, judge_claims
from sparseconv.report.depth_curves import pattern_of
from sparseconv.report.depth_tables import depth_tests_table, load_kitti_benchmark
from sparseconv.report.figures.kitti import kitti_error_figure, predictions_figure
from sparseconv.report.figures.training import budget_figure, search_curves
from sparseconv.report.kitti_reach import (
    best_search_runs,
    load_reach,
    reach_paragraphs,
    reach_table,
)
from sparseconv.report.kitti_tables import (
    HELD_OUT_COLUMN,
    capped_runs,
    ground_truth_table,
    kitti_benchmark_table,
    kitti_curves,
    kitti_fit_table,
    kitti_lines_table,
    kitti_means,
    load_published,
    published_table,
    uniform_runs,
)
from sparseconv.report.tables import styled
from sparseconv.report.text.claims import format_effect, verdict_basis
from sparseconv.report.text.results import benchmark_reading, join_and
from sparseconv.report.text.runs import grid_progress
from sparseconv.report.text.search import search_progress
from sparseconv.sweep.runs import budget_grid, pending
from sparseconv.sweep.tuning import best_learning_rates, level_text, load_tuning, search_table

__all__ = ["kitti_page"]


def kitti_answer(runs, judgements) -> str:
    """The page's first lines: what the finished KITTI records can say so far, with
    claim 4's primary verdicts for the paper's layer (``judgements``:
    :func:`~sparseconv.report.claims.judge_claims`)."""
    if runs.empty:
        return ("Not yet: the task, its data and its baseline are in place, and no run of "
                "the KITTI grid has finished (the grid needs a GPU or many CPU "
                "sessions).")  # fmt: skip
    cells = runs.assign(pattern=pattern_of(runs))
    seeds = cells.groupby(["model", "sparsity", "pattern"])["seed"].nunique().min()
    head = f"{len(runs)} runs have finished, with at least {seeds} seed(s) per cell."
    mine = [j for j in find(judgements, "kitti", "depth", "sparse") if j.n_seeds]
    if not mine:
        return (f"{head} No pair of models has runs at both training shares yet, so claim "
                "4 is not yet judged on real data.")  # fmt: skip
    parts = [f"{j.verdict} against the {MODEL_LABELS[j.baseline]} "
             f"({format_effect(j.test, j.claim.unit)})" for j in mine]  # fmt: skip
    return (f"{head} Claim 4 for the paper's layer on real LiDAR (baseline's error minus "
            f"the layer's, at the other share): {'; '.join(parts)}.")  # fmt: skip


def kitti_budget_text(runs) -> str:
    """Is the budget long enough? The runs stop on a validation plateau; one the plateau
    rule stopped would train identically under a doubled cap (same seeds and draws, a
    schedule that does not depend on the cap), so only capped runs need the doubling."""
    if runs.empty:
        return "No run has finished, so the budget is not yet checked."
    capped = capped_runs(runs)
    cap = int(runs["record"].iloc[0]["epochs"])
    if capped.empty:
        return (f"Every one of the {len(runs)} finished runs stopped on its own plateau "
                f"before the cap of {cap} epochs. A doubled cap would train each of them "
                "identically (the same seeds and draws, and a schedule that depends on "
                "the validation error, not on the cap), so for these runs a doubled cap "
                "changes nothing; the budget check below covers every model at both "
                "shares.")  # fmt: skip
    cells = sorted({(MODEL_LABELS.get(m, m), round(100 * (1 - s)), p)
                    for m, s, p in zip(capped["model"], capped["sparsity"], capped["pattern"],
                                       strict=True)})  # fmt: skip
    listed = "; ".join(f"{m} keeping {k} %" + (" of the lines" if p == "lines" else "")
                       for m, k, p in cells)  # fmt: skip
    return (f"{len(capped)} of the {len(runs)} finished runs reached the cap of {cap} "
            f"epochs before the plateau rule stopped them ({listed}). For those cells a "
            "doubled cap could change the result: the budget check below answers it.")  # fmt: skip


def kitti_check_text(frame: pd.DataFrame, results_dir: str | os.PathLike[str]) -> str:
    """The budget check's progress and decision (``frame``: :func:`load_budget`)."""
    setting = BUDGET_CHECK["kitti"]
    long = setting["epochs"][-1]
    runs = budget_grid("kitti", results_dir=str(results_dir))
    done = len(runs) - len(pending(runs))
    shorter = join_and([str(e) for e in setting["epochs"][:-1]])
    head = (f"The check trains every model at its chosen rate at both shares with "
            f"{len(setting['seeds'])} seeds, capped at {long} epochs, and reads the runs "
            f"capped at {shorter} off each one's first epochs (the rate follows the "
            "validation plateau, never the cap, so the runs agree epoch for epoch up to "
            f"the shorter cap; tested; a run the plateau stopped is the run under every "
            f"cap). {done} of its {len(runs)} runs have finished.")  # fmt: skip
    chosen = sufficient_budget(frame, "kitti")
    margin = budget_margin(frame, "kitti")
    cap = grid_epochs("kitti")
    if chosen is not None:
        then = (f"so the grid's cap of {cap} epochs stands" if chosen <= cap else
                f"so the grid's cells need a cap of {chosen} epochs (a new protocol) "
                "before their verdict")  # fmt: skip
        return (f"{head} {chosen} epochs are sufficient: doubling them moved no model's "
                f"validation MAE by {margin:.3f} m or more and no difference to the ConvNet "
                f"by {margin / 2:.3f} m or more, {then}.")  # fmt: skip
    check = budget_check(frame, "kitti")
    failed = [int(b) for b, ok in zip(check["budget (epochs)"], check["sufficient"],
                                      strict=True) if ok == "no"]  # fmt: skip
    if failed:
        return (f"{head} {join_and([str(b) for b in failed])} epochs are not sufficient: "
                "doubling them moves a model or a difference by more than its limit, so "
                f"the grid's cap of {cap} epochs does not stand; the longer caps are judged "
                "as their runs finish.")  # fmt: skip
    untrained = untuned("kitti", list(tuned_models("kitti")))
    waits = (f" It waits for the rates of {join_and([MODEL_LABELS[m] for m in untrained])}."
             if untrained else "")  # fmt: skip
    return (f"{head} The check is not complete, so no budget is judged yet."
            f"{_largest_move_so_far(frame, margin)}{waits}")  # fmt: skip


def _largest_move_so_far(frame: pd.DataFrame, margin: float) -> str:
    """While the check is incomplete: the largest change of one model's mean validation
    MAE, over the cells (model, share) that have both budgets of a doubling, against
    the limit; "" where no cell has."""
    means = budget_means(frame)
    moves = []
    epochs = BUDGET_CHECK["kitti"]["epochs"]
    for budget, double in zip(epochs, epochs[1:], strict=False):
        a = means[means["epochs"] == budget].set_index(["model", "sparsity"])
        b = means[means["epochs"] == double].set_index(["model", "sparsity"])
        both = a.index.intersection(b.index)
        moves += [(abs(b.loc[k, "val"] - a.loc[k, "val"]), k, budget, double, int(a.loc[k, "n"]))
                  for k in both]  # fmt: skip
    if not moves or not math.isfinite(margin):
        return ""
    move, (model, sparsity), budget, double, seeds = max(moves)
    side = "above" if move >= margin else "within"
    return (f" So far the largest change is {MODEL_LABELS[model]}'s keeping "
            f"{round(100 * (1 - sparsity))} % ({seeds} seed{'s' if seeds > 1 else ''}): "
            f"{move:.3f} m from {budget} to {double} epochs, {side} the limit of "
            f"{margin:.3f} m.")  # fmt: skip


def _budget_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The budget check's paragraph, tables and figure."""
    frame = load_budget(results_dir, "kitti")
    return {
        "kitti_check_text": kitti_check_text(frame, results_dir),
        "tab_kitti_budget_check": styled(
            budget_check(frame, "kitti"),
            "The KITTI budget check: the largest change on doubling the cap, over models "
            "and both shares (validation MAE, m), against its limits (5 % of raw nearest "
            "neighbour's validation MAE, and half that for a difference); noise: the "
            "standard error of one model's mean change from the spread over seeds. '–': "
            "not all runs are in.",
            3,
        ),
        "tab_kitti_budget": styled(
            budget_table(frame, "kitti"),
            "Validation MAE (m) per training share and cap, mean over the seeds that have "
            "run, and each model's difference to the ConvNet of the same seed (m; "
            "negative: below the ConvNet's error).",
            3,
            empty="no KITTI budget run has finished yet",
        ),
        "fig_kitti_budget": budget_figure(frame, "kitti"),
    }


def _search_values(results_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The learning-rate search's paragraph, table and figure."""
    levels = SEARCH["kitti"]["sparsities"]
    return {
        "kitti_search_text": search_progress("kitti", results_dir),
        "tab_kitti_search": styled(
            search_table(results_dir, "kitti"),
            "The KITTI learning-rate search: validation MAE (m) on the held-out returns of "
            "every second validation frame, per model and training share (seed 0), and the "
            "mean over both shares on which the rate is chosen (* the chosen rate; "
            "(n/m): a mean of fewer runs than the search holds; columns: Adam's rate).",
            3,
            empty="no run of the KITTI learning-rate search has finished yet",
        ),
        "fig_kitti_search": search_curves(
            load_tuning(results_dir, "kitti"),
            best_learning_rates(results_dir, "kitti"),
            levels,
            [f"trained keeping {level_text('kitti', s).removesuffix(' kept')}" for s in levels],
            sorted({r for m in tuned_models("kitti") for r in search_rates("kitti", m)}),
        ),
    }


def _reach_values(results_dir: str | os.PathLike[str], uniform: pd.DataFrame) -> dict[str, Any]:
    """Where no kept return reaches the paper's network: the paragraph and the table, for
    the grid's runs trained at the sparse share or, before they exist, the search's best
    run per model there."""
    trained = KITTI_TRAIN_SPARSITIES[0]
    grid_runs = uniform[uniform["sparsity"] == trained] if not uniform.empty else uniform
    runs = grid_runs if len(grid_runs) else best_search_runs(results_dir, trained)
    source = ("means over the grid's seeds" if len(grid_runs) else
              "the learning-rate search's best run per model, seed 0")  # fmt: skip
    reach = load_reach(results_dir)
    table = reach_table(reach, runs) if reach is not None else pd.DataFrame()
    kept = round(100 * (1 - trained))
    return {
        "kitti_reach_text": Markdown("\n\n".join(reach_paragraphs(reach, table)) + "\n"),
        "tab_kitti_reach": styled(
            table,
            "The test block's held-out returns with no kept return within the paper's "
            "network's window, by the share of the returns the input keeps (%, uniform "
            "draws of the test stream; 'lines': the same share of whole scan lines, the "
            "lines runs' seeds); the MAE (m) and iMAE (1/km) that predicting 0 m at "
            "them adds (clamped to 0.1 m for the inverse); and each model's "
            f"measured iMAE (1/km) on the test block, trained keeping {kept} % ({source}).",
            2,
            empty="the reach has not been measured (python -m sparseconv.report.kitti_reach)",
        ),
    }


def kitti_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the KITTI page glues."""
    study = load_study(results_dir)
    runs = study["kitti"]
    uniform = uniform_runs(runs)  # claim 4's inputs; the lines runs have their own table
    judgements = judge_claims(study)
    trained = KITTI_TRAIN_SPARSITIES[0]
    bench = kitti_benchmark_table(load_kitti_benchmark(results_dir), uniform, trained)
    kept = round(100 * (1 - trained))
    out: dict[str, Any] = {
        "kitti_answer": kitti_answer(runs, judgements),
        "kitti_tests": styled(
            depth_tests_table(runs, "kitti"),
            "Claim 4 on real LiDAR, level-wise: trained keeping one share of the returns "
            "and tested keeping the other, the baseline's MAE on the held-out returns "
            "minus the sparse network's (m; positive favours the sparse network), both "
            "trained at the same share, paired by seed, Holm-corrected per variant.",
            3,
            empty="no KITTI model type has runs at both training shares yet",
        ),
        "tab_kitti_benchmark": styled(
            bench,
            "KITTI's depth completion test server (published numbers, not measured here: "
            "full scans in, semi-dense ground truth, mm) beside our model of the same kind "
            f"trained keeping {kept} % of the returns: the MAE (m) on the held-out returns "
            f"of the test block keeping {kept} %, and on the four ground-truth frames from "
            "their full scans (means over seeds; interpolation alone beside raw nearest "
            "neighbour).",
            3,
            empty="results/reference/kitti_benchmark.csv is missing",
        ),
        "kitti_benchmark_reading": benchmark_reading(
            bench, HELD_OUT_COLUMN, f"On the drive's held-out returns, keeping {kept} %"
        ),
        "kitti_progress": grid_progress("kitti", results_dir, runs),
        "kitti_crop": f"{LIDAR_CROP[0]} × {LIDAR_CROP[1]}",
        "kitti_steps": LIDAR_STEPS,
        "kitti_batch": DEFAULTS["kitti"]["batch_size"],
        "kitti_epochs": DEFAULTS["kitti"]["epochs"],
        "fig_kitti_errors": kitti_error_figure(kitti_means(kitti_curves(uniform))),
        "tab_kitti_lines": styled(
            kitti_lines_table(runs),
            "Trained on whole scan lines (the LiDAR-like pattern, keeping "
            f"{kept} % of the returns) and tested on the same pattern: MAE (m) on the "
            "held-out returns by the share kept, means over seeds, raw nearest neighbour "
            "of the same inputs last.",
            3,
            empty="no KITTI run on the lines pattern has finished yet",
        ),
        "tab_kitti_fit": styled(
            kitti_fit_table(runs),
            "How each KITTI model trained, per training share and pattern (means over "
            "seeds): epochs run and the cap, the "
            "runs the plateau rule stopped, the kept epoch, the last epoch's L1 training "
            "loss (m) and the MAE (m) on training frames, validation and the test block "
            "at the training share.",
            3,
            empty="no KITTI run has finished yet",
        ),
        "kitti_budget": kitti_budget_text(runs),
        "tab_kitti_published": styled(
            published_table(load_published(results_dir), uniform, trained),
            "Published errors on KITTI's selected validation set (1000 frames) beside ours "
            f"of the same kind on the drive's four ground-truth frames, trained keeping "
            f"{kept} % of the returns: other frames "
            "and other training, so a description only.",
            3,
            empty="results/reference/kitti_validation.csv is missing",
        ),
    }
    out.update(_search_values(results_dir))
    out.update(_budget_values(results_dir))
    out.update(_reach_values(results_dir, uniform))
    for variant in claim_of("kitti", "depth").variants:
        mine = find(judgements, "kitti", "depth", variant)
        out[f"kitti_{variant}_verdict"] = (
            " ".join(verdict_basis(j) for j in mine) if len(runs) else "Not judged yet (no runs)."
        )
    out["fig_kitti_predictions"] = predictions_figure(uniform, trained)
    for level in KITTI_TRAIN_SPARSITIES:
        kept = round(100 * (1 - level))
        out[f"tab_kitti_truth_{kept}"] = styled(
            ground_truth_table(uniform, level) if not uniform.empty else uniform.iloc[0:0],
            f"The four frames with KITTI's semi-dense ground truth, completed from their "
            f"full velodyne_raw by the models trained keeping {kept} % of the returns "
            "(means over seeds): KITTI's four errors on the ground-truth pixels, MAE and "
            "RMSE in metres, iMAE and iRMSE of the inverse depth in 1/km.",
            3,
            empty=f"no KITTI run trained keeping {kept} % has finished yet",
        )
    return out
