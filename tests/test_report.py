"""The report layer's numbers, by hand (the pages only glue them)."""

from __future__ import annotations

import pandas as pd
import pytest

from sparseconv.report.classification_tables import trap_table
from sparseconv.report.invariance_tables import loss_summary, transfer_table
from sparseconv.report.performance_tables import floor_table, goals_table
from sparseconv.report.tables import markdown_table, styled
from sparseconv.report.text.results import accuracy_reading
from sparseconv.report.text.runs import fit_check, ray_overhead_text


def _run(model, sparsity, seed, by, test=0.5, train_eval=0.6):
    record = {"test_accuracy_by_sparsity": {f"{k:g}": v for k, v in by.items()},
              "test_accuracy": test, "test_mean_class_accuracy": test,
              "train_eval_accuracy": train_eval}  # fmt: skip
    return {"model": model, "sparsity": sparsity, "seed": seed, "test_accuracy": test,
            "test_mean_class_accuracy": test, "record": record}  # fmt: skip


def test_fit_check_by_hand():
    runs = pd.DataFrame([_run("dense", 0.05, 0, {}, test=0.62, train_eval=0.70),
                         _run("sparse", 0.05, 0, {}, test=0.55, train_eval=0.50)])  # fmt: skip
    text = fit_check(runs, (0.05, 0.60))
    assert "62.0 % test accuracy at 5 % sparsity (meets the 60 % target)" in text
    assert (
        "1 of 2 runs are less accurate on training images than on test images, by at "
        "most 5.00 points, all at 5 % sparsity (sparse conv)" in text
    )
    assert "misses" in fit_check(runs, (0.05, 0.65))
    assert "target" not in fit_check(runs)
    assert fit_check(runs.iloc[:0]) == "no runs yet"


def _runs_by_seed(table):
    """Runs from {model: {level: (accuracy % of seed 0, 1, 2)}} at the training level."""
    return pd.DataFrame([_run(model, level, seed, {level: values[seed] / 100})
                         for model, levels in table.items() for level, values in levels.items()
                         for seed in range(3)])  # fmt: skip


def test_accuracy_reading_by_hand():
    # accuracy (%) at the training level, per seed; 50 % and 90 % sparsity
    table = {
        "dense": {0.5: (90.0, 90.0, 90.0), 0.9: (80.0, 80.0, 80.0)},
        "sparse": {0.5: (90.1, 90.2, 90.3), 0.9: (81.9, 82.0, 82.1)},
        "sparse_partial": {0.5: (90.1, 90.2, 90.3), 0.9: (81.0, 82.0, 83.0)},
        "dense_mask": {0.5: (90.1, 90.2, 90.3), 0.9: (84.8, 85.0, 85.2)},
    }
    runs = _runs_by_seed(table)
    text = accuracy_reading("mnist", runs)
    # sparse - partial: 0 at 50 %, (+0.9, 0, -0.9) at 90 %: means 0 and 0
    assert "differ by at most 0.00 points" in text
    # sparse - dense at 90 %: 1.9, 2.0, 2.1 -> t = 34.6, p = 0.0008, Holm x 2 < 0.05;
    # at 50 %: 0.1, 0.2, 0.3 -> t = 3.46, p = 0.074: not significant
    assert (
        "The paper's layer is ahead of the ConvNet by more than 0.5 points at 90 % "
        "(+2.00) and within 0.20 points elsewhere; significant after Holm: 90 %"
    ) in text
    # partial - dense at 90 %: 1, 2, 3 -> t = 3.46, p = 0.074: nothing significant
    assert (
        "Partial convolution is ahead of the ConvNet by more than 0.5 points at 90 % (+2.00)"
        in text
    )
    assert "significant after Holm: no level." in text
    # three seeds: both verdicts are descriptive, so they do not differ
    assert "the two verdicts differ" not in text
    # mask - sparse at 90 %: 2.9, 3.0, 3.1 points; at 50 %: 0
    assert "paper's layer by more than 0.5 points at 90 % (+3.00)" in text
    assert "excludes zero at 90 %" in text
    assert accuracy_reading("mnist", runs[runs["seed"] < 2]) == ""


