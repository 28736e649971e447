"""Shared fixtures. Tests read the real data from $SPARSECONV_DATA (CI: ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``pytest -n auto``) each worker is a process of its own: one
    CPU thread each, for it and the kernels and workers it starts, so that n workers on
    n cores share them instead of oversubscribing them.

    A kernel's TCP ports are picked free and bound a moment later, and a process that
    binds one in between leaves the kernel unable to start: the sweep then starts it
    again (``sweep.execute.KERNEL_START_TRIES``), as do the notebook tests. The Ray
    head and JupyterLab, which bind ports of their own, share the xdist group "servers"
    (``--dist=loadgroup``): one worker starts them, one after the other."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def shared_data() -> Path:
    """The data folder the tests use: $SPARSECONV_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("SPARSECONV_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data()
    if not (path / "MNIST" / "raw").is_dir():
        pytest.fail(
            f"the test data is not at {path}: set SPARSECONV_DATA to a folder with MNIST "
            "and Caltech-101 in torchvision's layout"
        )
    return path


@pytest.fixture
def budget_chosen(monkeypatch):
    """As if the budget check had chosen 15 epochs for every new protocol's grid (tests
    of the grids' structure; the study's own choice is in study.GRID_EPOCHS)."""
    from sparseconv.registry import study

    for dataset, by_protocol in study.GRID_EPOCHS.items():
        for protocol, epochs in by_protocol.items():
            if epochs is None:
                monkeypatch.setitem(study.GRID_EPOCHS[dataset], protocol, 15)


@pytest.fixture
def quick_kitti(monkeypatch) -> None:
    """KITTI runs at two steps an epoch, evaluated after training at one test share, on
    two training frames and without the ground-truth frames: for tests that compare
    training and its test error (resuming, caps), not the evaluation."""
    import dataclasses

    from sparseconv.registry import datasets
    from sparseconv.train import lidar

    monkeypatch.setattr(lidar, "LIDAR_STEPS", 2)
    monkeypatch.setattr(lidar, "N_TRAIN_EVAL", 2)
    monkeypatch.setattr(lidar, "_ground_truth", lambda net, data_dir, dev: ([], None))
    kitti = dataclasses.replace(datasets.DATASETS["kitti"], test_levels=(0.9,))
    monkeypatch.setitem(datasets.DATASETS, "kitti", kitti)


@pytest.fixture(scope="session")
def depth_record() -> dict:
    """A real depth record of the current protocol from a tiny run (64 maps, 2 epochs):
    every field a depth record has, with real values."""
    from sparseconv.train.run import train_run

    record, _ = train_run("depth", sparsity=0.95, model="sparse", epochs=2, lr=1e-3,
                          batch_size=32, seed=0, limit=64, results_dir=None, progress=False,
                          threads=1)  # fmt: skip
    return record


def write_depth_study(root: Path, base: dict, cells) -> None:
    """Write study-shaped depth records under ``root/depth`` (with a stub notebook each,
    as the sweep leaves them) for ``cells`` = [(model, sparsity, seed, pattern, scale)]:
    ``base`` renamed to the grid cell, every error of the network multiplied by ``scale``
    (so that models differ in a known way); the nearest-neighbour fields are kept."""
    import copy
    import json

    from sparseconv.registry.records import record_path
    from sparseconv.registry.study import REPORTED_PROTOCOL, default_lr, grid_epochs

    protocol = REPORTED_PROTOCOL["depth"]  # the grid the depth page reads
    for model, sparsity, seed, pattern, scale in cells:
        record = copy.deepcopy(base)
        epochs, lr = grid_epochs("depth", protocol), default_lr("depth", model, protocol)
        record.update(model=model, sparsity=sparsity, seed=seed, pattern=pattern, limit=None,
                      epochs=epochs, lr=lr, protocol=protocol)  # fmt: skip
        for key, value in list(record.items()):
            if key.startswith("test_") and isinstance(value, dict):
                record[key] = {k: v if v is None else v * scale for k, v in value.items()}
            elif key.startswith("test_") and isinstance(value, float):
                record[key] = value * scale
        path = record_path(root, record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
        path.with_suffix(".ipynb").write_text("{}")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    """Sweeps run by tests keep their checkpoints in a temporary cache, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
