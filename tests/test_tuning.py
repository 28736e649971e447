"""The learning-rate search: the choice by hand, and the code's table against the records."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry import models, study
from sparseconv.sweep.tuning import at_grid_edge, best_learning_rates, load_tuning, tuning_table


def _write(folder, model, lr, val, seed=0, diverged=False):
    record = {"schema_version": 2, "protocol": study.REPORTED_PROTOCOL["mnist"], "dataset": "mnist",
              "model": model, "lr": lr, "seed": seed, "limit": None, "val_accuracy": val,
              "train_eval_accuracy": val, "best_epoch": 3,
              "history": [{"epoch": 1, "loss": 0.5}]}  # fmt: skip
    if diverged:
        record["diverged_at_epoch"] = 2
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{model}_lr{lr:g}_seed{seed}.json").write_text(json.dumps(record))


def test_best_rate_by_hand(tmp_path, monkeypatch):
    monkeypatch.setitem(study.TUNING, "mnist", {"sparsity": 0.5, "seed": 0,
                                                "lrs": (0.01, 0.1, 1.0)})  # fmt: skip
    folder = tmp_path / "mnist" / "tuning"
    for lr, val in ((0.01, 0.90), (0.1, 0.95), (1.0, 0.10)):
        _write(folder, "dense", lr, val)
    for lr, val in ((0.01, 0.97), (0.1, 0.93)):  # incomplete search: no choice
        _write(folder, "sparse", lr, val)
    _write(folder, "dense_mask", 0.01, 0.8)
    _write(folder, "dense_mask", 0.1, 0.9)
    _write(folder, "dense_mask", 1.0, 0.9, diverged=True)  # a tie: the smaller rate wins
    chosen = best_learning_rates(tmp_path, "mnist")
    assert chosen == {"dense": 0.1, "dense_mask": 0.1}
    assert at_grid_edge(tmp_path, "mnist") == []
    _write(folder, "dense", 1.0, 0.99)
    assert at_grid_edge(tmp_path, "mnist") == ["dense"]
    table = tuning_table(tmp_path, "mnist")
    assert table.loc["dense", "1"] == "99.00 *" and table.loc["dense_mask", "1"] == "diverged"
    assert len(load_tuning(tmp_path, "mnist")) == 8


@pytest.mark.parametrize("dataset", sorted(study.TUNING))
def test_the_chosen_rates_are_the_best_of_the_committed_search(dataset):
    # the one table in the code agrees with the committed tuning records: for every model
    # whose search is complete, and no rate without a complete search behind it
    assert study.LEARNING_RATES.get(dataset, {}) == best_learning_rates("results", dataset)


def test_depth_rate_is_the_lowest_validation_error(tmp_path, monkeypatch):
    monkeypatch.setitem(study.TUNING, "depth", {"sparsity": 0.95, "seed": 0,
                                                "lrs": (1e-4, 1e-3, 1e-2)})  # fmt: skip
    folder = tmp_path / "depth" / "tuning"
    folder.mkdir(parents=True)
    for model in models.DEPTH_TUNED_MODELS:
        for lr, err in ((1e-4, 2.0), (1e-3, 1.5), (1e-2, 1.7)):
            record = {"protocol": study.REPORTED_PROTOCOL["depth"], "dataset": "depth",
                      "model": model,
                      "lr": lr, "seed": 0, "limit": None, "val_mae_missing": err,
                      "train_eval_mae_missing": err, "best_epoch": 3,
                      "history": [{"epoch": 1, "loss": 1.0}]}  # fmt: skip
            if model == "dense" and lr == 1e-3:
                record["diverged_at_epoch"] = 4  # a diverged rate is never chosen
            (folder / f"{model}_lr{lr:g}.json").write_text(json.dumps(record))
    chosen = best_learning_rates(tmp_path, "depth")
    assert chosen == {**{m: 1e-3 for m in models.DEPTH_TUNED_MODELS}, "dense": 1e-2}
    assert at_grid_edge(tmp_path, "depth") == ["dense"]
    assert tuning_table(tmp_path, "depth").loc["nn_convnet", "0.001"] == "1.500 *"


def test_choice_under_another_validation_field(tmp_path, monkeypatch):
    from sparseconv.sweep.tuning import choice_under

    monkeypatch.setitem(study.TUNING, "caltech101", {"sparsity": 0.5, "seed": 0,
                                                     "lrs": (0.01, 0.1)})  # fmt: skip
    folder = tmp_path / "caltech101" / "tuning"
    folder.mkdir(parents=True)
    assert choice_under(tmp_path, "caltech101", "val_mean_class_accuracy", "x").startswith(
        "Not every search is complete"
    )
    # plain accuracy prefers 0.1 for every model; per class, the ConvNet prefers 0.01
    for model in models.tuned_models("caltech101"):
        for lr, plain, per_class in ((0.01, 0.5, 0.4), (0.1, 0.6, 0.5)):
            if model == "dense":
                per_class = 0.45 if lr == 0.01 else 0.3
            record = {"protocol": study.REPORTED_PROTOCOL["caltech101"], "dataset": "caltech101",
                      "model": model, "lr": lr, "seed": 0, "limit": None,
                      "val_accuracy": plain, "val_mean_class_accuracy": per_class,
                      "train_eval_accuracy": plain, "best_epoch": 3,
                      "history": [{"epoch": 1, "loss": 1.0}]}  # fmt: skip
            (folder / f"{model}_lr{lr:g}.json").write_text(json.dumps(record))
    text = choice_under(tmp_path, "caltech101", "val_mean_class_accuracy", "per-class accuracy")
    assert text == ("Chosen on per-class accuracy instead, the rate would change for "
                    "ConvNet (0.01 instead of 0.1).")  # fmt: skip
    assert "would be the same" in choice_under(tmp_path, "caltech101", "val_accuracy", "y")
    # the per-class table shows the per-class values, the star stays on the chosen rate
    from sparseconv.sweep.tuning import tuning_table

    table = tuning_table(tmp_path, "caltech101", "val_mean_class_accuracy")
    assert table.loc["dense", "0.01"] == "45.00" and table.loc["dense", "0.1"] == "30.00 *"
    assert table.loc["sparse", "0.1"] == "50.00 *"


@pytest.mark.parametrize("dataset", sorted(study.SEARCH))
def test_a_new_protocols_rates_are_the_best_of_its_committed_search(dataset):
    # empty until the new protocol's search is complete; then the table must follow it
    protocol = study.PROTOCOL[dataset]
    if protocol == study.REPORTED_PROTOCOL[dataset]:
        pytest.skip(f"{dataset} runs no new protocol")
    found = best_learning_rates("results", dataset, protocol=protocol)
    assert study.NEW_LEARNING_RATES.get(dataset, {}) == found


def _search_record(folder, dataset, protocol, model, lr, sparsity, seed, val, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    val_key, train_key, _ = study.SELECTION[dataset]
    record = {"schema_version": 2, "protocol": protocol, "dataset": dataset, "model": model,
              "lr": lr, "sparsity": sparsity, "seed": seed, "limit": None, val_key: val,
              train_key: val, "best_epoch": 3, "history": [{"epoch": 1, "loss": 0.5}],
              **extra}  # fmt: skip
    name = f"{model}_sp{sparsity:g}_seed{seed}_lr{lr:g}.json"
    (folder / name).write_text(json.dumps(record))


def test_a_new_protocols_search_is_read_from_its_own_folder(tmp_path, monkeypatch):
    # protocol 3 of mnist: two levels x two seeds per rate, records in protocol3/tuning;
    # the choice is the best mean over the four cells (by hand below)
    monkeypatch.setitem(study.PROTOCOL, "mnist", 3)
    monkeypatch.setitem(study.SEARCH, "mnist", {"sparsities": (0.1, 0.9), "seeds": (0, 1),
                                                "lrs": (0.05, 0.1)})  # fmt: skip
    new = tmp_path / "mnist" / "protocol3" / "tuning"
    # dense: 0.05 -> (0.99 + 0.97 + 0.90 + 0.92) / 4 = 0.945; 0.1 -> (0.98 + 0.98 + 0.93 +
    # 0.93) / 4 = 0.955: 0.1 wins on the mean although 0.05 wins at 10 %
    for lr, vals in ((0.05, (0.99, 0.97, 0.90, 0.92)), (0.1, (0.98, 0.98, 0.93, 0.93))):
        cells = [(0.1, 0), (0.1, 1), (0.9, 0), (0.9, 1)]
        for (level, seed), val in zip(cells, vals, strict=True):
            _search_record(new, "mnist", 3, "dense", lr, level, seed, val)
    # sparse: one cell missing at 0.1, so no choice yet
    for lr in (0.05, 0.1):
        for level, seed in [(0.1, 0), (0.1, 1), (0.9, 0), (0.9, 1)][: 4 if lr == 0.05 else 3]:
            _search_record(new, "mnist", 3, "sparse", lr, level, seed, 0.9)
    # a protocol-2 record in the reported folder is not part of protocol 3's search
    _search_record(tmp_path / "mnist" / "tuning", "mnist", 2, "dense", 0.05, 0.1, 0, 0.999)
    assert best_learning_rates(tmp_path, "mnist", protocol=3) == {"dense": 0.1}
    assert len(load_tuning(tmp_path, "mnist", protocol=3)) == 15
    assert len(load_tuning(tmp_path, "mnist")) == 1  # the reported protocol's folder
    assert at_grid_edge(tmp_path, "mnist", protocol=3) == ["dense"]

    from sparseconv.sweep.tuning import search_table

    table = search_table(tmp_path, "mnist", protocol=3).set_index(["model", "trained at"])
    dense = models.MODEL_LABELS["dense"]
    assert table.loc[(dense, "10 % sparsity"), "0.05"] == "98.00"  # (0.99 + 0.97) / 2
    assert table.loc[(dense, "90 % sparsity"), "0.1"] == "93.00"
    assert table.loc[(dense, "mean"), "0.1"] == "95.50 *"
    assert table.loc[(dense, "mean"), "0.05"] == "94.50"
    sparse = models.MODEL_LABELS["sparse"]
    assert table.loc[(sparse, "mean"), "0.1"] == "90.00 (3/4)"
    assert table.loc[(sparse, "10 % sparsity"), "0.1"] == "90.00"
    assert table.loc[(sparse, "90 % sparsity"), "0.1"] == "90.00 (1/2)"


OWN_SEARCH = [
    d for d in sorted(study.SEARCH) if study.separate_search(d, study.REPORTED_PROTOCOL[d])
]


@pytest.mark.parametrize("dataset", OWN_SEARCH)
def test_a_reported_protocols_own_search_sets_its_rates(dataset):
    # KITTI has no earlier search: its reported protocol's rates come from SEARCH's runs
    protocol = study.REPORTED_PROTOCOL[dataset]
    found = best_learning_rates("results", dataset, protocol=protocol)
    assert study.LEARNING_RATES.get(dataset, {}) == found


def test_search_progress_names_the_choice_and_the_wait(tmp_path, monkeypatch):
    from sparseconv.report.text.search import search_progress
    from sparseconv.sweep.runs import tuning_grid

    monkeypatch.setitem(study.SEARCH, "kitti", {"sparsities": (0.9, 0.5), "seeds": (0,),
                                                "lrs": (0.001, 0.01)})  # fmt: skip
    runs = tuning_grid("kitti", results_dir=str(tmp_path))
    assert len(runs) == 6 * 2 * 2  # six models, two rates, two shares, one seed
    for run in runs:
        if run.params["model"] == "dense":
            err = 1.5 if run.params["lr"] == 0.001 else 1.2
            nearest = 1.6 if run.params["sparsity"] == 0.9 else 1.1
            _search_record(run.record.parent, "kitti", study.REPORTED_PROTOCOL["kitti"],
                           "dense", run.params["lr"], run.params["sparsity"], 0, err,
                           val_nn_mae=nearest)  # fmt: skip
            written = run.record.parent / (
                f"dense_sp{run.params['sparsity']:g}_seed0_lr{run.params['lr']:g}.json"
            )
            written.rename(run.record)
            run.notebook.write_text("{}")
    text = search_progress("kitti", tmp_path)
    assert "4 of its 24 runs have finished" in text
    assert "Chosen so far: ConvNet 0.01." in text
    assert "errs 1.600 m at 10 % kept and 1.100 m at 50 % kept on the same validation" in text
    # a network that loses to interpolation with no training is named, level by level
    assert "At 10 % kept, every model's best rate so far is below it." in text
    assert "At 50 % kept, no rate tried so far brings ConvNet (best 1.200 m) below it." in text
    # the figure draws that baseline in each panel
    from sparseconv.report.figures.training import search_curves

    fig = search_curves(load_tuning(tmp_path, "kitti"), {"dense": 0.01}, (0.9, 0.5), ("a", "b"))
    for ax, want in zip(fig.axes[:2], (1.6, 1.1), strict=True):
        (line,) = [x for x in ax.lines if x.get_label() == "raw nearest neighbour"]
        assert line.get_ydata()[0] == pytest.approx(want)
    assert "edge of the rates tried" in text
    assert "The grid waits for sparse conv" in text and "LEARNING_RATES['kitti']" in text
    with pytest.raises(ValueError, match="no search of its own"):
        search_progress("mnist", tmp_path, protocol=study.REPORTED_PROTOCOL["mnist"])


def test_a_choice_at_the_edge_widens_the_search_and_holds_the_grid(tmp_path, monkeypatch):
    from sparseconv.sweep.cli import main
    from sparseconv.sweep.tuning import widening

    monkeypatch.setitem(study.SEARCH, "kitti", {"sparsities": (0.9, 0.5), "seeds": (0,),
                                                "lrs": (0.0003, 0.001, 0.003, 0.01)})  # fmt: skip
    folder = tmp_path / "kitti" / "tuning"
    protocol = study.REPORTED_PROTOCOL["kitti"]
    # the ConvNet is best at 0.01, the top; its + mask variant at 0.0003, the bottom; NN
    # fill + ConvNet inside
    best = {"dense": 0.01, "dense_mask": 0.0003, "nn_convnet": 0.001}
    for model, top in best.items():
        for lr in (0.0003, 0.001, 0.003, 0.01):
            for level in (0.9, 0.5):
                err = 1.0 if lr == top else 2.0
                _search_record(folder, "kitti", protocol, model, lr, level, 0, err)
    # the 1-3-10 grid goes on with 0.03 above and 0.0001 below
    assert widening(tmp_path, "kitti") == {"dense": 0.03, "dense_mask": 0.0001}
    monkeypatch.setitem(study.LEARNING_RATES, "kitti", {"dense": 0.01})  # rates set
    args = ["kitti", "--results-dir", str(tmp_path), "--models", "dense"]
    assert main(args) == 2  # refused: widen first
    assert main([*args, "--dry-run"]) == 0  # a dry run only notes it
    # a doubling grid doubles
    monkeypatch.setitem(study.SEARCH, "kitti", {"sparsities": (0.9, 0.5), "seeds": (0,),
                                                "lrs": (0.0025, 0.005, 0.01)})  # fmt: skip
    for lr in (0.0025, 0.005):
        for level in (0.9, 0.5):
            _search_record(folder, "kitti", protocol, "dense", lr, level, 0, 2.0)
    assert widening(tmp_path, "kitti")["dense"] == 0.02


def test_a_widened_model_needs_its_own_extra_rates_and_no_other_model_does(tmp_path, monkeypatch):
    from sparseconv.sweep.runs import tuning_grid
    from sparseconv.sweep.tuning import best_learning_rates, widening

    rates = (0.0003, 0.001, 0.003, 0.01)
    spec = {"sparsities": (0.9, 0.5), "seeds": (0,), "lrs": rates,
            "wider": {"sparse": (0.03,)}}  # fmt: skip
    monkeypatch.setitem(study.SEARCH, "kitti", spec)
    assert study.search_rates("kitti", "sparse") == (*rates, 0.03)
    assert study.search_rates("kitti", "dense") == rates
    # the search runs the extra rate for the widened model only
    runs = tuning_grid("kitti", models=["sparse", "dense"], results_dir=str(tmp_path))
    at = {(r.params["model"], r.params["lr"]) for r in runs}
    assert ("sparse", 0.03) in at and ("dense", 0.03) not in at and len(runs) == 2 * 9
    folder = tmp_path / "kitti" / "tuning"
    protocol = study.REPORTED_PROTOCOL["kitti"]
    for lr in rates:
        for level in (0.9, 0.5):
            _search_record(folder, "kitti", protocol, "dense", lr, level, 0, 1.0 + lr)
            _search_record(folder, "kitti", protocol, "sparse", lr, level, 0, 1.0 - lr)
    # the ConvNet is complete without 0.03; the paper's layer waits for it
    assert best_learning_rates(tmp_path, "kitti") == {"dense": 0.0003}
    _search_record(folder, "kitti", protocol, "sparse", 0.03, 0.9, 0, 0.5)
    assert "sparse" not in best_learning_rates(tmp_path, "kitti")  # one level of two
    _search_record(folder, "kitti", protocol, "sparse", 0.03, 0.5, 0, 0.5)
    assert best_learning_rates(tmp_path, "kitti")["sparse"] == 0.03
    # still at its (new) edge: its own sequence goes on with 0.1; the ConvNet's with 1e-4
    assert widening(tmp_path, "kitti") == {"sparse": 0.1, "dense": 0.0001}
