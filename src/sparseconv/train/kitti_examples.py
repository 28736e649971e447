"""A KITTI run's completion of one ground-truth frame, kept in its record for the book's
figure of predictions: the map averaged over blocks of pixels, in whole centimetres,
zlib-compressed and base64-encoded (about 30 kB for a 1242 x 375 frame at stride 4)."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["EXAMPLE_STRIDE", "encode_frame", "decode_frame"]

EXAMPLE_STRIDE = 4  # pixels per side of the blocks a stored map averages
_MAX_CM = 65_535  # uint16


def encode_frame(name: str, depth: Tensor, stride: int = EXAMPLE_STRIDE) -> dict[str, Any]:
    """One predicted frame (H, W), (1, H, W) or (1, 1, H, W) in metres -> a record field:
    the mean of each ``stride`` x ``stride`` block (edge blocks over the pixels they
    hold), as uint16 centimetres (clamped to 0-655.35 m), row-major."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if depth.dim() < 2 or depth.numel() != depth.shape[-2] * depth.shape[-1]:
        raise ValueError(f"depth must be one frame (H, W), got shape {tuple(depth.shape)}")
    frame = depth.detach().float().cpu().reshape(1, 1, *depth.shape[-2:])
    blocks = F.avg_pool2d(frame, stride, ceil_mode=True, count_include_pad=False)[0, 0]
    cm = (blocks * 100).round().clamp(0, _MAX_CM).to(torch.int32).numpy().astype("<u2")
    return {
        "frame": name,
        "stride": stride,
        "shape": list(cm.shape),
        "encoding": "base64 of zlib-compressed little-endian uint16 centimetres, row-major",
        "map": base64.b64encode(zlib.compress(cm.tobytes(), 9)).decode("ascii"),
    }


def decode_frame(stored: dict[str, Any]) -> np.ndarray:
    """The map of :func:`encode_frame` back as a float64 array (H / stride, W / stride) of
    metres (rounded up at the edges)."""
    raw = zlib.decompress(base64.b64decode(stored["map"]))
    rows, cols = stored["shape"]
    return np.frombuffer(raw, dtype="<u2").reshape(rows, cols).astype(np.float64) / 100.0
