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
                    "a": {"model": {"mae": base + seed, "rmse": 2 * base},
                          "nearest": {"mae": 0.35, "rmse": 1.3}},
                    "b": {"model": {"mae": base, "rmse": 2 * base},
                          "nearest": {"mae": 0.13, "rmse": 1.5}},
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
    assert ground_truth_table(_runs(), 0.5).empty


def test_figure_has_one_panel_per_training_share_or_says_why_not():
    fig = kitti_error_figure(kitti_means(kitti_curves(_runs())))
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"
    empty = kitti_error_figure(kitti_means(kitti_curves(_runs().iloc[0:0])))
    assert "no KITTI run" in empty.axes[0].texts[0].get_text()
