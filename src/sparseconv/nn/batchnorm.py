"""Batch norm over the valid pixels only, for networks whose features carry a mask."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sparseconv.nn.masks import inspect_mask, traced

__all__ = ["SparseBatchNorm2d", "MaskedBatchNorm"]


class MaskedBatchNorm(torch.autograd.Function):
    """Training-mode batch norm over the positions where ``mask`` is 1, 0 elsewhere.

    x: (N, C, H, W), mask: (N, 1 or C, H, W) of 0/1 values (a constant), weight and bias
    (C,). Returns ``(y, mean, var)`` with the biased batch statistics (C,) of the valid
    values (for the running statistics; no gradient flows through them as outputs).

    The backward pass is the batch-norm gradient restricted to the valid positions,
    written out: under autograd the statistics' reductions hand back expanded
    gradients, and multiplying those by the mask runs 5-10x slower than a plain pass
    (``benchmarks/train.py``, Caltech-101). With :math:`\\hat x = (x - \\mu) / \\sigma`
    over the :math:`n` valid positions and :math:`g` the output gradient there,
    :math:`\\partial L / \\partial x = \\gamma / \\sigma \\, (g - \\bar g - \\hat x \\,
    \\overline{g \\hat x})`, :math:`\\partial L / \\partial \\gamma = \\sum g \\hat x`,
    :math:`\\partial L / \\partial \\beta = \\sum g`; 0 at invalid positions.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, mask: Tensor, weight: Tensor, bias: Tensor, eps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)  # valid positions, (1,) or (C,)
        x_valid = x * mask
        mean = x_valid.sum(dim=(0, 2, 3)) / n
        # E[x^2] - E[x]^2 over the valid positions
        var = ((x_valid * x_valid).sum(dim=(0, 2, 3)) / n - mean * mean).clamp_min(0.0)
        rstd = torch.rsqrt(var + eps)
        scale = (rstd * weight).view(1, -1, 1, 1)
        shift = (bias - mean * rstd * weight).view(1, -1, 1, 1)
        y = (x_valid * scale).add_(shift).mul_(mask)
        ctx.save_for_backward(x, mask, weight, mean, var)
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable  # the saved statistics carry no graph: a second order would be wrong
    def backward(ctx: Any, grad: Tensor, *_: Any) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, mask, weight, mean, var = ctx.saved_tensors
        n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)
        rstd = torch.rsqrt(var + ctx.eps)
        g = grad * mask
        x_valid = x * mask
        sum_g = g.sum(dim=(0, 2, 3))
        # sum of g * x_hat = (sum of g * x - mean * sum of g) / sigma
        sum_gx = (g * x_valid).sum(dim=(0, 2, 3))
        grad_weight = (sum_gx - mean * sum_g) * rstd
        grad_bias = sum_g
        grad_x = None
        if ctx.needs_input_grad[0]:
            k = rstd * weight
            # k * (g - sum_g / n - x_hat * grad_weight / n), x_hat = (x - mean) * rstd
            slope = (k * rstd * grad_weight / n).view(1, -1, 1, 1)
            offset = (k * (rstd * grad_weight * mean - sum_g) / n).view(1, -1, 1, 1)
            grad_x = (g * k.view(1, -1, 1, 1)).sub_(x_valid * slope).add_(offset).mul_(mask)
        return grad_x, None, grad_weight, grad_bias, None


class SparseBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose statistics come from valid positions only; invalid outputs are 0.

    Positions that no valid pixel reaches hold only the convolution's bias; counting
    them would bias the mean and shrink the variance by an amount that depends on the
    sparsity. Here the batch mean and variance use the positions with mask 1 only (the
    running statistics likewise), and the output is multiplied by the mask.
    x: (N, C, H, W), mask: (N, 1, H, W) -> (y (N, C, H, W), mask).
    """

    takes_mask = True  # SparseSequential passes (x, mask) to this module

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        if inspect_mask(mask):
            # every position valid: exactly nn.BatchNorm2d, with its fused kernel
            return super().forward(x), mask
        batch_stats = self.training or not self.track_running_stats
        if batch_stats and self.affine and not traced(x):
            y, mean, var = MaskedBatchNorm.apply(x, mask, self.weight, self.bias, self.eps)
            if self.training and self.track_running_stats:
                self._track(mean, var, mask)
            return y, mask
        if not batch_stats:
            mean, var = self.running_mean, self.running_var
        else:
            n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)  # (1,): valid positions
            x_valid = x * mask
            mean = x_valid.sum(dim=(0, 2, 3)) / n
            # E[x^2] - E[x]^2 over valid positions: two passes over x instead of four
            var = ((x_valid * x).sum(dim=(0, 2, 3)) / n - mean**2).clamp_min(0.0)
            if self.training and self.track_running_stats:
                self._track(mean, var, mask)
        # (x - mean) * weight / std + bias as one per-channel scale and shift
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale, shift = scale * self.weight, shift * self.weight + self.bias
        y = torch.addcmul(shift.view(1, -1, 1, 1), x, scale.view(1, -1, 1, 1))
        return y * mask, mask

    def _track(self, mean: Tensor, var: Tensor, mask: Tensor) -> None:
        """Update the running statistics from a batch's valid-position mean and var."""
        with torch.no_grad():
            n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)
            self.num_batches_tracked += 1
            unbiased = var * n / (n - 1).clamp_min(1.0)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
