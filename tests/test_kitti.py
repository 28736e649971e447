"""The KITTI loader on the real shared data (one drive, four ground-truth frames)."""

from __future__ import annotations

import shutil

import pytest
import torch

from sparseconv.data.images import DataNotFoundError
from sparseconv.data.kitti import (
    block_split,
    check_md5,
    ground_truth_frames,
    kitti_root,
    list_frames,
    read_depth,
)


def test_the_drive_has_443_projected_scans_in_metres(data_dir):
    frames = list_frames(data_dir)
    assert len(frames) == 443
    assert {f.drive for f in frames} == {"2011_09_26_drive_0009_sync"}
    assert frames[0].index == 0 and frames[-1].index == 446
    depth = read_depth(frames[0].path, kitti_root(data_dir))
    assert depth.shape == (1, 375, 1242) and depth.dtype == torch.float32
    valid = depth > 0
    assert 0.02 < valid.float().mean().item() < 0.06  # about 4 % of the pixels
    rows = valid[0].any(dim=1).nonzero().flatten()
    assert rows.min().item() >= 100 and rows.max().item() >= 370  # no returns up top
    assert 1.0 < depth[valid].min().item() and depth[valid].max().item() < 120.0


def test_a_changed_file_fails_its_md5_and_a_missing_folder_says_where_to_get_it(data_dir, tmp_path):
    source = kitti_root(data_dir)
    copy = tmp_path / "kitti"
    folder = copy / "2011_09_26_drive_0009_sync" / "proj_depth" / "velodyne_raw" / "image_02"
    folder.mkdir(parents=True)
    shutil.copy(source / "MD5SUMS", copy / "MD5SUMS")
    first = list_frames(data_dir)[0].path
    shutil.copy(first, folder / first.name)
    check_md5(folder / first.name, copy)  # intact
    data = bytearray((folder / first.name).read_bytes())
    data[-20] ^= 0xFF
    (folder / first.name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="MD5"):
        read_depth(folder / first.name, copy)
    with pytest.raises(DataNotFoundError, match="registration"):
        kitti_root(tmp_path / "elsewhere")


def test_the_four_ground_truth_frames(data_dir):
    frames = ground_truth_frames(data_dir)
    assert len(frames) == 4
    for frame in frames:
        assert frame.velodyne_raw.shape == frame.groundtruth.shape == (1, 375, 1242)
        assert frame.intrinsics.shape == (3, 3) and frame.intrinsics[2, 2] == 1.0
        share = (frame.groundtruth > 0).float().mean().item()
        assert 0.05 < share < 0.3  # semi-dense: 7-19 % of the pixels
    assert sum(f.image is None for f in frames) == 1  # frame_b has no colour image
    assert next(f for f in frames if f.image is not None).image.shape == (3, 375, 1242)


def test_block_split_keeps_gaps_between_contiguous_blocks():
    train, val, test = block_split(443, (0.7, 0.15, 0.15), gap=10)
    assert train == list(range(len(train))) and val == list(range(val[0], val[-1] + 1))
    assert val[0] - train[-1] == 11 and test[0] - val[-1] == 11
    assert test[-1] == 442
    assert abs(len(train) - 0.7 * 423) <= 1 and abs(len(val) - 0.15 * 423) <= 1
    with pytest.raises(ValueError, match="too few"):
        block_split(20, gap=10)


def test_kept_returns_are_a_fixed_share_and_streams_differ(data_dir):
    from sparseconv.train.kitti_task import keep_returns

    frame = list_frames(data_dir)[5]
    depth = read_depth(frame.path)
    n = int((depth > 0).sum())
    kept = keep_returns(depth, 0.1, seed=0, stream=0, index=frame.index)
    assert int(kept.sum()) == round(0.1 * n)
    assert bool((depth[kept] > 0).all())  # only returns are kept
    again = keep_returns(depth, 0.1, seed=0, stream=0, index=frame.index)
    assert torch.equal(kept, again)
    other = keep_returns(depth, 0.1, seed=0, stream=1, index=frame.index)
    assert not torch.equal(kept, other)
    with pytest.raises(ValueError, match="share"):
        keep_returns(depth, 1.0, 0, 0, 0)


def test_scan_lines_follow_the_elevation_and_lines_are_kept_whole(data_dir):
    from sparseconv.train.kitti_task import LASERS, elevation_bins, keep_lines

    frame = ground_truth_frames(data_dir)[0]
    depth, k = frame.velodyne_raw, frame.intrinsics
    bins = elevation_bins(depth, k)
    valid = depth > 0
    assert bool((bins[valid] >= 0).all()) and bool((bins[~valid] == -1).all())
    assert int(bins.max()) == LASERS - 1
    # lower in the image, lower elevation: the mean row grows with the line number
    rows = torch.arange(depth.shape[1]).view(1, -1, 1).expand_as(depth)
    means = [rows[bins == b].float().mean().item() for b in range(0, LASERS, 8)
             if (bins == b).any()]  # fmt: skip
    assert means == sorted(means)
    kept = keep_lines(depth, k, 0.25, seed=0, stream=0, index=0)
    lines = set(bins[kept].tolist())
    assert len(lines) == 16
    for line in lines:  # every return of a kept line is kept
        assert bool(kept[bins == line].all())


def test_kitti_errors_by_hand():
    from sparseconv.train.kitti_task import kitti_errors

    truth = torch.tensor([[[10.0, 20.0, 0.0]]])
    pred = torch.tensor([[[11.0, 18.0, 5.0]]])
    where = truth > 0
    e = kitti_errors(pred, truth, where)
    assert e["mae"] == pytest.approx(1.5)
    assert e["rmse"] == pytest.approx((2.5) ** 0.5)
    inv = [1000 / 11 - 100, 1000 / 18 - 50]  # 1/km
    assert e["imae"] == pytest.approx((abs(inv[0]) + abs(inv[1])) / 2)
    assert e["irmse"] == pytest.approx(((inv[0] ** 2 + inv[1] ** 2) / 2) ** 0.5)
    with pytest.raises(ValueError, match="measured depth"):
        kitti_errors(pred, truth, torch.ones_like(where))


@pytest.mark.parametrize("share,mae,rmse", [(0.05, 2.02, 5.60), (0.5, 1.13, 4.94)])
def test_nearest_neighbour_on_held_out_returns_matches_the_data_readme(data_dir, share, mae, rmse):
    # kitti/README.md measured raw nearest-neighbour fill on the last 60 frames (every
    # 6th), keeping a random share of each scan's returns: our loader, masks and errors
    # must land there (another random draw of the same share: within a few per cent)
    from sparseconv.data.scenes import nearest_fill
    from sparseconv.train.kitti_task import keep_returns, kitti_errors

    errors = []
    for frame in list_frames(data_dir)[-60::6]:
        depth = read_depth(frame.path)
        kept = keep_returns(depth, share, seed=0, stream=0, index=frame.index)
        pred = nearest_fill(depth.unsqueeze(0), kept.unsqueeze(0).float())[0]
        errors.append(kitti_errors(pred, depth, (depth > 0) & ~kept))
    assert sum(e["mae"] for e in errors) / len(errors) == pytest.approx(mae, rel=0.05)
    assert sum(e["rmse"] for e in errors) / len(errors) == pytest.approx(rmse, rel=0.05)
