"""The record tables the book is built from."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from sparseconv.registry.study import PROTOCOL
from sparseconv.report.analysis import reference_gap, run_times, seed_summary
from sparseconv.report.depth_tables import depth_curve, depth_table
from sparseconv.report.text.runs import grid_progress


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
    assert set(table["device"]) == {"cpu"}  # records without a device ran on a CPU
    # sparse: 3 and 4 minutes -> median 3.5, max 4; dense: 1 minute (no eval time known)
    assert table.loc["sparse", "runs"] == 2
    assert math.isclose(table.loc["sparse", "median_min"], 3.5)
    assert math.isclose(table.loc["sparse", "max_min"], 4.0)
    assert math.isclose(table.loc["dense", "median_min"], 1.0)


def test_run_times_and_time_sentence_keep_devices_apart():
    from sparseconv.report.text.runs import time_by_device

    runs = pd.DataFrame(
        {
            "dataset": ["depth"] * 4,
            "model": ["sparse"] * 4,
            "train_seconds": [600.0, 720.0, 60.0, 180.0],
            "eval_seconds": [0.0, 0.0, 30.0, 30.0],
            "threads": [1] * 4,
            "device": ["cpu", "cpu", "NVIDIA H200", "NVIDIA H200"],
            "record": [{}] * 4,
        }
    )
    table = run_times(runs).set_index("device")
    assert math.isclose(table.loc["cpu", "median_min"], 11.0)
    assert math.isclose(table.loc["NVIDIA H200", "median_min"], 2.5)
    assert time_by_device(runs) == (
        "Median wall time of a run: 11.0 minutes on one CPU thread (at most 12.0; 2 runs); "
        "2.5 minutes on an NVIDIA H200 shared with other runs (at most 3.5; 2 runs)."
    )
    assert time_by_device(runs.iloc[:0]).startswith("No run has finished")


def _depth_run(model, seed, sparsity, mine, nearest, pattern="uniform"):
    record = {"pattern": pattern, "test_mae_missing_by_sparsity": mine,
              "nn_mae_missing_by_sparsity": nearest}  # fmt: skip
    return {"model": model, "seed": seed, "sparsity": sparsity, "record": record}


def test_depth_table_cells_by_hand():
    rows = [  # sparse trained at 5 %, two seeds; interpolation differs per seed's masks
        _depth_run("sparse", 0, 0.95, {"0.5": 9.0, "0.95": 2.0}, {"0.5": 0.2, "0.95": 1.5}),
        _depth_run("sparse", 1, 0.95, {"0.5": 9.0, "0.95": 4.0}, {"0.5": 0.3, "0.95": 1.5}),
    ]
    table = depth_table(pd.DataFrame(rows)).set_index(["model", "pattern"])
    sparse = table.loc[("sparse conv", "uniform")]
    # mean 3, sample sd sqrt(2) = 1.414, two seeds; never trained at 50 %: dashes
    assert sparse["5 % → 5 %"] == "3.00 ± 1.41 (2)"
    assert sparse["5 % → 50 %"] == "9.00 ± 0.00 (2)"
    assert sparse["50 % → 50 %"] == "–"
    # raw interpolation: the mean over the seeds' masks, (0.2 + 0.3) / 2
    assert table.loc[("nearest neighbour (no training)", "uniform"), "50 % → 50 %"] == "0.25"
    assert depth_table(pd.DataFrame()).empty


def test_depth_curve_is_the_mean_over_seeds():
    rows = [_depth_run("sparse", seed, 0.95, {"0.95": v, "0.5": 2 * v}, {"0.95": 1.0, "0.5": 0.1})
            for seed, v in enumerate([1.0, 2.0, 3.0])]  # fmt: skip
    rows.append(_depth_run("sparse", 0, 0.95, {"0.95": 9.0, "0.5": 9.0}, {}, pattern="lines"))
    curve = depth_curve(pd.DataFrame(rows), "sparse", 0.95)
    assert list(curve.index) == [0.5, 0.95]
    assert curve[0.95] == 2.0 and curve[0.5] == 4.0  # the lines run is left out
    assert depth_curve(pd.DataFrame(rows), "sparse", 0.5).empty


def test_versus_nearest_pairs_each_seed_with_its_own_masks():
    from sparseconv.report.depth_tables import versus_nearest

    rows = [_depth_run("dense", s, 0.95, {"0.95": mine}, {"0.95": nn})
            for s, (mine, nn) in enumerate([(1.0, 1.5), (1.2, 1.4), (1.1, 1.6)])]  # fmt: skip
    row = versus_nearest(pd.DataFrame(rows)).iloc[0]
    # differences -0.5, -0.2, -0.5: mean -0.4, sd 0.1732, t(2) 97.5 % = 4.3027
    assert row["seeds"] == 3 and row["difference"] == pytest.approx(-0.4)
    half = 4.302652729911275 * 0.17320508075688773 / 3**0.5
    assert row["low"] == pytest.approx(-0.4 - half) and row["high"] == pytest.approx(-0.4 + half)
    assert row["network"] == pytest.approx(1.1) and row["nearest neighbour"] == pytest.approx(1.5)


def test_depth_fit_table_counts_plateau_stops(depth_record):
    from sparseconv.report.depth_tables import depth_fit_table

    runs = pd.DataFrame([
        {"model": "sparse", "seed": s, "sparsity": 0.95, "train_seconds": 60.0,
         "eval_seconds": 0.0, "record": {**depth_record, "stopped_early": s == 0}}
        for s in range(2)
    ])  # fmt: skip
    row = depth_fit_table(runs).iloc[0]
    assert row["plateau stops"] == "1 of 2" and "minutes" not in row
    assert row["test"] == pytest.approx(depth_record["test_mae_missing"])


def test_write_summaries_on_an_empty_and_a_small_results_folder(tmp_path, depth_record):
    from conftest import write_depth_study

    from sparseconv.report.summary import write_summaries

    text = write_summaries(tmp_path)
    assert (tmp_path / "summary.md").read_text() == text
    assert text.index("## Claims") < text.index("## MNIST") < text.index("## depth")
    assert "## Caltech-101, mean per-class accuracy" in text
    assert "No finished runs yet." in text
    # two study-shaped depth records: their missing-pixel MAE appears in the depth table
    write_depth_study(tmp_path, depth_record, [("dense", 0.95, 0, "uniform", 1.0),
                                               ("sparse", 0.95, 0, "uniform", 2.0)])  # fmt: skip
    text = write_summaries(tmp_path)
    depth = text[text.index("## depth") :]
    assert "| ConvNet | uniform |" in depth and "| sparse conv | uniform |" in depth
    mae = depth_record["test_mae_missing"]
    assert f"| ConvNet | uniform | {mae:.2f} (1) |" in depth
    assert f"| sparse conv | uniform | {2 * mae:.2f} (1) |" in depth
    assert (tmp_path / "depth" / "summary.csv").is_file()
    # the claims table opens the summary, one row per claim, variant and baseline
    claims = text[text.index("## Claims") : text.index("## MNIST")]
    assert claims.count("| 4 | depth |") == 2 * 3
    # and claims.csv holds the same rows for programs
    csv = pd.read_csv(tmp_path / "claims.csv")
    assert len(csv) == claims.count("\n| ") - 2  # minus the header and separator rows
    # claim 4: 2 variants x 3 baselines on the synthetic scenes, 3 x 3 on KITTI
    assert ((csv["claim"] == 4) & (csv["dataset"] == "depth")).sum() == 6
    assert ((csv["claim"] == 4) & (csv["dataset"] == "kitti")).sum() == 9


def test_kernel_flatness_by_hand():
    from sparseconv.report.depth_tables import kernel_flatness

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
    from sparseconv.sweep.runs import grid, tuning_grid

    runs = grid("kitti", results_dir=str(tmp_path))  # a grid of the reported protocol
    assert grid_progress("kitti", tmp_path).startswith(f"0 of the {len(runs)} runs")
    done = json.dumps({"protocol": PROTOCOL["kitti"]})
    for run in runs[:3]:  # three finished runs
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.record.write_text(done)
        run.notebook.write_text("{}")
    runs[3].record.write_text(done)  # a record without its notebook is not finished
    text = grid_progress("kitti", tmp_path)
    assert text.startswith(f"3 of the {len(runs)} runs of the KITTI LiDAR grid have finished; ")
    # a new protocol's grid (depth 3) beside the reported one: its search and its grid
    new, search = (
        grid("depth", results_dir=str(tmp_path)),
        tuning_grid("depth", results_dir=str(tmp_path)),
    )
    for run in search[:2]:
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.record.write_text(json.dumps({"protocol": PROTOCOL["depth"]}))
        run.notebook.write_text("{}")
    assert grid_progress("depth", tmp_path) == (
        "The depth pages report the protocol-2 grid (0 runs). Protocol 3, which replaces it "
        f"once complete, is under way: 2 of the {len(search)} runs of its learning-rate "
        f"search and 0 of the {len(new)} runs of its grid have finished."
    )
    assert f"{len(runs) - 3} are still to come" in text
    for run in runs:
        run.record.write_text(done)
        run.notebook.write_text("{}")
    assert (
        grid_progress("kitti", tmp_path)
        == f"All {len(runs)} runs of the KITTI LiDAR grid have finished."
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


def test_flatness_table_by_hand(tmp_path, depth_record):
    import copy

    from conftest import write_depth_study

    from sparseconv.report.analysis import load_runs
    from sparseconv.report.depth_tables import flatness_table

    flat, ridge = copy.deepcopy(depth_record), copy.deepcopy(depth_record)
    flat["first_layer_kernels"] = [[[2.0] * 3] * 3]  # a box filter: flat share 1
    # one kernel [[1, -1, 0], ...]: mean 0 -> flat share 0
    ridge["first_layer_kernels"] = [[[1.0, -1.0, 0.0]] * 3]
    write_depth_study(tmp_path, flat, [("sparse", 0.95, 0, "uniform", 1.0),
                                       ("sparse", 0.95, 0, "lines", 1.0)])  # fmt: skip
    write_depth_study(tmp_path, ridge, [("sparse", 0.95, 1, "uniform", 1.0),
                                        ("sparse", 0.5, 0, "uniform", 1.0)])  # fmt: skip
    table = flatness_table(load_runs(tmp_path, "depth")).set_index("model")
    # uniform only: seeds 0 and 1 at 5 % -> 1 and 0, mean 0.5, sd 0.707
    assert table.loc["sparse conv", "trained at 5 %"] == "0.500 ± 0.707 (2)"
    assert table.loc["sparse conv", "trained at 50 %"] == "0.000 (1)"
    assert flatness_table(load_runs(tmp_path / "none", "depth")).empty
