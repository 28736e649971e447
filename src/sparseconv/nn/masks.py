"""Validity masks: checking them, and counting the valid pixels under a window.

A mask is (N, C, H, W) of 0/1 values, 1 where a pixel holds a measurement. These
functions hold no parameters; :class:`~sparseconv.nn.layers.SparseConv2d`,
:class:`~sparseconv.nn.pooling.SparseMaxPool2d` and
:class:`~sparseconv.nn.batchnorm.SparseBatchNorm2d` call them on every input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

from sparseconv.nn.kernels import box_count

__all__ = [
    "traced",
    "valid_count",
    "mark_mask",
    "known_full",
    "mark_zero_outside",
    "known_zero_outside",
    "inspect_mask",
    "check_mask",
]


def _compiling() -> bool:
    """True while torch.compile or torch.export traces (no data-dependent branches)."""
    return torch.compiler.is_compiling()


def traced(t: Tensor) -> bool:
    """True where a tensor's values cannot be read on the host: while compiling or
    exporting, and inside ``torch.func`` transforms (``vmap``: many runs trained as one,
    :mod:`sparseconv.train.packed`). Data-dependent shortcuts and checks are skipped."""
    return _compiling() or torch._C._functorch.is_functorch_wrapped_tensor(t)


def valid_count(
    mask: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | None = None,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """Number of valid pixels under each window of a convolution, without autograd.

    mask: (N, C, H, W), 0/1, channels counted separately. Returns (N, C, H', W') with
    integer values in [0, kh * kw], the same as ``conv2d(mask, ones(C, 1, kh, kw),
    stride, padding, dilation, groups=C)``; zero padding counts as missing. ``padding``
    defaults to ``kernel_size // 2`` (same size for odd kernels at stride 1). Computed
    by :func:`~sparseconv.nn.kernels.box_count` (the batch as channels), except in an
    ONNX export or while traced.
    """
    kh, kw = _pair(kernel_size)
    pad = (kh // 2, kw // 2) if padding is None else _pair(padding)
    stride, dilation = _pair(stride), _pair(dilation)
    with torch.no_grad():
        if not (torch.onnx.is_in_onnx_export() or traced(mask)):
            return box_count(mask, (kh, kw), stride, pad, dilation)
        # exported or traced (vmap cannot lay the batch out as channels): the plain
        # grouped convolution, one channel of ones per mask channel
        channels = mask.shape[1]
        ones = torch.ones(channels, 1, kh, kw, dtype=mask.dtype, device=mask.device)
        return F.conv2d(mask, ones, None, stride, pad, dilation, channels)


# the attribute under which a mask made by this package notes what is known of it
_KNOWN = "_sparseconv_known"


def mark_mask(mask: Tensor, all_valid: bool | None = None) -> Tensor:
    """Note on ``mask``, made by this package's layers, that it holds only 0 and 1 and
    whether every entry is 1 (None: not known), so that the next layer need not check it
    again (the checks were a sixth of a small network's step, ``benchmarks/train.py``).
    The note holds for the tensor's current version only: any in-place change drops it.
    Returns ``mask``."""
    if not traced(mask):
        setattr(mask, _KNOWN, (mask._version, all_valid))
    return mask


def known_full(mask: Tensor) -> bool:
    """True if :func:`mark_mask` noted that every entry of ``mask`` is 1 (and the tensor
    has not changed since); no computation, so False where nothing is noted."""
    known = getattr(mask, _KNOWN, None)
    return known is not None and known[0] == mask._version and known[1] is True


# the attribute under which a block notes that its output is 0 wherever its mask is
_ZERO = "_sparseconv_zero_outside"


def mark_zero_outside(x: Tensor, mask: Tensor) -> Tensor:
    """Note on ``x`` (N, C, H, W), made by this package's blocks, that it is 0 wherever
    ``mask`` (N, 1 or C, H, W) is, so that the sparse layer that reads it need not
    multiply it by that mask again (:func:`known_zero_outside`). The note holds for the
    current versions of both tensors only; never while traced. Returns ``x``."""
    if not traced(x):
        setattr(x, _ZERO, (mask, mask._version, x._version))
    return x


def known_zero_outside(x: Tensor, mask: Tensor) -> bool:
    """True if :func:`mark_zero_outside` noted that ``x`` is 0 wherever this very
    ``mask`` tensor is (both unchanged since); no computation."""
    known = getattr(x, _ZERO, None)
    return (
        known is not None
        and known[0] is mask
        and known[1] == mask._version
        and known[2] == x._version
    )


def inspect_mask(mask: Tensor) -> bool:
    """Check that a mask holds only 0 and 1 (ValueError naming a bad value otherwise) and
    return True if every entry is 1. One pass and one host sync, so only on the CPU and
    never while traced; there (and for an empty mask) no check, and False. A mask
    noted by :func:`mark_mask` is not checked again."""
    if traced(mask) or mask.device.type != "cpu" or not mask.numel():
        return False
    known = getattr(mask, _KNOWN, None)
    if known is not None and known[0] == mask._version:
        if known[1] is not None:
            return known[1]
        all_valid = bool(mask.min() == 1.0)  # 0/1 values: all ones iff the minimum is 1
        mark_mask(mask, all_valid)
        return all_valid
    low, high = torch.aminmax(mask.detach())
    if float(low) == 1.0 and float(high) == 1.0:  # NaN fails both
        return True
    # m * m == m holds for 0 and 1 only (NaN fails it too)
    if torch.equal(mask * mask, mask):
        return False
    bad = (mask != 0) & (mask != 1)
    raise ValueError(f"mask must hold only 0 and 1, found {mask[bad][0].item()!r}")


def check_mask(x: Tensor, mask: Tensor, channels: int | None = None) -> bool:
    """Raise ValueError unless ``x`` is (N, C, H, W) and ``mask`` is (N, channels, H, W)
    (``channels`` None: 1 or C); on the CPU also unless the mask holds only 0 and 1.
    Returns :func:`inspect_mask`'s answer: True if every entry of the mask is 1."""
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    allowed = (1, x.shape[1]) if channels is None else (channels,)
    if mask.dim() != 4 or mask.shape[1] not in allowed:
        want = " or ".join(f"(N, {c}, H, W)" for c in dict.fromkeys(allowed))
        raise ValueError(f"mask must have shape {want}, got {tuple(mask.shape)}")
    if x.shape[0] != mask.shape[0] or x.shape[2:] != mask.shape[2:]:
        raise ValueError(
            f"x of shape {tuple(x.shape)} does not match mask of shape {tuple(mask.shape)}"
        )
    return inspect_mask(mask)
