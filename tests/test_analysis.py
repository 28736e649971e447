"""The record tables the book is built from."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sparseconv.analysis import (
    depth_curve,
    depth_mismatch,
    depth_table,
    depth_verdicts,
    grid_progress,
    invariance_comparisons,
    invariance_drop,
    outcome,
    paired_difference,
    reference_gap,
    run_times,
    seed_summary,
    t_interval,
)


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


def test_invariance_drop_by_direction_by_hand():
    # trained at 50 %: 0.05-0.4 are denser test inputs (5 levels), 0.6-0.9 sparser (4)
    runs = frame([("dense", 0.5, 0, 0.9)])
    by = runs.loc[0, "record"]["test_accuracy_by_sparsity"]
    by["0.1"] = 0.98  # 8 points better on a denser input: an absolute change too
    by["0.9"] = 0.50  # 40 points worse on a sparser one
    assert math.isclose(invariance_drop(runs, direction="denser").iloc[0]["drop"], 8 / 5)
    assert math.isclose(invariance_drop(runs, direction="sparser").iloc[0]["drop"], 40 / 4)
    assert math.isclose(invariance_drop(runs).iloc[0]["drop"], 48 / 9)
    # trained at 5 %, no test level among 5-90 % is denser: no drop in that direction
    low = frame([("dense", 0.05, 0, 0.9)])
    assert math.isnan(invariance_drop(low, direction="denser").iloc[0]["drop"])
    with pytest.raises(ValueError, match="'upward'"):
        invariance_drop(runs, direction="upward")


def test_run_times_in_minutes_by_hand():
    runs = pd.DataFrame(
        {
            "dataset": ["mnist"] * 3,
            "model": ["sparse", "sparse", "dense"],
            "train_seconds": [120.0, 240.0, 60.0],
            "eval_seconds": [60.0, 0.0, None],
            "threads": [1, 1, 1],
            "record": [{"memory_format": "channels_last"}] * 3,
        }
    )
    table = run_times(runs).set_index("model")
    assert set(table["layout"]) == {"channels_last"}
    # sparse: 3 and 4 minutes -> median 3.5, max 4; dense: 1 minute (no eval time known)
    assert table.loc["sparse", "runs"] == 2
    assert math.isclose(table.loc["sparse", "median_min"], 3.5)
    assert math.isclose(table.loc["sparse", "max_min"], 4.0)
    assert math.isclose(table.loc["dense", "median_min"], 1.0)


def test_t_interval_by_hand():
    # 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3)
    n, mean, low, high = t_interval([1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)
    assert n == 3 and mean == 2.0
    assert math.isclose(low, 2.0 - half, rel_tol=1e-6)
    assert math.isclose(high, 2.0 + half, rel_tol=1e-6)
    n, mean, low, high = t_interval([5.0])
    assert n == 1 and mean == 5.0 and math.isnan(low) and math.isnan(high)


def depth_frame(maes):
    """maes: {(model, seed, trained sparsity): (MAE tested at 0.5, MAE tested at 0.95)}."""
    rows = []
    for (model, seed, sparsity), (at50, at95) in maes.items():
        record = {"pattern": "uniform", "test_mae_by_sparsity": {"0.5": at50, "0.95": at95}}
        rows.append({"model": model, "seed": seed, "sparsity": sparsity, "record": record})
    return pd.DataFrame(rows)


def test_depth_mismatch_ratios_by_hand():
    runs = depth_frame(
        {
            ("sparse", 0, 0.95): (1.2, 2.0),  # trained at 5 % density
            ("sparse", 0, 0.5): (1.0, 4.0),  # trained at 50 % density
            ("dense", 0, 0.95): (3.0, 2.5),  # the 0.5-trained dense run is missing
        }
    )
    ratios = depth_mismatch(runs).set_index(["model", "direction"])["ratio"]
    # sparse trained at 5 %, tested at 50 %: 1.2 / 1.0; trained at 50 %, tested at 5 %: 4 / 2
    assert math.isclose(ratios[("sparse", "5 % -> 50 %")], 1.2)
    assert math.isclose(ratios[("sparse", "50 % -> 5 %")], 2.0)
    assert len(ratios) == 2  # nothing for dense without its 50 % run


def test_depth_verdict_pairs_seeds_on_log_ratios():
    maes = {}
    # sparse pays 1.1x, 1.2x, 1.1x for 5 % -> 50 %; dense pays 2x, 3x, 2.5x
    for seed, (sparse_ratio, dense_ratio) in enumerate([(1.1, 2.0), (1.2, 3.0), (1.1, 2.5)]):
        maes[("sparse", seed, 0.5)] = (1.0, 3.0)
        maes[("sparse", seed, 0.95)] = (sparse_ratio, 3.0)
        maes[("dense", seed, 0.5)] = (1.0, 3.0)
        maes[("dense", seed, 0.95)] = (dense_ratio, 3.0)
    table = depth_verdicts(depth_frame(maes)).set_index(["direction", "compared with"])
    row = table.loc[("5 % -> 50 %", "dense")]
    logs = [math.log(1.1 / 2.0), math.log(1.2 / 3.0), math.log(1.1 / 2.5)]
    _, mean, low, high = t_interval(logs)
    assert row["pairs"] == 3
    assert math.isclose(row["factor"], math.exp(mean))
    assert math.isclose(row["high"], math.exp(high))
    assert row["verdict"] == "sparse more invariant"
    # the other direction costs both nothing (ratio 1): no difference can be shown
    other = table.loc[("50 % -> 5 %", "dense")]
    assert other["verdict"] != "sparse more invariant"
    assert set(table["model"]) == {"sparse"}  # no sparse_partial runs, no rows for it


def test_depth_verdict_judges_sparse_partial_too():
    maes = {}
    # sparse_partial pays 3x, 4x for 5 % -> 50 %; dense_mask 1.5x, 2x: less invariant
    for seed, (partial_ratio, mask_ratio) in enumerate([(3.0, 1.5), (4.0, 2.0)]):
        maes[("sparse_partial", seed, 0.5)] = (1.0, 3.0)
        maes[("sparse_partial", seed, 0.95)] = (partial_ratio, 3.0)
        maes[("dense_mask", seed, 0.5)] = (1.0, 3.0)
        maes[("dense_mask", seed, 0.95)] = (mask_ratio, 3.0)
    table = depth_verdicts(depth_frame(maes))
    row = table.set_index(["direction", "model", "compared with"]).loc[
        ("5 % -> 50 %", "sparse_partial", "dense_mask")
    ]
    assert row["pairs"] == 2
    assert math.isclose(row["factor"], 2.0)  # both seeds: twice the baseline's ratio
    assert math.isclose(row["sparse ratio"], 3.5) and math.isclose(row["other ratio"], 1.75)
    # two equal log differences: zero spread, a degenerate interval at the factor
    assert row["verdict"] == "sparse less invariant"


def test_depth_table_cells_by_hand():
    nearest = {"0.5": 0.25, "0.95": 1.5}
    rows = []
    for seed, at95 in enumerate([2.0, 4.0]):  # sparse trained at 5 %, two seeds
        record = {"pattern": "uniform", "test_mae_by_sparsity": {"0.5": 9.0, "0.95": at95},
                  "nearest_mae_by_sparsity": nearest}  # fmt: skip
        rows.append({"model": "sparse", "seed": seed, "sparsity": 0.95, "record": record})
    table = depth_table(pd.DataFrame(rows)).set_index(["model", "pattern"])
    sparse = table.loc[("sparse conv", "uniform")]
    # mean 3, sample sd sqrt(2) = 1.414, two seeds; never trained at 50 %: dashes
    assert sparse["5 % → 5 %"] == "3.00 ± 1.41 (2)"
    assert sparse["5 % → 50 %"] == "9.00 ± 0.00 (2)"
    assert sparse["50 % → 50 %"] == "–"
    assert table.loc[("nearest neighbour", "uniform"), "50 % → 50 %"] == "0.25"
    assert depth_table(pd.DataFrame()).empty


def test_depth_curve_is_the_mean_over_seeds():
    rows = [
        {"model": "sparse", "seed": seed, "sparsity": 0.95,
         "record": {"pattern": "uniform", "test_mae_by_sparsity": {"0.95": v, "0.5": 2 * v}}}
        for seed, v in enumerate([1.0, 2.0, 3.0])
    ]  # fmt: skip
    lines = {"pattern": "lines", "test_mae_by_sparsity": {"0.95": 9.0, "0.5": 9.0}}
    rows.append({"model": "sparse", "seed": 0, "sparsity": 0.95, "record": lines})
    curve = depth_curve(pd.DataFrame(rows), "sparse", 0.95)
    assert list(curve.index) == [0.5, 0.95]
    assert curve[0.95] == 2.0 and curve[0.5] == 4.0  # the lines run is left out
    assert depth_curve(pd.DataFrame(rows), "sparse", 0.5).empty


def test_outcome_words_for_every_case():
    assert outcome(0, 0, 0, "better", "worse", "levels").startswith("not yet judged")
    assert outcome(3, 0, 3, "better", "worse", "levels") == "supported: better in 3 of 3 levels"
    assert outcome(0, 2, 3, "better", "worse", "levels") == (
        "not reproduced, the opposite holds: worse in 2 of 3 levels "
        "(no significant difference in 1)"
    )
    assert outcome(1, 0, 2, "better", "worse", "levels") == (
        "partly supported: better in 1 of 2 levels (no significant difference in 1)"
    )
    assert outcome(0, 0, 2, "better", "worse", "levels") == (
        "not reproduced: no significant difference in any of 2 levels"
    )
    assert (
        outcome(1, 1, 2, "better", "worse", "levels")
        == "mixed: better in 1, worse in 1 of 2 levels"
    )


def test_invariance_comparisons_pair_drops_by_hand():
    # all levels at 90 %, except 90 % sparsity: the sparse net loses 2 points there, the
    # ConvNet 5 (seed 0) and 4 (seed 1); a drop averages over the 9 other levels
    runs = frame([("sparse", 0.5, 0, 0.9), ("dense", 0.5, 0, 0.9),
                  ("sparse", 0.5, 1, 0.9), ("dense", 0.5, 1, 0.9)])  # fmt: skip
    for i, loss in enumerate([2.0, 5.0, 2.0, 4.0]):
        runs.loc[i, "record"]["test_accuracy_by_sparsity"]["0.9"] = 0.9 - loss / 100
    table = invariance_comparisons(runs)
    assert list(table["compared with"]) == ["dense"]  # no dense_mask, no sparse_partial
    row = table.iloc[0]
    _, mean, low, high = t_interval([(2.0 - 5.0) / 9, (2.0 - 4.0) / 9])
    assert row["pairs"] == 2
    assert math.isclose(row["difference"], mean) and math.isclose(row["high"], high)
    assert math.isclose(row["low"], low)


def test_write_summaries_on_an_empty_and_a_small_results_folder(tmp_path):
    import shutil
    from pathlib import Path

    from sparseconv.analysis import write_summaries

    text = write_summaries(tmp_path)
    assert (tmp_path / "summary.md").read_text() == text
    assert text.index("## Claims") < text.index("## mnist") < text.index("## depth")
    assert "No finished runs yet." in text
    # two committed depth records: their MAE appears in the depth table
    source = Path(__file__).resolve().parents[1] / "results" / "depth"
    (tmp_path / "depth").mkdir()
    for name in ("dense_sp0.95_seed0_ep10_lr0.001_bs32", "sparse_sp0.95_seed0_ep10_lr0.001_bs32"):
        for suffix in (".json", ".ipynb"):  # a study record comes with its notebook
            shutil.copy(source / f"{name}{suffix}", tmp_path / "depth")
    text = write_summaries(tmp_path)
    depth = text[text.index("## depth") :]
    assert "| ConvNet | uniform |" in depth and "| sparse conv | uniform |" in depth


def test_kernel_flatness_by_hand():
    from sparseconv.analysis import kernel_flatness

    flat = [[[2.0] * 3] * 3, [[-1.0] * 3] * 3]
    assert math.isclose(kernel_flatness(flat), 1.0)
    zero_sum = [[[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    assert kernel_flatness(zero_sum) == 0.0
    # one 2 x 2 kernel [[1, 0], [0, 0]]: mean 1/4, k^2 mean^2 = 1/4, energy 1
    assert math.isclose(kernel_flatness([[[1.0, 0.0], [0.0, 0.0]]]), 0.25)
    with pytest.raises(ValueError, match="shape"):
        kernel_flatness([[1.0, 2.0]])
    with pytest.raises(ValueError, match="zero"):
        kernel_flatness([[[0.0]]])


def test_grid_progress_counts_runs_with_record_and_notebook(tmp_path):
    from sparseconv.sweep import grid

    runs = grid("depth", results_dir=str(tmp_path))
    assert grid_progress("depth", tmp_path).startswith(f"0 of the {len(runs)} runs")
    for run in runs[:3]:  # three finished runs
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.record.write_text("{}")
        run.notebook.write_text("{}")
    runs[3].record.write_text("{}")  # a record without its notebook is not finished
    text = grid_progress("depth", tmp_path)
    assert text.startswith(f"3 of the {len(runs)} runs of the depth grid have finished; ")
    assert f"{len(runs) - 3} are still to come" in text
    for run in runs:
        run.record.write_text("{}")
        run.notebook.write_text("{}")
    assert (
        grid_progress("depth", tmp_path) == f"All {len(runs)} runs of the depth grid have finished."
    )


def test_reference_gap_by_hand():
    refs = pd.DataFrame(
        [
            ("group66", "caltech101", "sparse", 0.1, 60.0),
            ("group66", "caltech101", "dense", 0.1, 41.5),
            ("group66", "caltech101", "sparse", 0.05, 62.0),
            ("group66", "caltech101", "dense", 0.05, 44.0),
            ("group66", "caltech101", "sparse", 0.2, 61.0),  # no ConvNet at 20 %: left out
            ("group75", "caltech101", "dense", 0.05, 10.0),  # another source: ignored
        ],
        columns=["source", "dataset", "model", "sparsity", "accuracy"],
    )
    gap = reference_gap(refs, "group66", "caltech101")
    assert list(gap.index) == [0.05, 0.1]
    assert list(gap) == [18.0, 18.5]
    assert reference_gap(refs, "group75", "caltech101").empty  # no sparse model there
