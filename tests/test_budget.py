"""The budget check's rule by hand: largest changes on doubling, limits, levels."""

from __future__ import annotations

import pandas as pd
import pytest

from sparseconv.registry import study
from sparseconv.report.budget import budget_check, sufficient_budget

MODELS = ("sparse", "sparse_partial", "dense", "dense_mask")


def _frame(scores: dict) -> pd.DataFrame:
    """scores: (sparsity, epochs) -> {model: score}; two seeds, 0.1 points apart."""
    rows = []
    for (level, epochs), by_model in scores.items():
        for model, value in by_model.items():
            for seed in (0, 1):
                rows.append({"model": model, "sparsity": level, "seed": seed, "epochs": epochs,
                             "val": value + 0.1 * seed, "train_loss": 0.0, "train_eval": 0.0,
                             "minutes": 1.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_doubling_at_one_level_is_judged_on_that_level(monkeypatch):
    setting = {"sparsities": (0.1, 0.9), "seeds": (0, 1), "epochs": (15, 30, 60),
               "sparsities_at": {60: (0.9,)}}  # fmt: skip
    monkeypatch.setitem(study.BUDGET_CHECK, "mnist", setting)
    flat = dict.fromkeys(MODELS, 99.0)
    scores = {
        (0.1, 15): flat, (0.1, 30): flat,
        # at 90 %: 15 -> 30 moves the sparse network by 0.5 (> margin 0.2) ...
        (0.9, 15): {**dict.fromkeys(MODELS, 85.0), "sparse": 87.0},
        (0.9, 30): {**dict.fromkeys(MODELS, 85.0), "sparse": 87.5},
        # ... 30 -> 60 by 0.05 only, and the 10 % level (far off) does not run at 60
        (0.9, 60): {**dict.fromkeys(MODELS, 85.0), "sparse": 87.55},
    }  # fmt: skip
    check = budget_check(_frame(scores), "mnist").set_index("budget (epochs)")
    assert check.loc[15, "largest change of a model"] == pytest.approx(0.5)
    assert check.loc[15, "largest change of a difference"] == pytest.approx(0.5)
    assert check.loc[15, "sufficient"] == "no"
    assert check.loc[30, "largest change of a model"] == pytest.approx(0.05)
    assert check.loc[30, "sufficient"] == "yes"
    assert sufficient_budget(_frame(scores), "mnist") == 30


def test_a_budget_with_a_missing_run_is_not_judged(monkeypatch):
    setting = {"sparsities": (0.1, 0.9), "seeds": (0, 1), "epochs": (15, 30)}
    monkeypatch.setitem(study.BUDGET_CHECK, "mnist", setting)
    flat = dict.fromkeys(MODELS, 99.0)
    frame = _frame({(0.1, 15): flat, (0.9, 15): flat, (0.1, 30): flat, (0.9, 30): flat})
    frame = frame.drop(index=frame.index[-1])  # one seed of one cell missing
    check = budget_check(frame, "mnist")
    assert check["sufficient"].tolist() == ["–"] and sufficient_budget(frame, "mnist") is None
