"""Depth completion on real LiDAR returns: which returns a network sees, which it must
predict, and KITTI's four errors on the held-out returns.

A projected scan holds about 4 % valid pixels (its returns). The input keeps a share of
them and the target is the rest, so every error is measured against a real measurement:

* ``"uniform"``: a share of the returns, drawn uniformly (:func:`keep_returns`);
* ``"lines"``: whole scan lines, as a LiDAR with fewer lasers would give
  (:func:`keep_lines`). A projected scan does not record the laser of a return, so the
  lines are recovered as bins of the elevation angle seen from the camera (the
  HDL-64E's 64 lasers span about 27 degrees); near the image edges a bin can hold
  returns of two neighbouring lasers.

Both are fixed by (seed, stream, share, frame index), like the project's other fixed
masks, so every model sees the same inputs and validation draws never equal test draws.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sparseconv.data.sparsify import _M64, _splitmix64

__all__ = [
    "MASK_STREAMS",
    "LASERS",
    "draw_seed",
    "keep_returns",
    "elevation_bins",
    "keep_lines",
    "kitti_errors",
]

# one stream of draws per split (as in classification: validation never equals test)
MASK_STREAMS = {"test": 0, "val": 1, "train": 2}
LASERS = 64  # the HDL-64E of the KITTI car


def draw_seed(seed: int, stream: int, share: float, index: int) -> int:
    """A 63-bit seed for one frame's draw from (seed, stream, share, frame index)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be between 0 and 1 (exclusive), got {share}")
    level = np.uint64(int(round(share * 1_000_000)))
    key = _splitmix64(_splitmix64(np.uint64(seed) & _M64) ^ level)
    key = _splitmix64(key ^ _splitmix64(np.uint64(0xC0FFEE00 + stream)))
    key = _splitmix64(key ^ np.uint64(index))
    return int(key >> np.uint64(1))


def keep_returns(depth: Tensor, share: float, seed: int, stream: int, index: int) -> Tensor:
    """Input mask (1, H, W) of one scan: ``round(share * n)`` of its n returns (pixels with
    depth > 0), drawn uniformly. The held-out returns are ``(depth > 0) & ~mask``."""
    valid = (depth > 0).flatten()
    positions = valid.nonzero().flatten()
    keep = int(round(share * len(positions)))
    generator = torch.Generator().manual_seed(draw_seed(seed, stream, share, index))
    chosen = positions[torch.randperm(len(positions), generator=generator)[:keep]]
    mask = torch.zeros_like(valid)
    mask[chosen] = True
    return mask.view_as(depth)


def elevation_bins(depth: Tensor, intrinsics: Tensor, lasers: int = LASERS) -> Tensor:
    """Per pixel (1, H, W): the scan line (0 .. lasers - 1, top first) a return belongs to,
    as the bin of its elevation angle from the camera (``intrinsics``: 3 x 3), with the
    frame's returns' angular range cut into ``lasers`` equal bins; -1 where no return."""
    _, height, width = depth.shape
    fx, fy, cx, cy = (float(intrinsics[0, 0]), float(intrinsics[1, 1]),
                      float(intrinsics[0, 2]), float(intrinsics[1, 2]))  # fmt: skip
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                          torch.arange(width, dtype=torch.float64), indexing="ij")  # fmt: skip
    # the ray through (u, v) rises by (cy - v) / fy over a horizontal run of
    # sqrt(1 + ((u - cx) / fx)^2): its elevation above the optical axis' plane
    elevation = torch.atan2((cy - v) / fy, torch.sqrt(1.0 + ((u - cx) / fx) ** 2))
    valid = depth[0] > 0
    bins = torch.full((height, width), -1, dtype=torch.int64)
    if valid.any():
        top, bottom = elevation[valid].max(), elevation[valid].min()
        span = max(float(top - bottom), 1e-9)
        line = ((top - elevation) / span * lasers).floor().clamp(0, lasers - 1).long()
        bins[valid] = line[valid]
    return bins.unsqueeze(0)


def keep_lines(
    depth: Tensor, intrinsics: Tensor, share: float, seed: int, stream: int, index: int
) -> Tensor:
    """Input mask (1, H, W) of one scan keeping ``round(share * lasers)`` whole scan lines
    (:func:`elevation_bins`), drawn uniformly among the 64."""
    bins = elevation_bins(depth, intrinsics)
    generator = torch.Generator().manual_seed(draw_seed(seed, stream, share, index))
    kept = torch.randperm(LASERS, generator=generator)[: max(1, round(share * LASERS))]
    return torch.isin(bins, kept) & (bins >= 0)


def kitti_errors(pred: Tensor, truth: Tensor, where: Tensor) -> dict[str, float]:
    """KITTI's depth completion errors over the pixels ``where`` (bool, same shape):
    MAE and RMSE in metres, iMAE and iRMSE of the inverse depth in 1/km. Predictions are
    clamped to at least 0.1 m for the inverse (KITTI's depths start at about 1 m); NaN
    where no pixel is selected."""
    if pred.shape != truth.shape or where.shape != truth.shape:
        raise ValueError(f"shapes differ: pred {tuple(pred.shape)}, truth "
                         f"{tuple(truth.shape)}, where {tuple(where.shape)}")  # fmt: skip
    p, t = pred[where].double(), truth[where].double()
    if not len(t):
        return {k: math.nan for k in ("mae", "rmse", "imae", "irmse")}
    if bool((t <= 0).any()):
        raise ValueError("the selected pixels must hold measured depth (> 0)")
    err = p - t
    inv = 1000.0 / p.clamp_min(0.1) - 1000.0 / t
    return {"mae": float(err.abs().mean()), "rmse": float(err.pow(2).mean().sqrt()),
            "imae": float(inv.abs().mean()), "irmse": float(inv.pow(2).mean().sqrt())}  # fmt: skip
