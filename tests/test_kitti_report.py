"""The KITTI page's tables and figure from hand-made records."""

from __future__ import annotations

import pandas as pd
import pytest

from sparseconv.report.figures.kitti import kitti_error_figure
from sparseconv.report.kitti_tables import ground_truth_table, kitti_curves, kitti_means


def _runs() -> pd.DataFrame:
    rows = []
    for model, base in (("sparse", 1.0), ("dense", 2.0)):
        for seed in (0, 1):
            record = {
                "test_mae_by_sparsity": {"0.9": base + seed, "0.5": base / 2 + seed},
                "nn_mae_by_sparsity": {"0.9": 1.5, "0.5": 1.1},
                "ground_truth_frames": {
                    "a": {"model": {"mae": base + seed, "rmse": 2 * base, "imae": 1.0,
                                    "irmse": 3.0 + seed},
                          "nearest": {"mae": 0.35, "rmse": 1.3, "imae": 1.2, "irmse": 2.3}},
                    "b": {"model": {"mae": base, "rmse": 2 * base, "imae": 2.0, "irmse": 3.0},
                          "nearest": {"mae": 0.13, "rmse": 1.5, "imae": 0.4, "irmse": 5.0}},
                },
            }  # fmt: skip
            rows.append({"model": model, "sparsity": 0.9, "seed": seed, "record": record})
    return pd.DataFrame(rows)


def test_curves_carry_the_models_and_the_baseline_once():
    curves = kitti_curves(_runs())
    # 2 models x 2 seeds x 2 levels, plus the baseline once per seed and level
    assert len(curves) == 8 + 4
    assert set(curves["kept"]) == {10, 50}
    means = kitti_means(curves).set_index(["model", "kept"])
    assert means.loc[("sparse", 10), "mean"] == pytest.approx(1.5)  # (1 + 2) / 2
    assert means.loc[("dense", 50), "mean"] == pytest.approx(1.5)  # (1 + 2) / 2
    assert means.loc[("nearest", 10), "mean"] == pytest.approx(1.5)
    assert means.loc[("nearest", 10), "n"] == 2


def test_ground_truth_table_by_hand():
    table = ground_truth_table(_runs(), 0.9)
    assert list(table.index) == ["sparse conv", "ConvNet", "nearest neighbour (no training)"]
    assert table.loc["sparse conv", "a MAE"] == pytest.approx(1.5)
    assert table.loc["sparse conv", "mean MAE"] == pytest.approx((1.5 + 1.0) / 2)
    assert table.loc["ConvNet", "mean RMSE"] == pytest.approx(4.0)
    assert table.loc["nearest neighbour (no training)", "mean MAE"] == pytest.approx(0.24)
    assert table.loc["sparse conv", "runs"] == 2
    # KITTI's inverse-depth errors: means over frames and seeds, (1 + 2 + 1 + 2) / 4
    assert table.loc["sparse conv", "mean iMAE (1/km)"] == pytest.approx(1.5)
    assert table.loc["sparse conv", "mean iRMSE (1/km)"] == pytest.approx((3 + 3 + 4 + 3) / 4)
    assert table.loc["nearest neighbour (no training)", "mean iRMSE (1/km)"] == pytest.approx(3.65)
    assert ground_truth_table(_runs(), 0.5).empty


def test_figure_has_one_panel_per_training_share_or_says_why_not():
    fig = kitti_error_figure(kitti_means(kitti_curves(_runs())))
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"
    empty = kitti_error_figure(kitti_means(kitti_curves(_runs().iloc[0:0])))
    assert "no KITTI run" in empty.axes[0].texts[0].get_text()


def _fit_runs() -> pd.DataFrame:
    runs = _runs()
    for i, record in enumerate(runs["record"]):
        capped = i == 0  # the first run reaches the cap, the others stop on a plateau
        record.update({"epochs": 20, "epochs_run": 20 if capped else 12,
                       "stopped_early": not capped, "best_epoch": 14 if capped else 6,
                       "history": [{"loss": 0.5 + i}], "train_eval_mae": 1.0 + i,
                       "val_mae": 2.0 + i, "test_mae": 3.0 + i})  # fmt: skip
    return runs


