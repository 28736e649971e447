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
  enters the running mean only, and gets its zero gradient);
* batch norm's affine map is monotone in each channel, so the pool can run before it
  and the map on the pooled quarter; the gradient then reaches the pooled maxima only,
  and batch norm's backward sums run over that quarter too (Caltech-101's first block:
  the training step sparse / dense from 1.14 to 1.03-1.05, ``benchmarks/train.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sparseconv.nn.batchnorm import SparseBatchNorm2d
from sparseconv.nn.layers import SparseConv2d, _eager
from sparseconv.nn.masks import inspect_mask, mark_mask, mark_zero_outside, traced
from sparseconv.nn.pooling import SparseMaxPool2d

__all__ = ["ConvBlock", "conv_max_pool", "conv_bn_max_pool"]


def _fusable(x_valid: Tensor, pool: SparseMaxPool2d, mask_conv: Tensor) -> bool:
    """The fused forms apply where the convolution leaves invalid pixels (otherwise the
    plain layers take their all-valid shortcuts), eagerly, with an unpadded pool."""
    return not traced(x_valid) and pool.padding == (0, 0) and not inspect_mask(mask_conv)


def _layout(t: Tensor) -> torch.memory_format:
    """channels-last where ``t`` is laid out so, else contiguous."""
    cl = t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
    return torch.channels_last if cl else torch.contiguous_format


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


