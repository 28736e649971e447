"""Where no kept return reaches the paper's network on KITTI: the window against the
networks themselves, the count by hand, the table's floor by hand."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sparseconv.nn.networks import build_model
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.report.kitti_reach import (
    best_search_runs,
    load_reach,
    measure_reach,
    out_of_reach,
    reach_table,
    reach_text,
    receptive_radius,
    write_reach,
)
from sparseconv.sweep.tuning import load_tuning


def test_the_radius_is_the_sum_of_half_widths():
    assert receptive_radius() == 5 + 3 + 2 + 1 + 1 + 0
    assert receptive_radius((3, 3)) == 2
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        receptive_radius((3, 4))


@pytest.mark.parametrize("model", ["sparse", "sparse_partial"])
def test_nothing_reaches_a_pixel_beyond_the_radius(model):
    """One kept return in the middle of a 41 x 41 frame: beyond 12 pixels (Chebyshev)
    partial convolution outputs exactly 0 and the paper's layer exactly its last bias."""
    torch.manual_seed(0)
    net = build_model("kitti", model).double().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.fill_(0.25)
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    mask = torch.zeros_like(x)
    x[..., 20, 20], mask[..., 20, 20] = 0.5, 1.0
    with torch.no_grad():
        y = net(x * mask, mask)[0, 0]
    rows, cols = torch.meshgrid(torch.arange(41), torch.arange(41), indexing="ij")
    far = torch.maximum((rows - 20).abs(), (cols - 20).abs()) > receptive_radius()
    outside = 0.0 if model == "sparse_partial" else 0.25
    assert torch.equal(y[far], torch.full_like(y[far], outside))
    assert (y[~far] != outside).any()  # the kept return reaches the window itself


def test_out_of_reach_by_hand():
    depth = torch.zeros(1, 1, 5, 8)
    depth[0, 0, 0, 0] = 7.0  # above ``top``: not evaluated
    depth[0, 0, 2, 1] = 10.0  # kept
    depth[0, 0, 3, 2] = 20.0  # held out, next to the kept one
    depth[0, 0, 2, 5] = 40.0  # held out, 4 columns away
    depth[0, 0, 4, 7] = 50.0  # held out, 6 columns away
    keep = torch.zeros_like(depth, dtype=torch.bool)
    keep[0, 0, 2, 1] = True
    got = out_of_reach(depth, keep, top=1, radius=1)
    assert got["held_out"] == 3 and got["out_of_reach"] == 2
    assert got["share"] == pytest.approx(2 / 3)
    assert got["mean_depth_m"] == pytest.approx(45.0)
    assert got["mean_inverse_per_km"] == pytest.approx((25.0 + 20.0) / 2)
    wide = out_of_reach(depth, keep, top=1, radius=4)  # reaches 40 m, not 50 m
    assert wide["out_of_reach"] == 1 and wide["mean_depth_m"] == pytest.approx(50.0)
    none = out_of_reach(depth, keep, top=1, radius=6)
    assert none["out_of_reach"] == 0 and none["mean_depth_m"] is None
    with pytest.raises(ValueError, match="alike"):
        out_of_reach(depth[0], keep[0], top=0, radius=1)


def _reach(shares: dict[str, tuple[float, float]]) -> dict:
    seed = {s: {"held_out": 100, "out_of_reach": round(100 * share), "share": share,
                "mean_depth_m": 20.0, "mean_inverse_per_km": inverse}
            for s, (share, inverse) in shares.items()}  # fmt: skip
    return {"window": 25, "by_seed": {"0": seed}}


def test_the_table_and_paragraph_by_hand():
    reach = _reach({"0.95": (0.1, 50.0), "0.9": (0.02, 40.0), "0.5": (0.0, None)})
    record = {"seed": 0, "test_imae_by_sparsity": {"0.95": 1000.0, "0.9": 210.0, "0.5": 3.0}}
    runs = pd.DataFrame([{"model": "sparse_partial", "record": record}])
    table = reach_table(reach, runs)
    assert list(table.index) == [5, 10, 50]
    assert table.loc[5, "out of reach (%)"] == pytest.approx(10.0)
    assert table.loc[5, "iMAE of 0 m"] == pytest.approx(0.1 * (10_000 - 50))
    assert table.loc[10, "iMAE of 0 m"] == pytest.approx(0.02 * (10_000 - 40))
    assert table.loc[50, "iMAE of 0 m"] == 0.0
    assert table.loc[10, "MAE of 0 m (m)"] == pytest.approx(0.02 * 20.0)
    assert table.loc[10, MODEL_LABELS["sparse_partial"]] == pytest.approx(210.0)
    text = reach_text(reach, table)
    assert "25 × 25 pixels" in text and "kernels 11, 7, 5, 3, 3 and 1" in text
    assert "10.0 % keeping 5 % and 2.0 % keeping 10 %" in text
    assert "keeping more, at most 0.00 %" in text
    assert "1000/km against 995/km keeping 5 % and 210/km against 199/km keeping 10 %" in text
    assert "costs 2.00 m keeping 5 % and 0.40 m keeping 10 %" in text
    assert "not been measured" in reach_text(None, table)