def test_fit_table_and_capped_runs_by_hand():
    from sparseconv.report.kitti_tables import capped_runs, kitti_fit_table

    table = kitti_fit_table(_fit_runs()).set_index("model")
    assert set(table["pattern"]) == {"uniform"}  # records without a pattern are uniform
    assert table.loc["sparse conv", "epochs run (cap)"] == "16.0 (20)"  # (20 + 12) / 2
    assert table.loc["sparse conv", "plateau stops"] == "1 of 2"
    assert table.loc["ConvNet", "plateau stops"] == "2 of 2"
    assert table.loc["ConvNet", "validation"] == pytest.approx(4.5)  # (4 + 5) / 2
    assert table.loc["sparse conv", "trained keeping"] == "10 %"
    capped = capped_runs(_fit_runs())
    assert capped[["model", "seed", "pattern"]].values.tolist() == [["sparse", 0, "uniform"]]


def test_budget_text_names_the_capped_cells():
    from sparseconv.report.pages.kitti import kitti_budget_text

    text = kitti_budget_text(_fit_runs())
    assert "1 of the 4 finished runs reached the cap of 20" in text
    assert "sparse conv keeping 10 %" in text
    runs = _fit_runs()
    runs["record"].iloc[0]["stopped_early"] = True
    assert "Every one of the 4 finished runs stopped on its own plateau" in kitti_budget_text(runs)
    assert "not yet checked" in kitti_budget_text(runs.iloc[0:0])


def test_published_table_sets_ours_beside_the_papers():
    from sparseconv.report.kitti_tables import load_published, published_table

    published = load_published()
    assert set(published["model"]) == {"sparse", "nconv"}
    table = published_table(published, _runs(), 0.9).set_index("ours")
    assert table.loc["sparse conv", "MAE (m)"] == pytest.approx(0.484)
    assert table.loc["sparse conv", "our MAE (m)"] == "1.250"  # (1.5 + 1) / 2
    nconv = [label for label in table.index if label != "sparse conv"][0]
    assert table.loc[nconv, "our MAE (m)"] == "–"  # no nconv run


def _claim_runs(gaps, device="cpu") -> pd.DataFrame:
    """KITTI runs at both training shares: per seed, the ConvNet errs ``gaps[seed]`` m
    more than the paper's layer at the other share, in both directions."""
    rows = []
    for seed, gap in enumerate(gaps):
        for level, other in ((0.9, "0.5"), (0.5, "0.9")):
            for model, error in (("sparse", 1.0), ("dense", 1.0 + gap)):
                record = {
                    "dataset": "kitti", "protocol": 2, "pattern": "uniform",
                    "model": model, "sparsity": level,
                    "device": device, "torch_version": "2.14.1",
                    "test_mae_by_sparsity": {f"{level:g}": 0.5, other: error},
                    "nn_mae_by_sparsity": {"0.9": 1.6, "0.5": 1.2},
                }  # fmt: skip
                rows.append({"model": model, "sparsity": level, "seed": seed, "record": record})
    return pd.DataFrame(rows)


def test_claim4_on_real_lidar_is_primary_and_judged_by_hand():
    import math

    from sparseconv.report.claims import claim_of, depth_directions, judge_claims, margin_of

    claim = claim_of("kitti", "depth")
    assert claim.primary and not claim_of("depth", "depth").primary
    assert "nconv" in claim.variants
    assert depth_directions("kitti") == {"10 % → 50 %": (0.9, 0.5), "50 % → 10 %": (0.5, 0.9)}
    gaps = [0.30, 0.40, 0.35, 0.45, 0.25]
    runs = _claim_runs(gaps)
    # 5 % of raw NN's MAE at the target shares: 0.05 * (1.2 + 1.6) / 2
    assert margin_of(claim, runs) == pytest.approx(0.07)
    judged = judge_claims({"kitti": runs})
    j = next(j for j in judged if j.claim.dataset == "kitti" and j.variant == "sparse"
             and j.baseline == "dense")  # fmt: skip
    assert j.n_seeds == 5 and j.test.mean == pytest.approx(0.35)
    assert j.verdict == "supported"
    assert set(j.family["comparison"]) == {"10 % → 50 %", "50 % → 10 %"}
    others = [x for x in judge_claims({"kitti": runs}) if x.claim.dataset == "depth"]
    assert others and all(x.n_seeds == 0 for x in others)
    assert math.isnan(others[0].test.margin) or others[0].test.margin == 0.0


def test_kitti_pairs_must_share_a_device_from_the_first_protocol():
    from sparseconv.report.claims import claim_of, family_of

    runs = _claim_runs([0.3])
    runs["record"].iloc[0]["device"] = "cuda"
    with pytest.raises(ValueError, match="seed 0: .*cuda"):
        family_of(claim_of("kitti", "depth"), runs, "sparse")


