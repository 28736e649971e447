"""Where the study stands: every part of every grid (the reported grids, and the budget
check, search and grid of each protocol under way), with its finished and pending runs,
the one-thread CPU-hours the pending ones need (from the study's measured run times,
:mod:`sparseconv.sweep.plan`) and what a part waits for."""

from __future__ import annotations

import os
from collections.abc import Callable

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.study import (
    BUDGET_CHECK,
    GRIDS,
    PROTOCOL,
    REPORTED_PROTOCOL,
    SEARCH,
    rates_pending,
    rates_table,
    separate_search,
    untuned,
)
from sparseconv.report.analysis import load_runs
from sparseconv.sweep.plan import estimate_hours
from sparseconv.sweep.runs import Run, budget_grid, grid, pending, tuning_grid

__all__ = ["STATUS_COLUMNS", "study_status"]

STATUS_COLUMNS = [
    "data set",
    "protocol",
    "part",
    "finished",
    "runs",
    "CPU-hours left",
    "unmeasured runs",
    "waits for",
]


def _row(
    dataset: str, protocol: int, part: str, make: Callable[[], list[Run]], results_dir: str,
    waits: str = "",
) -> dict[str, object]:  # fmt: skip
    """One part: its runs from ``make()``, or, where they cannot be listed yet (a budget
    not chosen), the reason in "waits for"."""
    row: dict[str, object] = {"data set": DATASET_NAMES[dataset], "protocol": protocol,
                              "part": part}  # fmt: skip
    try:
        runs = make()
    except ValueError:  # a new protocol's part whose budget is not chosen yet
        return {**row, "finished": "–", "runs": "–", "CPU-hours left": "–",
                "unmeasured runs": "–", "waits for": "the budget check's choice"}  # fmt: skip
    left = pending(runs)
    hours, unknown = estimate_hours(left, results_dir)
    return {**row, "finished": len(runs) - len(left), "runs": len(runs),
            "CPU-hours left": f"{hours:.1f}", "unmeasured runs": unknown,
            "waits for": waits}  # fmt: skip


def study_status(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """One row per part of the study (columns ``STATUS_COLUMNS``): the reported grid of
    each data set; for a data set whose current protocol runs beside it, that protocol's
    budget check, search and grid; for KITTI (no earlier search) its search, budget check
    and grid.
    "CPU-hours left": one-thread hours of the pending runs at the median measured
    minutes per epoch of their data set and model (an upper bound where runs stop
    early); "unmeasured runs": pending runs of a model with no measured run yet, not in
    those hours."""
    where = str(results_dir)
    rows = []
    for dataset in GRIDS:
        reported, current = REPORTED_PROTOCOL[dataset], PROTOCOL[dataset]
        rates = f"the search's rates in study.{rates_table(dataset)}"
        waits = rates if rates_pending(dataset) else ""

        def search(d: str = dataset) -> list[Run]:
            return tuning_grid(d, results_dir=where)

        def cells(d: str = dataset) -> list[Run]:
            return grid(d, results_dir=where)

        if current == reported:
            if separate_search(dataset, reported):
                rows.append(_row(dataset, reported, "learning-rate search", search, where))
            if dataset in BUDGET_CHECK:  # KITTI: its check runs beside its grid

                def check(d: str = dataset) -> list[Run]:
                    return budget_grid(d, results_dir=where)

                held = rates if untuned(dataset, list(GRIDS[dataset][1])) else ""
                rows.append(_row(dataset, reported, "budget check", check, where, held))
            rows.append(_row(dataset, reported, "grid", cells, where, waits))
            continue
        # the reported grid is the one the pages read, complete; it is replaced once the
        # new protocol's grid is
        done = len(load_runs(results_dir, dataset))
        rows.append({"data set": DATASET_NAMES[dataset], "protocol": reported,
                     "part": "reported grid", "finished": done, "runs": done,
                     "CPU-hours left": "0.0", "unmeasured runs": 0, "waits for": ""})  # fmt: skip
        if dataset in BUDGET_CHECK:

            def budget(d: str = dataset) -> list[Run]:
                return budget_grid(d, results_dir=where)

            rows.append(_row(dataset, current, "budget check", budget, where))
        if dataset in SEARCH:
            rows.append(_row(dataset, current, "learning-rate search", search, where))
        rows.append(_row(dataset, current, "grid", cells, where, waits))
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)
