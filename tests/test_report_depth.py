"""The depth pages' numbers and sentences, by hand, from small synthetic study records
(the pages only glue them)."""

from __future__ import annotations

import pandas as pd
import pytest


def test_depth_findings_and_rmse_table_from_study_records(tmp_path, depth_record):
    from conftest import write_depth_study

    from sparseconv.report.analysis import load_runs
    from sparseconv.report.depth_tables import rmse_table, window_table
    from sparseconv.report.text.results import findings

    assert findings(pd.DataFrame()).startswith("No depth run")
    write_depth_study(tmp_path, depth_record, [("dense", 0.95, 0, "uniform", 1.0),
                                               ("sparse", 0.95, 0, "uniform", 0.5)])  # fmt: skip
    runs = load_runs(tmp_path, "depth")
    assert len(runs) == 2
    text = findings(runs)
    best = 0.5 * depth_record["test_mae_missing"]
    nearest = depth_record["nn_mae_missing_by_sparsity"]["0.95"]
    assert f"the best network is the sparse conv with a missing-pixel MAE of {best:.2f} m" in text
    assert f"{'below' if best < nearest else 'above'} raw nearest-neighbour" in text
    assert "No network trained at 50 % density has finished yet." in text
    rmse = rmse_table(runs).set_index("model")
    by = depth_record["test_rmse_missing_by_sparsity"]["0.98"] / depth_record[
        "test_mae_missing_by_sparsity"]["0.98"]  # fmt: skip
    assert rmse.loc["ConvNet", "RMSE / MAE"] == pytest.approx(by)
    from sparseconv.report.depth_tables import window_count_errors

    counts = window_count_errors(runs)
    mine = depth_record["test_mae_missing_by_window_count"]["3-5"]
    assert counts.loc["sparse conv (1)", "3-5"] == pytest.approx(0.5 * mine)
    assert counts.loc["ConvNet (1)", "3-5"] == pytest.approx(mine)
    share = depth_record["missing_share_by_window_count"]["3-5"]
    assert counts.loc["share of missing pixels (%)", "3-5"] == pytest.approx(100 * share)
    assert window_count_errors(runs, trained=0.5).empty
    windows = window_table((0.5,)).iloc[0]
    assert windows["no valid pixel (%)"] == 0.0 and 40 < windows["mean count"] < 70


def test_flatness_text_lists_each_model():
    from sparseconv.report.text.results import flatness_text

    text = flatness_text({"sparse": 0.5, "dense": 0.25}, 0.01)
    assert text == ("It is 0.500 for the sparse conv and 0.250 for the ConvNet; random "
                    "initial weights give 0.010.")  # fmt: skip
    assert flatness_text({}, 0.01).startswith("Random initial weights give 0.010;")


def test_depth_capacity_sets_benchmark_runs_beside_the_grid(tmp_path, depth_record):
    import json

    from conftest import write_depth_study

    from sparseconv.registry.study import grid_epochs
    from sparseconv.report.benchmark_tables import depth_capacity
    from sparseconv.report.text.runs import depth_capacity_text

    assert depth_capacity(tmp_path).empty
    assert "has not been run" in depth_capacity_text(pd.DataFrame())
    write_depth_study(tmp_path, depth_record, [("sparse", 0.95, 0, "uniform", 1.0),
                                               ("sparse", 0.95, 1, "uniform", 2.0),
                                               ("sparse", 0.95, 0, "lines", 3.0)])  # fmt: skip
    grid_test = depth_record["test_mae_missing"]  # seed 0, uniform, scale 1
    folder = tmp_path / "benchmarks" / "depth_fit"
    folder.mkdir(parents=True)
    for name, limit, ran, test in (
        ("sparse-c32-e30", 30, 30, 0.7),
        ("sparse-c16-e150", 150, 4, 0.6),
    ):
        row = {
            "candidate": name,
            "model": "sparse",
            "epoch_limit": limit,
            "best_epoch": ran,
            "history": [{"epoch": i + 1} for i in range(ran)],
            "train_eval_mae_missing": 0.5,
            "val_mae_missing": 0.55,
            "test_mae_missing": test,
            "nn_mae_missing": 0.8,
        }
        (folder / f"{name}.json").write_text(json.dumps({"rows": [row]}))
    table = depth_capacity(tmp_path)
    # the grid's seed-0 uniform run first, then 16 channels before 32
    assert list(table["channels"]) == [16, 16, 32]
    assert list(table["epoch limit"]) == [grid_epochs("depth", 2), 150, 30]
    assert list(table["epochs run"]) == [len(depth_record["history"]), 4, 30]
    assert table["test"].tolist() == pytest.approx([grid_test, 0.6, 0.7])
    text = depth_capacity_text(table)
    gain = grid_test - 0.6  # the grid's run against its best setting (0.60 m at 150 epochs)
    assert text.startswith(f"More width or epochs lower a model's test MAE by at most {gain:.2f} m")
    nearest = depth_record["nn_mae_missing_by_sparsity"]["0.95"]
    assert f"{nearest:.2f} m" in text


