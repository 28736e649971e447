"""The KITTI loader on the real shared data (one drive, four ground-truth frames)."""

from __future__ import annotations

import shutil

import pytest
import torch

from sparseconv.data import DataNotFoundError
from sparseconv.kitti import (
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
