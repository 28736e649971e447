"""What the KITTI page shows: the real-data grid's records (``results/kitti/``)."""

from __future__ import annotations

import os
from typing import Any

from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.study import DEFAULTS, LIDAR_CROP, LIDAR_STEPS
from sparseconv.report.analysis import load_runs
from sparseconv.report.figures.kitti import kitti_error_figure
from sparseconv.report.kitti_tables import ground_truth_table, kitti_curves, kitti_means
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
