"""The epoch loop: selection of the best validation epoch and early stopping."""

from __future__ import annotations

import torch

from sparseconv.train.engine import fit


def _fit(scores, patience=None, min_gain=0.0, scheduler=None):
    """Run ``fit`` on a one-weight model whose weight becomes the epoch number and whose
    validation score per epoch is given; returns (result, final weight)."""
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = scheduler(optimizer) if scheduler else torch.optim.lr_scheduler.StepLR(
        optimizer, 1)  # fmt: skip
    epoch = {"n": 0}

    def train_epoch(update):
        epoch["n"] += 1
        optimizer.step()  # no gradient: changes nothing, but keeps the schedulers' order
        with torch.no_grad():
            model.weight.fill_(epoch["n"])
        return {"loss": 1.0}

    def eval_epoch():
        return {"val": scores[epoch["n"] - 1]}

    result = fit(model, len(scores), 1, optimizer, scheduler, train_epoch, eval_epoch,
                 torch.device("cpu"), select="val", maximize=False, patience=patience,
                 min_gain=min_gain, progress=False)  # fmt: skip
    return result, model.weight.item()


def test_keeps_the_best_epoch_without_early_stopping():
    result, weight = _fit([5.0, 3.0, 4.0, 3.5])
    assert result.best_epoch == 2 and weight == 2.0 and len(result.history) == 4
    assert not result.stopped_early


def test_stops_after_patience_epochs_without_a_relative_gain():
    # gains: 10 -> 9 (10 %), then 8.99 and 8.98 are below 1 % of 9: two stale epochs
    result, weight = _fit([10.0, 9.0, 8.99, 8.98, 1.0], patience=2, min_gain=0.01)
    assert result.stopped_early and len(result.history) == 4
    # the best epoch is still the smallest score seen, however small the gain
    assert result.best_epoch == 4 and weight == 4.0


def test_plateau_scheduler_is_stepped_with_the_score():
    def plateau(opt):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "min", factor=0.5, patience=0)

    result, _ = _fit([3.0, 3.0, 3.0], scheduler=plateau)
    # the rate in force during each epoch: halved after each epoch without improvement
    assert [h["lr"] for h in result.history] == [0.1, 0.1, 0.05]


def test_git_state_takes_the_shipped_commit_when_named(tmp_path, monkeypatch):
    """A copy without .git (a GPU machine's) has no commit unless $SPARSECONV_COMMIT names
    it; then dirty is unknown (None), never False."""
    from sparseconv.train.engine import git_state

    monkeypatch.delenv("SPARSECONV_COMMIT", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_state(tmp_path) == (None, None)
    monkeypatch.setenv("SPARSECONV_COMMIT", "0123abc")
    assert git_state(tmp_path) == ("0123abc", None)
    assert git_state() == ("0123abc", None)  # wins over a (possibly stale) git folder


def test_a_record_names_its_cpu_and_the_kernels_instruction_set():
    import platform
    from pathlib import Path

    import torch

    from sparseconv.train.engine import cpu_model, provenance

    fields = provenance(torch.device("cpu"), "2026-01-01T00:00:00+00:00", "notebook")
    assert fields["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert fields["cpu"] == cpu_model()
    info = Path("/proc/cpuinfo")
    if info.is_file():  # Linux: the first "model name" line, by hand
        names = [line for line in info.read_text().splitlines() if line.startswith("model name")]
        expected = names[0].split(":", 1)[1].strip() if names else platform.processor() or None
        assert fields["cpu"] == expected
