"""The budget check's rule by hand: largest changes on doubling, limits, levels."""

from __future__ import annotations

import numpy as np
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


def _kitti_record(model, sparsity, seed, vals, nn=2.0, stopped=False):
    """A KITTI budget record capped at 80 epochs with validation MAEs ``vals`` per epoch."""
    history = [{"epoch": i + 1, "loss": 10.0 - i / 10, "val_mae": v, "seconds": 60.0}
               for i, v in enumerate(vals)]  # fmt: skip
    best = min(range(len(vals)), key=vals.__getitem__)
    return {"protocol": study.PROTOCOL["kitti"], "dataset": "kitti", "model": model,
            "sparsity": sparsity, "seed": seed, "epochs": 80, "limit": None,
            "history": history, "val_mae": vals[best], "best_epoch": best + 1,
            "train_eval_mae": 0.5, "val_nn_mae": nn, "train_seconds": 60.0 * len(vals),
            "stopped_early": stopped}  # fmt: skip


def _write(folder, record):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    name = f"{record['model']}_sp{record['sparsity']}_seed{record['seed']}_ep80.json"
    (folder / name).write_text(json.dumps(record))


def test_kitti_budgets_are_read_off_the_longest_runs_history(tmp_path):
    from sparseconv.report.budget import budget_margin, load_budget

    folder = tmp_path / "kitti" / "budget"
    # capped at 80 and still improving after 40: 40 keeps epoch 40 (1.5), 80 keeps 80 (1.2)
    long = [2.0 - i / 80 for i in range(40)] + [1.5 - 0.3 * i / 39 for i in range(40)]
    _write(folder, _kitti_record("sparse", 0.9, 0, long, nn=1.6))
    # stopped on its plateau at epoch 30 (best at 24): the run at 40 and at 80 alike
    short = [3.0 - i / 10 for i in range(24)] + [0.8] * 6
    short[23] = 0.7
    _write(folder, _kitti_record("dense", 0.5, 0, short, nn=0.8, stopped=True))
    frame = load_budget(tmp_path, "kitti").set_index(["model", "epochs"])
    assert frame.loc[("sparse", 40), "val"] == pytest.approx(long[39])
    assert frame.loc[("sparse", 40), "kept_epoch"] == 40
    assert frame.loc[("sparse", 80), "val"] == pytest.approx(1.2)
    assert frame.loc[("sparse", 40), "minutes"] == pytest.approx(40.0)
    assert frame.loc[("sparse", 40), "train_loss"] == pytest.approx(10.0 - 39 / 10)
    # the eval-mode training error is the run's own only where the budget holds the run
    assert np.isnan(frame.loc[("sparse", 40), "train_eval"])
    assert frame.loc[("sparse", 80), "train_eval"] == 0.5
    # ... and, ended before its cap, the run under every later cap of the check
    for epochs in (40, 80, 160):
        row = frame.loc[("dense", epochs)]
        assert row["val"] == 0.7 and row["kept_epoch"] == 24 and row["epochs_run"] == 30
        assert row["train_eval"] == 0.5
    assert ("sparse", 160) not in frame.index  # capped at 80: 160 is not known
    # the margin: 5 % of raw nearest neighbour's validation MAE, mean over the levels
    assert budget_margin(frame.reset_index(), "kitti") == pytest.approx(0.05 * (1.6 + 0.8) / 2)


def test_a_longer_caps_record_answers_for_its_cell(tmp_path):
    # one cell capped at 80 and, continued from its state, at 160: the longer record reads
    import json

    from sparseconv.report.budget import load_budget

    folder = tmp_path / "kitti" / "budget"
    vals = [2.0 - i / 100 for i in range(80)]
    _write(folder, _kitti_record("sparse", 0.9, 0, vals))
    longer = _kitti_record("sparse", 0.9, 0, vals + [1.1] * 20, stopped=True)
    longer["epochs"] = 160
    (folder / "sparse_sp0.9_seed0_ep160.json").write_text(json.dumps(longer))
    frame = load_budget(tmp_path, "kitti").set_index(["model", "epochs"])
    assert len(frame) == 3  # 40, 80 and 160, once each
    assert frame.loc[("sparse", 80), "val"] == pytest.approx(vals[79])
    # read off the 160 record (whose run went on), not the 80 record's own row
    assert np.isnan(frame.loc[("sparse", 80), "train_eval"])
    assert frame.loc[("sparse", 160), "val"] == 1.1
    assert frame.loc[("sparse", 160), "epochs_run"] == 100