def test_the_band_and_kernel_readings_follow_the_records(tmp_path, depth_record):
    from conftest import write_depth_study

    from sparseconv.report.analysis import load_runs
    from sparseconv.report.text.results import band_reading, kernel_reading

    cells = [("sparse", 0.95, s, "uniform", 1.0) for s in (0, 1)]
    cells += [("dense", 0.95, s, "uniform", 0.5) for s in (0, 1)]
    write_depth_study(tmp_path, depth_record, cells)
    runs = load_runs(tmp_path, "depth")
    mine = depth_record["test_mae_missing_by_sparsity"]
    nearest = depth_record["nn_mae_missing_by_sparsity"]
    close = [k for k in mine if abs(mine[k] / nearest[k] - 1) <= 0.25]
    text = band_reading(runs)
    if close:
        assert "only at" in text
        for k in close:
            assert f"{100 * (1 - float(k)):g} %" in text
    else:
        assert "at no test density" in text
    if "0.5" in mine:
        assert f"{mine['0.5']:.2f} m against {nearest['0.5']:.2f} m" in text
    # the same stored kernels: as flat; the ConvNet's errors are half the layer's
    words = kernel_reading(runs)
    own = mine["0.95"]
    assert "as flat as" in words and f"{own - own / 2:.2f} m less" in words


def test_the_benchmark_reading_says_whether_the_rankings_agree():
    import pandas as pd

    from sparseconv.report.text.results import benchmark_reading

    def table(ours_sparse, ours_fill):
        return pd.DataFrame([
            {"KITTI entry": "SparseConvs (x)", "KITTI MAE (mm)": 481.0,
             "ours, synthetic 5 %: MAE (m)": ours_sparse},
            {"KITTI entry": "NN+CNN (y)", "KITTI MAE (mm)": 416.0,
             "ours, synthetic 5 %: MAE (m)": ours_fill},
        ])  # fmt: skip

    assert benchmark_reading(table(1.5, 0.9)).endswith("the same ranking.")
    assert benchmark_reading(table(0.8, 0.9)).endswith("the opposite ranking.")
    assert "416 mm MAE against 481 mm" in benchmark_reading(table(0.8, 0.9))
    assert "not all in yet" in benchmark_reading(table(float("nan"), 0.9))
    assert "not in results/reference" in benchmark_reading(pd.DataFrame())


def test_a_lagging_seed_is_named_with_what_the_plateau_rule_did(tmp_path, depth_record):
    import copy

    from conftest import write_depth_study

    from sparseconv.report.analysis import load_runs
    from sparseconv.report.text.results import lagging_seeds_reading

    cells = [("sparse", 0.95, s, "uniform", 2.0 if s == 1 else 1.0) for s in (0, 1, 2)]
    base = copy.deepcopy(depth_record)
    write_depth_study(tmp_path, base, cells)
    runs = load_runs(tmp_path, "depth")
    text = lagging_seeds_reading(runs)
    assert "seed 1" in text and "seed 0" not in text and "seed 2" not in text
    own = depth_record["test_mae_missing"]
    assert f"errs {2 * own:.2f} m against {own:.2f} m" in text
    even = load_runs(tmp_path, "depth")
    assert "no seed ends" in lagging_seeds_reading(even, lag=10.0)
