"""Synthetic depth maps for the paper's own setting, depth completion (no download).

A pinhole camera at the origin looks along +z (x right, y down) over a ground plane, in
front of a back wall, at a few random boxes, spheres and slanted rectangles. Depth is the
z coordinate of the first surface each pixel's ray hits, in metres, rendered in closed
form (ray-object intersections, vectorised over pixels): piecewise smooth with sharp
occlusion edges, like real scenes. Every map is deterministic per (seed, index).

Sparse inputs use :func:`sparseconv.data.sparsify` (uniform pixels) or :func:`lines_mask`
(LiDAR-like scan lines with dropouts). :func:`nearest_fill` is the non-learned baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sparseconv.data.sparsify import check_sparsity

__all__ = [
    "DATA_SEED",
    "SPLITS",
    "MIN_DEPTH",
    "MAX_DEPTH",
    "render_depth",
    "depth_maps",
    "lines_mask",
    "nearest_fill",
    "window_counts",
    "COUNT_BINS",
    "mae_by_window_count",
]

DATA_SEED = 2017
# split -> (first index, count): fixed training, validation and test sets
SPLITS = {"train": (0, 8000), "val": (8000, 1000), "test": (9000, 1000)}
MIN_DEPTH = 2.0
MAX_DEPTH = 40.0
CAMERA_HEIGHT = 1.5  # metres above the ground plane


def _rays(size: int) -> np.ndarray:
    """Ray directions (size*size, 3) with z = 1, focal length = size (53 degree view)."""
    f = float(size)
    c = (size - 1) / 2.0
    v, u = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([(u - c) / f, (v - c) / f, np.ones_like(u, dtype=float)], -1).reshape(-1, 3)


def _hit_box(d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Ray parameter t of the first hit with an axis-aligned box (inf where missed)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = lo[None, :] / d
        t2 = hi[None, :] / d
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((near <= far) & (near > 0), near, np.inf)


def _hit_sphere(d: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    a = (d * d).sum(1)
    b = -2.0 * (d @ centre)
    c = centre @ centre - radius**2
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a)
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def _hit_rectangle(
    d: np.ndarray, centre: np.ndarray, e1: np.ndarray, e2: np.ndarray, half: tuple[float, float]
) -> np.ndarray:
    """A planar rectangle spanned by unit vectors e1, e2 around ``centre``."""
    normal = np.cross(e1, e2)
    denom = d @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (centre @ normal) / denom
    q = t[:, None] * d - centre[None, :]
    inside = (np.abs(q @ e1) <= half[0]) & (np.abs(q @ e2) <= half[1])
    return np.where(inside & (t > 0) & np.isfinite(t), t, np.inf)


def render_depth(seed: int, index: int, size: int = 48) -> np.ndarray:
    """One depth map (size, size), float32 metres in [MIN_DEPTH, MAX_DEPTH]."""
    rng = np.random.default_rng([seed, index])
    d = _rays(size)
    t = np.full(len(d), np.inf)
    # back wall (z = wall) and ground plane (y = camera height)
    wall = rng.uniform(25.0, MAX_DEPTH)
    t = np.minimum(t, np.full(len(d), wall))
    with np.errstate(divide="ignore"):
        ground = np.where(d[:, 1] > 0, CAMERA_HEIGHT / d[:, 1], np.inf)
    t = np.minimum(t, ground)
    for _ in range(rng.integers(2, 7)):
        kind = rng.integers(0, 3)
        z = rng.uniform(4.0, wall - 2.0)
        x = rng.uniform(-0.45, 0.45) * z
        if kind == 0:  # a box standing on the ground
            w, h, depth = rng.uniform(0.5, 4.0), rng.uniform(0.5, 5.0), rng.uniform(0.5, 4.0)
            lo = np.array([x - w / 2, CAMERA_HEIGHT - h, z])
            hi = np.array([x + w / 2, CAMERA_HEIGHT, z + depth])
            t = np.minimum(t, _hit_box(d, lo, hi))
        elif kind == 1:  # a sphere resting on the ground
            r = rng.uniform(0.4, 2.5)
            t = np.minimum(t, _hit_sphere(d, np.array([x, CAMERA_HEIGHT - r, z]), r))
        else:  # a slanted rectangle (a wall or a roof seen at an angle)
            yaw, pitch = rng.uniform(-1.2, 1.2), rng.uniform(-0.6, 0.6)
            e1 = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
            e2 = np.array(
                [-np.sin(pitch) * np.sin(yaw), np.cos(pitch), np.sin(pitch) * np.cos(yaw)]
            )
            e2 = e2 - (e2 @ e1) * e1
            e2 /= np.linalg.norm(e2)
            half = (rng.uniform(0.5, 3.0), rng.uniform(0.5, 2.5))
            centre = np.array([x, CAMERA_HEIGHT - half[1] - rng.uniform(0.0, 1.5), z])
            t = np.minimum(t, _hit_rectangle(d, centre, e1, e2, half))
    depth = t * d[:, 2]  # z coordinate of the hit (d_z = 1)
    return np.clip(depth, MIN_DEPTH, MAX_DEPTH).reshape(size, size).astype(np.float32)


def depth_maps(
    split: str, size: int = 48, count: int | None = None, seed: int = DATA_SEED
) -> Tensor:
    """The maps of a fixed split ("train", "val", "test"): (N, 1, size, size) float32 metres.

    ``count`` takes only the first that many (quick runs)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    first, n = SPLITS[split]
    n = n if count is None else min(n, count)
    maps = np.stack([render_depth(seed, first + i, size) for i in range(n)])
    return torch.from_numpy(maps).unsqueeze(1)


