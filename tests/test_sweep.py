"""The sweep: the grids, resuming, failures reported by name."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry.datasets import TRAIN_SPARSITIES
from sparseconv.registry.models import TUNED_MODELS
from sparseconv.registry.records import validate_record
from sparseconv.registry.study import GRIDS, SEARCH, TUNING, default_lr
from sparseconv.sweep.cli import main, run_sweep
from sparseconv.sweep.runs import Run, grid, pending, tuning_grid

# the grids' structure, as if the budget check had chosen 15 epochs
pytestmark = pytest.mark.usefixtures("budget_chosen")


@pytest.mark.parametrize("dataset", ["mnist", "caltech101"])
def test_classification_grid_has_the_power_analysis_seeds_seed_major(dataset, tmp_path):
    from sparseconv.registry.study import CLASSIFICATION_SEEDS, NAIVE_SEEDS

    runs = grid(dataset, results_dir=str(tmp_path))
    n = CLASSIFICATION_SEEDS[dataset]
    assert n >= 5 and NAIVE_SEEDS == 3  # the rule's minimum; sparse_naive is not judged
    total = 10 * (4 * n + NAIVE_SEEDS)
    assert len(runs) == total
    seeds = [r.params["seed"] for r in runs]
    assert seeds == sorted(seeds)  # every cell once before any cell twice
    count = {m: sum(r.params["model"] == m for r in runs) for m in GRIDS[dataset][1]}
    assert count == {"sparse": 10 * n, "sparse_partial": 10 * n, "dense": 10 * n,
                     "dense_mask": 10 * n, "sparse_naive": 10 * NAIVE_SEEDS}  # fmt: skip
    assert {r.params["sparsity"] for r in runs} == set(TRAIN_SPARSITIES)
    # after the search's seeds (its runs stay out of the grid); sparse_naive on the first
    # three, paired by seed with the tuned models
    first = max(SEARCH[dataset]["seeds"]) + 1
    assert {r.params["seed"] for r in runs} == set(range(first, first + n))
    assert {r.params["seed"] for r in runs if r.params["model"] == "sparse_naive"} == {
        first, first + 1, first + 2}  # fmt: skip
    # each model at the study's rate; sparse_naive at the ConvNet's; the chosen budget
    from sparseconv.registry.study import grid_epochs

    for r in runs:
        assert r.params["lr"] == default_lr(dataset, r.params["model"])
        assert r.params["epochs"] == grid_epochs(dataset)
    assert all(
        r.params["lr"] == default_lr(dataset, "dense")
        for r in runs
        if r.params["model"] == "sparse_naive"
    )
    assert len({r.name for r in runs}) == total


@pytest.mark.parametrize("dataset", ["mnist", "caltech101"])
def test_tuning_grid_tries_every_rate_for_every_tuned_model(dataset, tmp_path):
    # the reported protocol's search: one sparsity and seed
    from sparseconv.registry.study import REPORTED_PROTOCOL

    runs = tuning_grid(dataset, results_dir=str(tmp_path), protocol=REPORTED_PROTOCOL[dataset])
    rates = TUNING[dataset]["lrs"]
    assert len(rates) >= 4
    assert {(r.params["model"], r.params["lr"]) for r in runs} == {
        (m, lr) for m in TUNED_MODELS for lr in rates
    }
    assert all(r.params["sparsity"] == TUNING[dataset]["sparsity"] for r in runs)
    assert all(r.params["seed"] == TUNING[dataset]["seed"] for r in runs)
    # a new protocol's search sits in its grid's folder until it is the reported one
    from sparseconv.sweep.runs import search_folder

    assert all(r.record.parent == tmp_path / dataset / "tuning" for r in runs)
    assert search_folder(dataset) == "protocol3/tuning"  # the new protocol's search


def test_selection_replaces_the_grid_lists(tmp_path):
    runs = grid(
        "mnist",
        models=["dense"],
        sparsities=[0.3, 0.6],
        seeds=[4, 5],
        epochs=2,
        limit=100,
        results_dir=str(tmp_path),
    )
    assert [(r.params["seed"], r.params["sparsity"]) for r in runs] == [
        (4, 0.3),
        (4, 0.6),
        (5, 0.3),
        (5, 0.6),
    ]
    assert all(r.name.endswith("_limit100") and "_ep2_" in r.name for r in runs)


@pytest.mark.slow
def test_sweep_runs_resumes_and_reports_failures(tmp_path, data_dir):
    runs = grid(
        "mnist",
        models=["sparse", "dense"],
        sparsities=[0.5],
        seeds=[0],
        epochs=1,
        limit=200,
        results_dir=str(tmp_path),
        data_dir=str(data_dir),
    )
    broken = Run("mnist", {**runs[0].params, "model": "bogus"})
    lines: list[str] = []
    failures = run_sweep([*runs, broken], jobs=2, out=lines.append)
    assert [run.name for run, _ in failures] == [broken.name]
    assert "bogus" in failures[0][1]
    assert any("FAILED" in line and broken.name in line for line in lines)
    assert any(line.startswith("[") and "left" in line for line in lines)
    for run in runs:
        record = json.loads(run.record.read_text())
        validate_record(record)
        assert record["executor"] == "local"
        assert json.loads(run.notebook.read_text())["cells"]
    assert not broken.record.exists()
    assert pending(runs) == []
    # a record without its executed notebook was not made by the sweep: run it again
    runs[0].notebook.unlink()
    assert pending(runs) == [runs[0]]
    runs[0].notebook.write_text("{}")
    lines.clear()
    assert run_sweep(runs, out=lines.append) == []
    assert lines[0].endswith("2 already done, 0 to run")


def test_seeds_without_models_select_the_grids_cells(tmp_path):
    def count(**kwargs):
        runs = grid("caltech101", results_dir=str(tmp_path), **kwargs)
        return {
            m: sum(r.params["model"] == m for r in runs)
            for m in sorted({r.params["model"] for r in runs})
        }

    from sparseconv.registry.study import CLASSIFICATION_SEEDS, NAIVE_SEEDS

    seeds = GRIDS["caltech101"][1]["dense"]
    # seeds the single-rate layer does not have: the tuned models only
    tuned_only = [seeds[NAIVE_SEEDS], seeds[-1]]
    assert count(seeds=tuned_only) == {m: 20 for m in TUNED_MODELS}
    assert count(seeds=[seeds[0]]) == {**{m: 10 for m in TUNED_MODELS}, "sparse_naive": 10}
    # a seed that is not in the grid is a new seed for every model
    new = CLASSIFICATION_SEEDS["caltech101"] + 5
    assert count(seeds=[new]) == {**{m: 10 for m in TUNED_MODELS}, "sparse_naive": 10}
    # named models take the seeds as given
    assert count(models=["sparse_naive"], seeds=[1, 2]) == {"sparse_naive": 20}


def test_a_run_finished_elsewhere_is_neither_rerun_nor_overwritten(tmp_path):
    from sparseconv.sweep.execute import save_result
    from sparseconv.sweep.local import run_local

    (run,) = grid("mnist", models=["dense"], sparsities=[0.5], seeds=[0],
                  results_dir=str(tmp_path))  # fmt: skip
    # another machine finishes the run after this sweep listed it as pending
    from sparseconv.registry.study import PROTOCOL

    run.record.parent.mkdir(parents=True)
    run.record.write_text(json.dumps({"theirs": 1, "protocol": PROTOCOL["mnist"]}))
    run.notebook.write_text('{"cells": []}')
    lines: list[str] = []
    assert run_local([run], jobs=1, out=lines.append) == []
    assert lines == [f"[1/1] {run.name}: skipped: finished elsewhere since the sweep began"]
    # a result arriving for a run that is already done leaves the first record alone
    assert save_result(run, {"ours": 2}, '{"cells": [1]}', "local") is False
    assert json.loads(run.record.read_text())["theirs"] == 1
    assert run.notebook.read_text() == '{"cells": []}'


def test_cli_dry_run_lists_pending_runs(tmp_path, capsys):
    assert (
        main(
            [
                "mnist",
                "--dry-run",
                "--results-dir",
                str(tmp_path),
                "--models",
                "dense",
                "--seeds",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "10 of 10 runs pending" in out


def test_cli_bad_sparsity_is_a_clear_error(tmp_path, capsys):
    assert main(["mnist", "--dry-run", "--results-dir", str(tmp_path), "--sparsities", "1.5"]) == 2
    assert "1.5" in capsys.readouterr().err


def test_grid_reuses_the_searchs_identical_runs(tmp_path, monkeypatch):
    # depth: its search trains at the grid's settings, so its run at the chosen rate is a
    # grid cell already
    from sparseconv.registry import study
    from sparseconv.registry.study import PROTOCOL
    from sparseconv.sweep.runs import from_search, reuse_from_search

    # as in depth's protocol 2, whose search was at the grid's settings
    monkeypatch.setitem(study.PROTOCOL, "depth", 2)
    runs = grid("depth", results_dir=str(tmp_path))
    setting = TUNING["depth"]
    cell = next(r for r in runs if r.params["model"] == "dense" and r.params["seed"] == 0
                and r.params["sparsity"] == setting["sparsity"]
                and r.params["pattern"] == "uniform")  # fmt: skip
    other = next(r for r in runs if r.params["model"] == "sparse" and r.params["seed"] == 0
                 and r.params["sparsity"] == setting["sparsity"]
                 and r.params["pattern"] == "uniform")  # fmt: skip
    searched = {r.name: r for r in tuning_grid("depth", results_dir=str(tmp_path))}
    for run, protocol in ((searched[cell.name], PROTOCOL["depth"]), (searched[other.name], 1)):
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.notebook.write_text('{"cells": []}')
        run.record.write_text(json.dumps({"protocol": protocol, "model": run.params["model"]}))
    assert from_search(cell) is not None and from_search(other) is None  # old protocol
    assert reuse_from_search(runs) == [cell.name]
    assert cell.record.read_text() == searched[cell.name].record.read_text()
    assert cell.notebook.read_text() == '{"cells": []}'
    assert cell not in pending(runs) and other in pending(runs)
    assert reuse_from_search(runs) == []  # nothing left to copy


def test_a_new_protocols_search_is_its_own_runs_at_both_levels_and_seeds(tmp_path):
    from sparseconv.registry.study import SEARCH, grid_epochs
    from sparseconv.sweep.runs import from_search, separate_search

    assert separate_search("mnist") and separate_search("depth")
    assert not separate_search("depth", 2)  # protocol 2 reused its search's runs
    runs = tuning_grid("mnist", results_dir=str(tmp_path))
    setting = SEARCH["mnist"]
    assert len(setting["lrs"]) >= 4
    assert len(runs) == len(setting["lrs"]) * 2 * 2 * len(TUNED_MODELS)
    assert {(r.params["sparsity"], r.params["seed"]) for r in runs} == {
        (s, seed) for s in setting["sparsities"] for seed in setting["seeds"]}  # fmt: skip
    assert all(r.params["epochs"] == grid_epochs("mnist") for r in runs)
    # the search's runs stay out of the grid: never copied in as cells
    cell = grid("mnist", models=["dense"], sparsities=[0.1], seeds=[0],
                results_dir=str(tmp_path))[0]  # fmt: skip
    twin = next(r for r in runs if r.name == cell.name)
    twin.record.parent.mkdir(parents=True, exist_ok=True)
    twin.notebook.write_text("{}")
    twin.record.write_text(json.dumps({"protocol": 3}))
    assert from_search(cell) is None


@pytest.mark.parametrize("dataset", ["mnist", "caltech101", "depth", "kitti"])
def test_no_grid_cell_is_a_run_of_the_search(dataset, tmp_path):
    # a cell at a search seed and the chosen rate would be the search's run trained again
    # (same name, same draws): the search's runs stay out of the grid in fact
    from sparseconv.registry.study import separate_search

    assert separate_search(dataset)
    cells = {r.name for r in grid(dataset, results_dir=str(tmp_path))}
    searched = {r.name for r in tuning_grid(dataset, results_dir=str(tmp_path))}
    assert cells and searched and not cells & searched
    uniform = {r.params["seed"] for r in grid(dataset, results_dir=str(tmp_path))}
    assert not uniform & set(SEARCH[dataset]["seeds"])


def test_a_new_protocols_grid_needs_its_budget_first(monkeypatch):
    from sparseconv.registry import study

    monkeypatch.setitem(study.GRID_EPOCHS["mnist"], 3, None)
    with pytest.raises(ValueError, match="--budget"):
        grid("mnist")
    with pytest.raises(ValueError, match="GRID_EPOCHS"):
        tuning_grid("mnist")
    assert main(["mnist", "--dry-run"]) == 2


def test_a_new_protocols_grid_runs_beside_the_reported_one(tmp_path):
    from sparseconv.registry.study import PROTOCOL, REPORTED_PROTOCOL
    from sparseconv.sweep.runs import grid_folder

    for dataset in ("mnist", "caltech101", "depth"):
        folder = grid_folder(dataset)
        if PROTOCOL[dataset] == REPORTED_PROTOCOL[dataset]:
            assert folder == ""
        else:
            assert folder == f"protocol{PROTOCOL[dataset]}"
    runs = grid("mnist", results_dir=str(tmp_path), models=["dense"], seeds=[0],
                sparsities=[0.5])  # fmt: skip
    (run,) = runs
    # a record of another protocol under the same name is not a finished run
    run.record.parent.mkdir(parents=True, exist_ok=True)
    run.notebook.write_text("{}")
    run.record.write_text(json.dumps({"protocol": PROTOCOL["mnist"] - 1}))
    assert pending(runs) == [run]
    run.record.write_text(json.dumps({"protocol": PROTOCOL["mnist"]}))
    assert pending(runs) == []


def test_budget_grid_is_budget_major_and_out_of_the_grid(tmp_path):
    from sparseconv.registry.study import BUDGET_CHECK
    from sparseconv.sweep.runs import budget_grid

    runs = budget_grid("mnist", results_dir=str(tmp_path))
    setting = BUDGET_CHECK["mnist"]
    # every budget at both levels, but those of sparsities_at (240 and 480 epochs) at
    # 90 % only: 4 models x 2 seeds x (2 levels x 4 budgets + 1 level x 2 budgets)
    only = setting["sparsities_at"]
    both = len(setting["epochs"]) - len(only)
    assert len(runs) == 4 * 2 * (2 * both + len(only)) == 80
    for epochs in only:
        assert {r.params["sparsity"] for r in runs if r.params["epochs"] == epochs} == {0.9}
    assert [r.params["epochs"] for r in runs] == sorted(r.params["epochs"] for r in runs)
    assert {r.params["sparsity"] for r in runs} == set(setting["sparsities"])
    assert all(r.record.parent == tmp_path / "mnist" / "budget" for r in runs)
    grid_parents = {r.record.parent for r in grid("mnist", results_dir=str(tmp_path))}
    assert tmp_path / "mnist" / "budget" not in grid_parents
    with pytest.raises(SystemExit, match="--budget"):
        main(["mnist", "--budget", "--tune", "--dry-run"])
    with pytest.raises(ValueError, match="'depth'"):
        budget_grid("depth")
    # a part of the check by seed and level; values outside it are refused by name
    part = budget_grid("mnist", seeds=[1], sparsities=[0.9], results_dir=str(tmp_path))
    assert {(r.params["seed"], r.params["sparsity"]) for r in part} == {(1, 0.9)}
    with pytest.raises(ValueError, match=r"seeds \[7\]"):
        budget_grid("mnist", seeds=[7])
    with pytest.raises(SystemExit, match="--seeds"):
        main(["mnist", "--tune", "--seeds", "1", "--dry-run"])


def test_the_plan_estimates_hours_from_measured_minutes_per_epoch(tmp_path):
    from sparseconv.sweep.plan import estimate_hours, minutes_per_epoch, plan_line

    folder = tmp_path / "mnist" / "budget"
    folder.mkdir(parents=True)
    # dense: 2 and 4 minutes per epoch on the CPU (median 3); a GPU run does not count
    for name, seconds, epochs, device in (("a", 1200.0, 10, "cpu"), ("b", 2400.0, 10, "cpu"),
                                          ("c", 60.0, 10, "NVIDIA H200")):  # fmt: skip
        record = {"model": "dense", "limit": None, "train_seconds": seconds,
                  "eval_seconds": 0.0, "history": [{}] * epochs, "device": device}  # fmt: skip
        (folder / f"{name}.json").write_text(json.dumps(record))
    assert minutes_per_epoch(tmp_path, "mnist") == {"dense": 3.0}
    assert minutes_per_epoch(tmp_path, "mnist", "cuda") == {"dense": 0.1}
    runs = grid("mnist", models=["dense", "sparse"], sparsities=[0.5], seeds=[0], epochs=20,
                results_dir=str(tmp_path))  # fmt: skip
    hours, unknown = estimate_hours(runs, tmp_path)
    assert hours == 1.0 and unknown == 1  # 3 min x 20 epochs; sparse has no measurement
    line = plan_line(runs, 2, tmp_path)
    assert line.startswith("plan: 2 runs, about 1.0 CPU-hours (one thread each), 0.5 h")
    assert "1 runs of models with no measured run are not counted" in line


def test_a_new_protocols_grid_waits_for_its_own_searchs_rates(tmp_path, capsys, monkeypatch):
    from sparseconv.registry import study

    # depth protocol 3 has a search of its own and no chosen rates yet
    monkeypatch.setattr(study, "NEW_LEARNING_RATES", {})
    assert study.rates_pending("depth") and not study.rates_pending("depth", 2)
    assert main(["depth", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--tune" in err and "NEW_LEARNING_RATES['depth']" in err
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written
    assert main(["depth", "--dry-run", "--results-dir", str(tmp_path)]) == 0
    assert "note: the protocol-3 grid of depth" in capsys.readouterr().out
    # an explicit rate and the search itself go ahead
    assert main(["depth", "--dry-run", "--lr", "0.001", "--results-dir", str(tmp_path)]) == 0
    assert "note:" not in capsys.readouterr().out
    # KITTI's grid has a search of its own too: it waits for LEARNING_RATES["kitti"]
    monkeypatch.setattr(study, "LEARNING_RATES", {})
    assert study.rates_pending("kitti") and study.rates_table("kitti") == "LEARNING_RATES"
    assert main(["kitti", "--results-dir", str(tmp_path)]) == 2
    assert "LEARNING_RATES['kitti']" in capsys.readouterr().err
    # a partly filled table: the chosen models' cells may run, the others wait
    monkeypatch.setattr(study, "LEARNING_RATES", {"kitti": {"sparse": 1e-3}})
    assert study.rates_pending("kitti")
    assert study.missing_rates("kitti", ["sparse", "dense"]) == ["dense"]
    assert main(["kitti", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sparse_partial, dense, dense_mask, nn_convnet, nconv have none yet" in err
    assert main(["kitti", "--dry-run", "--models", "sparse", "--results-dir", str(tmp_path)]) == 0
    assert "note:" not in capsys.readouterr().out
    full = {m: 1e-3 for m in study.grid_models("kitti")}
    monkeypatch.setattr(study, "LEARNING_RATES", {"kitti": full})
    assert not study.rates_pending("kitti") and study.missing_rates("kitti") == []
    # a model that takes another's rate needs that one (depth's sparse_naive: the ConvNet's)
    monkeypatch.setattr(study, "NEW_LEARNING_RATES", {"depth": {"sparse": 1e-3}})
    assert study.missing_rates("depth", ["sparse", "sparse_naive"]) == ["sparse_naive"]


def test_a_kernel_that_does_not_start_is_started_again(monkeypatch):
    # jupyter_client's messages for a kernel that never answered; no cell ran
    import papermill as pm

    from sparseconv.sweep import execute

    tries: list[dict] = []

    def slow_to_start(source, output, parameters, **kwargs):
        tries.append(parameters)
        if len(tries) < execute.KERNEL_START_TRIES:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        folder = execute.Path(parameters["results_dir"]) / "mnist"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"seed": parameters["seed"]}))
        execute.Path(output).write_text(json.dumps({"cells": [], "metadata": {}}))

    monkeypatch.setattr(pm, "execute_notebook", slow_to_start)
    record, _, _ = execute.execute_notebook("{}", {"seed": 3}, threads=None)
    assert record == {"seed": 3} and len(tries) == execute.KERNEL_START_TRIES

    def fails(message):
        def run(*args, **kwargs):
            tries.append(message)
            raise RuntimeError(message)

        return run

    for message, expected in [
        ("Kernel didn't respond in 60 seconds", execute.KERNEL_START_TRIES),
        ("Kernel died before replying to kernel_info", execute.KERNEL_START_TRIES),
        ("Kernel died", 1),  # a kernel lost while running: the run's own failure
        ("CUDA out of memory", 1),
    ]:
        tries.clear()
        monkeypatch.setattr(pm, "execute_notebook", fails(message))
        with pytest.raises(RuntimeError, match=message):
            execute.execute_notebook("{}", {"seed": 3}, threads=None)
        assert len(tries) == expected, message