class _ConvBatchNormPool(torch.autograd.Function):
    """The sparse block conv -> scale -> batch norm over valid pixels -> max-pool, as one
    function with a written-out backward. Private to :func:`conv_bn_max_pool`.

    Forward: ``y = conv2d(x, weight) * scale`` (bias-free: the bias cancels in batch
    norm), 0 wherever no valid input reaches; the batch mean and biased variance of its
    valid values; then the pool. Batch norm's affine map ``y * k + shift`` is monotone
    per channel (decreasing where ``k < 0``), so the pool runs on ``y * sign(k)`` plus the
    floor, and the affine map is applied to the pooled quarter: one pass over the
    convolution's output instead of three. Windows without a valid pixel give 0.

    Backward: the output gradient reaches only the pooled maxima, so batch norm's sums
    (of ``g`` and ``g * y``) run over the quarter-size pooled tensors; the full-size
    gradient is then ``(scatter(g * k) - y * slope + offset) * scale`` in place, and the
    convolution's gradients come from ``aten.convolution_backward``. The input gradient
    is exact at valid pixels; at the others the scale is 0, as in the plain layers.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, scale: Tensor, mask: Tensor,
        mask_out: Tensor, n: Tensor, bn_weight: Tensor, bn_bias: Tensor,
        conv_bias: Tensor | None, eps: float, conv: tuple, pool: tuple,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        stride, padding, dilation, groups = conv
        y = F.conv2d(x, weight, None, stride, padding, dilation, groups).mul_(scale)
        mean = y.sum(dim=(0, 2, 3)) / n
        var = ((y * y).sum(dim=(0, 2, 3)) / n - mean * mean).clamp_min(0.0)
        rstd = torch.rsqrt(var + eps)
        k = rstd * bn_weight
        # on the CPU one host read skips the sign pass when no gain is negative (the
        # usual case); on an accelerator the pass is cheap and a host sync is not
        flip = bool((k < 0).any()) if y.device.type == "cpu" else True
        sign = torch.where(k < 0, -1.0, 1.0).to(y.dtype).view(1, -1, 1, 1)
        # invalid pixels sit at the floor and never win a window that holds a valid one;
        # a floor of finfo.min / (1 + max |k|) stays finite through the affine map
        floor = (1.0 - mask) * (torch.finfo(y.dtype).min / (1.0 + k.abs().max()))
        t = (y * sign).add_(floor) if flip else y + floor
        pooled, idx = torch.ops.aten.max_pool2d_with_indices(t, *pool)
        del t
        shift = (bn_bias - mean * k).view(1, -1, 1, 1)
        z = torch.addcmul(shift, pooled, (k * sign.view(-1)).view(1, -1, 1, 1))
        z.mul_(mask_out)  # windows without a valid pixel: 0
        ctx.save_for_backward(
            x, weight, scale, y, pooled, idx, mask_out, n, bn_weight, mean, rstd, sign
        )
        ctx.conv, ctx.pool = conv, pool
        ctx.conv_bias = conv_bias is not None
        ctx.mark_non_differentiable(mean, var)
        return z, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor, *_: Any) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        saved = ctx.saved_tensors
        x, weight, scale, y, pooled, idx, mask_out, n, bn_weight, mean, rstd, sign = saved
        # in the pooled tensor's layout (the pool's backward copies otherwise)
        g = (grad * mask_out).contiguous(memory_format=_layout(pooled))
        sum_g = g.sum(dim=(0, 2, 3))
        # the pooled maxima of y: pooled holds y * sign there
        sum_gy = (g * pooled * sign).sum(dim=(0, 2, 3))
        grad_gamma = (sum_gy - mean * sum_g) * rstd
        k = rstd * bn_weight
        slope = (k * rstd * grad_gamma / n).view(1, -1, 1, 1)
        offset = (k * (rstd * grad_gamma * mean - sum_g) / n).view(1, -1, 1, 1)
        # scatter(g * k) - y * slope + offset, times the scale: the convolution's gradient
        gy = torch.ops.aten.max_pool2d_with_indices_backward(
            g.mul_(k.view(1, -1, 1, 1)), y, *ctx.pool, idx
        )
        gy.addcmul_(y, slope, value=-1.0).add_(offset).mul_(scale)
        stride, padding, dilation, groups = ctx.conv
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_x = grad_w = None
        if need_x or need_w:
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                gy, x, weight, None, stride, padding, dilation, False, (0, 0), groups,
                (need_x, need_w, False),
            )  # fmt: skip
        # the convolution's bias cancels in batch norm: its gradient is 0
        zero = torch.zeros_like(bn_weight) if ctx.conv_bias else None
        return grad_x, grad_w, None, None, None, None, grad_gamma, sum_g, zero, None, None, None


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
    if not (batch and norm.momentum is not None and scale.shape[1] == 1
            and _eager(x_valid) and _fusable(x_valid, pool, mask_conv)):  # fmt: skip
        return pool(*norm(conv.apply_scale(x_valid, scale, mask_conv), mask_conv))
    with torch.no_grad():
        mask_out = mark_mask(pool._pool(mask_conv))
        n = mask_conv.sum(dim=(0, 2, 3)).clamp_min(1.0)
    z, mean, var = _ConvBatchNormPool.apply(
        x_valid, conv.weight, scale, mask_conv.to(x_valid.dtype), mask_out, n,
        norm.weight, norm.bias, conv.bias, norm.eps,
        (conv.stride, conv._pad, conv.dilation, conv.groups),
        (pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode),
    )  # fmt: skip
    # the running mean is that of the biased convolution's output, as in the plain form
    norm._track(mean if conv.bias is None else mean + conv.bias.detach(), var, mask_conv)
    return z, mask_out


class ConvBlock(nn.Module):
    """conv -> [batch norm] -> ReLU -> [2x2 max-pool], sparse or dense.

    The pool is applied before the ReLU: max-pooling and ReLU commute (both are
    monotone, and a window without valid pixels gives 0 either way), so the values and
    gradients are those of the order above, with the ReLU on a quarter of the pixels.

    x: (N, C_in, H, W), mask: (N, 1, H, W) -> (y (N, C_out, H', W'), mask (N, 1, H', W')).
    Dense blocks pass the mask through (pooled alike) without using it.

    ``feeds_sparse``: the block's output goes only to another sparse layer, which reads
    its valid pixels only. A sparse block without pool or batch norm then gives 0 at the
    invalid pixels (the paper's layer alone gives its bias there) and notes so
    (:func:`~sparseconv.nn.masks.mark_zero_outside`), and the next layer skips its
    multiplication by the mask, forward and backward: the network computes the same
    values and gradients in two passes fewer per layer.
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
        feeds_sparse: bool = False,
    ) -> None:
        super().__init__()
        self.sparse = sparse
        self.feeds_sparse = feeds_sparse
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
            if self.feeds_sparse and self.norm is None and self.pool is None:
                x_valid, scale, mask = self.conv.prepare(x, mask)
                y = self.conv.apply_scale(x_valid, scale, mask, zero_invalid=True)
                return mark_zero_outside(F.relu(y), mask), mask
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
