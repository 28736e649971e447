"""Sparsity invariant convolution (Uhrig et al., 3DV 2017) and its pooling companion.

Both layers take a pair ``(x, mask)``: features ``x`` of shape (N, C, H, W) and a
validity mask of shape (N, 1, H, W) with values 0 or 1, shared by all channels.
Both return a pair ``(y, mask_out)`` of the same kind.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SparseConv2d", "SparseMaxPool2d", "valid_count"]

NORMALIZATIONS = ("paper", "partial")


def valid_count(mask: Tensor, kernel_size: int) -> Tensor:
    """Number of valid pixels under a ``kernel_size`` window centred on each pixel.

    mask: (N, 1, H, W), 0/1. Returns (N, 1, H, W) with integer values in [0, k^2],
    the same as ``conv2d(mask, ones(1, 1, k, k), padding=k // 2)``. Computed as a
    box sum (``avg_pool2d`` with divisor 1), without autograd.
    """
    with torch.no_grad():
        return F.avg_pool2d(
            mask,
            kernel_size,
            stride=1,
            padding=kernel_size // 2,
            count_include_pad=True,
            divisor_override=1,
        )


def _all_valid(mask: Tensor) -> bool:
    """True if every entry of the 0/1 mask is 1 (a host sync on GPU, so CPU only)."""
    return mask.device.type == "cpu" and bool(mask.min() > 0)


def _check_mask(x: Tensor, mask: Tensor) -> None:
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (N, 1, H, W), got {tuple(mask.shape)}")
    if x.dim() != 4 or x.shape[0] != mask.shape[0] or x.shape[2:] != mask.shape[2:]:
        raise ValueError(
            f"x of shape {tuple(x.shape)} does not match mask of shape {tuple(mask.shape)}"
        )


class SparseConv2d(nn.Module):
    r"""Sparsity invariant convolution: a convolution that averages valid pixels only.

    With a k x k window :math:`W_{u,v}` around pixel (u, v), input mask :math:`o` and
    count :math:`n_{u,v} = \sum_{W_{u,v}} o`:

    * ``normalization="paper"`` (Uhrig et al. 2017)::

          y = conv(x * mask, weight) / (n + eps) + bias

      so a window with no valid pixel outputs the bias alone.
    * ``normalization="partial"`` (partial convolution, Liu et al. 2018)::

          y = conv(x * mask, weight) * k^2 / n + bias   where n > 0
          y = 0                                          where n = 0

      On a fully valid input this is exactly ``nn.Conv2d`` away from the border (the
      zero padding counts as missing, so border pixels are re-weighted).

    In both, ``mask_out`` is the k x k max-pool of ``mask`` (stride 1, same size): a
    pixel is valid after the layer if any input pixel under its window was valid.
    The count and ``mask_out`` do not depend on the weights and are computed without
    autograd. The output is never NaN or Inf, for any mask, including all zeros.

    Shapes: ``x`` (N, C_in, H, W), ``mask`` (N, 1, H, W) of 0/1 values, shared by all
    channels; returns ``y`` (N, C_out, H, W) and ``mask_out`` (N, 1, H, W). Odd kernel
    sizes only, stride 1, zero padding ``k // 2``.

    Initialisation. ``nn.Conv2d``'s default assumes the output is a *sum* over
    ``C_in * k^2`` inputs. The paper's layer takes a *mean* over the valid window
    positions, so with the same weights its output is about k^2 times smaller, and a
    deep stack of such layers starts with vanishing activations (reproductions found it
    did not learn without batch norm). We therefore use He (Kaiming) normal
    initialisation for the layer as it actually computes: for ``"paper"`` the layer on
    a fully valid input equals a convolution with weights ``weight / k^2``, so
    ``weight ~ N(0, 2 k^2 / C_in)`` (std ``k * sqrt(2 / C_in)``), which keeps the
    activation variance constant through ReLU layers at full density. For
    ``"partial"`` the layer equals ``nn.Conv2d`` at full density, so the usual
    ``N(0, 2 / (C_in k^2))``. Biases start at zero. At lower density fewer values
    are averaged and the output variance grows by about ``k^2 / n``; the mask densifies
    after every layer, so this only matters in the first layers.

    Args:
        in_channels: channels of ``x``.
        out_channels: channels of ``y``.
        kernel_size: odd window size k.
        bias: learn an additive bias (default True).
        eps: added to the count in the ``"paper"`` normalisation (default 1e-8).
        normalization: ``"paper"`` or ``"partial"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        eps: float = 1e-8,
        normalization: str = "paper",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"channel counts must be positive, got in_channels={in_channels}, "
                f"out_channels={out_channels}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2
        self.eps = float(eps)
        self.normalization = normalization
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size, **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights for the normalised layer (see the class docstring), zero bias."""
        k2 = self.kernel_size**2
        if self.normalization == "paper":
            std = math.sqrt(2.0 * k2 / self.in_channels)
        else:
            std = math.sqrt(2.0 / (self.in_channels * k2))
        nn.init.normal_(self.weight, 0.0, std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def normalizer(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Per-pixel scale (N, 1, H, W) and ``mask_out`` (N, 1, H, W), both without autograd.

        ``mask_out`` is the k x k max-pool of the 0/1 mask, which equals ``count > 0``;
        computing it from the count saves a second pass over the window.
        """
        with torch.no_grad():
            k = self.kernel_size
            count = valid_count(mask, k)
            valid = count > 0
            if self.normalization == "paper":
                scale = torch.where(valid, 1.0 / (count + self.eps), 0.0)
            else:
                scale = torch.where(valid, float(k * k) / count.clamp_min(1.0), 0.0)
            mask_out = valid.to(mask.dtype)
        return scale, mask_out

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C_in, H, W), mask: (N, 1, H, W) -> (y (N, C_out, H, W), mask_out (N, 1, H, W))."""
        _check_mask(x, mask)
        mask = mask.to(x.dtype)
        scale, mask_out = self.normalizer(mask)
        # where every pixel is valid (common after the first layer) x * mask is x
        x_valid = x if _all_valid(mask) else x * mask
        y = F.conv2d(x_valid, self.weight, None, 1, self.padding)
        if self.bias is None:
            return y * scale, mask_out
        bias = self.bias.view(1, -1, 1, 1)
        if self.normalization == "partial":
            # no bias where nothing was valid: (conv * scale + bias) * mask_out, and
            # conv * scale is already 0 there
            return torch.addcmul(y * scale, bias, mask_out), mask_out
        return torch.addcmul(bias, y, scale), mask_out

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"normalization={self.normalization!r}"
        )
        if self.bias is None:
            s += ", bias=False"
        if self.eps != 1e-8:
            s += f", eps={self.eps}"
        return s


class SparseMaxPool2d(nn.Module):
    """Max-pooling of features over valid positions only, with the mask max-pooled alike.

    ``y`` at an output pixel is the maximum of ``x`` over the *valid* input pixels of its
    window, and 0 where the window holds no valid pixel; ``mask_out`` is the max-pool of
    ``mask`` (1 where any pixel in the window was valid). Shapes: x (N, C, H, W), mask
    (N, 1, H, W) -> y (N, C, H', W'), mask_out (N, 1, H', W') with ``H' = floor((H - k) / s) + 1``
    as in ``nn.MaxPool2d`` (no padding).

    Args:
        kernel_size: window size.
        stride: step; defaults to ``kernel_size``.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C, H, W), mask: (N, 1, H, W) -> (y, mask_out), spatially pooled."""
        _check_mask(x, mask)
        if _all_valid(mask):
            y = F.max_pool2d(x, self.kernel_size, self.stride)
            with torch.no_grad():
                mask_out = F.max_pool2d(mask.to(x.dtype), self.kernel_size, self.stride)
            return y, mask_out
        mask = mask.to(x.dtype)
        with torch.no_grad():
            # invalid pixels sit at the dtype's most negative finite value, so any valid
            # pixel of a window wins the max; one fused pass (x * mask + floor), no -inf
            floor = (1.0 - mask) * torch.finfo(x.dtype).min
            mask_out = F.max_pool2d(mask, self.kernel_size, self.stride)
        y = F.max_pool2d(torch.addcmul(floor, x, mask), self.kernel_size, self.stride)
        # windows without a valid pixel hold the floor: zero them (and their gradient)
        return y * mask_out, mask_out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
