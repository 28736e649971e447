"""Making images sparse: remove a fixed fraction of pixels, the same in every channel.

``sparsity`` is always the fraction of pixels *removed* (0.9 keeps 10 %).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "check_sparsity",
    "n_removed",
    "sparsify",
    "random_mask",
    "fixed_mask",
    "apply_fixed_mask",
]


def check_sparsity(sparsity: object, name: str = "sparsity") -> float:
    """Return ``sparsity`` as a float if it is a real number with ``0 <= sparsity < 1``.

    Raises ValueError naming the value otherwise (NaN, 1.0, a string, a bool, ...).
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ValueError(
            f"{name} must be a number with 0 <= {name} < 1 (the fraction of pixels "
            f"removed), got {sparsity!r}"
        )
    value = float(sparsity)
    if math.isnan(value) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"{name} must satisfy 0 <= {name} < 1 (the fraction of pixels removed), "
            f"got {sparsity!r}"
        )
    return value


def n_removed(sparsity: float, height: int, width: int) -> int:
    """Number of pixels removed from an image of ``height x width``: ``round(sparsity*H*W)``."""
    return int(round(check_sparsity(sparsity) * height * width))


def _mask_from_keys(keys: Tensor, n_remove: int, height: int, width: int) -> Tensor:
    """keys (N, H*W) random -> mask (N, 1, H, W) with the ``n_remove`` smallest keys set to 0."""
    n = keys.shape[0]
    mask = torch.ones(n, height * width, dtype=torch.float32, device=keys.device)
    if n_remove > 0:
        drop = torch.topk(keys, n_remove, dim=1, largest=False, sorted=False).indices
        mask.scatter_(1, drop, 0.0)
    return mask.view(n, 1, height, width)


def random_mask(
    n: int,
    height: int,
    width: int,
    sparsity: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """(n, 1, H, W) float 0/1 masks, each with exactly ``round(sparsity*H*W)`` zeros.

    The removed pixels are a uniformly random subset of each image, drawn from
    ``generator`` (which must live on ``device``).
    """
    k = n_removed(sparsity, height, width)
    if generator is not None and device is None:
        device = generator.device
    keys = torch.rand(n, height * width, generator=generator, device=device)
    return _mask_from_keys(keys, k, height, width)


def sparsify(
    images: Tensor, sparsity: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Remove ``round(sparsity * H * W)`` random pixels from each image, in all channels.

    images: (N, C, H, W). Returns ``(images * mask, mask)`` with mask (N, 1, H, W),
    float 0/1 in the images' dtype. The same ``generator`` state gives the same mask.
    """
    check_sparsity(sparsity)
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    n, _, h, w = images.shape
    mask = random_mask(n, h, w, sparsity, generator=generator, device=images.device)
    mask = mask.to(images.dtype if images.is_floating_point() else torch.float32)
    return images * mask, mask


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 mixing function, elementwise on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fixed_mask(
    indices: Tensor | np.ndarray | list[int],
    height: int,
    width: int,
    sparsity: float,
    seed: int = 0,
    stream: int = 0,
) -> Tensor:
    """Masks (len(indices), 1, H, W) that depend only on (seed, stream, sparsity, image
    index).

    Used for validation and test sets: image ``i`` gets the same mask whatever the batch
    size, the order or the other images in the batch. The removed pixels are the
    ``round(sparsity*H*W)`` smallest of a per-pixel hash of (seed, stream, sparsity, i,
    pixel), i.e. a uniformly random subset, exactly as in :func:`sparsify`. ``stream``
    separates the mask sets of one seed (the test set is stream 0, validation stream 1),
    so image ``i`` of one split never shares its mask with image ``i`` of another.
    """
    if stream < 0:
        raise ValueError(f"stream must be >= 0, got {stream}")
    k = n_removed(sparsity, height, width)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if (idx < 0).any():
        raise ValueError(f"image indices must be >= 0, got {idx[idx < 0][:5].tolist()}")
    level = np.uint64(int(round(check_sparsity(sparsity) * 1_000_000)))
    base = _splitmix64(_splitmix64(np.uint64(seed) & _M64) ^ level)
    if stream:  # stream 0 keeps the masks of earlier protocols (the test masks)
        base = _splitmix64(base ^ _splitmix64(np.uint64(0x5EED0000 + stream)))
    per_image = _splitmix64(base ^ idx.astype(np.uint64))
    pixels = np.arange(height * width, dtype=np.uint64)
    keys = _splitmix64(per_image[:, None] ^ _splitmix64(pixels)[None, :])
    # keep 53 random bits so the keys are exact in float64 and sortable by torch
    keys_t = torch.from_numpy((keys >> np.uint64(11)).astype(np.int64))
    return _mask_from_keys(keys_t, k, height, width)


def apply_fixed_mask(
    images: Tensor, indices: Tensor | np.ndarray | list[int], sparsity: float, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """:func:`sparsify` with the per-image fixed masks of :func:`fixed_mask`.

    images: (N, C, H, W) whose dataset indices are ``indices`` (N,). Returns
    ``(images * mask, mask)``, mask (N, 1, H, W) on the images' device.
    """
    n, _, h, w = images.shape
    mask = fixed_mask(indices, h, w, sparsity, seed).to(images.device)
    if len(mask) != n:
        raise ValueError(f"got {n} images but {len(mask)} indices")
    mask = mask.to(images.dtype if images.is_floating_point() else torch.float32)
    return images * mask, mask
