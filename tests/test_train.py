"""train_run outside the notebooks: validation, the protocol's record fields, the test
set used once, hand runs kept apart from the study, bfloat16 autocast."""

from __future__ import annotations

import math

import pytest

from sparseconv.registry.records import record_path, run_name
from sparseconv.registry.study import PROTOCOL
from sparseconv.report.analysis import load_runs
from sparseconv.train import classify, depth
from sparseconv.train.params import validate_params
from sparseconv.train.run import train_run

QUICK = {"sparsity": 0.5, "model": "sparse", "epochs": 2, "lr": 0.05, "batch_size": 64,
         "seed": 0, "limit": 256, "progress": False}  # fmt: skip


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
    record, _ = train_run("mnist", **{**QUICK, "epochs": 1}, data_dir=str(data_dir),
                          results_dir=tmp_path, amp=True)  # fmt: skip
    assert record["amp"] is True
    assert record_path(tmp_path, record).name.endswith("_bf16_limit256.json")
    assert record_path(tmp_path, record).is_file()
    assert math.isfinite(record["history"][0]["loss"])
    # a hand run is not a study record; it is still readable as a record
    assert load_runs(tmp_path, "mnist").empty
    assert len(load_runs(tmp_path, "mnist", study_only=False)) == 1


def test_record_has_validation_fields_and_tests_once_at_the_end(tmp_path, data_dir, monkeypatch):
    splits: list[str] = []
    original = classify.evaluate

    def spy(model, data, masks, split="test", batch_size=500):
        splits.append(split)
        return original(model, data, masks, split, batch_size)

    monkeypatch.setattr(classify, "evaluate", spy)
    record, _ = train_run("mnist", **QUICK, data_dir=str(data_dir), results_dir=tmp_path)
    # validation after each epoch; the test set only after training, once per level
    assert splits[:2] == ["val", "val"]
    tests = [i for i, s in enumerate(splits) if s == "test"]
    assert tests and min(tests) > 1
    assert len(tests) == len(record["test_accuracy_by_sparsity"])
    from sparseconv.registry.study import PROTOCOL

    assert record["protocol"] == PROTOCOL["mnist"] and record["schema_version"] == 2
    assert record["n_val"] == 256 and record["n_train"] == 256
    assert all("val_accuracy" in h and "test_accuracy" not in h for h in record["history"])
    best = max(range(2), key=lambda i: record["history"][i]["val_accuracy"])
    assert record["best_epoch"] == best + 1
    assert record["val_accuracy"] == record["history"][best]["val_accuracy"]
    assert 0.0 <= record["train_eval_accuracy"] <= 1.0
    assert "paper-layer weights at matched step sizes" in record["optimizer"]


def test_sparse_naive_uses_one_learning_rate(tmp_path, data_dir):
    record, _ = train_run("mnist", **{**QUICK, "model": "sparse_naive", "epochs": 1},
                          data_dir=str(data_dir), results_dir=tmp_path)  # fmt: skip
    assert "matched" not in record["optimizer"]
    assert (
        record["architecture"]
        == train_run("mnist", **{**QUICK, "epochs": 1}, data_dir=str(data_dir), results_dir=None)[
            0
        ]["architecture"]
    )


def test_lr_none_takes_the_studys_rate(data_dir):
    from sparseconv.registry.study import default_lr

    params = validate_params("mnist", sparsity=0.5, model="dense_mask", epochs=1, lr=None,
                             batch_size=8, seed=0, data_dir=str(data_dir))  # fmt: skip
    assert params["lr"] == default_lr("mnist", "dense_mask")


def test_hand_runs_go_to_runs_and_never_replace_a_study_record(tmp_path, data_dir, monkeypatch):
    from sparseconv.registry import records

    monkeypatch.setattr(records, "STUDY_DIR", str(tmp_path / "results"))
    params = dict(sparsity=0.5, model="sparse", epochs=1, lr=0.05, batch_size=8, seed=0,
                  data_dir=str(data_dir))  # fmt: skip
    assert validate_params("mnist", **params)["results_dir"] == "runs"
    study = tmp_path / "results"
    target = record_path(study, {"dataset": "mnist", **params})
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    with pytest.raises(ValueError, match="overwrite=True"):
        validate_params("mnist", **params, results_dir=study)
    assert validate_params("mnist", **params, results_dir=study, overwrite=True)
    with pytest.raises(ValueError, match="overwrite='yes'"):
        validate_params("mnist", **params, overwrite="yes")


def test_depth_run_validates_each_epoch_and_tests_once_at_the_end(tmp_path, monkeypatch):

    seen: list[str] = []
    original = depth.evaluate_depth

    def spy(model, maps, masks, batch_size=100):
        seen.append("test" if maps.data_ptr() == test_ptr[0] else "other")
        return original(model, maps, masks, batch_size)

    test_ptr = [None]
    load = depth.load_depth

    def load_and_note(limit=None, device="cpu"):
        data = load(limit, device)
        test_ptr[0] = data.test.data_ptr()
        return data

    monkeypatch.setattr(depth, "evaluate_depth", spy)
    monkeypatch.setattr(depth, "load_depth", load_and_note)
    record, _ = train_run("depth", sparsity=0.95, model="sparse", epochs=3, lr=1e-3,
                          batch_size=32, seed=0, limit=48, results_dir=tmp_path,
                          progress=False)  # fmt: skip
    # validation after each epoch; the test maps only after training, once per level
    epochs = record["epochs_run"]
    assert seen[:epochs] == ["other"] * epochs
    assert seen[epochs:].count("test") == len(record["test_mae_missing_by_sparsity"])
    assert record["protocol"] == PROTOCOL["depth"] and record["n_val"] == 48
    assert all("val_mae_missing" in h and "test_mae" not in h for h in record["history"])
    best = min(range(epochs), key=lambda i: record["history"][i]["val_mae_missing"])
    assert record["best_epoch"] == best + 1
    assert "paper-layer weights at matched step sizes" in record["optimizer"]
    naive, _ = train_run("depth", sparsity=0.95, model="sparse_naive", epochs=1, lr=1e-3,
                         batch_size=32, seed=0, limit=48, results_dir=None,
                         progress=False)  # fmt: skip
    assert "matched step sizes" not in naive["optimizer"]