def test_accuracy_reading_when_the_layer_is_behind():
    table = {
        "dense": {0.5: (90.0, 90.0, 90.0), 0.9: (80.0, 80.0, 80.0)},
        "sparse": {0.5: (87.9, 88.0, 88.1), 0.9: (80.1, 80.2, 80.3)},
        "sparse_partial": {0.5: (89.9, 90.0, 90.1), 0.9: (80.1, 80.2, 80.3)},
        "dense_mask": {0.5: (90.0, 90.0, 90.0), 0.9: (80.0, 80.0, 80.0)},
    }
    runs = _runs_by_seed(table)
    text = accuracy_reading("mnist", runs)
    # sparse - dense: -2.1, -2.0, -1.9 at 50 % (t = -34.6, Holm p < 0.05); +0.2 at 90 %
    assert (
        "The paper's layer is behind the ConvNet by more than 0.5 points at 50 % (-2.00) "
        "and within 0.20 points elsewhere; significant after Holm: 50 %"
    ) in text
    assert "Partial convolution is within 0.20 points of the ConvNet at every level" in text
    # mask - sparse: +2.0 at 50 % (interval excludes zero), -0.2 at 90 %
    assert (
        "is ahead of the paper's layer by more than 0.5 points at 50 % (+2.00) and within" in text
    )
    assert "So the two verdicts differ" not in text  # both descriptive with three seeds


def test_trap_table_is_seed_zero_in_percent():
    runs = pd.DataFrame([_run("sparse", 0.5, 0, {}, test=0.9), _run("sparse_naive", 0.5, 0, {},
                         test=0.8), _run("sparse", 0.5, 1, {}, test=0.1)])  # fmt: skip
    table = trap_table(runs, "mnist")
    assert table.loc["50 %", "sparse conv"] == pytest.approx(90.0)
    assert table.loc["50 %", "sparse conv (one lr)"] == pytest.approx(80.0)


def test_loss_summary_and_transfer_by_hand():
    rows = []
    for seed, gap in enumerate((0.02, 0.04, 0.06)):
        rows += [_run("dense", 0.5, seed, {0.1: 0.95 - gap, 0.5: 0.9, 0.05: 0.9}),
                 _run("dense", 0.1, seed, {0.1: 0.95, 0.5: 0.9, 0.05: 0.9})]  # fmt: skip
    runs = pd.DataFrame(rows)
    summary = loss_summary(runs, "mnist").set_index("test levels")
    # per seed, the mean loss over both training levels: (gap + 0) / 2 -> 1, 2, 3 points
    assert summary.loc["all other levels", "mean loss (points)"] == pytest.approx(2.0)
    assert summary.loc["all other levels", "seeds"] == 3
    # denser only: trained at 50 %, tested at 10 % -> 2, 4, 6 points
    assert summary.loc["denser only", "mean loss (points)"] == pytest.approx(4.0)
    transfer = transfer_table(runs, "mnist")
    assert transfer.loc["ConvNet", "50 → 50 %"] == pytest.approx(90.0)


def test_ray_overhead_is_within_noise_when_smaller_than_the_repeats_spread():
    ray = {"wall_seconds": {"local": [71.0, 63.8]}, "overhead_share": -0.037,
           "ray_startup_seconds": 9.0}  # fmt: skip
    text = ray_overhead_text(ray)
    assert "within noise" in text and "-3.7 %" in text and "11 %" in text
    assert "within noise" not in ray_overhead_text({**ray, "overhead_share": 0.2})
    assert ray_overhead_text(None) == "not measured"