def test_kitti_benchmark_table_sets_our_ranking_beside_the_servers():
    from sparseconv.report.depth_tables import load_kitti_benchmark
    from sparseconv.report.kitti_tables import HELD_OUT_COLUMN, kitti_benchmark_table
    from sparseconv.report.text.results import benchmark_reading

    runs = _runs()
    runs.loc[runs["model"] == "dense", "model"] = "nn_convnet"
    table = kitti_benchmark_table(load_kitti_benchmark(), runs, 0.9).set_index("KITTI entry")
    paper = next(i for i in table.index if i.startswith("SparseConvs"))
    fill = next(i for i in table.index if i.startswith("NN+CNN"))
    nearest = next(i for i in table.index if i.startswith("NadarayaW"))
    assert table.loc[paper, HELD_OUT_COLUMN] == pytest.approx(1.5)  # seeds 1.0 and 2.0
    assert table.loc[fill, HELD_OUT_COLUMN] == pytest.approx(2.5)
    assert table.loc[nearest, HELD_OUT_COLUMN] == pytest.approx(1.5)
    assert table.loc[paper, "ours, ground-truth frames: MAE (m)"] == pytest.approx(1.25)
    reading = benchmark_reading(table.reset_index(), HELD_OUT_COLUMN, "On the returns")
    # the server ranks NN+CNN first, these records the paper's layer
    assert reading.endswith("On the returns, NN fill + ConvNet errs 2.50 m against 1.50 m "
                            "for the paper's layer: the opposite ranking.")  # fmt: skip


def test_the_predictions_figure_shows_each_models_stored_completion(data_dir):
    from sparseconv.data.kitti import ground_truth_frames
    from sparseconv.report.figures.kitti import predictions_figure
    from sparseconv.report.kitti_tables import stored_examples
    from sparseconv.train.kitti_examples import encode_frame

    first = ground_truth_frames(data_dir)[0]
    runs = _runs()
    for i, record in enumerate(runs["record"]):  # seeds 0 and 1 of two models
        record["ground_truth_example"] = encode_frame(first.name, first.groundtruth + i)
    name, stride, maps = stored_examples(runs, 0.9)
    assert name == first.name and stride == 4 and list(maps) == ["sparse conv", "ConvNet"]
    # each model's lowest seed: the sparse layer's seed 0 (i = 0), the ConvNet's (i = 2)
    assert maps["ConvNet"].max() == pytest.approx(maps["sparse conv"].max() + 2, abs=0.01)
    fig = predictions_figure(runs, 0.9, str(data_dir))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input: the full scan", "KITTI's ground truth",
                      "nearest neighbour (no training)", "sparse conv", "ConvNet"]  # fmt: skip
    empty = predictions_figure(runs.iloc[0:0], 0.9, str(data_dir))
    assert "no KITTI run trained keeping 10 %" in empty.axes[0].texts[0].get_text()


def test_the_short_answer_reads_claim_4_from_real_lidar_once_it_has_runs():
    from sparseconv.report.claims import judge_claims
    from sparseconv.report.text.claims import short_answer

    text = short_answer(judge_claims({"kitti": _claim_runs([0.30, 0.40, 0.35, 0.45, 0.25])}))
    assert "In depth completion on real LiDAR, sparsity invariance is supported against " \
           "the ConvNet" in text  # fmt: skip
    assert "synthetic" not in text


def test_lines_runs_have_their_own_table_and_stay_out_of_claim_4():
    from sparseconv.report.claims import claim_of, margin_of
    from sparseconv.report.kitti_tables import kitti_lines_table, uniform_runs

    runs = _claim_runs([0.3, 0.4, 0.35, 0.45, 0.25])
    lines = _claim_runs([0.3])  # one seed on the lines pattern, trained keeping 10 %
    lines = lines[lines["sparsity"] == 0.9].copy()
    for record in lines["record"]:
        record.update(pattern="lines", nn_mae_by_sparsity={"0.9": 9.0, "0.5": 9.0})
        record["test_mae_by_sparsity"] = {"0.9": 2.0, "0.5": 1.5}
    both = pd.concat([runs, lines], ignore_index=True)
    assert len(uniform_runs(both)) == len(runs)
    # the margin reads raw NN's errors of the uniform inputs only
    assert margin_of(claim_of("kitti", "depth"), both) == pytest.approx(0.07)
    table = kitti_lines_table(both)
    assert list(table.index) == ["sparse conv (1)", "ConvNet (1)",
                                 "nearest neighbour (no training)"]  # fmt: skip
    assert list(table.columns) == ["10 %", "50 %"]
    assert table.loc["sparse conv (1)", "50 %"] == pytest.approx(1.5)
    assert table.loc["nearest neighbour (no training)", "10 %"] == pytest.approx(9.0)
    assert kitti_lines_table(runs).empty
