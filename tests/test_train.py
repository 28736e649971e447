"""train_run options outside the notebooks: validation and bfloat16 autocast."""

from __future__ import annotations

import math

import pytest

from sparseconv.analysis import load_runs
from sparseconv.records import record_path, run_name
from sparseconv.train import validate_params


def test_amp_must_be_a_bool(data_dir):
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match=rf"amp={bad!r}"):
            validate_params(
                "mnist", sparsity=0.5, model="sparse", epochs=1, lr=0.1, batch_size=8,
                seed=0, data_dir=str(data_dir), amp=bad,
            )  # fmt: skip


def test_bf16_runs_are_named_apart_from_float32_runs():
    base = {"model": "sparse", "sparsity": 0.5, "seed": 0, "epochs": 20, "lr": 0.005,
            "batch_size": 128}  # fmt: skip
    assert run_name(base) == "sparse_sp0.5_seed0_ep20_lr0.005_bs128"
    assert run_name({**base, "amp": True}) == "sparse_sp0.5_seed0_ep20_lr0.005_bs128_bf16"
    assert run_name({**base, "amp": False}) == run_name(base)


def test_bf16_autocast_run_trains_and_is_kept_out_of_the_study(tmp_path, data_dir):
    from sparseconv.train import train_run

    record, _ = train_run(
        "mnist", sparsity=0.5, model="sparse", epochs=1, lr=0.005, batch_size=64, seed=0,
        limit=256, data_dir=str(data_dir), results_dir=tmp_path, progress=False, amp=True,
    )  # fmt: skip
    assert record["amp"] is True
    assert record_path(tmp_path, record).name.endswith("_bf16_limit256.json")
    assert record_path(tmp_path, record).is_file()
    assert math.isfinite(record["history"][0]["loss"])
    assert 0.0 <= record["test_accuracy"] <= 1.0
    # the study's tables use float32 runs only
    assert load_runs(tmp_path, "mnist", include_quick=True).empty
    assert len(load_runs(tmp_path, "mnist", include_quick=True, defaults_only=False)) == 1