def test_goals_table_by_hand():
    layer = {"rows": [{"shape": "a", "ratio_sparse": 1.05}, {"shape": "b", "ratio_sparse": 1.2}]}
    # a GPU's shared minutes (the second row) never count against the CPU budget
    times = pd.DataFrame({"dataset": ["mnist", "mnist"], "layout": ["channels_last"] * 2,
                          "device": ["cpu", "NVIDIA H200"], "median_min": [4.0, 0.5]})  # fmt: skip
    goals = goals_table(layer, None, times).set_index("goal")["holds"].tolist()
    assert goals == ["yes", "no", "no"]  # 1.05, 1.2 against 1.05; 4 / 2 = 2 min > 1.5


def test_floor_table_by_hand():
    rows = [
        {
            "dataset": "mnist",
            "model": m,
            "training_flops_per_image": 5e6,
            "conv_flops_per_second": 4e10,
            "of_floor": f,
        }
        for m, f in (("dense", 0.5), ("sparse", 0.4), ("sparse (channels-first)", 0.2))
    ]
    rows.append({"dataset": "mnist", "model": "dense_mask"})  # from before the floor
    table = floor_table({"rows": rows})
    assert len(table) == 2  # the study's layouts only
    assert table["step (GFLOP / s)"].tolist() == pytest.approx([20.0, 16.0])
    assert table["share of the convolutions' rate (%)"].tolist() == pytest.approx([50.0, 40.0])
    assert table["training arithmetic (MFLOP / image)"].tolist() == pytest.approx([5.0, 5.0])


def test_one_table_style():
    frame = pd.DataFrame({"model": ["a"], "value": [1.23456]})
    html = styled(frame, "A caption.").to_html()
    assert "A caption." in html and "1.23" in html and "1.2346" not in html
    assert "border" in html and "text-align: right" in html
    assert markdown_table(frame).splitlines()[1] == "| --- | ---: |"


def test_fit_table_means_by_hand():
    from sparseconv.report.classification_tables import fit_table

    def run(seed, loss, train_eval, val, test, best):
        record = {"history": [{"loss": 9.0}, {"loss": loss}], "train_eval_accuracy": train_eval,
                  "val_accuracy": val, "best_epoch": best}  # fmt: skip
        return {"model": "dense", "seed": seed, "test_accuracy": test,
                "test_mean_class_accuracy": test - 0.1, "record": record}  # fmt: skip

    table = fit_table(pd.DataFrame([run(0, 0.1, 0.9, 0.8, 0.7, 2), run(1, 0.3, 0.7, 0.6, 0.5, 1)]))
    row = table.iloc[0]
    assert row["model"] == "ConvNet" and row["runs"] == 2
    assert row["final training loss"] == "0.2000"
    assert row["train accuracy (eval mode)"] == pytest.approx(80.0)
    assert row["validation accuracy"] == pytest.approx(70.0)
    assert row["test accuracy"] == pytest.approx(60.0)
    assert row["test, mean per class"] == pytest.approx(50.0)
    assert row["kept epoch (median)"] == "1.5"


def test_short_answer_reads_the_verdicts_once_decided():
    from sparseconv.report.claims import judge_claims
    from sparseconv.report.text.claims import short_answer

    # five seeds; the sparse net keeps 90 % at both levels wherever it was trained, the
    # ConvNets lose 2 points (+ noise) at the level they were not trained at
    rows = []
    for seed in range(5):
        noise = 0.001 * seed
        for level, other in ((0.3, 0.6), (0.6, 0.3)):
            rows.append(
                {
                    "model": "sparse",
                    "sparsity": level,
                    "seed": seed,
                    "record": {"test_accuracy_by_sparsity": {f"{level:g}": 0.9, f"{other:g}": 0.9}},
                }
            )
            for model in ("dense", "dense_mask"):
                rows.append({"model": model, "sparsity": level, "seed": seed, "record": {
                    "test_accuracy_by_sparsity": {f"{level:g}": 0.9,
                                                  f"{other:g}": 0.88 - noise}}})  # fmt: skip
    text = short_answer(judge_claims({"mnist": pd.DataFrame(rows)}))
    assert text == (
        "In classification, sparsity invariance is supported against the ConvNet on MNIST; "
        "supported against the ConvNet + mask on MNIST."
    )


