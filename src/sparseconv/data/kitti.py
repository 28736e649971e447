"""KITTI depth completion data: projected Velodyne scans and semi-dense ground truth.

The layout is KITTI depth completion's, under ``<data folder>/kitti/``:

* ``<drive>/proj_depth/velodyne_raw/image_0[23]/<frame>.png``: one projected LiDAR scan
  per frame (a full download has them under ``train/`` and ``val/``; any depth of
  folders above ``<drive>`` works);
* ``depth_completion_sample/{velodyne_raw,groundtruth_depth,image,intrinsics}/``: frames
  with KITTI's semi-dense ground truth, the colour image where available and the 3 x 3
  camera matrix.

Depth maps are 16-bit PNGs: metres = value / 256, 0 = no measurement. Files listed in
``kitti/MD5SUMS`` are checked on first read. KITTI needs registration, so nothing is
downloaded: a missing folder is an error that says where to get the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sparseconv.data.images import DataNotFoundError, _md5, resolve_data_dir

__all__ = [
    "KITTI_FOLDER",
    "KITTI_URL",
    "Frame",
    "kitti_root",
    "list_frames",
    "read_depth",
    "check_md5",
    "GroundTruthFrame",
    "ground_truth_frames",
    "block_split",
]

KITTI_FOLDER = "kitti"
KITTI_URL = "https://www.cvlibs.net/datasets/kitti/eval_depth.php?benchmark=depth_completion"
SAMPLE = "depth_completion_sample"
DEPTH_SCALE = 256.0  # KITTI's 16-bit PNGs: metres = value / 256


def kitti_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data folder>/kitti``; raises DataNotFoundError, saying where to get the data,
    if it is missing."""
    root = resolve_data_dir(data_dir) / KITTI_FOLDER
    if not root.is_dir():
        raise DataNotFoundError(
            f"KITTI depth data were not found at {root}. KITTI needs a (free) registration, "
            f"so the project cannot download it: get the depth completion data "
            f"(velodyne_raw and groundtruth_depth) from {KITTI_URL}, unpack it under "
            f"{root} keeping KITTI's layout (<drive>/proj_depth/velodyne_raw/image_02/*.png), "
            "and point SPARSECONV_DATA (or data_dir) at the folder above 'kitti'."
        )
    return root


@dataclass(frozen=True)
class Frame:
    """One projected scan: drive name, camera ("image_02" or "image_03"), frame number
    and the PNG's path."""

    drive: str
    camera: str
    index: int
    path: Path


def list_frames(
    data_dir: str | os.PathLike[str] | None = None, camera: str = "image_02"
) -> list[Frame]:
    """Every ``velodyne_raw`` scan of ``camera`` under the KITTI folder (the sample's
    ground-truth frames excluded), sorted by drive and frame number."""
    root = kitti_root(data_dir)
    frames = []
    for folder in sorted(root.rglob(f"proj_depth/velodyne_raw/{camera}")):
        drive = folder.parents[2].name
        for path in sorted(folder.glob("*.png")):
            frames.append(Frame(drive, camera, int(path.stem), path))
    if not frames:
        raise DataNotFoundError(
            f"no projected scans (<drive>/proj_depth/velodyne_raw/{camera}/*.png) under "
            f"{root}; get them from {KITTI_URL}"
        )
    return sorted(frames, key=lambda f: (f.drive, f.index))


_MD5SUMS: dict[Path, dict[str, str]] = {}


def _listed_sums(root: Path) -> dict[str, str]:
    """``MD5SUMS`` of the KITTI folder as {relative path: sum} (empty if there is none)."""
    if root not in _MD5SUMS:
        path = root / "MD5SUMS"
        sums = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    digest, name = line.split(maxsplit=1)
                    sums[name.strip().removeprefix("./")] = digest
        _MD5SUMS[root] = sums
    return _MD5SUMS[root]


