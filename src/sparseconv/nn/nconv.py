"""Normalized convolution with propagated confidence (Eldesokey, Felsberg and Khan, BMVC
2018), the successor of the sparsity invariant layer for depth completion.

Where the paper's layer takes a 0/1 mask and divides by the *number* of valid pixels, a
normalized convolution takes a continuous confidence :math:`c \\ge 0`, weights each input
by it and by a non-negative kernel :math:`\\Gamma(W)` (``softplus`` of the learnt weights),
and passes on a confidence of its own:

.. math::

    y = \\frac{\\Gamma(W) \\star (c \\odot x)}{\\Gamma(W) \\star c + \\epsilon} + b,
    \\qquad c_{out} = \\frac{\\Gamma(W) \\star c}{\\sum \\Gamma(W)}

Written here from the paper's equations; the network follows its unguided multi-scale
encoder-decoder (normalized convolutions at four scales, down-sampling that keeps the
most confident pixel of each window, nearest up-sampling and concatenation with the
finer scale, a final 1 x 1), with our channel count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NConv2d", "confidence_downsample", "NConvNet"]


class NConv2d(nn.Module):
    """Normalized convolution over ``(x, confidence)`` (see the module docstring).

    Args:
        in_channels, out_channels: channels of ``x`` and ``y``.
        kernel_size: odd window size, same padding (zero confidence outside the image).
        eps: added to the normalising sum. Default: 1e-20 (the paper's).

    Shape: ``x`` and ``confidence`` (N, C_in, H, W), confidence >= 0 -> ``y`` and its
    confidence (N, C_out, H, W), the confidence in [0, max(confidence)].
    """

    takes_mask = True  # SparseSequential passes the pair

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 eps: float = 1e-20) -> None:  # fmt: skip
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.eps = kernel_size, float(eps)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size,
                                               kernel_size))  # fmt: skip
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights whose softplus starts near a flat, positive kernel (the paper starts from
        positive weights); zero bias."""
        nn.init.normal_(self.weight, mean=math.log(math.e - 1.0), std=0.1)  # softplus ~ 1
        nn.init.zeros_(self.bias)

    def kernel(self) -> Tensor:
        """The non-negative kernel Gamma(W) = softplus(W)."""
        return F.softplus(self.weight)

    def forward(self, x: Tensor, confidence: Tensor) -> tuple[Tensor, Tensor]:
        """x, confidence: (N, C_in, H, W) -> (y, confidence_out): (N, C_out, H, W)."""
        if x.shape != confidence.shape or x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x {tuple(x.shape)} and confidence {tuple(confidence.shape)} "
                             f"must both be (N, {self.in_channels}, H, W)")  # fmt: skip
        k = self.kernel()
        pad = self.kernel_size // 2
        numerator = F.conv2d(x * confidence, k, padding=pad)
        denominator = F.conv2d(confidence, k, padding=pad)
        y = numerator / (denominator + self.eps) + self.bias.view(1, -1, 1, 1)
        total = k.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        return y, denominator / total

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"


def confidence_downsample(x: Tensor, confidence: Tensor, factor: int = 2) -> tuple[Tensor, Tensor]:
    """Halve the resolution keeping, in each ``factor`` x ``factor`` window, the pixel of
    highest confidence: its confidence and its value (the paper's down-sampling).
    (N, C, H, W) -> (N, C, H // factor, W // factor)."""
    pooled, index = F.max_pool2d(confidence, factor, return_indices=True)
    n, c, h, w = pooled.shape
    values = x.flatten(2).gather(2, index.flatten(2)).view(n, c, h, w)
    return values, pooled


class NConvNet(nn.Module):
    """The unguided normalized-convolution network for depth completion: three 5 x 5
    normalized convolutions at full resolution, then at each of three coarser scales a
    confidence down-sampling and two more; back up, each coarser result is up-sampled
    (nearest), concatenated with the finer one (data and confidence) and fused by a
    3 x 3 normalized convolution; a final 1 x 1 gives the depth.

    ``forward(x, mask)``: x (N, 1, H, W) sparse depth, mask (N, 1, H, W) its 0/1 validity
    (the first confidence) -> depth (N, 1, H, W). H and W must be divisible by 8.
    """

    def __init__(self, channels: int = 2, scales: int = 4) -> None:
        super().__init__()
        self.memory_format = torch.contiguous_format  # the layout it computes in (records)
        self.scales = scales
        self.first = nn.ModuleList([NConv2d(1, channels, 5), NConv2d(channels, channels, 5),
                                    NConv2d(channels, channels, 5)])  # fmt: skip
        self.down = nn.ModuleList(
            nn.ModuleList([NConv2d(channels, channels, 5), NConv2d(channels, channels, 5)])
            for _ in range(scales - 1)
        )
        self.up = nn.ModuleList(NConv2d(2 * channels, channels, 3) for _ in range(scales - 1))
        self.last = NConv2d(channels, 1, 1)

    def describe(self) -> str:
        """E.g. ``'nconv5 x3, 3 scales down (nconv5 x2), up (nconv3), nconv1 (2 ch)'``."""
        width = self.first[0].out_channels
        return (f"nconv5 x3, {self.scales - 1} scales down (nconv5 x2), up (nconv3), "
                f"nconv1 ({width} ch)")  # fmt: skip

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        factor = 2 ** (self.scales - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"height and width must be divisible by {factor}, got "
                             f"{tuple(x.shape[-2:])}")  # fmt: skip
        c = mask.to(x.dtype)
        for layer in self.first:
            x, c = layer(x, c)
        pyramid = [(x, c)]
        for layers in self.down:
            x, c = confidence_downsample(x, c)
            for layer in layers:
                x, c = layer(x, c)
            pyramid.append((x, c))
        x, c = pyramid[-1]
        for layer, (fine_x, fine_c) in zip(self.up, reversed(pyramid[:-1]), strict=True):
            x = F.interpolate(x, size=fine_x.shape[-2:], mode="nearest")
            c = F.interpolate(c, size=fine_c.shape[-2:], mode="nearest")
            x, c = layer(torch.cat([fine_x, x], dim=1), torch.cat([fine_c, c], dim=1))
        y, _ = self.last(x, c)
        return y
