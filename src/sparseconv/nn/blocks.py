"""The study's convolution block, conv -> [batch norm] -> 2 x 2 max-pool -> ReLU, and
its sparse form in fewer passes over the convolution's output.

A sparse block's plain form applies :class:`~sparseconv.nn.layers.SparseConv2d`,
:class:`~sparseconv.nn.batchnorm.SparseBatchNorm2d` and
:class:`~sparseconv.nn.pooling.SparseMaxPool2d` one after the other; where the
convolution's output has pixels that no valid input reaches, each re-masks the full-size
features (several reads and writes of the network's largest tensor). The fused forms
below compute the same values from what is known in the block:

* the normalised convolution without its bias is exactly 0 at those pixels, so batch
  statistics need no masking and the pool's floor is added in place;
* a per-channel constant commutes with the max, so the bias is added after pooling;
* batch norm subtracts the batch mean, so the convolution's bias cancels in it (it
  enters the running mean only, and gets its zero gradient).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sparseconv.nn.batchnorm import SparseBatchNorm2d
from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.masks import inspect_mask, mark_mask, traced
from sparseconv.nn.pooling import SparseMaxPool2d

__all__ = ["ConvBlock", "conv_max_pool", "conv_bn_max_pool"]


def _fusable(x_valid: Tensor, pool: SparseMaxPool2d, mask_conv: Tensor) -> bool:
    """The fused forms apply where the convolution leaves invalid pixels (otherwise the
    plain layers take their all-valid shortcuts), eagerly, with an unpadded pool."""
    return not traced(x_valid) and pool.padding == (0, 0) and not inspect_mask(mask_conv)


def _floor(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """0 where valid, the dtype's most negative finite value elsewhere (no autograd)."""
    with torch.no_grad():
        return (1.0 - mask.to(dtype)) * torch.finfo(dtype).min


