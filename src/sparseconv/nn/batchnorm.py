"""Batch norm over the valid pixels only, for networks whose features carry a mask."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sparseconv.nn.layers import traced


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
        if not traced(mask) and mask.device.type == "cpu" and bool(mask.min() > 0):
            # every position valid: exactly nn.BatchNorm2d, with its fused kernel
            return super().forward(x), mask
        if not self.training and self.track_running_stats:
            mean, var = self.running_mean, self.running_var
        else:
            n = mask.sum(dim=(0, 2, 3)).clamp_min(1.0)  # (1,): valid positions
            x_valid = x * mask
            mean = x_valid.sum(dim=(0, 2, 3)) / n
            # E[x^2] - E[x]^2 over valid positions: two passes over x instead of four
            var = ((x_valid * x).sum(dim=(0, 2, 3)) / n - mean**2).clamp_min(0.0)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    unbiased = var * n / (n - 1).clamp_min(1.0)
                    self.running_mean.lerp_(mean.detach(), self.momentum)
                    self.running_var.lerp_(unbiased.detach(), self.momentum)
        # (x - mean) * weight / std + bias as one per-channel scale and shift
        scale = torch.rsqrt(var + self.eps) * self.weight
        shift = self.bias - mean * scale
        y = torch.addcmul(shift.view(1, -1, 1, 1), x, scale.view(1, -1, 1, 1))
        return y * mask, mask
