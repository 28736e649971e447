"""Small helpers that keep the run notebooks thin: parameter names, progress lines and
the reproduction check against the study's record of the same run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sparseconv.registry.records import STUDY_DIR, read_record, record_path
from sparseconv.report.analysis import load_runs
from sparseconv.sweep.runs import grid_folder
from sparseconv.train.params import check_parameter_names

__all__ = ["refuse_unknown_parameters", "epoch_line", "study_record", "reproduction_check"]


def refuse_unknown_parameters(dataset: str, names: Iterable[str]) -> None:
    """Raise ValueError naming any parameter papermill injected that the notebook does not
    know (e.g. ``-p sparsty 0.7``). ``names``: the names the parameters cell and
    papermill's injected cell defined; private ones (``_x``) are ignored."""
    check_parameter_names(dataset, [n for n in names if not n.startswith("_")])


def epoch_line(entry: Mapping[str, Any]) -> str:
    """One line per epoch for a notebook's log: loss, training and validation accuracy
    (classification) or loss and validation error on the missing pixels (depth)."""
    head = f"epoch {entry['epoch']:3d}  loss {entry['loss']:.4f}"
    if "val_accuracy" in entry:
        body = (
            f"  train {100 * entry['train_accuracy']:.2f} %"
            f"  validation {100 * entry['val_accuracy']:.2f} %"
        )
    else:
        body = (
            f"  validation MAE {entry['val_mae_missing']:.3f} m on the missing pixels"
            f" (all pixels {entry['val_mae']:.3f} m)"
        )
    return f"{head}{body}  ({entry['seconds']:.1f} s)"


def study_record(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The study's record of the same run under the same protocol (same name under
    ``results/<dataset>/``, or in the folder of a new protocol's grid beside it), or
    None."""
    for folder in ("", grid_folder(record["dataset"])):
        path = record_path(STUDY_DIR, record, folder)
        if path.is_file():
            found = read_record(path)
            if found.get("protocol", 1) == record.get("protocol", 1):
                return found
    return None


def _seed_spread(record: Mapping[str, Any], key: str) -> dict[str, float]:
    """Per test level: the range (max - min) over the study's seeds of the same cell
    (data set, model, training sparsity, protocol), for the noise band."""
    runs = load_runs(STUDY_DIR, record["dataset"])
    same = runs[(runs["model"] == record["model"]) & (runs["sparsity"] == record["sparsity"])]
    spread: dict[str, float] = {}
    for level in record[key]:
        values = [r[key][level] for r in same["record"] if level in r.get(key, {})]
        spread[level] = max(values) - min(values) if len(values) >= 2 else float("nan")
    return spread


def reproduction_check(
    record: Mapping[str, Any], reference: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame | None, str]:
    """Compare a run with the study's record of the same run.

    Returns a table (test level, this run, study record, difference, noise band;
    accuracies in %, differences in points, rounded to 0.01) and a one-line verdict that
    explains the band: "reproduced within noise: ..." when every
    difference lies within the range over the study's seeds of that cell, else "not
    reproduced". The band is at least 0.5 accuracy points (0.05 m for depth): runs on a
    different thread count or machine differ by about that much from rounding alone.
    ``(None, why)`` when there is nothing to compare with (no study record, or the run
    is a study record itself).
    """
    key = (
        "test_accuracy_by_sparsity"
        if "test_accuracy_by_sparsity" in record
        else "test_mae_missing_by_sparsity"
    )
    if reference is None:
        reference = study_record(record)
    if reference is None:
        return None, (
            f"no study record of this run under protocol {record.get('protocol')} to compare with"
        )
    if reference.get("started_at") == record.get("started_at"):
        return None, "this run is the study's record itself"
    scale, floor = (100.0, 0.5) if key == "test_accuracy_by_sparsity" else (1.0, 0.05)
    spread = _seed_spread(record, key)
    rows = []
    for level, value in record[key].items():
        ref = reference.get(key, {}).get(level)
        if ref is None:
            continue
        seed_range = scale * spread.get(level, float("nan"))
        band = floor if math.isnan(seed_range) else max(seed_range, floor)
        diff = scale * (value - ref)
        rows.append(
            {
                "test sparsity": float(level),
                "this run": round(scale * value, 2),
                "study record": round(scale * ref, 2),
                "difference": round(diff, 2),
                "noise band": round(band, 2),
                "within noise": abs(diff) <= band,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return None, "the study record has no common test levels"
    ok = bool(table["within noise"].all())
    worst = table.loc[table["difference"].abs().idxmax()]
    unit = "points" if scale == 100.0 else "m"
    band_words = (
        f"the noise band is the spread of this cell over the study's seeds, and "
        f"at least {floor:g} {unit}"
    )
    verdict = (
        f"reproduced within noise: at every test level this run lies within the noise band "
        f"of the study's record ({band_words})"
        if ok
        else f"not reproduced: {worst['difference']:+.2f} {unit} at test sparsity "
        f"{worst['test sparsity']:g}, outside the noise band of ±{worst['noise band']:.2f} "
        f"{unit} ({band_words})"
    )
    mine, theirs = (
        (record.get("threads"), record.get("device")),
        (
            reference.get("threads"),
            reference.get("device"),
        ),
    )
    if mine != theirs:
        verdict += (
            f" (this run: {mine[0]} thread(s) on {mine[1]}; the study's: {theirs[0]} on "
            f"{theirs[1]}: other floating-point sums send training down another path)"
        )
    return table, verdict