def test_lines_table_and_cost_table_by_hand(tmp_path):
    from sparseconv.report.depth_tables import lines_table
    from sparseconv.report.performance_tables import cost_table

    record = {"pattern": "lines", "test_mae_missing_by_sparsity": {"0.5": 1.0, "0.95": 2.0},
              "nn_mae_missing_by_sparsity": {"0.5": 0.3, "0.95": 1.3}}  # fmt: skip
    runs = pd.DataFrame([{"model": "dense", "sparsity": 0.95, "seed": 0, "record": record}])
    table = lines_table(runs)
    assert list(table.columns) == ["5 %", "50 %"]  # ascending density
    assert table.loc["ConvNet (1)", "5 %"] == 2.0
    assert table.loc["nearest neighbour (no training)", "50 %"] == 0.3
    assert cost_table(tmp_path).empty


def test_provenance_and_devices_per_seed_by_hand():
    from sparseconv.report.performance_tables import provenance_table
    from sparseconv.report.text.runs import devices_per_seed

    def run(dataset, seed, device, commit="abcdef123", dirty=False):
        record = {"git_commit": commit, "git_dirty": dirty}
        return {"dataset": dataset, "seed": seed, "device": device, "record": record}

    runs = pd.DataFrame([
        run("mnist", 0, None), run("mnist", 1, "cpu", "1234567aa"),
        run("caltech101", 0, "cpu"), run("caltech101", 1, "H200"), run("caltech101", 2, "H200"),
        run("depth", 0, "cpu"), run("depth", 0, "H200", dirty=True), run("depth", 1, "H200"),
    ])  # fmt: skip
    table = provenance_table(runs).set_index(["data set", "device"])
    assert table.loc[("MNIST", "cpu"), "seeds"] == "0, 1"
    assert table.loc[("MNIST", "cpu"), "commits named"] == "1234567, abcdef1"
    assert table.loc[("Caltech-101", "H200"), "runs"] == 2
    assert table.loc[("depth", "H200"), "commits named"] == "abcdef1, abcdef1 (dirty)"
    text = devices_per_seed(runs)
    assert text.startswith("Every seed of MNIST and Caltech-101 ran on one device")
    assert "In depth, seed 0 ran partly on each of the CPU and an H200" in text
    assert devices_per_seed(runs.iloc[:0]) == "No run has finished yet."


def test_kept_late_counts_runs_that_keep_a_last_epoch():
    from sparseconv.report.text.runs import kept_late

    history = [{"epoch": e} for e in range(1, 16)]
    runs = pd.DataFrame({"record": [{"best_epoch": b, "history": history} for b in (15, 14, 13)]
                         + [{"history": history}]})  # fmt: skip
    assert kept_late(runs) == "2 of 3 runs"  # 15 and 14 are the last two of 15
    assert kept_late(runs, last=3) == "3 of 3 runs"


def test_architecture_candidates_read_the_benchmark_files(tmp_path):
    import json

    from sparseconv.report.benchmark_tables import architecture_candidates

    assert architecture_candidates(tmp_path).empty
    folder = tmp_path / "benchmarks" / "caltech_fit"
    folder.mkdir(parents=True)
    row = {
        "architecture": "a",
        "epochs": 15,
        "minutes": 5.0,
        "val_accuracy": 0.6,
        "train_eval_accuracy": 0.7,
        "test_accuracy": 0.61,
        "test_mean_class_accuracy": 0.4,
    }
    (folder / "x.json").write_text(json.dumps({"rows": [row]}))  # fmt: skip
    table = architecture_candidates(tmp_path)
    assert table.loc[0, "test"] == pytest.approx(61.0)
    assert table.loc[0, "training images (eval mode)"] == pytest.approx(70.0)


