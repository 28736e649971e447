"""One run: check the parameters, train, test, and write the record.

One run = one data set, one model variant, one training sparsity, one seed. The
loops live in :mod:`sparseconv.classify` (MNIST, Caltech-101) and
:mod:`sparseconv.depth_run` (depth completion); the epoch loop in
:mod:`sparseconv.engine`; the record in :mod:`sparseconv.run_record`. The names below
are re-exported so notebooks can keep importing them from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .classify import example_images, load_classification
from .depth_run import (
    decode_depth_examples,
    depth_masks,
    encode_depth_examples,
    load_depth,
    predict_depth,
    split_indices,
)
from .engine import autocast, now, pick_device, tune_cpu_allocator
from .params import RUNS_DIR, validate_params
from .run_record import build_record, save_run
from .study import DEFAULTS, TEST_SPARSITIES

__all__ = [
    "DEFAULTS",
    "TEST_SPARSITIES",
    "validate_params",
    "train_run",
    "example_images",
    "load_classification",
    "load_depth",
    "depth_masks",
    "split_indices",
    "predict_depth",
    "encode_depth_examples",
    "decode_depth_examples",
    "tune_cpu_allocator",
]


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
        check_data=False,
    )
    started_at = now()
    if threads is not None:
        torch.set_num_threads(threads)
    tune_cpu_allocator()
    dev = pick_device(device)
    torch.manual_seed(seed)
    if dataset == "depth":
        from .depth_run import train_depth as train
    else:
        from .classify import train_classification as train
    with autocast(dev, params["amp"]):
        fields, net = train(params, dev, progress, on_epoch)
    record = build_record(params, fields, net, dev, started_at, executor)
    save_run(record, results_dir)
    return record, net
