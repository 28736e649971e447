"""Run records: names, schema, atomic writes."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry.records import (
    atomic_write_text,
    record_path,
    resolve_results_dir,
    run_name,
    validate_record,
    write_record,
)


def example_record(**changes):
    record = {
        "schema_version": 1,
        "dataset": "mnist",
        "model": "sparse",
        "sparsity": 0.5,
        "seed": 0,
        "epochs": 1,
        "lr": 0.005,
        "batch_size": 128,
        "limit": None,
        "test_accuracy": 0.9,
        "test_accuracy_by_sparsity": {"0": 0.95, "0.5": 0.9},
        "history": [
            {"epoch": 1, "loss": 0.3, "train_accuracy": 0.9, "test_accuracy": 0.9, "seconds": 1.0}
        ],
        "train_seconds": 1.0,
        "n_parameters": 10,
        "device": "cpu",
        "torch_version": "2.14.1",
        "git_commit": "abc",
        "git_dirty": False,
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "executor": "notebook",
        "host": "here",
    }
    record.update(changes)
    return record


def test_run_name_identifies_the_run():
    params = {
        "model": "dense",
        "sparsity": 0.05,
        "seed": 2,
        "epochs": 20,
        "lr": 0.005,
        "batch_size": 128,
    }
    assert run_name(params) == "dense_sp0.05_seed2_ep20_lr0.005_bs128"
    assert run_name({**params, "limit": 300}).endswith("_limit300")
    assert run_name({**params, "pattern": "lines"}) != run_name(params)
    assert run_name({**params, "sparsity": 0.5}) != run_name(params)


def test_relative_results_dir_is_taken_from_the_project_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    from sparseconv.registry.paths import project_root

    assert resolve_results_dir("results") == project_root() / "results"
    assert resolve_results_dir(tmp_path) == tmp_path
    path = record_path(tmp_path, {"dataset": "mnist", **example_record()})
    assert path.parent == tmp_path / "mnist" and path.suffix == ".json"


def test_valid_record_passes_and_is_written(tmp_path):
    path = write_record(example_record(), tmp_path / "mnist" / "x.json")
    assert json.loads(path.read_text())["test_accuracy"] == 0.9


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"test_accuracy": 1.5}, "test_accuracy"),
        ({"seed": "0"}, "seed"),
        ({"history": []}, "history"),
        ({"train_seconds": float("nan")}, "train_seconds"),
    ],
)
def test_invalid_records_are_refused_by_name(changes, field, tmp_path):
    with pytest.raises(ValueError, match=field):
        validate_record(example_record(**changes))
    with pytest.raises(ValueError):
        write_record(example_record(**changes), tmp_path / "bad.json")
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_run_that_stopped_early_may_have_fewer_epochs_never_more():
    entry = example_record()["history"][0]
    validate_record(example_record(epochs=3, history=[entry, entry], stopped_early=True))
    validate_record(example_record(epochs=3, history=[entry], diverged_at_epoch=1))
    with pytest.raises(ValueError, match="2 history entries for 3 epochs"):
        validate_record(example_record(epochs=3, history=[entry, entry], stopped_early=False))
    with pytest.raises(ValueError, match="4 history entries for 3 epochs"):
        validate_record(example_record(epochs=3, history=[entry] * 4, stopped_early=True))


def test_missing_field_is_named():
    record = example_record()
    del record["test_accuracy_by_sparsity"]
    with pytest.raises(ValueError, match="test_accuracy_by_sparsity"):
        validate_record(record)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    with pytest.raises(TypeError):
        atomic_write_text(target, 123)  # not text: fails inside the write
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