def test_kitti_budget_check_by_hand(tmp_path, monkeypatch):
    from sparseconv.report.budget import budget_check, load_budget

    monkeypatch.setattr(study, "tuned_models", lambda d: ("sparse", "dense"))
    import sparseconv.report.budget as budget

    monkeypatch.setattr(budget, "tuned_models", lambda d: ("sparse", "dense"))
    folder = tmp_path / "kitti" / "budget"
    flat = [1.0] * 30  # both stop at 30: 40 and 80 are the same run
    for seed in (0, 1):
        for level in (0.9, 0.5):
            _write(folder, _kitti_record("dense", level, seed, flat, nn=2.0, stopped=True))
            # the paper's layer gains 0.06 m from 40 to 80 epochs at 10 % kept only
            vals = [1.1] * 40 + ([1.04] * 40 if level == 0.9 else [1.1] * 40)
            _write(folder, _kitti_record("sparse", level, seed, vals, nn=2.0))
    check = budget_check(load_budget(tmp_path, "kitti"), "kitti").iloc[0]
    # margin 0.1 m (5 % of 2.0): the model moves 0.06 < 0.1, the difference 0.06 > 0.05
    assert check["limit, model"] == pytest.approx(0.1)
    assert check["largest change of a model"] == pytest.approx(0.06)
    assert check["largest change of a difference"] == pytest.approx(0.06)
    assert check["sufficient"] == "no"


def test_the_kitti_page_states_the_largest_change_while_the_check_runs(tmp_path, monkeypatch):
    import sparseconv.report.budget as budget
    from sparseconv.report.budget import load_budget
    from sparseconv.report.pages.kitti import kitti_check_text

    monkeypatch.setattr(budget, "tuned_models", lambda d: ("sparse", "dense"))
    folder = tmp_path / "kitti" / "budget"
    # one seed: the ConvNet keeping 50 % gains 0.09 m from 40 to 80 epochs, then stops
    _write(folder, _kitti_record("dense", 0.5, 0, [1.0] * 40 + [0.91] * 30, nn=1.0,
                                 stopped=True))  # fmt: skip
    _write(folder, _kitti_record("dense", 0.9, 0, [1.5] * 26, nn=1.6, stopped=True))
    text = kitti_check_text(load_budget(tmp_path, "kitti"), tmp_path)
    assert "no budget is judged yet" in text
    # limit: 5 % of the mean of raw nearest neighbour's 1.0 and 1.6 m
    assert ("So far the largest change is ConvNet's keeping 50 % (1 seed): 0.090 m from 40 "
            "to 80 epochs, above the limit of 0.065 m.") in text  # fmt: skip


def test_the_kitti_page_states_the_checks_decision(tmp_path, monkeypatch):
    import sparseconv.report.budget as budget
    from sparseconv.report.budget import load_budget
    from sparseconv.report.pages.kitti import kitti_check_text

    monkeypatch.setattr(budget, "tuned_models", lambda d: ("sparse", "dense"))
    folder = tmp_path / "kitti" / "budget"
    for seed in (0, 1):
        for level in (0.9, 0.5):
            _write(folder, _kitti_record("dense", level, seed, [1.0] * 30, stopped=True))
            # 0.01 m from 40 to 80 epochs: within both limits (0.1 and 0.05 m)
            _write(folder, _kitti_record("sparse", level, seed, [1.1] * 40 + [1.09] * 40))
    text = kitti_check_text(load_budget(tmp_path, "kitti"), tmp_path)
    assert "40 epochs are sufficient" in text and "cap of 40 epochs stands" in text
    assert "read" in text and f"of its {len(study.tuned_models('kitti')) * 4} runs" in text
    # a move past the limit: not sufficient
    _write(folder, _kitti_record("sparse", 0.9, 1, [1.1] * 40 + [0.9] * 40))
    text = kitti_check_text(load_budget(tmp_path, "kitti"), tmp_path)
    assert "40 epochs are not sufficient" in text