def lines_mask(
    n: int,
    height: int,
    width: int,
    sparsity: float,
    generator: torch.Generator | None = None,
    dropout: float = 0.1,
) -> Tensor:
    """LiDAR-like masks (n, 1, H, W): evenly spaced horizontal scan lines with a random
    offset per image, each pixel on a line dropped with probability ``dropout``.

    The number of lines is chosen so that the expected kept fraction is ``1 - sparsity``
    (at least one line), so ``sparsity`` is the expected, not the exact, fraction removed.
    The masks lie on the generator's device (CPU without one).
    """
    density = 1.0 - check_sparsity(sparsity)
    lines = int(np.clip(round(density * height / (1.0 - dropout)), 1, height))
    spacing = height / lines
    device = generator.device if generator is not None else torch.device("cpu")
    offsets = torch.rand(n, generator=generator, device=device) * spacing
    steps = torch.arange(lines, device=device)[None, :]
    rows = (offsets[:, None] + spacing * steps).long().clamp_max(height - 1)
    mask = torch.zeros(n, height, width, device=device)
    mask.scatter_(1, rows[:, :, None].expand(n, lines, width), 1.0)
    keep = torch.rand(n, height, width, generator=generator, device=device) >= dropout
    return (mask * keep).unsqueeze(1)


def nearest_fill(depth: Tensor, mask: Tensor) -> Tensor:
    """Nearest-neighbour interpolation: every pixel takes the value of the nearest valid
    pixel (Euclidean distance; valid pixels keep their own value). depth, mask: (N, 1, H, W).
    An image without valid pixels is filled with zeros."""
    from scipy.ndimage import distance_transform_edt

    out = torch.zeros_like(depth)
    values = depth.detach().cpu().numpy()
    valid = mask.detach().cpu().numpy() > 0
    for i in range(len(values)):
        if not valid[i, 0].any():
            continue
        _, (rows, cols) = distance_transform_edt(~valid[i, 0], return_indices=True)
        out[i, 0] = torch.from_numpy(values[i, 0][rows, cols])
    return out.to(depth.device)


def window_counts(mask: Tensor, kernel_size: int = 11, most: int = 2) -> dict[str, float]:
    """How many valid pixels the ``kernel_size`` x ``kernel_size`` windows (zero padding,
    one per pixel) of ``mask`` (N, 1, H, W) hold: the share of windows with exactly
    0, 1, ..., ``most`` valid pixels (keys "0", "1", ...) and the mean count ("mean").

    The normalised layers divide by this count, so a window with one valid pixel gives
    that pixel the weight of a whole window."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size}")
    counts = _counts(mask, kernel_size)
    shares = {f"{c}": float((counts == c).double().mean()) for c in range(most + 1)}
    return {**shares, "mean": float(counts.mean())}


# bins of the number of valid pixels in a pixel's 11 x 11 window: (label, lowest, highest)
COUNT_BINS: tuple[tuple[str, int, int], ...] = (
    ("0-2", 0, 2), ("3-5", 3, 5), ("6-9", 6, 9), ("10-29", 10, 29), ("30+", 30, 10**6),
)  # fmt: skip


def _counts(mask: Tensor, kernel_size: int) -> Tensor:

    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64, device=mask.device)
    return F.conv2d(mask.double(), ones, padding=kernel_size // 2).round()


def mae_by_window_count(
    pred: Tensor, truth: Tensor, mask: Tensor, kernel_size: int = 11
) -> dict[str, dict[str, Any]]:
    """The error on the missing pixels grouped by how many valid pixels their
    ``kernel_size`` x ``kernel_size`` window holds (``COUNT_BINS``; the first layer of the
    depth networks is 11 x 11). ``pred``, ``truth``, ``mask``: (N, 1, H, W), metres.
    Returns {"mae": {bin: MAE in metres, None if the group is empty}, "share": {bin:
    share of the missing pixels}} (None, not NaN: records hold finite numbers only)."""
    counts = _counts(mask, kernel_size)
    missing = mask == 0
    err = (pred - truth).double().abs()
    total = int(missing.sum())
    mae: dict[str, float | None] = {}
    share: dict[str, float] = {}
    for label, low, high in COUNT_BINS:
        chosen = missing & (counts >= low) & (counts <= high)
        n = int(chosen.sum())
        mae[label] = float(err[chosen].mean()) if n else None
        share[label] = n / total if total else 0.0
    return {"mae": mae, "share": share}