def test_longer_training_sets_benchmark_runs_beside_the_grid(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from sparseconv.report.benchmark_tables import longer_training
    from sparseconv.report.text.runs import longer_training_text

    assert longer_training(tmp_path).empty
    assert "has not been run" in longer_training_text(pd.DataFrame())
    grid = Path(__file__).resolve().parents[1] / "results" / "mnist"
    (tmp_path / "mnist").mkdir()
    rows = []
    for model, gain in (("dense", 0.01), ("sparse", 0.03)):
        stem = f"{model}_sp0.9_seed0_ep15_lr0.05_bs128"
        for suffix in (".json", ".ipynb"):
            shutil.copy(grid / (stem + suffix), tmp_path / "mnist" / (stem + suffix))
        record = json.loads((grid / f"{stem}.json").read_text())
        rows.append({"model": model, "sparsity": 0.9, "epochs": 45, "seed": 0, "best_epoch": 44,
                     "train_eval_accuracy": 0.9, "val_accuracy": 0.9,
                     "test_accuracy": record["test_accuracy"] + gain})  # fmt: skip
    folder = tmp_path / "benchmarks" / "mnist_epochs"  # benchmarks/epochs.py's MNIST folder
    folder.mkdir(parents=True)
    (folder / "runs.json").write_text(json.dumps({"rows": rows}))
    table = longer_training(tmp_path)
    assert list(table["epochs"]) == [15, 45, 15, 45]
    assert table.iloc[3]["kept epoch"] == 44
    text = longer_training_text(table)
    assert "every model gains: from +1.00 points (ConvNet) to +3.00 (sparse conv)" in text
    at = table.set_index(["model", "epochs"])["test"]
    lead = at[("sparse conv", 15)] - at[("ConvNet", 15)]
    verb = "leads" if lead >= 0 else "trails"
    assert f"{verb} the ConvNet by {abs(lead):.2f} points after 15 epochs" in text


def test_longer_training_text_means_over_seeds():
    from sparseconv.report.text.runs import longer_training_text

    rows = [
        {"model": m, "sparsity": "10 %", "seed": seed, "epochs": e, "test": v}
        for m, values in (("ConvNet", (60, 70, 62, 70)), ("sparse conv", (50, 66, 54, 66)))
        for (seed, e), v in zip(((0, 15), (0, 30), (1, 15), (1, 30)), values, strict=True)
    ] + [{"model": "ConvNet + mask", "sparsity": "10 %", "seed": 0, "epochs": e, "test": v}
         for e, v in ((15, 60), (30, 65))]  # fmt: skip
    text = longer_training_text(pd.DataFrame(rows))
    # ConvNet 61 -> 70 (+9), sparse 52 -> 66 (+14); lead -9 after 15, -4 after 30
    assert text == (
        "Trained for 30 instead of 15 epochs (means over seeds 0 and 1), every model gains: "
        "from +5.00 points (ConvNet + mask) to +14.00 (sparse conv); at 10 % the paper's "
        "layer trails the ConvNet by 9.00 points after 15 epochs and by 4.00 after 30."
    )


def test_bench_load_sentence_prefers_the_measured_other_load():
    from sparseconv.report.text.runs import bench_load_sentence

    quiet = {"load_average": 1.5, "other_load": 0.03}
    text = bench_load_sentence(quiet, {"load_average": 1.2, "other_load": 0.0})
    assert "layer 0.03" in text and "training 0.00" in text
    # an older file without the field: the load average, for both
    text = bench_load_sentence(quiet, {"load_average": 1.2})
    assert "1-minute load" in text and "training 1.2" in text
    assert "do not record" in bench_load_sentence({}, None)


def test_compile_summary_by_hand():
    from sparseconv.report.text.runs import compile_summary

    rows = [
        {"dataset": "mnist", "model": "sparse", "speedup": 0.6, "compile_seconds": 22.4},
        {"dataset": "caltech101", "model": "dense", "speedup": 0.7, "compile_seconds": 9.0},
    ]
    text = compile_summary({"rows": rows})
    assert "slower for all 2 steps" in text and "0.60 to 0.70" in text and "9 to 22 s" in text
    rows[1]["speedup"] = 1.15
    text = compile_summary({"rows": rows})
    assert "faster only for Caltech-101" in text and "(1.15 ×)" in text
    assert "slower for 1 of the 2" in text
