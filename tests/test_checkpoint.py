"""Resuming a stopped run: the same run as one never stopped, and never another run's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from sparseconv.registry.study import CAP_FREE
from sparseconv.train.checkpoint import Checkpoint


class Interrupt(Exception):
    """Stands for a killed process."""


def _stop_after(epoch: int):
    def on_epoch(entry):
        if entry["epoch"] == epoch:
            raise Interrupt

    return on_epoch


def _same_run(a: dict, b: dict) -> None:
    def without_time(h):
        return {k: v for k, v in h.items() if k != "seconds"}

    assert [without_time(h) for h in a["history"]] == [without_time(h) for h in b["history"]]
    for key in ("best_epoch", "val_mae", "val_accuracy", "test_mae", "test_accuracy"):
        if key in a:
            assert a[key] == b[key], key


def _resumed_run(dataset, tmp_path, stop, **args):
    from sparseconv.train.run import train_run

    path = tmp_path / "state" / "run.pt"
    with pytest.raises(Interrupt):
        train_run(dataset, checkpoint=path, on_epoch=_stop_after(stop), **args)
    assert path.is_file()
    record, _ = train_run(dataset, checkpoint=path, **args)
    # deleted once the record is written, unless a later cap may continue it
    assert path.exists() == (dataset in CAP_FREE)
    return record


@pytest.mark.slow
def test_a_kitti_run_stopped_and_resumed_is_the_run_never_stopped(data_dir, tmp_path, quick_kitti):
    from sparseconv.train.run import train_run

    args = dict(sparsity=0.9, model="sparse", epochs=4, lr=0.003, batch_size=1, seed=2,
                limit=30, data_dir=str(data_dir), results_dir=tmp_path / "results",
                progress=False, threads=1)  # fmt: skip
    whole, _ = train_run("kitti", **{**args, "results_dir": None})
    resumed = _resumed_run("kitti", tmp_path, 2, **args)
    _same_run(whole, resumed)
    assert resumed["resumed_after_epochs"] == [2] and "resumed_after_epochs" not in whole
    assert len(resumed["resumed_from_commits"]) == 1
    assert resumed["resumed_from_cpus"] == [resumed["cpu"]]  # stopped and resumed here


@pytest.mark.slow
def test_a_classification_run_resumes_its_schedule_and_batches(data_dir, tmp_path):
    from sparseconv.train.run import train_run

    args = dict(sparsity=0.5, model="sparse", epochs=3, lr=0.05, batch_size=64, seed=1,
                limit=200, data_dir=str(data_dir), results_dir=tmp_path / "results",
                progress=False, threads=1)  # fmt: skip
    whole, _ = train_run("mnist", **{**args, "results_dir": None})
    resumed = _resumed_run("mnist", tmp_path, 1, **args)
    _same_run(whole, resumed)  # the cosine rate and the batch order carry on
    assert resumed["resumed_after_epochs"] == [1]


@pytest.mark.slow
def test_a_kitti_run_under_a_later_cap_continues_the_earlier_caps_state(
    data_dir, tmp_path, quick_kitti
):
    # KITTI's training never reads its cap: the run capped at 4 is the run capped at 2
    # continued, so the budget check's and the grid's longer caps cost only the extra epochs
    from sparseconv.train.run import train_run

    args = dict(sparsity=0.9, model="sparse", lr=0.003, batch_size=1, seed=2, limit=30,
                data_dir=str(data_dir), results_dir=None, progress=False, threads=1)  # fmt: skip
    path = tmp_path / "cell.pt"
    fresh, _ = train_run("kitti", epochs=4, **args)
    short, _ = train_run("kitti", epochs=2, checkpoint=path, **args)
    assert path.is_file() and len(short["history"]) == 2
    longer, _ = train_run("kitti", epochs=4, checkpoint=path, **args)
    _same_run(fresh, longer)
    assert longer["resumed_after_epochs"] == [2]
    # a state past a run's cap is not that run's: it trains afresh beside it, and the
    # longer state stays for the longer run
    kept = path.read_bytes()
    again, _ = train_run("kitti", epochs=2, checkpoint=path, **args)
    _same_run(short, again)
    assert "resumed_after_epochs" not in again
    assert path.read_bytes() == kept and (tmp_path / "cell_ep2.pt").is_file()


@pytest.mark.slow
def test_a_longer_run_leaves_each_check_caps_end_state_on_its_way(
    data_dir, tmp_path, monkeypatch, quick_kitti
):
    # the budget check's runs train to its longest cap; the grid's cell at a shorter cap
    # (the same run up to it) then finishes from the state the longer run left there
    from sparseconv.registry import study
    from sparseconv.train.run import train_run

    monkeypatch.setitem(study.BUDGET_CHECK, "kitti", {**study.BUDGET_CHECK["kitti"],
                                                       "epochs": (2, 4)})  # fmt: skip
    args = dict(sparsity=0.9, model="sparse", lr=0.003, batch_size=1, seed=2, limit=30,
                data_dir=str(data_dir), results_dir=None, progress=False, threads=1)  # fmt: skip
    path = tmp_path / "cell.pt"
    fresh, _ = train_run("kitti", epochs=2, **args)
    train_run("kitti", epochs=4, checkpoint=path, **args)
    assert (tmp_path / "cell_ep2.pt").is_file() and (tmp_path / "cell_ep4.pt").is_file()
    short, _ = train_run("kitti", epochs=2, checkpoint=path, **args)
    _same_run(fresh, short)
    assert short["resumed_after_epochs"] == [2]  # nothing trained: evaluated only


def test_a_state_past_the_cap_is_neither_restored_nor_overwritten(tmp_path):
    path = tmp_path / "cell.pt"
    identity = {"model": "sparse", "seed": 0, "training_code": "abc", "torch_version": "x"}
    model, optimizer, scheduler, generators = _objects(0)
    Checkpoint(path, identity).save(model, optimizer, scheduler, generators, {"epoch": 3})
    assert Checkpoint(path, identity, cap=3).restore(*_objects(1)) == {"epoch": 3}
    assert Checkpoint(path, identity, cap=5).restore(*_objects(1)) == {"epoch": 3}
    shorter = Checkpoint(path, identity, cap=2)
    assert shorter.restore(*_objects(1)) is None
    assert shorter.path == tmp_path / "cell_ep2.pt"
    shorter.save(model, optimizer, scheduler, generators, {"epoch": 1})
    assert Checkpoint(path, identity, cap=5).restore(*_objects(1)) == {"epoch": 3}
    assert Checkpoint(path, identity, cap=2).restore(*_objects(1)) == {"epoch": 1}


def _objects(seed: int):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    return model, optimizer, scheduler, [torch.Generator().manual_seed(seed)]


def test_a_checkpoint_is_resumed_only_by_its_own_run(tmp_path):
    path = tmp_path / "run.pt"
    identity = {"model": "sparse", "seed": 0, "training_code": "abc", "torch_version": "x"}
    model, optimizer, scheduler, generators = _objects(0)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    generators[0].manual_seed(7)
    loop = {"epoch": 1, "history": [{"epoch": 1}]}
    Checkpoint(path, identity).save(model, optimizer, scheduler, generators, loop)
    # another seed, other training code: ignored, nothing loaded
    for other in ({**identity, "seed": 1}, {**identity, "training_code": "def"}):
        fresh = _objects(1)
        assert Checkpoint(path, other).restore(*fresh) is None
        assert not torch.equal(fresh[0].weight, model.weight)
    # the same run: weights, momentum, schedule and the generator's draws carry on
    same = Checkpoint(path, identity)
    fresh = _objects(1)
    assert same.restore(*fresh) == loop and same.resumed == [1]
    assert torch.equal(fresh[0].weight, model.weight)
    assert fresh[2].last_epoch == 1
    assert torch.equal(torch.rand(3, generator=fresh[3][0]), torch.rand(3, generator=generators[0]))
    assert optimizer.state_dict()["state"][0]["momentum_buffer"].equal(
        fresh[1].state_dict()["state"][0]["momentum_buffer"]
    )
    # an unreadable file is not resumed either
    path.write_bytes(b"not a checkpoint")
    assert Checkpoint(path, identity).restore(*_objects(2)) is None


def test_the_training_code_digest_follows_the_training_code_only(tmp_path, monkeypatch):
    import shutil

    from sparseconv.train import checkpoint

    package = Path(checkpoint.__file__).resolve().parents[1]
    copy = tmp_path / "sparseconv"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    fake = copy / "train" / "checkpoint.py"
    monkeypatch.setattr(checkpoint, "__file__", str(fake))
    before = checkpoint.training_code_digest()
    assert before == checkpoint.training_code_digest()
    (copy / "report" / "budget.py").write_text("# the report changed\n")
    (copy / "registry" / "study.py").write_text("# a rate chosen, a grid grown\n")
    assert checkpoint.training_code_digest() == before
    # saving and restoring, and the record's assembly, come after training
    for after in ("checkpoint.py", "record.py"):
        with (copy / "train" / after).open("a") as f:
            f.write("# changed\n")
    assert checkpoint.training_code_digest() == before
    with (copy / "nn" / "layers.py").open("a") as f:
        f.write("# the layer changed\n")
    assert checkpoint.training_code_digest() != before


def test_the_study_values_a_run_reads_enter_its_identity(monkeypatch):
    from sparseconv.registry import study
    from sparseconv.train.checkpoint import run_identity

    params = {"dataset": "kitti", "model": "sparse", "seed": 0}
    before = run_identity(params, torch.device("cpu"))
    monkeypatch.setitem(study.LEARNING_RATES, "kitti", {"sparse": 0.5})  # not read by a run
    assert run_identity(params, torch.device("cpu")) == before
    # a new protocol that changes the grid only (KITTI's cap, say) keeps the states
    monkeypatch.setitem(study.PROTOCOL, "kitti", study.PROTOCOL["kitti"] + 1)
    assert run_identity(params, torch.device("cpu")) == before
    monkeypatch.setattr(study, "LIDAR_STEPS", 7)  # read by every KITTI run
    assert run_identity(params, torch.device("cpu")) != before


def test_a_cap_free_runs_identity_leaves_the_cap_out():
    from sparseconv.train.checkpoint import run_identity

    cpu = torch.device("cpu")
    kitti = {"dataset": "kitti", "model": "sparse", "seed": 0, "epochs": 40}
    assert run_identity(kitti, cpu) == run_identity({**kitti, "epochs": 80}, cpu)
    assert run_identity(kitti, cpu) != run_identity({**kitti, "seed": 1}, cpu)
    mnist = {**kitti, "dataset": "mnist"}
    assert run_identity(mnist, cpu) != run_identity({**mnist, "epochs": 80}, cpu)
