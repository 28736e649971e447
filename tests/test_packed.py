"""A packed run trains like the same run alone: the float64 trajectory of every run of a
pack equals the run trained by the production loop, step for step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sparseconv.nn.networks import build_model
from sparseconv.nn.optim import make_optimizer
from sparseconv.registry.models import variant
from sparseconv.train.classify import (
    WEIGHT_DECAY,
    _train_epoch,
    load_classification,
    split_masks,
)
from sparseconv.train.packed import Pack, check_pack, train_pack

pytestmark = pytest.mark.slow  # minutes of CPU in float64

LIMIT, BATCH, EPOCHS = 192, 64, 8  # 3 steps an epoch: 24 steps


def data_of(data_dir):
    cache = {}

    def load(seed):
        if seed not in cache:
            data = load_classification("mnist", str(data_dir), LIMIT, "cpu", seed)
            cache[seed] = dataclasses.replace(data, mean=data.mean.double(),
                                              std=data.std.double())  # fmt: skip
        return cache[seed]

    return load


def alone(run, data):
    """The run as train_classification trains it, in float64, parameters per epoch."""
    torch.manual_seed(run["seed"])
    net = build_model("mnist", run["model"]).double()
    optimizer = make_optimizer(net, "sgd", run["lr"], WEIGHT_DECAY,
                               compensate=variant(run["model"]).matched_steps)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    generator = torch.Generator().manual_seed(run["seed"])
    states = []
    for _ in range(EPOCHS):
        _train_epoch(net, optimizer, data, run["sparsity"], BATCH, generator, None)
        scheduler.step()
        states.append({k: v.clone() for k, v in net.state_dict().items()})
    return states


def runs_of(model):
    return [{"dataset": "mnist", "model": model, "epochs": EPOCHS, "batch_size": BATCH,
             "limit": LIMIT, "seed": seed, "sparsity": sparsity, "lr": lr}
            for seed, sparsity, lr in ((0, 0.3, 0.05), (1, 0.9, 0.1), (2, 0.6, 0.02))]  # fmt: skip


@pytest.mark.parametrize("model", ["sparse", "sparse_naive", "dense_mask"])
def test_every_packed_run_follows_its_trajectory_alone(model, data_dir, monkeypatch):
    runs = runs_of(model)
    load = data_of(data_dir)
    expected = [alone(run, load(run["seed"])) for run in runs]
    seen: list[dict] = []
    original = Pack.end_epoch

    def record_states(pack):
        original(pack)
        seen.append([pack.state_dict(r) for r in range(pack.size)])

    monkeypatch.setattr(Pack, "end_epoch", record_states)
    out = train_pack(runs, load, torch.device("cpu"), dtype=torch.float64)
    assert len(seen) == EPOCHS
    for epoch in range(EPOCHS):
        for r in range(len(runs)):
            for name, value in expected[r][epoch].items():
                got = seen[epoch][r][name]
                assert torch.allclose(got, value, rtol=1e-9, atol=1e-11), (model, epoch, r, name)
    # the runs moved apart (different seeds, levels and rates), so the test can fail
    first = [s["blocks.0.conv.weight"] for s in seen[-1]]
    assert not torch.allclose(first[0], first[1])
    # each run ends with its kept epoch's weights and a record like a run alone
    for (fields, net), run in zip(out, runs, strict=True):
        assert 1 <= fields["best_epoch"] <= EPOCHS and len(fields["history"]) == EPOCHS
        kept = expected[runs.index(run)][fields["best_epoch"] - 1]
        for name, value in net.state_dict().items():
            assert torch.allclose(value, kept[name], rtol=1e-9, atol=1e-11)
        best = fields["history"][fields["best_epoch"] - 1]
        assert fields["val_accuracy"] == best["val_accuracy"]
        assert set(fields["test_accuracy_by_sparsity"]) >= {"0", "0.9"}


def test_validation_masks_follow_each_runs_seed(data_dir):
    load = data_of(data_dir)
    a = split_masks(load(0), "val", 0.5, 0)
    b = split_masks(load(1), "val", 0.5, 1)
    assert not torch.equal(a, b)


def test_a_pack_refuses_runs_that_cannot_share_it():
    runs = runs_of("sparse")
    with pytest.raises(ValueError, match="'epochs'"):
        check_pack([runs[0], {**runs[1], "epochs": EPOCHS + 1}])
    with pytest.raises(ValueError, match="once"):
        check_pack([runs[0], dict(runs[0])])
    with pytest.raises(ValueError, match="at least one"):
        check_pack([])
