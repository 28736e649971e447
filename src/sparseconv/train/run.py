"""One run: check the parameters, train, test, and write the record.

One run = one data set, one model variant, one training sparsity, one seed. The
loops live in :mod:`sparseconv.train.classify` (MNIST, Caltech-101) and
:mod:`sparseconv.train.depth` (depth completion); the epoch loop in
:mod:`sparseconv.train.engine`; the record in :mod:`sparseconv.train.record`. The names below
are re-exported so notebooks can keep importing them from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.records import RUN_KEYS, read_record
from sparseconv.registry.study import CAP_FREE
from sparseconv.train.checkpoint import Checkpoint, run_identity
from sparseconv.train.classify import train_classification
from sparseconv.train.depth import train_depth
from sparseconv.train.engine import (
    autocast,
    cpu_model,
    git_state,
    now,
    pick_device,
    tune_cpu_allocator,
)
from sparseconv.train.lidar import train_lidar
from sparseconv.train.params import RUNS_DIR, validate_params
from sparseconv.train.record import build_record, save_run

__all__ = [
    "adopt_packed_record",
    "train_run",
]


# a data set row's task -> the loop that trains one run of it
TRAINERS: dict[str, Callable[..., Any]] = {
    "classification": train_classification,
    "depth": train_depth,
    "lidar": train_lidar,
}


def train_run(
    dataset: str,
    *,
    sparsity: float,
    model: str,
    epochs: int,
    lr: float | None,
    batch_size: int,
    seed: int,
    limit: int | None = None,
    data_dir: str | None = None,
    results_dir: str | os.PathLike[str] | None = RUNS_DIR,
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = True,
    executor: str = "notebook",
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    pattern: str | None = None,
    amp: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model and test it at every sparsity; write and return its record.

    ``results_dir``: where the record goes (``runs/`` by default, git-ignored; the
    study's ``results/`` only with ``overwrite=True`` if the record exists there;
    ``None`` writes nothing). ``lr=None``: the study's rate for the model.
    ``amp=True`` runs under bfloat16 autocast (for GPUs; the study's records are
    float32): the record says so and its name ends in ``_bf16``.

    Returns ``(record, trained model)``. The record is written atomically at the very
    end, so a stopped run leaves nothing behind. ``on_epoch`` receives each history
    entry as it is made (for live curves).

    ``checkpoint``: a file to which the run's state is saved after every epoch; a run
    started again with the same file (same parameters, code and device type) resumes
    after the last saved epoch (:mod:`sparseconv.train.checkpoint`). The file is deleted
    once the record is written, and the record lists the epochs it resumed after. For a
    data set of ``study.CAP_FREE`` the file is kept instead, and the run under a later
    cap (``epochs``) continues from it: the same run, as its training never reads the cap.
    """
    params = validate_params(
        dataset,
        sparsity=sparsity,
        model=model,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        limit=limit,
        data_dir=data_dir,
        results_dir=RUNS_DIR if results_dir is None else results_dir,
        overwrite=overwrite,
        device=device,
        threads=threads,
        pattern=pattern,
        amp=amp,
        checkpoint=checkpoint,
        check_data=False,
    )
    started_at = now()
    if threads is not None:
        torch.set_num_threads(threads)
    tune_cpu_allocator()
    dev = pick_device(device)
    torch.manual_seed(seed)
    train = TRAINERS[DATASETS[dataset].task]
    saved = params["checkpoint"]
    state = None
    if saved is not None:
        cap = params["epochs"] if dataset in CAP_FREE else None
        state = Checkpoint(saved, run_identity(params, dev), git_state()[0], cpu_model(), cap)
    with autocast(dev, params["amp"]):
        fields, net = train(params, dev, progress, on_epoch, checkpoint=state)
    if state is not None and state.resumed:
        fields["resumed_after_epochs"] = state.resumed
        fields["resumed_from_commits"] = state.commits
        fields["resumed_from_cpus"] = state.cpus
    record = build_record(params, fields, net, dev, started_at, executor)
    save_run(record, results_dir)
    if state is not None and state.cap is None:
        state.remove()  # a run of CAP_FREE keeps it: a later cap continues from it
    return record, net


def adopt_packed_record(path: str | os.PathLike[str], params: dict[str, Any]) -> dict[str, Any]:
    """The record of a run trained in a pack (``sweep --executor packed``), checked
    against the notebook's ``params`` and written where ``train_run`` would write it.

    ValueError naming the field if the record was made for another run, or if it was not
    trained in a pack."""
    record = read_record(path)
    if not isinstance(record, dict) or record.get("executor") != "packed":
        raise ValueError(f"{path} is not the record of a packed run")
    for key in RUN_KEYS:
        if record.get(key) != params[key]:
            raise ValueError(
                f"the packed record {path} has {key}={record.get(key)!r}, the notebook's "
                f"parameters {key}={params[key]!r}"
            )
    save_run(record, params["results_dir"])
    return record
