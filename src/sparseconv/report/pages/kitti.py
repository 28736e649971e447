"""What the KITTI page shows: the real-data grid's records (``results/kitti/``)."""

from __future__ import annotations

import os
from typing import Any

from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import DEFAULTS, LIDAR_CROP, LIDAR_STEPS
from sparseconv.report.analysis import load_runs
from sparseconv.report.figures.kitti import kitti_error_figure
from sparseconv.report.kitti_tables import (
    capped_runs,
    ground_truth_table,
    kitti_curves,
    kitti_fit_table,
    kitti_means,
    load_published,
    published_table,
)
from sparseconv.report.tables import styled
from sparseconv.report.text.runs import grid_progress

__all__ = ["kitti_page"]


def kitti_answer(runs) -> str:
    """The page's first lines: what the finished KITTI records can say so far."""
    if runs.empty:
        return ("Not yet: the task, its data and its baseline are in place, and no run of "
                "the KITTI grid has finished (the grid needs a GPU or many CPU "
                "sessions).")  # fmt: skip
    seeds = runs.groupby(["model", "sparsity"])["seed"].nunique().min()
    return (f"{len(runs)} runs have finished, with at least {seeds} seed(s) per cell; the "
            "figure below is descriptive until the grid is complete and its learning "
            "rates are searched.")  # fmt: skip


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
                "the validation error, not on the cap), so the budget passes the budget "
                "check's rule without further runs.")  # fmt: skip
    cells = sorted({(MODEL_LABELS.get(m, m), round(100 * (1 - s)))
                    for m, s in zip(capped["model"], capped["sparsity"], strict=True)})  # fmt: skip
    listed = "; ".join(f"{m} keeping {k} %" for m, k in cells)
    return (f"{len(capped)} of the {len(runs)} finished runs reached the cap of {cap} "
            f"epochs before the plateau rule stopped them ({listed}). For those cells a "
            "doubled cap could change the result, so the budget check's doubling (runs "
            "at twice the cap) is still to come.")  # fmt: skip


def kitti_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the KITTI page glues."""
    runs = load_runs(results_dir, "kitti")
    out: dict[str, Any] = {
        "kitti_answer": kitti_answer(runs),
        "kitti_progress": grid_progress("kitti", results_dir, runs),
        "kitti_crop": f"{LIDAR_CROP[0]} × {LIDAR_CROP[1]}",
        "kitti_steps": LIDAR_STEPS,
        "kitti_batch": DEFAULTS["kitti"]["batch_size"],
        "kitti_epochs": DEFAULTS["kitti"]["epochs"],
        "fig_kitti_errors": kitti_error_figure(kitti_means(kitti_curves(runs))),
        "tab_kitti_fit": styled(
            kitti_fit_table(runs),
            "How each KITTI model trained (means over seeds): epochs run and the cap, the "
            "runs the plateau rule stopped, the kept epoch, the last epoch's L1 training "
            "loss (m) and the MAE (m) on training frames, validation and the test block "
            "at the training share.",
            3,
            empty="no KITTI run has finished yet",
        ),
        "kitti_budget": kitti_budget_text(runs),
        "tab_kitti_published": styled(
            published_table(load_published(results_dir), runs, KITTI_TRAIN_SPARSITIES[0]),
            "Published errors on KITTI's selected validation set (1000 frames) beside ours "
            f"of the same kind on the drive's four ground-truth frames, trained keeping "
            f"{round(100 * (1 - KITTI_TRAIN_SPARSITIES[0]))} % of the returns: other frames "
            "and other training, so a description only.",
            3,
            empty="results/reference/kitti_validation.csv is missing",
        ),
    }
    for level in KITTI_TRAIN_SPARSITIES:
        kept = round(100 * (1 - level))
        out[f"tab_kitti_truth_{kept}"] = styled(
            ground_truth_table(runs, level) if not runs.empty else runs.iloc[0:0],
            f"The four frames with KITTI's semi-dense ground truth, completed from their "
            f"full velodyne_raw by the models trained keeping {kept} % of the returns "
            "(means over seeds), MAE and RMSE in metres on the ground-truth pixels.",
            3,
            empty=f"no KITTI run trained keeping {kept} % has finished yet",
        )
    return out