def check_md5(path: Path, root: Path) -> None:
    """Raise ValueError if ``path`` is listed in ``root/MD5SUMS`` with another sum
    (files not listed, as in a full KITTI download without the list, pass)."""
    expected = _listed_sums(root).get(path.relative_to(root).as_posix())
    if expected is not None and _md5(path) != expected:
        raise ValueError(
            f"{path} does not match its MD5 sum in {root / 'MD5SUMS'} (corrupt or changed)"
        )


def read_depth(path: str | os.PathLike[str], root: Path | None = None) -> Tensor:
    """A KITTI depth PNG as float32 metres (1, H, W), 0 where there is no measurement;
    checked against ``root/MD5SUMS`` when ``root`` is given."""
    from PIL import Image

    path = Path(path)
    if root is not None:
        check_md5(path, root)
    with Image.open(path) as image:
        values = np.asarray(image, dtype=np.uint16)
    if values.ndim != 2:
        raise ValueError(f"{path} is not a one-channel 16-bit depth PNG (shape {values.shape})")
    return torch.from_numpy(values.astype(np.float32) / DEPTH_SCALE).unsqueeze(0)


@dataclass(frozen=True)
class GroundTruthFrame:
    """A depth completion sample: the scan (``velodyne_raw``, (1, H, W) m), KITTI's
    semi-dense ground truth ((1, H, W) m), the colour image ((3, H, W) uint8) if any,
    and the camera matrix (3, 3)."""

    name: str
    velodyne_raw: Tensor
    groundtruth: Tensor
    image: Tensor | None
    intrinsics: Tensor


def ground_truth_frames(data_dir: str | os.PathLike[str] | None = None) -> list[GroundTruthFrame]:
    """Every frame of ``kitti/depth_completion_sample/``, sorted by name."""
    from PIL import Image

    root = kitti_root(data_dir)
    sample = root / SAMPLE
    if not sample.is_dir():
        raise DataNotFoundError(f"no ground-truth frames at {sample}; get them from {KITTI_URL}")
    frames = []
    for path in sorted((sample / "groundtruth_depth").glob("*.png")):
        raw = sample / "velodyne_raw" / path.name
        if not raw.is_file():
            raise DataNotFoundError(f"{path.name} has ground truth but no velodyne_raw ({raw})")
        colour = sample / "image" / path.name
        image = None
        if colour.is_file():
            check_md5(colour, root)
            with Image.open(colour) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
            image = torch.from_numpy(pixels.transpose(2, 0, 1).copy())
        matrix = sample / "intrinsics" / f"{path.stem}.txt"
        check_md5(matrix, root)
        values = [float(v) for v in matrix.read_text().split()]
        if len(values) != 9:
            raise ValueError(f"{matrix} must hold 9 numbers (3 x 3, row-major), got {len(values)}")
        frames.append(GroundTruthFrame(path.stem, read_depth(raw, root), read_depth(path, root),
                                       image, torch.tensor(values).view(3, 3)))  # fmt: skip
    return frames


def block_split(
    n: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), gap: int = 10
) -> tuple[list[int], list[int], list[int]]:
    """Positions 0..n-1 of time-ordered frames in three contiguous blocks (train,
    validation, test) of about ``fractions`` of the frames, with ``gap`` frames dropped
    between blocks: consecutive scans overlap, so neighbours must not straddle splits."""
    if n < 3 + 2 * gap:
        raise ValueError(f"{n} frames are too few for three blocks with gaps of {gap}")
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(f"fractions must be three positive shares, got {fractions}")
    usable = n - 2 * gap
    total = sum(fractions)
    n_train = max(1, round(usable * fractions[0] / total))
    n_val = max(1, round(usable * fractions[1] / total))
    train = list(range(n_train))
    val = list(range(n_train + gap, n_train + gap + n_val))
    test = list(range(n_train + gap + n_val + gap, n))
    if not test:
        raise ValueError(f"no test frames left with n={n}, fractions={fractions}, gap={gap}")
    return train, val, test