def conv_max_pool(
    conv: SparseConv2d, pool: SparseMaxPool2d, x: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """``pool(*conv(x, mask))`` with the same values, in fewer passes.
    x: (N, C_in, H, W), mask: (N, 1, H, W) -> the pool's (y, mask_out)."""
    x_valid, scale, mask_conv = conv.prepare(x, mask)
    if not _fusable(x_valid, pool, mask_conv):
        return pool(conv.apply_scale(x_valid, scale, mask_conv), mask_conv)
    y = conv.apply_scale(x_valid, scale, mask_conv, bias=False)
    with torch.no_grad():
        mask_out = mark_mask(pool._pool(mask_conv))
    y = pool._pool(y.add_(_floor(mask_conv, y.dtype)))  # in place: nothing else holds it
    if conv.bias is not None:
        y = y + conv.bias.view(1, -1, 1, 1).to(y.dtype)
    # windows without a valid pixel hold the floor: zero them (and their gradient)
    return y * (mask_out if mask_out.dtype == y.dtype else mask_out.to(y.dtype)), mask_out


class _BatchNormOfZeroed(torch.autograd.Function):
    """Training batch norm over the valid positions of ``y``, which is 0 elsewhere, with
    the floor added: (y - mean) / std * weight + bias + floor, and the batch mean and
    biased variance of the valid values. Private to :func:`conv_bn_max_pool`: the input
    gradient is exact at valid positions only (the convolution's scale, 0 elsewhere,
    discards the rest), and the output gradient must be 0 at invalid positions (a max
    never picks the floor where the window holds a valid pixel, and the pooled mask
    zeroes the windows that hold none)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, y: Tensor, mask: Tensor, floor: Tensor, weight: Tensor, bias: Tensor,
        conv_bias: Tensor | None, eps: float,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)
        mean = y.sum(dim=(0, 2, 3)) / n
        var = ((y * y).sum(dim=(0, 2, 3)) / n - mean * mean).clamp_min(0.0)
        k = torch.rsqrt(var + eps) * weight
        shift = (bias - mean * k).view(1, -1, 1, 1)
        z = torch.addcmul(shift, y, k.view(1, -1, 1, 1)).add_(floor)
        ctx.save_for_backward(y, mask, weight, mean, var)
        ctx.eps = eps
        ctx.conv_bias = conv_bias is not None
        ctx.mark_non_differentiable(mean, var)
        return z, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor, *_: Any) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        y, mask, weight, mean, var = ctx.saved_tensors
        n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)
        rstd = torch.rsqrt(var + ctx.eps)
        sum_g = grad.sum(dim=(0, 2, 3))
        grad_weight = ((grad * y).sum(dim=(0, 2, 3)) - mean * sum_g) * rstd
        k = rstd * weight
        slope = (k * rstd * grad_weight / n).view(1, -1, 1, 1)
        offset = (k * (rstd * grad_weight * mean - sum_g) / n).view(1, -1, 1, 1)
        grad_y = (grad * k.view(1, -1, 1, 1)).sub_(y * slope).add_(offset)
        zero = torch.zeros_like(weight) if ctx.conv_bias else None
        return grad_y, None, None, grad_weight, sum_g, zero, None


def conv_bn_max_pool(
    conv: SparseConv2d,
    norm: SparseBatchNorm2d,
    pool: SparseMaxPool2d,
    x: Tensor,
    mask: Tensor,
) -> tuple[Tensor, Tensor]:
    """``pool(*norm(*conv(x, mask)))`` with the same values (to float rounding), in
    fewer passes while training. x: (N, C_in, H, W), mask: (N, 1, H, W) -> the pool's
    (y, mask_out)."""
    x_valid, scale, mask_conv = conv.prepare(x, mask)
    batch = norm.training and norm.track_running_stats and norm.affine
    if not (batch and norm.momentum is not None and _fusable(x_valid, pool, mask_conv)):
        return pool(*norm(conv.apply_scale(x_valid, scale, mask_conv), mask_conv))
    y = conv.apply_scale(x_valid, scale, mask_conv, bias=False)
    floor = _floor(mask_conv, y.dtype)
    z, mean, var = _BatchNormOfZeroed.apply(
        y, mask_conv, floor, norm.weight, norm.bias, conv.bias, norm.eps
    )
    # the running mean is that of the biased convolution's output, as in the plain form
    norm._track(mean if conv.bias is None else mean + conv.bias.detach(), var, mask_conv)
    with torch.no_grad():
        mask_out = mark_mask(pool._pool(mask_conv))
    pooled = pool._pool(z)
    return pooled * (mask_out if mask_out.dtype == z.dtype else mask_out.to(z.dtype)), mask_out


class ConvBlock(nn.Module):
    """conv -> [batch norm] -> ReLU -> [2x2 max-pool], sparse or dense.

    The pool is applied before the ReLU: max-pooling and ReLU commute (both are
    monotone, and a window without valid pixels gives 0 either way), so the values and
    gradients are those of the order above, with the ReLU on a quarter of the pixels.

    x: (N, C_in, H, W), mask: (N, 1, H, W) -> (y (N, C_out, H', W'), mask (N, 1, H', W')).
    Dense blocks pass the mask through (pooled alike) without using it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        sparse: bool,
        normalization: str = "paper",
        batch_norm: bool = False,
        pool: bool = False,
    ) -> None:
        super().__init__()
        self.sparse = sparse
        self.conv: nn.Module
        self.norm: nn.Module | None = None
        self.pool: nn.Module | None = None
        if sparse:
            self.conv = SparseConv2d(
                in_channels, out_channels, kernel_size, normalization=normalization
            )
            if batch_norm:
                self.norm = SparseBatchNorm2d(out_channels)
            if pool:
                self.pool = SparseMaxPool2d(2)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
            # He-normal, zero bias: the same principle as SparseConv2d.reset_parameters
            nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (in_channels * kernel_size**2)))
            nn.init.zeros_(conv.bias)
            self.conv = conv
            if batch_norm:
                self.norm = nn.BatchNorm2d(out_channels)
            if pool:
                self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.sparse:
            if self.pool is not None:
                if self.norm is None:
                    x, mask = conv_max_pool(self.conv, self.pool, x, mask)
                else:
                    x, mask = conv_bn_max_pool(self.conv, self.norm, self.pool, x, mask)
                return F.relu(x), mask
            x, mask = self.conv(x, mask)
            if self.norm is not None:
                x, mask = self.norm(x, mask)
            if self.pool is not None:
                x, mask = self.pool(x, mask)
            return F.relu(x), mask
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.pool is not None:
            x = self.pool(x)
            mask = F.max_pool2d(mask, 2)
        return F.relu(x), mask
