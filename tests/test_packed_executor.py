"""The packed executor: packs of runs, a record and an executed notebook per run, the
same results as the per-process executor."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry.records import validate_record
from sparseconv.sweep.cli import run_sweep
from sparseconv.sweep.packed_executor import packs_of
from sparseconv.sweep.runs import Run, grid, pending
from sparseconv.train.run import adopt_packed_record

pytestmark = pytest.mark.usefixtures("budget_chosen")


def small_grid(folder, data_dir, models=("sparse",), seeds=(0, 1)):
    return grid("mnist", models=list(models), sparsities=[0.5, 0.9], seeds=list(seeds),
                epochs=1, limit=200, results_dir=str(folder), data_dir=str(data_dir))  # fmt: skip


def test_packs_group_the_runs_that_share_a_network(tmp_path, data_dir):
    runs = small_grid(tmp_path, data_dir, models=("sparse", "dense"))
    packs = packs_of(runs, pack_size=3)
    assert sorted(len(p) for p in packs) == [1, 1, 3, 3]
    for pack in packs:
        assert len({r.params["model"] for r in pack}) == 1
    assert sorted(r.name for p in packs for r in p) == sorted(r.name for r in runs)
    depth = grid("depth", models=["sparse"], seeds=[0], epochs=1, limit=8,
                 results_dir=str(tmp_path))  # fmt: skip
    with pytest.raises(ValueError, match="classification runs only"):
        packs_of(depth)
    with pytest.raises(ValueError, match="pack_size"):
        packs_of(runs, 0)


def test_a_packed_record_must_be_the_notebooks_run(tmp_path):
    record = {"executor": "packed", "dataset": "mnist", "model": "sparse", "sparsity": 0.5,
              "seed": 0, "epochs": 1, "lr": 0.05, "batch_size": 128, "limit": 200}  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    params = {**{k: v for k, v in record.items() if k != "executor"}, "seed": 1,
              "results_dir": str(tmp_path / "out")}  # fmt: skip
    with pytest.raises(ValueError, match="seed=0.*seed=1"):
        adopt_packed_record(path, params)
    path.write_text(json.dumps({**record, "executor": "local"}))
    with pytest.raises(ValueError, match="not the record of a packed run"):
        adopt_packed_record(path, params)


@pytest.mark.slow
def test_the_packed_executor_writes_what_the_local_one_writes(tmp_path, data_dir):
    packed = small_grid(tmp_path / "packed", data_dir)
    broken = Run("mnist", {**packed[0].params, "model": "bogus"})
    lines: list[str] = []
    failures = run_sweep([*packed, broken], executor="packed", device="cpu",
                         out=lines.append)  # fmt: skip
    assert [run.name for run, _ in failures] == [broken.name]
    assert pending(packed) == []
    local = small_grid(tmp_path / "local", data_dir)
    assert run_sweep(local, executor="local", jobs=2) == []
    for mine, theirs in zip(packed, local, strict=True):
        record, reference = (json.loads(r.record.read_text()) for r in (mine, theirs))
        validate_record(record)
        assert record["executor"] == "packed" and reference["executor"] == "local"
        cells = json.loads(mine.notebook.read_text())["cells"]
        assert any("epoch   1  loss" in "".join(o.get("text", "")) for c in cells
                   for o in c.get("outputs", []))  # fmt: skip
        # float32 in another layout: the same run up to a few test images
        assert abs(record["test_accuracy"] - reference["test_accuracy"]) <= 0.02
        assert record["best_epoch"] == reference["best_epoch"]
