"""What a sweep will cost, estimated from the study's own measured run times.

    python -m sparseconv.sweep mnist --budget --dry-run   # prints the plan, runs nothing

Every finished record under ``results/`` (grid, search, budget check) gives its minutes
per epoch on its device; a pending run is estimated at the median minutes per epoch of
the records of the same data set and model on the same kind of device, times its
epochs. Runs on one CPU thread are the unit: "CPU-hours" are one-thread hours.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from sparseconv.registry.datasets import TRAIN_SPARSITIES
from sparseconv.registry.models import tuned_models
from sparseconv.registry.records import read_record, resolve_results_dir
from sparseconv.registry.study import FULL_GRID_LIMIT_HOURS, FULL_GRID_SEEDS, REDUCED_LEVELS
from sparseconv.sweep.runs import Run

__all__ = ["minutes_per_epoch", "estimate_hours", "plan_line", "level_choice"]


def _device_kind(device: str | None) -> str:
    """Records name the CPU "cpu" and a GPU by its name ("NVIDIA H200")."""
    return "cpu" if device in (None, "cpu") else "cuda"


def minutes_per_epoch(
    results_dir: str | os.PathLike[str], dataset: str, device: str = "cpu"
) -> dict[str, float]:
    """Per model: the median minutes per epoch (training and evaluation) of every record
    of ``dataset`` on ``device``'s kind ("cpu" or "cuda") in ``results_dir``, any
    subfolder, quick ``limit`` runs excluded."""
    folder = resolve_results_dir(results_dir) / dataset
    per_model: dict[str, list[float]] = {}
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        record = read_record(path)
        if not isinstance(record, dict) or record.get("limit") is not None:
            continue
        if "train_seconds" not in record or _device_kind(record.get("device")) != device:
            continue
        epochs = len(record.get("history") or []) or record.get("epochs") or 0
        if epochs:
            seconds = record["train_seconds"] + record.get("eval_seconds", 0.0)
            per_model.setdefault(record["model"], []).append(seconds / 60 / epochs)
    return {model: statistics.median(values) for model, values in per_model.items()}


def estimate_hours(
    runs: Sequence[Run], results_dir: str | os.PathLike[str] = "results", device: str = "cpu"
) -> tuple[float, int]:
    """(estimated one-thread hours of ``runs``, how many runs had no measurement to go
    by); depth runs stop early, so their estimate is an upper bound."""
    rates: dict[str, dict[str, float]] = {}
    hours, unknown = 0.0, 0
    for run in runs:
        if run.dataset not in rates:
            rates[run.dataset] = minutes_per_epoch(results_dir, run.dataset, device)
        rate = rates[run.dataset].get(run.params["model"])
        if rate is None:
            unknown += 1
            continue
        hours += rate * int(run.params["epochs"]) / 60
    return hours, unknown


def plan_line(
    runs: Sequence[Run], jobs: int, results_dir: str | os.PathLike[str] = "results",
    device: str = "cpu",
) -> str:  # fmt: skip
    """One line for the sweep's output: the runs to train and their estimated cost."""
    hours, unknown = estimate_hours(runs, results_dir, device)
    kind = "CPU-hours (one thread each)" if device == "cpu" else "GPU process-hours"
    text = (f"plan: {len(runs)} runs, about {hours:.1f} {kind}, {hours / max(jobs, 1):.1f} h "
            f"of wall time with {jobs} at once")  # fmt: skip
    if unknown:
        text += f" ({unknown} runs of models with no measured run are not counted)"
    return text


def level_choice(
    dataset: str, epochs: int, results_dir: str | os.PathLike[str] = "results"
) -> tuple[float | None, tuple[float, ...]]:
    """Protocol 3's rule for a classification grid's levels at ``epochs``: (the estimated
    one-thread hours of ``study.FULL_GRID_SEEDS`` seeds of every tuned model over all
    ten levels, from the measured CPU minutes per epoch; None without a measurement for
    every model, the levels chosen. More than ``study.FULL_GRID_LIMIT_HOURS`` keeps
    ``study.REDUCED_LEVELS``; otherwise, or without an estimate, all ten."""
    rates = minutes_per_epoch(results_dir, dataset, "cpu")
    models = tuned_models(dataset)
    if not all(m in rates for m in models):
        return None, tuple(TRAIN_SPARSITIES)
    hours = FULL_GRID_SEEDS * len(TRAIN_SPARSITIES) * sum(rates[m] for m in models) * epochs / 60
    levels = REDUCED_LEVELS if hours > FULL_GRID_LIMIT_HOURS else TRAIN_SPARSITIES
    return hours, tuple(levels)
