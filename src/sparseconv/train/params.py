"""Checking a run's parameters before any work is done.

Every notebook and ``train_run`` call goes through :func:`validate_params`, which fails
in seconds with ``parameter <name>=<value>: <why>`` instead of after minutes of training.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from sparseconv.data import images as data_mod
from sparseconv.data.kitti import kitti_root
from sparseconv.data.sparsify import check_sparsity
from sparseconv.registry.datasets import DATASETS, PATTERNS
from sparseconv.registry.models import models_of
from sparseconv.registry.records import is_study_folder, record_path
from sparseconv.registry.study import default_lr

__all__ = ["ParameterError", "validate_params", "check_parameter_names", "RUNS_DIR"]

# where a run started by hand writes its record (git-ignored), unless results_dir says
RUNS_DIR = "runs"

# the parameters every notebook takes, and those only the depth notebook adds
NOTEBOOK_PARAMETERS = (
    "sparsity",
    "model",
    "epochs",
    "lr",
    "batch_size",
    "seed",
    "limit",
    "data_dir",
    "results_dir",
    "overwrite",
    "device",
    "threads",
    "amp",
    "checkpoint",
)


class ParameterError(ValueError):
    """A bad notebook parameter. In a notebook its traceback is the message alone (IPython
    renders ``_render_traceback_``), so papermill's output ends with the one line that
    names the parameter, not with the frames of the package that checked it."""

    def _render_traceback_(self) -> list[str]:
        return [f"ParameterError: {self}", "(fix the parameter and run the notebook again)"]


def _bad(name: str, value: Any, why: str) -> ParameterError:
    return ParameterError(f"parameter {name}={value!r}: {why}")


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(name, value, f"must be an integer >= {minimum}")
    return value


def check_parameter_names(dataset: str, names: Any) -> None:
    """Raise ValueError if ``names`` (e.g. papermill's injected parameters) holds a name
    the data set's notebook does not know, naming it and the known ones."""
    extra = ("pattern",) if DATASETS[dataset].task != "classification" else ("packed_record",)
    known = NOTEBOOK_PARAMETERS + extra
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for the {dataset} notebook; "
            f"known: {', '.join(known)}"
        )


def validate_params(
    dataset: str,
    *,
    sparsity: Any,
    model: Any,
    epochs: Any,
    lr: Any,
    batch_size: Any,
    seed: Any,
    limit: Any = None,
    data_dir: Any = None,
    results_dir: Any = RUNS_DIR,
    overwrite: Any = False,
    device: Any = "auto",
    threads: Any = None,
    pattern: Any = None,
    amp: Any = False,
    checkpoint: Any = None,
    check_data: bool = True,
) -> dict[str, Any]:
    """Check every notebook parameter; return them normalised.

    Raises ValueError ``parameter <name>=<value>: <why>`` at the first bad one: a
    sparsity outside [0, 1), an unknown model, epochs < 1, a data folder without the
    data set that cannot be downloaded, a study record that would be replaced without
    ``overwrite=True``, and so on. ``lr=None`` takes the study's rate for the model
    (:func:`sparseconv.registry.study.default_lr`).
    """
    if dataset not in DATASETS:
        raise _bad("dataset", dataset, f"must be one of {DATASETS}")
    try:
        sparsity = check_sparsity(sparsity)
    except ValueError as exc:
        raise _bad("sparsity", sparsity, "must be a number with 0 <= sparsity < 1") from exc
    if model not in models_of(dataset):
        raise _bad("model", model, f"must be one of {models_of(dataset)} for {dataset}")
    _check_int("epochs", epochs, 1)
    if lr is None:
        lr = default_lr(dataset, model)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise _bad("lr", lr, "must be a positive number, or None for the study's rate")
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    _check_int("limit", limit, 1, allow_none=True)
    _check_int("threads", threads, 1, allow_none=True)
    if not isinstance(results_dir, str | os.PathLike) or str(results_dir) == "":
        raise _bad("results_dir", results_dir, "must be a folder path")
    if not isinstance(overwrite, bool):
        raise _bad("overwrite", overwrite, "must be True or False")
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise _bad("device", device, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise _bad("device", device, "CUDA is not available on this machine")
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise _bad("data_dir", data_dir, "must be a folder path or None")
    if pattern is None:
        pattern = "uniform"
    patterned = DATASETS[dataset].task != "classification"  # depth and kitti
    if pattern not in PATTERNS or (not patterned and pattern != "uniform"):
        allowed = PATTERNS if patterned else ("uniform",)
        raise _bad("pattern", pattern, f"must be one of {allowed} for {dataset}")
    if not isinstance(amp, bool):
        raise _bad("amp", amp, "must be True (bfloat16 autocast) or False (float32)")
    if checkpoint is not None and (
        not isinstance(checkpoint, str | os.PathLike) or str(checkpoint) == ""
    ):
        raise _bad("checkpoint", checkpoint, "must be a file path or None")
    params = {
        "dataset": dataset,
        "sparsity": sparsity,
        "model": model,
        "epochs": epochs,
        "lr": float(lr),
        "batch_size": batch_size,
        "seed": seed,
        "limit": limit,
        "data_dir": None if data_dir is None else str(data_dir),
        "results_dir": str(results_dir),
        "overwrite": overwrite,
        "device": device,
        "threads": threads,
        **({"pattern": pattern} if patterned else {}),
        "amp": amp,
        "checkpoint": None if checkpoint is None else str(checkpoint),
    }
    target = record_path(results_dir, params)
    if is_study_folder(results_dir) and target.exists() and not overwrite:
        raise _bad(
            "results_dir",
            results_dir,
            f"{target} is a record of the study; a run by hand does not replace it "
            f"(leave results_dir at {RUNS_DIR!r}, or pass overwrite=True to replace it)",
        )
    if check_data:
        try:
            if DATASETS[dataset].task == "lidar":
                kitti_root(data_dir)  # no download: KITTI needs a registration
            else:
                data_mod.ensure_dataset(dataset, data_dir)
        except data_mod.DataNotFoundError as exc:
            raise _bad("data_dir", data_dir, str(exc)) from exc
    return params
