"""The sparse layer's passes at the cost of a dense convolution (``benchmarks/layer.py``).

Two places cost more than their arithmetic when written plainly:

* **the count of valid pixels**, a box sum of a one-channel mask: ``avg_pool2d`` and
  ``max_pool2d`` vectorise over channels, and a mask has one. :func:`box_count` lays the
  batch out as channels, ``(1, N * C, H, W)``, and sums with a depthwise convolution of
  ones: 7-38x faster than ``avg_pool2d`` on one CPU thread, and exact (integers below
  2^24).
* **the normalise + bias**, ``conv(x) * scale + b``: under autograd the product is a new
  tensor with its own backward node. :class:`NormalizedConv` overwrites the convolution's
  output in place (nothing needs it for the backward pass) and computes the gradients
  with one multiply and ``aten.convolution_backward``.

Both compute exactly what the plain ops compute; ``tests/test_kernels.py`` checks them
against those ops, forward and backward, in float64 and float32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["box_count", "NormalizedConv", "scaled", "masked_sum"]


def box_count(
    mask: Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> Tensor:
    """Valid pixels under every window, per channel: mask (N, C, H, W) of 0/1 values ->
    (N, C, H', W'), as ``conv2d(mask, ones(C, 1, kh, kw), stride, padding, dilation,
    groups=C)``. Zero padding counts as missing; no autograd."""
    n, c, h, w = mask.shape
    with torch.no_grad():
        # a view for a contiguous mask, and the output a view back: no transposes (laying
        # the planes out channels-last measured 1.5-3.7x slower)
        planes = mask.contiguous().view(1, n * c, h, w)
        ones = torch.ones(n * c, 1, *kernel_size, dtype=mask.dtype, device=mask.device)
        count = F.conv2d(planes, ones, None, stride, padding, dilation, n * c)
        return count.reshape(n, c, *count.shape[2:]).contiguous()


def scaled(y: Tensor, scale: Tensor) -> Tensor:
    """``y * scale`` with scale (N, 1 or C or G, H, W) broadcast over y (N, C, H, W); a
    scale of G channels applies to each group of C / G consecutive channels."""
    if scale.shape[1] in (1, y.shape[1]):
        return y * scale
    n, c, h, w = y.shape
    g = scale.shape[1]
    return (y.view(n, g, c // g, h, w) * scale.unsqueeze(2)).view(n, c, h, w)


def masked_sum(g: Tensor, mask: Tensor) -> Tensor:
    """``(g * mask).sum(dim=(0, 2, 3))`` for g (N, C, H, W) and mask (N, 1, H, W) of one
    dtype, without the full-size product: a matrix-vector product that reads ``g`` once
    (channels-last: the pixels as rows, ``mask`` as the vector; else per image, the
    pixels as columns). A mask of C channels takes the product."""
    n, c, h, w = g.shape
    if mask.shape[1] != 1 or mask.dtype != g.dtype:
        return (g * mask).sum(dim=(0, 2, 3))
    weights = mask.reshape(n, h * w)
    if g.is_contiguous(memory_format=torch.channels_last) and not g.is_contiguous():
        return weights.reshape(-1) @ g.permute(0, 2, 3, 1).reshape(n * h * w, c)
    return torch.bmm(g.reshape(n, c, h * w), weights.unsqueeze(2)).sum(dim=0).flatten()


class NormalizedConv(torch.autograd.Function):
    """``conv2d(x, weight) * scale + bias`` (``bias_mask``: ``+ bias * bias_mask``), with
    ``scale`` (N, 1, H', W') and ``bias_mask`` constants: no gradient reaches them.

    Forward: one convolution, then the scale and bias applied in place on its output.
    Backward: ``g * scale`` once, then the convolution's input and weight gradients from
    ``aten.convolution_backward``; the bias gradient is the sum of ``g`` (over
    ``bias_mask`` where given). Differentiable twice, like the plain ops. Only for scales
    of one channel (the shared-mask layer); CPU or CUDA, no autocast.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        scale: Tensor,
        bias_mask: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
    ) -> Tensor:
        # the ctx-style forward: the setup_context style (for torch.func) costs 30 us
        # more per call, and traced callers take the plain ops instead
        y = F.conv2d(x, weight, None, stride, padding, dilation, groups)
        if scale.dtype != y.dtype:
            scale = scale.to(y.dtype)
        ctx.save_for_backward(x, weight, scale, bias_mask)
        ctx.conv = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        if bias is None:
            return y.mul_(scale)
        b = bias.view(1, -1, 1, 1)
        if bias_mask is None:
            # one pass; the per-channel bias broadcasts along the innermost dimension of
            # a channels-last tensor (two broadcast (N, 1, H, W) operands would not)
            return torch.addcmul(b, y, scale, out=y)
        # conv * scale is 0 wherever bias_mask is: (conv * scale + b) * bias_mask is the same
        return torch.addcmul(b, y, scale, out=y).mul_(bias_mask)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight, scale, bias_mask = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            grad_y = grad * scale
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                grad_y, x, weight, None, stride, padding, dilation, False, (0, 0), groups,
                (need_x, need_w, False),
            )  # fmt: skip
        if ctx.has_bias and need_b:
            grad_b = grad.sum(dim=(0, 2, 3)) if bias_mask is None else masked_sum(grad, bias_mask)
        return grad_x, grad_w, grad_b, None, None, None, None, None, None
