"""The KITTI task on the real shared data: masks, errors, the training crops, and the
training-free baseline against the numbers the data's README publishes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sparseconv.data.kitti import ground_truth_frames
from sparseconv.train.kitti_task import kitti_errors
from sparseconv.train.lidar import (
    _crops,
    _nearest,
    lidar_errors,
    lidar_masks,
    load_lidar,
)
from sparseconv.train.params import ParameterError, validate_params


@pytest.fixture(scope="module")
def drive(data_dir):
    return load_lidar(str(data_dir), limit=40)


def test_raw_nearest_neighbour_on_the_ground_truth_frames_matches_the_readme(data_dir):
    # ../shared/data/kitti/README.md: MAE 0.35, 0.38, 0.39 and 0.13 m on the four frames
    published = [0.35, 0.38, 0.39, 0.13]
    for frame, mae in zip(ground_truth_frames(data_dir), published, strict=True):
        keep = frame.velodyne_raw > 0
        fill = _nearest(frame.velodyne_raw[None], keep[None])[0]
        errors = kitti_errors(fill, frame.groundtruth, frame.groundtruth > 0)
        assert errors["mae"] == pytest.approx(mae, abs=0.005), frame.name


def test_validation_and_test_draws_differ_and_repeat(drive):
    frame = drive.val[:1]
    val = lidar_masks(drive, frame, 0.1, "uniform", 0, "val")
    again = lidar_masks(drive, frame, 0.1, "uniform", 0, "val")
    test = lidar_masks(drive, frame, 0.1, "uniform", 0, "test")
    assert torch.equal(val, again) and not torch.equal(val, test)
    returns = drive.depth[frame] > 0
    assert not (val & ~returns).any()  # only returns are kept
    assert val.sum() == round(0.1 * int(returns.sum()))


def test_pooled_errors_are_those_of_all_held_out_pixels_at_once(drive):
    frames = drive.test[:2]
    keep = lidar_masks(drive, frames, 0.25, "uniform", 0, "test")
    pooled = lidar_errors(_nearest, drive, frames, keep)
    depth, kept = drive.depth[frames, :, drive.top :], keep[:, :, drive.top :]
    fill = torch.cat([_nearest(depth[i : i + 1], kept[i : i + 1]) for i in range(2)])
    direct = kitti_errors(fill, depth, (depth > 0) & ~kept)
    for key, value in direct.items():
        assert pooled[key] == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize("pattern", ["uniform", "lines"])
def test_training_crops_come_from_training_frames_and_keep_only_returns(drive, pattern):
    from sparseconv.train.kitti_task import elevation_bins

    bins = None
    if pattern == "lines":
        bins = torch.stack([elevation_bins(drive.depth[p], drive.intrinsics)
                            for p in range(len(drive.frames))])  # fmt: skip
        bins = torch.where(bins < 0, 64, bins).to(torch.uint8)
    # frames outside the training block marked NaN: no crop may hold one
    marked = dataclasses.replace(drive, depth=drive.depth.clone())
    others = [p for p in range(len(drive.frames)) if p not in drive.train]
    marked.depth[others] = float("nan")
    g = torch.Generator().manual_seed(0)
    depth, keep = _crops(marked, bins, 0.5, 6, g)
    assert depth.shape == (6, 1, 128, 512) and keep.dtype == torch.bool
    assert not depth.isnan().any()
    assert not (keep & (depth == 0)).any()
    share = keep.sum() / (depth > 0).sum()
    assert 0.3 < float(share) < 0.7


def test_kitti_parameters(data_dir, tmp_path):
    params = validate_params(
        "kitti", sparsity=0.5, model="nn_convnet", epochs=1, lr=None, batch_size=2, seed=0,
        pattern="lines", data_dir=str(data_dir),
    )  # fmt: skip
    assert params["pattern"] == "lines" and params["lr"] > 0
    with pytest.raises(ParameterError, match="model="):
        validate_params("kitti", sparsity=0.5, model="sparse_naive", epochs=1, lr=None,
                        batch_size=2, seed=0, data_dir=str(data_dir))  # fmt: skip
    with pytest.raises(ParameterError, match="registration"):
        validate_params("kitti", sparsity=0.5, model="dense", epochs=1, lr=None,
                        batch_size=2, seed=0, data_dir=str(tmp_path))  # fmt: skip


def test_every_kitti_model_completes_a_full_width_frame(drive):
    from sparseconv.nn.networks import build_model
    from sparseconv.registry.models import models_of
    from sparseconv.train.lidar import _predict

    depth = drive.depth[drive.test[:1], :, drive.top :]  # 286 rows: not a multiple of 8
    keep = lidar_masks(drive, drive.test[:1], 0.5, "uniform", 0, "test")[:, :, drive.top :]
    assert "nconv" in models_of("kitti") and "sparse_naive" not in models_of("kitti")
    for model in models_of("kitti"):
        with torch.no_grad():
            pred = _predict(build_model("kitti", model).eval(), depth, keep)
        assert pred.shape == depth.shape and torch.isfinite(pred).all(), model


def test_a_stored_frame_is_the_mean_of_each_block_by_hand():
    from sparseconv.train.kitti_examples import decode_frame, encode_frame

    depth = torch.zeros(6, 9)
    depth[:4, :4] = 2.0  # one full block of 2 m
    depth[4:, 8] = 10.0  # the corner block holds 2 x 1 pixels: their mean, 10 m
    depth[0, 4] = 4.0  # one pixel of 4 m among 16 zeros: 0.25 m
    stored = encode_frame("frame", depth.unsqueeze(0))
    assert stored["frame"] == "frame" and stored["shape"] == [2, 3] and stored["stride"] == 4
    back = decode_frame(stored)
    assert back.tolist() == [[2.0, 0.25, 0.0], [0.0, 0.0, 10.0]]
    # centimetres: 1.234 m is kept as 1.23 m; negative depths as 0, huge ones clamped
    assert decode_frame(encode_frame("f", torch.full((1, 1), 1.234), stride=1)).item() == (
        pytest.approx(1.23)
    )
    assert decode_frame(encode_frame("f", torch.tensor([[-3.0, 1e6]]), 1)).tolist() == [
        [0.0, 655.35]
    ]
    with pytest.raises(ValueError, match="stride"):
        encode_frame("f", depth, stride=0)
    with pytest.raises(ValueError, match="one frame"):
        encode_frame("f", torch.zeros(2, 1, 3, 3))


def test_a_kitti_record_keeps_its_completion_of_the_first_ground_truth_frame(data_dir):
    import torch.nn.functional as F

    from sparseconv.train.kitti_examples import decode_frame
    from sparseconv.train.lidar import _ground_truth

    class Through(torch.nn.Module):  # returns its input: the kept returns, zero elsewhere
        def forward(self, x, mask):
            return x

    errors, example = _ground_truth(Through(), str(data_dir), torch.device("cpu"))
    first = ground_truth_frames(data_dir)[0]
    assert example["frame"] == first.name == sorted(errors)[0]
    raw = first.velodyne_raw.reshape(1, 1, *first.velodyne_raw.shape[-2:])
    blocks = F.avg_pool2d(raw, 4, ceil_mode=True, count_include_pad=False)[0, 0]
    back = decode_frame(example)
    assert back.shape == (94, 311) == tuple(blocks.shape)  # 375 x 1242 at stride 4
    assert np.abs(back - blocks.numpy()).max() <= 0.005 + 1e-6  # whole centimetres


@pytest.mark.slow
def test_a_run_capped_later_is_the_same_run_up_to_the_earlier_cap(data_dir, quick_kitti):
    # what lets the KITTI budget check read 40 epochs off an 80-epoch run's history
    from sparseconv.train.run import train_run

    args = dict(sparsity=0.9, model="sparse", lr=0.003, batch_size=1, seed=3, limit=30,
                data_dir=str(data_dir), results_dir=None, progress=False, threads=1)  # fmt: skip
    short, _ = train_run("kitti", epochs=2, **args)
    long, _ = train_run("kitti", epochs=4, **args)
    assert len(long["history"]) == 4

    def same(h):
        return {k: v for k, v in h.items() if k != "seconds"}

    assert [same(h) for h in long["history"][:2]] == [same(h) for h in short["history"]]
