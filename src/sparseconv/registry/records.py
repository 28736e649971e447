"""Run records: one JSON file per finished run, written atomically, and their loading.

A record lives at ``<results_dir>/<dataset>/<run name>.json``; the run name is made
from the parameters that identify a run (:func:`run_name`), so a sweep can tell which
runs are done. The executed notebook of a sweep run sits beside it as
``<run name>.ipynb``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sparseconv.registry import paths

__all__ = [
    "SCHEMA_VERSION",
    "REQUIRED_FIELDS",
    "RUN_KEYS",
    "run_name",
    "record_path",
    "resolve_results_dir",
    "atomic_write_text",
    "write_record",
    "read_record",
    "validate_record",
    "iter_records",
    "STUDY_DIR",
    "is_study_folder",
]

SCHEMA_VERSION = 2
# the study's records: the sweep writes here; runs by hand go elsewhere (params.RUNS_DIR)
STUDY_DIR = "results"

# the parameters that make a run what it is (not where it writes, nor its thread count):
# its record's name and first fields, its checkpoint's identity, what a packed record
# must share with the notebook that adopts it
RUN_KEYS = ("dataset", "model", "sparsity", "seed", "epochs", "lr", "batch_size", "limit")

# field -> type(s) every record has (classification and depth alike)
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "dataset": str,
    "model": str,
    "sparsity": float,
    "seed": int,
    "epochs": int,
    "lr": float,
    "batch_size": int,
    "limit": (int, type(None)),
    "history": list,
    "train_seconds": float,
    "n_parameters": int,
    "device": str,
    "torch_version": str,
    "git_commit": (str, type(None)),
    "git_dirty": (bool, type(None)),
    "started_at": str,
    "finished_at": str,
    "executor": str,
    "host": str,
}

CLASSIFICATION_FIELDS: dict[str, type | tuple[type, ...]] = {
    "test_accuracy": float,
    "test_accuracy_by_sparsity": dict,
}
# classification records of schema 2 (validation split, test set once at the end)
VALIDATED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "protocol": int,
    "val_accuracy": float,
    "n_val": int,
    "best_epoch": int,
    "train_eval_accuracy": float,
    "test_mean_class_accuracy_by_sparsity": dict,
}

DEPTH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "test_mae": float,
    "test_rmse": float,
    "test_mae_by_sparsity": dict,
    "pattern": str,
}

HISTORY_FIELDS = ("epoch", "loss", "seconds")


def _level(value: float) -> str:
    """A sparsity as it appears in names and JSON keys: '0.5', '0.05', '0.95'."""
    return f"{value:g}"


def run_name(params: Mapping[str, Any], *, cap: bool = True) -> str:
    """File stem of a run: model, sparsity, seed, epochs, lr, batch size, [pattern], [bf16],
    [limit].

    E.g. ``sparse_sp0.7_seed0_ep20_lr0.005_bs128``; a quick run adds ``_limit500``.
    ``cap=False`` leaves the epochs out: the name of the run under any cap (the saved
    state of a run of ``study.CAP_FREE``).
    """
    parts = [
        str(params["model"]),
        f"sp{_level(float(params['sparsity']))}",
        f"seed{int(params['seed'])}",
        *([f"ep{int(params['epochs'])}"] if cap else []),
        f"lr{float(params['lr']):g}",
        f"bs{int(params['batch_size'])}",
    ]
    if params.get("pattern") not in (None, "uniform"):
        parts.append(str(params["pattern"]))
    if params.get("amp"):
        parts.append("bf16")
    if params.get("limit") is not None:
        parts.append(f"limit{int(params['limit'])}")
    return "_".join(parts)


def resolve_results_dir(results_dir: str | os.PathLike[str]) -> Path:
    """An absolute results folder; a relative one is taken from the project root.

    So ``"results"`` means the same folder whether a notebook runs from the project
    root or from ``notebooks/``.
    """
    path = Path(results_dir).expanduser()
    return path if path.is_absolute() else paths.project_root() / path


def is_study_folder(results_dir: str | os.PathLike[str]) -> bool:
    """True if ``results_dir`` is the study's records folder (``results/`` of the project)."""
    return resolve_results_dir(results_dir).resolve() == resolve_results_dir(STUDY_DIR).resolve()


def record_path(
    results_dir: str | os.PathLike[str], params: Mapping[str, Any], subfolder: str = ""
) -> Path:
    """``<results_dir>/<dataset>/[<subfolder>/]<run name>.json``."""
    folder = resolve_results_dir(results_dir) / str(params["dataset"])
    return (folder / subfolder if subfolder else folder) / f"{run_name(params)}.json"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(obj: Any, where: str) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"record field {where} is {obj}, not a finite number")
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite(v, f"{where}[{i}]")


def validate_record(record: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first field that is missing or of the wrong type."""
    fields = dict(REQUIRED_FIELDS)
    if record.get("dataset") in ("mnist", "caltech101"):
        fields.update(CLASSIFICATION_FIELDS)
        if record.get("schema_version", 1) >= 2:
            fields.update(VALIDATED_FIELDS)
    elif record.get("dataset") == "depth":
        fields.update(DEPTH_FIELDS)
    for name, kind in fields.items():
        if name not in record:
            raise ValueError(f"record is missing the field {name!r}")
        value = record[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if isinstance(value, bool) and kind in (int, float):
            raise ValueError(f"record field {name!r} is a bool, expected {kind.__name__}")
        if not isinstance(value, kind):
            raise ValueError(f"record field {name!r} has type {type(value).__name__}: {value!r}")
    for i, entry in enumerate(record["history"]):
        for name in HISTORY_FIELDS:
            if name not in entry:
                raise ValueError(f"record history[{i}] is missing {name!r}")
    # a run that diverged or stopped on a validation plateau has fewer epochs, never more
    stopped = record.get("diverged_at_epoch") or record.get("stopped_early")
    n = len(record["history"])
    if n > record["epochs"] or (n != record["epochs"] and not stopped):
        raise ValueError(f"record has {n} history entries for {record['epochs']} epochs")
    if "test_accuracy" in record and not 0.0 <= record["test_accuracy"] <= 1.0:
        raise ValueError(f"test_accuracy {record['test_accuracy']!r} is not a fraction in [0, 1]")
    _finite(dict(record), "record")


def write_record(record: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validate ``record`` and write it atomically as indented JSON; returns the path."""
    validate_record(record)
    path = Path(path)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False) + "\n")
    return path


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load one record."""
    with open(path) as f:
        return json.load(f)


def iter_records(
    results_dir: str | os.PathLike[str], datasets: Iterable[str] | None = None
) -> Iterable[tuple[Path, dict[str, Any]]]:
    """(path, record) for every run record under ``results_dir`` (optionally some data
    sets); other JSON files there (benchmarks, summaries) are skipped."""
    root = resolve_results_dir(results_dir)
    names = list(datasets) if datasets is not None else None
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if names is not None and folder.name not in names:
            continue
        for path in sorted(folder.glob("*.json")):
            record = read_record(path)
            if isinstance(record, dict) and "schema_version" in record and "dataset" in record:
                yield path, record
