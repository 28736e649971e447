"""Protocol 3's rule for a classification grid's levels: more than 40 one-thread hours for
5 seeds over all ten levels keeps the six reduced levels; the registry's choice follows it."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry import study
from sparseconv.registry.datasets import TRAIN_SPARSITIES
from sparseconv.registry.models import tuned_models
from sparseconv.sweep.plan import level_choice
from sparseconv.sweep.runs import grid


def _records(folder, minutes_per_epoch: dict[str, float]) -> None:
    folder.mkdir(parents=True)
    for model, rate in minutes_per_epoch.items():
        record = {"model": model, "device": "cpu", "epochs": 10, "history": [{}] * 10,
                  "train_seconds": rate * 10 * 60, "eval_seconds": 0.0}  # fmt: skip
        (folder / f"{model}.json").write_text(json.dumps(record))


def test_level_choice_by_hand(tmp_path):
    models = tuned_models("mnist")
    # 0.01 min per epoch per model: 5 seeds x 10 levels x 4 models x 0.01 x E / 60 hours
    _records(tmp_path / "mnist" / "budget", dict.fromkeys(models, 0.01))
    hours, levels = level_choice("mnist", 1000, tmp_path)
    assert hours == pytest.approx(5 * 10 * len(models) * 0.01 * 1000 / 60)  # 33.3 h
    assert levels == tuple(TRAIN_SPARSITIES)
    hours, levels = level_choice("mnist", 2000, tmp_path)  # 66.7 h > 40
    assert levels == study.REDUCED_LEVELS


def test_level_choice_needs_every_model_measured(tmp_path):
    _records(tmp_path / "mnist" / "budget", {"dense": 1.0})
    assert level_choice("mnist", 100, tmp_path) == (None, tuple(TRAIN_SPARSITIES))


def test_the_recorded_choice_follows_the_rule():
    for dataset, by_protocol in study.GRID_LEVELS.items():
        for protocol, chosen in by_protocol.items():
            epochs = study.GRID_EPOCHS[dataset].get(protocol)
            if chosen is None or epochs is None:
                continue  # not chosen yet
            assert tuple(chosen) == level_choice(dataset, epochs)[1], (dataset, protocol)


def test_the_grid_takes_the_recorded_levels(monkeypatch):
    monkeypatch.setitem(study.GRID_LEVELS, "mnist", {3: study.REDUCED_LEVELS})
    runs = grid("mnist", protocol=3, epochs=5)
    assert sorted({r.params["sparsity"] for r in runs}) == list(study.REDUCED_LEVELS)
    monkeypatch.setitem(study.GRID_LEVELS, "mnist", {3: None})
    runs = grid("mnist", protocol=3, epochs=5)
    assert sorted({r.params["sparsity"] for r in runs}) == list(TRAIN_SPARSITIES)


def test_levels_text_reads_the_rule(monkeypatch):
    import pandas as pd

    from sparseconv.report.pages import method

    frame = pd.DataFrame({"epochs": [15, 30]})
    check = pd.DataFrame({"budget (epochs)": [15], "sufficient": ["no"]})
    monkeypatch.setattr(method, "budget_check", lambda f, d: check)
    monkeypatch.setattr(method, "level_choice", lambda d, e, r: (59.4, study.REDUCED_LEVELS))
    text = method.levels_text("mnist", frame, None, "results")
    assert "at least 30 epochs" in text and "about 59 one-thread CPU-hours" in text
    assert "six levels 5, 20, 40, 60, 80 and 90 %" in text
    monkeypatch.setattr(method, "level_choice", lambda d, e, r: (12.0, tuple(TRAIN_SPARSITIES)))
    text = method.levels_text("mnist", frame, 60, "results")
    assert text.startswith("At the chosen budget") and "all ten stay" in text
    assert "waits" in method.levels_text("mnist", frame.iloc[0:0], None, "results")