def test_best_search_runs_are_the_searchs_lowest_validation_errors():
    tuning = load_tuning("results", "kitti")
    tuning = tuning[(tuning["sparsity"] == 0.9) & ~tuning["diverged"]]
    best = best_search_runs("results", 0.9)
    assert set(best["model"]) == set(tuning["model"])
    for model, group in tuning.groupby("model"):
        row = best[best["model"] == model].iloc[0]
        assert row["record"]["val_mae"] == pytest.approx(group["val"].min())
        assert row["lr"] == group.loc[group["val"].idxmin(), "lr"]


def test_the_measurement_on_real_frames_writes_and_reads_back(data_dir, tmp_path):
    reach = measure_reach(str(data_dir), seeds=(0,), sparsities=(0.95, 0.5), limit=60,
                          lines_seeds=(1,))  # fmt: skip
    assert reach["window"] == 25 and reach["n_frames"] >= 1
    for pattern, seed in (("by_seed", "0"), ("lines_by_seed", "1")):
        sparse, dense = reach[pattern][seed]["0.95"], reach[pattern][seed]["0.5"]
        assert sparse["held_out"] > dense["held_out"] > 0
        assert sparse["share"] >= dense["share"] >= 0.0
    # whole lines leave wider gaps than the same share of single returns
    assert reach["lines_by_seed"]["1"]["0.5"]["share"] > reach["by_seed"]["0"]["0.5"]["share"]
    assert load_reach(tmp_path) is None
    path = write_reach(tmp_path, reach)
    assert path == tmp_path / "kitti_reach.json"
    assert load_reach(tmp_path) == reach
    assert not list(path.parent.glob("*.tmp"))


def test_the_table_averages_over_the_seeds_its_runs_were_tested_with():
    reach = _reach({"0.9": (0.02, 40.0)})
    reach["by_seed"]["1"] = {"0.9": {**reach["by_seed"]["0"]["0.9"], "share": 0.04,
                                     "out_of_reach": 4}}  # fmt: skip
    record = {"test_imae_by_sparsity": {"0.9": 400.0}}
    one = pd.DataFrame([{"model": "sparse_partial", "record": {**record, "seed": 1}}])
    assert reach_table(reach, one).loc[10, "out of reach (%)"] == pytest.approx(4.0)
    both = pd.DataFrame([{"model": "sparse_partial", "record": {**record, "seed": s}}
                         for s in (0, 1)])  # fmt: skip
    assert reach_table(reach, both).loc[10, "out of reach (%)"] == pytest.approx(3.0)
    unmeasured = pd.DataFrame([{"model": "sparse", "record": {**record, "seed": 7}}])
    assert reach_table(reach, unmeasured).loc[10, "iMAE of 0 m"] == pytest.approx(
        (0.02 * (10_000 - 40) + 0.04 * (10_000 - 40)) / 2
    )


def test_the_lines_pattern_gets_its_own_column_and_sentence():
    reach = _reach({"0.95": (0.1, 50.0), "0.9": (0.02, 40.0), "0.5": (0.0, None)})
    lines = _reach({"0.95": (0.8, 50.0), "0.9": (0.6, 40.0), "0.5": (0.1, 60.0)})["by_seed"]
    reach["lines_by_seed"] = {"1": lines["0"], "2": {**lines["0"], "0.9": {
        **lines["0"]["0.9"], "share": 0.7}}}  # fmt: skip
    table = reach_table(reach, pd.DataFrame(columns=["model", "record"]))
    assert list(table["lines: out of reach (%)"]) == pytest.approx([80.0, 65.0, 10.0])
    text = reach_text(reach, table)
    assert "keeping 5 % and 10 % of the lines, 80.0 % and 65.0 % of the held-out" in text
    assert "lines" not in reach_text(
        {**reach, "lines_by_seed": {}},
        reach_table({**reach, "lines_by_seed": {}}, pd.DataFrame(columns=["model", "record"])),
    )
