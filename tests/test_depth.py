"""The synthetic depth scenes, the LiDAR-like pattern and the nearest-neighbour baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparseconv.data.scenes import (
    MAX_DEPTH,
    MIN_DEPTH,
    depth_maps,
    lines_mask,
    nearest_fill,
    render_depth,
)
from sparseconv.data.sparsify import sparsify


def test_render_is_deterministic_per_seed_and_index_and_in_range():
    a = render_depth(7, 3, size=32)
    assert np.array_equal(a, render_depth(7, 3, size=32))
    assert not np.array_equal(a, render_depth(7, 4, size=32))
    assert not np.array_equal(a, render_depth(8, 3, size=32))
    maps = depth_maps("test", size=32, count=50)
    assert maps.shape == (50, 1, 32, 32) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    assert maps.min() >= MIN_DEPTH and maps.max() <= MAX_DEPTH
    # the same map whichever way it is asked for
    assert np.array_equal(maps[3, 0].numpy(), render_depth(2017, 9003, size=32))


def test_scenes_are_piecewise_smooth_with_a_ground_plane():
    depth = render_depth(0, 0, size=48)
    # the bottom row sees the ground close by, the top row something far away
    assert depth[-1].mean() < depth[0].mean()
    # depth varies: occlusion edges and slopes, not a constant image
    assert len(np.unique(depth.round(1))) > 20


def test_splits_are_fixed_and_disjoint():
    with pytest.raises(ValueError, match="'holdout'"):
        depth_maps("holdout")
    train = depth_maps("train", size=16, count=2)
    test = depth_maps("test", size=16, count=2)
    assert not torch.equal(train, test)


def test_nearest_fill_is_exact_on_valid_pixels_and_copies_neighbours():
    depth = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5) + 1
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 0, 0] = 1  # value 1
    mask[0, 0, 4, 4] = 1  # value 25
    filled = nearest_fill(depth * mask, mask)
    assert filled[0, 0, 0, 0] == 1 and filled[0, 0, 4, 4] == 25
    assert filled[0, 0, 1, 0] == 1 and filled[0, 0, 3, 4] == 25  # nearest valid pixel
    maps = depth_maps("val", size=24, count=3)
    sparse, m = sparsify(maps, 0.9, torch.Generator().manual_seed(0))
    out = nearest_fill(sparse, m)
    assert torch.equal(out[m.expand_as(out) > 0], maps[m.expand_as(maps) > 0])
    assert (out > 0).all()
    assert torch.equal(nearest_fill(maps, torch.zeros_like(m)), torch.zeros_like(maps))


def test_lines_mask_is_horizontal_lines_with_the_expected_density():
    g = torch.Generator().manual_seed(0)
    mask = lines_mask(200, 48, 48, 0.9, g)
    assert mask.shape == (200, 1, 48, 48)
    rows_used = (mask.sum(dim=3) > 0).sum(dim=2)
    assert (rows_used <= round(0.1 * 48 / 0.9)).all()
    assert abs(mask.mean().item() - 0.1) < 0.02
    with pytest.raises(ValueError, match="1.0"):
        lines_mask(1, 8, 8, 1.0)


def test_lines_masks_on_the_cpu_are_the_study_records_masks():
    """Drawing on the generator's device must not change the CPU masks the committed
    records were trained and tested on: pixel count and digest of a seeded draw, taken
    before the change."""
    import hashlib

    mask = lines_mask(50, 48, 48, 0.95, torch.Generator().manual_seed(7))
    assert int(mask.sum()) == 6539
    assert hashlib.sha256(mask.numpy().tobytes()).hexdigest()[:16] == "7f62327b839569bd"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_lines_masks_are_drawn_on_the_generators_gpu():
    g = torch.Generator(device="cuda").manual_seed(0)
    mask = lines_mask(20, 48, 48, 0.95, g)
    assert mask.device.type == "cuda"
    assert abs(mask.mean().item() - 0.05) < 0.02


def test_example_predictions_round_trip_to_the_centimetre():
    from sparseconv.train.depth import decode_depth_examples, encode_depth_examples

    maps = depth_maps("test", size=16, count=2)
    stored = encode_depth_examples([0, 1], maps)
    back = decode_depth_examples(stored)
    assert back.shape == maps.shape
    assert (back - maps).abs().max() <= 0.005 + 1e-6


def test_depth_errors_on_missing_and_passed_through_pixels_by_hand():
    from sparseconv.train.depth import depth_errors

    truth = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    pred = torch.tensor([[[[2.0, 2.0], [3.0, 8.0]]]])  # errors 1, 0, 0, 4
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])  # observed: the left column
    e = depth_errors(pred, truth, mask)
    assert e["mae"] == pytest.approx(5 / 4) and e["rmse"] == pytest.approx((17 / 4) ** 0.5)
    # missing pixels: the right column, errors 0 and 4
    assert e["mae_missing"] == pytest.approx(2.0) and e["rmse_missing"] == pytest.approx(8**0.5)
    # observed values passed through: errors 0, 0, 0, 4 over all four pixels
    assert e["mae_passthrough"] == pytest.approx(1.0)
    assert e["rmse_passthrough"] == pytest.approx(2.0)
    assert np.isnan(depth_errors(pred, truth, torch.ones_like(mask))["mae_missing"])


def test_nearest_errors_are_zero_on_observed_pixels_and_match_the_fill():
    from sparseconv.train.depth import depth_errors, nearest_errors

    maps = depth_maps("val", size=24, count=4)
    _, mask = sparsify(maps, 0.8, torch.Generator().manual_seed(1))
    e = nearest_errors(maps, mask)
    filled = nearest_fill(maps * mask, mask)
    missing = mask.expand_as(maps) == 0
    assert e["mae_missing"] == pytest.approx(float((filled - maps).abs()[missing].mean()))
    # the fill keeps observed values, so all-pixel error = missing error x missing share
    share = float(missing.double().mean())
    assert e["mae"] == pytest.approx(e["mae_missing"] * share)
    assert e == {k: v for k, v in depth_errors(filled, maps, mask).items() if k in e}


def test_window_counts_by_hand():
    from sparseconv.data.scenes import window_counts

    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 1
    # 3 x 3 windows, zero padding: the 9 around the centre see one valid pixel, 16 none
    counts = window_counts(mask, 3)
    assert counts["0"] == pytest.approx(16 / 25) and counts["1"] == pytest.approx(9 / 25)
    assert counts["2"] == 0.0 and counts["mean"] == pytest.approx(9 / 25)
    mask[0, 0, 2, 3] = 1  # two neighbours: 6 windows see both
    counts = window_counts(mask, 3)
    assert counts["2"] == pytest.approx(6 / 25) and counts["mean"] == pytest.approx(18 / 25)
    with pytest.raises(ValueError, match="4"):
        window_counts(mask, 4)


def test_mae_by_window_count_by_hand():
    from sparseconv.data.scenes import mae_by_window_count

    mask = torch.ones(1, 1, 5, 5)
    mask[0, 0, 2, 2] = mask[0, 0, 0, 0] = 0
    truth = torch.zeros(1, 1, 5, 5)
    pred = torch.full((1, 1, 5, 5), 9.0)  # observed pixels do not count
    pred[0, 0, 2, 2], pred[0, 0, 0, 0] = 2.0, -1.0
    # 3 x 3 windows, zero padding: the centre sees its 8 valid neighbours, the corner 3
    out = mae_by_window_count(pred, truth, mask, kernel_size=3)
    assert out["mae"]["6-9"] == 2.0 and out["mae"]["3-5"] == 1.0
    assert out["mae"]["0-2"] is None and out["mae"]["30+"] is None
    assert out["share"]["6-9"] == 0.5 and out["share"]["3-5"] == 0.5 and out["share"]["0-2"] == 0


def test_validation_and_test_masks_differ():
    from sparseconv.train.depth import depth_masks, split_indices

    assert split_indices("val", 3) == range(8000, 8003)
    val = depth_masks(split_indices("val", 5), 0.9, "uniform")
    test = depth_masks(split_indices("test", 5), 0.9, "uniform")
    assert not torch.equal(val, test)
    assert torch.equal(test, depth_masks(split_indices("test", 5), 0.9, "uniform"))


def test_record_errors_by_window_count_add_up(depth_record):
    # the share-weighted errors of the groups are the missing-pixel MAE at the training
    # density, for the network and for raw nearest neighbour
    share = depth_record["missing_share_by_window_count"]
    assert sum(share.values()) == pytest.approx(1.0)
    for by, whole in (
        ("test_mae_missing_by_window_count", depth_record["test_mae_missing"]),
        ("nn_mae_missing_by_window_count", depth_record["nn_mae_missing_by_sparsity"]["0.95"]),
    ):
        parts = depth_record[by]
        assert sum(share[k] * v for k, v in parts.items() if share[k] > 0) == pytest.approx(whole)


def test_a_depth_run_that_stops_on_a_plateau_writes_its_record(tmp_path, monkeypatch):
    import sparseconv.train.depth as depth_run
    from sparseconv.train.run import train_run

    # a gain of 1000 % is never reached: the rate drops after 1 stale epoch, stop after 2
    rule = {"min_gain": 10.0, "lr_patience": 1, "factor": 0.3, "patience": 2}
    monkeypatch.setitem(depth_run.EARLY_STOPPING, "depth", rule)
    record, _ = train_run("depth", sparsity=0.95, model="dense", epochs=6, lr=1e-3,
                          batch_size=32, seed=0, limit=32, results_dir=tmp_path,
                          progress=False, threads=1)  # fmt: skip
    assert record["stopped_early"] and record["epochs_run"] < 6
    assert len(record["history"]) == record["epochs_run"]
    assert list(tmp_path.rglob("*.json"))  # validated and written
