"""The record tables the book is built from."""

from __future__ import annotations

import math

import pandas as pd

from sparseconv.analysis import invariance_drop, paired_difference, run_times, seed_summary


def frame(rows):
    out = []
    for model, sparsity, seed, acc in rows:
        by = {f"{s:g}": acc for s in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)}
        out.append(
            {
                "model": model,
                "sparsity": sparsity,
                "seed": seed,
                "test_accuracy": acc,
                "record": {"test_accuracy_by_sparsity": by},
            }
        )
    return pd.DataFrame(out)


def test_seed_summary_mean_and_sample_std():
    runs = frame([("sparse", 0.5, 0, 0.90), ("sparse", 0.5, 1, 0.92), ("sparse", 0.5, 2, 0.94)])
    row = seed_summary(runs).iloc[0]
    assert math.isclose(row["mean"], 0.92) and math.isclose(row["std"], 0.02) and row["n"] == 3


def test_paired_difference_t_interval_by_hand():
    runs = frame(
        [
            ("sparse", 0.5, 0, 0.91),
            ("sparse", 0.5, 1, 0.93),
            ("sparse", 0.5, 2, 0.95),
            ("dense", 0.5, 0, 0.90),
            ("dense", 0.5, 1, 0.90),
            ("dense", 0.5, 2, 0.90),
            ("dense", 0.7, 0, 0.80),  # unpaired: ignored
        ]
    )
    diff = paired_difference(runs, "sparse", "dense")
    assert list(diff["sparsity"]) == [0.5]
    row = diff.iloc[0]
    # differences 0.01, 0.03, 0.05: mean 0.03, sd 0.02, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.02 / math.sqrt(3)
    assert row["n"] == 3 and math.isclose(row["mean"], 0.03, abs_tol=1e-12)
    assert math.isclose(row["low"], 0.03 - half, rel_tol=1e-5)
    assert math.isclose(row["high"], 0.03 + half, rel_tol=1e-5)


def test_invariance_drop_by_hand():
    runs = frame([("dense", 0.5, 0, 0.9)])
    by = runs.loc[0, "record"]["test_accuracy_by_sparsity"]
    by["0.9"] = 0.45  # 45 points lower at one of the 9 other levels
    drop = invariance_drop(runs).iloc[0]["drop"]
    assert math.isclose(drop, 45 / 9)


def test_run_times_in_minutes_by_hand():
    runs = pd.DataFrame(
        {
            "dataset": ["mnist"] * 3,
            "model": ["sparse", "sparse", "dense"],
            "train_seconds": [120.0, 240.0, 60.0],
            "eval_seconds": [60.0, 0.0, None],
            "threads": [1, 1, 1],
        }
    )
    table = run_times(runs).set_index("model")
    # sparse: 3 and 4 minutes -> median 3.5, max 4; dense: 1 minute (no eval time known)
    assert table.loc["sparse", "runs"] == 2
    assert math.isclose(table.loc["sparse", "median_min"], 3.5)
    assert math.isclose(table.loc["sparse", "max_min"], 4.0)
    assert math.isclose(table.loc["dense", "median_min"], 1.0)
