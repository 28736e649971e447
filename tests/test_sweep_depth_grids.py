"""The sweep's depth grids (synthetic scenes and KITTI), KITTI's budget check, and runs
that resume from a saved state."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry.study import TUNING, default_lr
from sparseconv.sweep.cli import main
from sparseconv.sweep.runs import Run, grid, pending, tuning_grid

# the grids' structure, as if the budget check had chosen 15 epochs
pytestmark = pytest.mark.usefixtures("budget_chosen")


def _cells(runs) -> list[tuple]:
    """(model, sparsity, seed, pattern) of each run of a depth or KITTI grid."""
    return [(r.params["model"], r.params["sparsity"], r.params["seed"], r.params["pattern"])
            for r in runs]  # fmt: skip


def _assert_uniform_first_then_lines(runs):
    # the claim's uniform cells first, seed-major (every cell once before any twice), then
    # the descriptive lines runs, seed-major too
    patterns = [r.params["pattern"] for r in runs]
    first_lines = patterns.index("lines")
    assert set(patterns[:first_lines]) == {"uniform"} and set(patterns[first_lines:]) == {"lines"}
    for part in (runs[:first_lines], runs[first_lines:]):
        seeds = [r.params["seed"] for r in part]
        assert seeds == sorted(seeds)


def test_depth_grid_is_the_issues_47_runs(tmp_path):
    # protocol 2, the reported depth grid
    runs = grid("depth", results_dir=str(tmp_path), protocol=2)
    five = ("sparse", "sparse_partial", "dense", "dense_mask", "nn_convnet")
    have = _cells(runs)
    expected = (
        {(m, sp, sd, "uniform") for m in five for sp in (0.95, 0.5) for sd in (0, 1, 2)}
        | {(m, 0.95, sd, "lines") for m in five for sd in (0, 1, 2)}
        | {("sparse_naive", sp, 0, "uniform") for sp in (0.95, 0.5)}
    )
    assert len(have) == 47 and set(have) == expected
    _assert_uniform_first_then_lines(runs)
    assert all(r.name.endswith("_lines") for r in runs if r.params["pattern"] == "lines")
    # the study's rate per model (sparse_naive takes the ConvNet's), at most 30 epochs
    assert all(r.params["lr"] == default_lr("depth", r.params["model"], 2) for r in runs)
    assert {r.params["epochs"] for r in runs} == {30}
    assert all(r.record.parent.name == "depth" for r in runs)  # the reported folder


def test_depth_protocol3_grid_adds_nconv_five_seeds_and_a_longer_cap(tmp_path):
    runs = grid("depth", results_dir=str(tmp_path))
    six = ("sparse", "sparse_partial", "dense", "dense_mask", "nn_convnet", "nconv")
    have = set(_cells(runs))
    expected = (
        {(m, sp, sd, "uniform") for m in six for sp in (0.95, 0.5) for sd in range(1, 6)}
        | {(m, 0.95, sd, "lines") for m in six for sd in (1, 2, 3)}
        | {("sparse_naive", sp, 1, "uniform") for sp in (0.95, 0.5)}
    )
    assert len(runs) == 6 * 2 * 5 + 6 * 3 + 2 == 80 and have == expected
    assert {r.params["epochs"] for r in runs} == {60}
    # beside the reported grid, never mixed with it
    assert all(r.record.parent.name == "protocol3" for r in runs)
    search = tuning_grid("depth", results_dir=str(tmp_path))
    assert len(search) == 6 * 4 * 2 and {r.params["sparsity"] for r in search} == {0.95, 0.5}
    assert all(r.record.parent.parent.name == "protocol3" for r in search)
    assert not {r.record for r in search} & {r.record for r in runs}


def test_depth_tuning_grid_is_five_models_at_every_rate_at_5_percent(tmp_path):
    runs = tuning_grid("depth", results_dir=str(tmp_path), protocol=2)
    rates = TUNING["depth"]["lrs"]
    assert len(rates) >= 3 and len(runs) == 5 * len(rates)
    assert {r.params["lr"] for r in runs} == set(rates)
    assert {r.params["model"] for r in runs} == {
        "sparse", "sparse_partial", "dense", "dense_mask", "nn_convnet"
    }  # fmt: skip
    assert {(r.params["sparsity"], r.params["pattern"]) for r in runs} == {(0.95, "uniform")}
    assert all(r.record.parent.name == "tuning" for r in runs)


def test_kitti_grid_is_five_seeds_at_both_shares_plus_three_on_scan_lines(tmp_path):
    runs = grid("kitti", results_dir=str(tmp_path))
    models = ("sparse", "sparse_partial", "dense", "dense_mask", "nn_convnet", "nconv")
    have = set(_cells(runs))
    # seeds 1-5: seed 0 is the search's
    expected = {(m, sp, sd, "uniform") for m in models for sp in (0.9, 0.5) for sd in range(1, 6)}
    expected |= {(m, 0.9, sd, "lines") for m in models for sd in (1, 2, 3)}
    assert len(runs) == 60 + 18 and have == expected
    _assert_uniform_first_then_lines(runs)
    assert {r.params["epochs"] for r in runs} == {40}
    # a selection (a part of the grid) leaves the lines runs out unless it asks for them
    part = grid("kitti", seeds=[1], results_dir=str(tmp_path))
    assert {r.params["pattern"] for r in part} == {"uniform"}


def test_kitti_budget_check_trains_only_its_longest_budget(tmp_path, monkeypatch, capsys):
    from sparseconv.registry import study
    from sparseconv.sweep.runs import budget_grid

    setting = study.BUDGET_CHECK["kitti"]
    assert setting["epochs"] == (40, 80, 160) and setting["from_history"]
    runs = budget_grid("kitti", models=["dense"], results_dir=str(tmp_path))
    # 40 and 80 epochs are read off the 160-epoch runs' histories: 2 levels x 2 seeds
    assert {r.params["epochs"] for r in runs} == {160} and len(runs) == 4
    assert {(r.params["sparsity"], r.params["seed"]) for r in runs} == {
        (s, seed) for s in (0.9, 0.5) for seed in (0, 1)
    }
    assert {r.params["lr"] for r in runs} == {study.LEARNING_RATES["kitti"]["dense"]}
    with pytest.raises(ValueError, match="reads 40 off"):
        budget_grid("kitti", epochs=[40])
    with pytest.raises(ValueError, match="reads 80 off"):
        budget_grid("kitti", epochs=[80])
    with pytest.raises(ValueError, match=r"epochs \[45\]"):
        budget_grid("mnist", epochs=[45])
    # a model without a chosen rate is held (it would train at DEFAULTS' fallback rate)
    monkeypatch.setitem(study.LEARNING_RATES, "kitti", {"dense": 0.003})
    code = main(["kitti", "--budget", "--models", "sparse", "--results-dir", str(tmp_path)])
    assert code == 2 and "sparse have none yet" in capsys.readouterr().err
    assert main(["kitti", "--budget", "--models", "dense", "--dry-run",
                 "--results-dir", str(tmp_path)]) == 0  # fmt: skip
    # the classification checks train at the reported protocol's rates: nothing held
    assert study.untuned("mnist", list(study.TUNED_MODELS)) == []


def test_a_dry_run_names_the_runs_that_resume(tmp_path, capsys):
    import hashlib

    from sparseconv.sweep.runs import budget_grid

    runs = budget_grid("mnist", models=["dense"], results_dir=str(tmp_path / "results"))
    saved = runs[0].checkpoint_in(tmp_path / "states")
    study = hashlib.sha256(str((tmp_path / "results").resolve()).encode()).hexdigest()[:12]
    assert saved == tmp_path / "states" / study / "mnist" / "budget" / f"{runs[0].name}.pt"
    # another results folder, another place: two studies' runs of one name stay apart
    other = budget_grid("mnist", models=["dense"], results_dir=str(tmp_path / "other"))
    assert other[0].name == runs[0].name
    assert other[0].checkpoint_in(tmp_path / "states") != saved
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"state")
    args = ["mnist", "--budget", "--models", "dense", "--dry-run"]
    assert main([*args, "--results-dir", str(tmp_path / "results"),
                 "--checkpoint-dir", str(tmp_path / "states")]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert f"{runs[0].name} (stopped part-way: resumes from its checkpoint)" in lines
    assert runs[1].name in lines  # no checkpoint, no note


def test_a_budget_run_that_a_shorter_caps_run_answers_for_is_done(tmp_path):
    # KITTI: a run the plateau stopped before its cap of 80 is the run capped at 160
    from sparseconv.sweep.runs import budget_grid, ended_before

    where = str(tmp_path / "results")
    runs = budget_grid("kitti", models=["dense"], results_dir=where)
    stopped, capped = runs[0], runs[1]
    for run, epochs_run in ((stopped, 30), (capped, 80)):
        shorter = Run("kitti", {**run.params, "epochs": 80}, subfolder="budget")
        shorter.record.parent.mkdir(parents=True, exist_ok=True)
        shorter.notebook.write_text("{}")
        history = [{"epoch": e + 1} for e in range(epochs_run)]
        shorter.record.write_text(json.dumps({"protocol": 2, "history": history}))
    assert ended_before(stopped).params["epochs"] == 80 and ended_before(capped) is None
    assert stopped not in pending(runs) and capped in pending(runs)
    # not for a grid cell, nor for another data set's check
    cell = grid("kitti", models=["dense"], seeds=[1], sparsities=[0.5], results_dir=where)[0]
    assert ended_before(cell) is None


def test_a_cap_free_cell_keeps_one_state_for_every_cap_and_folder(tmp_path, capsys):
    # KITTI never reads its cap: its search, budget check and grid share a cell's state
    import hashlib

    from sparseconv.registry.study import CAP_FREE
    from sparseconv.sweep.runs import budget_grid

    assert "kitti" in CAP_FREE and "mnist" not in CAP_FREE
    where = str(tmp_path / "results")
    budget = budget_grid("kitti", models=["dense"], seeds=[1], sparsities=[0.5],
                         results_dir=where)[0]  # fmt: skip
    cell = grid("kitti", models=["dense"], seeds=[1], sparsities=[0.5], results_dir=where)[0]
    searched = tuning_grid("kitti", models=["dense"], results_dir=where)
    assert budget.params["epochs"] != cell.params["epochs"] and budget.name != cell.name
    saved = budget.checkpoint_in(tmp_path / "states")
    assert cell.checkpoint_in(tmp_path / "states") == saved
    study = hashlib.sha256(str((tmp_path / "results").resolve()).encode()).hexdigest()[:12]
    assert saved == (tmp_path / "states" / study / "kitti"
                     / f"dense_sp0.5_seed1_lr{cell.params['lr']:g}_bs8.pt")  # fmt: skip
    # another seed or rate, another state
    others = {r.checkpoint_in(tmp_path / "states") for r in searched}
    assert saved not in others and len(others) == len(searched)
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"state")
    assert main(["kitti", "--models", "dense", "--seeds", "1", "--sparsities", "0.5",
                 "--dry-run", "--results-dir", where,
                 "--checkpoint-dir", str(tmp_path / "states")]) == 0  # fmt: skip
    assert f"{cell.name} (continues its cell's saved state)" in capsys.readouterr().out
