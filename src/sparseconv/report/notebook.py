"""Small helpers that keep the run notebooks thin: parameter names, progress lines and
the reproduction check against the study's record of the same run."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES, DATASETS, datasets_of
from sparseconv.registry.paths import project_root
from sparseconv.registry.records import STUDY_DIR, atomic_write_text, read_record, record_path
from sparseconv.registry.study import DEFAULTS
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
    elif "val_mae_missing" in entry:
        body = (
            f"  validation MAE {entry['val_mae_missing']:.3f} m on the missing pixels"
            f" (all pixels {entry['val_mae']:.3f} m)"
        )
    else:  # kitti: errors on the held-out returns
        body = (
            f"  validation MAE {entry['val_mae']:.3f} m, RMSE {entry['val_rmse']:.3f} m on the "
            "held-out returns"
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
        if "test_mae_missing_by_sparsity" in record
        else "test_mae_by_sparsity"
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


# The classification notebooks share every cell: ``notebooks/mnist.ipynb`` is the one
# source, and each other classification notebook is made from it by
# :func:`classification_notebook` (``python -m sparseconv.report.notebook --write``);
# a test keeps the committed notebooks equal to what it makes.
SOURCE_NOTEBOOK = "mnist"
# per data set: the sentence after the title of its notebook
DESCRIPTIONS = {
    "mnist": "Trains one model on MNIST with a fraction `sparsity` of each image's pixels "
    "removed (new random pixels every batch), then tests it on the 10,000 test images at "
    "every sparsity level with fixed masks.",
    "caltech101": "Trains one model on Caltech-101 (101 classes, 64 x 64 RGB, the committed "
    "stratified 80/20 split) with a fraction `sparsity` of each image's pixels removed "
    "after augmentation (new random pixels every batch), then tests it on the 1,736 test "
    "images at every sparsity level with fixed masks. Accuracy and mean per-class accuracy "
    "are recorded (the classes are imbalanced).",
}


def _source_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def classification_notebook(dataset: str, source: str | None = None) -> str:
    """The text of ``notebooks/<dataset>.ipynb`` made from the source notebook's text
    (default: the committed ``notebooks/mnist.ipynb``): the same cells with the data set's
    name, title, description and parameter defaults (``study.DEFAULTS``)."""
    if DATASETS.get(dataset) is None or DATASETS[dataset].task != "classification":
        raise ValueError(f"dataset must be a classification data set, got {dataset!r}")
    if source is None:
        source = (project_root() / "notebooks" / f"{SOURCE_NOTEBOOK}.ipynb").read_text()
    notebook = json.loads(source)
    old, new = SOURCE_NOTEBOOK, dataset
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = []
            for line in text.split("\n"):
                name, sep, rest = line.partition(" = ")
                if sep and name in DEFAULTS[new] and name != "lr":
                    value, hash_, comment = rest.partition("  #")
                    line = f"{name} = {DEFAULTS[new][name]!r}" + (hash_ + comment if hash_ else "")
                lines.append(line)
            text = "\n".join(lines)
        elif cell["cell_type"] == "markdown":
            text = text.replace(f"# {DATASET_NAMES[old]}:", f"# {DATASET_NAMES[new]}:", 1)
            text = text.replace(DESCRIPTIONS[old], DESCRIPTIONS[new])
            text = text.replace(f"notebooks/{old}.ipynb", f"notebooks/{new}.ipynb")
            text = text.replace(f"runs/{old}/", f"runs/{new}/")
        else:
            text = text.replace(f'"{old}"', f'"{new}"')
        cell["source"] = _source_lines(text)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Check (default) or ``--write`` the classification notebooks made from the source."""
    parser = argparse.ArgumentParser(prog="python -m sparseconv.report.notebook",
                                     description=main.__doc__)  # fmt: skip
    parser.add_argument("--write", action="store_true", help="rewrite the made notebooks")
    args = parser.parse_args(argv)
    stale = []
    for dataset in datasets_of("classification"):
        if dataset == SOURCE_NOTEBOOK:
            continue
        path = project_root() / "notebooks" / f"{dataset}.ipynb"
        made = classification_notebook(dataset)
        if path.read_text() != made:
            stale.append(str(path))
            if args.write:
                atomic_write_text(path, made)
    if stale and not args.write:
        print("out of date with notebooks/mnist.ipynb (run with --write):", *stale)
        return 1
    print(("rewritten: " + ", ".join(stale)) if stale else "the notebooks are in sync")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
