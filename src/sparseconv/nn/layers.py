"""Sparsity invariant convolution (Uhrig et al., 3DV 2017).

The layer takes a pair ``(x, mask)``: features ``x`` of shape (N, C, H, W) and a validity
mask of 0/1 values, one channel shared by all features (N, 1, H, W) or, with
``multi_channel=True``, one per input channel (N, C, H, W). It returns a pair
``(y, mask_out)`` of the same kind. :mod:`sparseconv.nn.pooling` holds the pooling layer
and :class:`~sparseconv.nn.pooling.SparseSequential`, which chains such layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from sparseconv.nn.kernels import NormalizedConv, scaled
from sparseconv.nn.masks import (
    check_mask,
    known_full,
    known_zero_outside,
    mark_mask,
    traced,
    valid_count,
)

__all__ = ["SparseConv2d", "NORMALIZATIONS"]

NORMALIZATIONS = ("paper", "partial")


def _eager(x: Tensor) -> bool:
    """True where the layer may take :class:`~sparseconv.nn.kernels.NormalizedConv`:
    not traced, not exported to ONNX, no autocast (which casts inside the convolution
    and not in its hand-written backward)."""
    return not (traced(x) or torch.onnx.is_in_onnx_export()
                or torch.is_autocast_enabled(x.device.type))  # fmt: skip


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, ...]:
    """F.pad's (left, right, top, bottom) for "same" at stride 1, as ``nn.Conv2d`` pads:
    the extra pixel of an even window on the right and bottom."""
    out: list[int] = []
    for k, d in ((kernel[1], dilation[1]), (kernel[0], dilation[0])):
        total = d * (k - 1)
        out += [total // 2, total - total // 2]
    return tuple(out)


class SparseConv2d(nn.Module):
    r"""Sparsity invariant convolution: a convolution that averages valid inputs only.

    With input mask :math:`o`, the count of valid inputs under the (strided, dilated)
    window :math:`\mathcal{W}_{u,v}` of output pixel :math:`(u, v)` is
    :math:`n_{u,v} = \sum_{(i,j) \in \mathcal{W}_{u,v}} o_{i,j}` and

    .. math::

        y_{u,v} = \frac{\sum_{(i,j) \in \mathcal{W}_{u,v}} w_{i,j}\, o_{i,j}\, x_{i,j}}
                       {n_{u,v} + \epsilon} + b \qquad \text{(normalization="paper")}

    .. math::

        y_{u,v} = \frac{|\mathcal{W}|}{n_{u,v}}
                  \sum_{(i,j) \in \mathcal{W}_{u,v}} w_{i,j}\, o_{i,j}\, x_{i,j} + b
                  \ \text{ where } n_{u,v} > 0, \quad 0 \text{ elsewhere}
                  \qquad \text{(normalization="partial")}

    ``"paper"`` is the layer of Uhrig et al. (2017): a window with no valid input gives
    the bias alone. ``"partial"`` is partial convolution (Liu et al., 2018): on a fully
    valid input it equals ``nn.Conv2d`` away from the zero-padded border. The two compute
    one family of functions, with a weight scale of :math:`|\mathcal{W}|` between them.
    ``mask_out`` is 1 where :math:`n_{u,v} > 0`, at the output's size: the max-pool of
    the mask over the window. The count and ``mask_out`` do not depend on the weights
    and are computed without autograd; the output is finite for every mask, all zeros
    included.

    With ``multi_channel=False`` the mask is shared by all input channels and
    :math:`|\mathcal{W}| = k_h k_w`. With ``multi_channel=True`` the mask has one
    channel per input channel, the count runs over the window *and* over the input
    channels of the output channel's group, :math:`|\mathcal{W}| = (C_{in} / g)\, k_h
    k_w`, and ``mask_out`` has one channel per output channel.

    Initialisation: He (Kaiming) normal for the layer as it computes at full density.
    ``"partial"`` then equals a convolution, so ``std = sqrt(2 / fan_in)`` with
    ``fan_in = (C_in / g) k_h k_w``; ``"paper"`` equals a convolution with weights
    ``weight / |W|``, so ``std = |W| sqrt(2 / fan_in)``. Biases start at zero.

    Args:
        in_channels (int): channels of ``x``.
        out_channels (int): channels of ``y``.
        kernel_size (int or tuple): window size; even and rectangular windows work.
        stride (int or tuple): step of the window. Default: 1.
        padding (int, tuple or str): zero padding (counted as missing) on both sides,
            or ``"same"`` (output as large as the input; stride 1 only; an even window's
            extra pixel on the right and bottom, as in ``nn.Conv2d``) or ``"valid"`` (no
            padding). Default: ``"same"``.
        dilation (int or tuple): spacing of the window's taps. Default: 1.
        groups (int): blocked connections from input to output channels, as in
            ``nn.Conv2d``. Default: 1.
        bias (bool): learn an additive bias. Default: True.
        normalization (str): ``"paper"`` or ``"partial"``. Default: ``"paper"``.
        multi_channel (bool): one mask channel per input channel. Default: False.
        eps (float): added to the count by ``"paper"``; at float16 it underflows to 0,
            where ``n > 0`` keeps the division finite. Default: 1e-8.

    Shape:
        - Input: ``x`` :math:`(N, C_{in}, H, W)`, ``mask`` :math:`(N, 1, H, W)` or, with
          ``multi_channel``, :math:`(N, C_{in}, H, W)`, of 0/1 values.
        - Output: ``y`` :math:`(N, C_{out}, H', W')` and ``mask_out``
          :math:`(N, 1, H', W')` or :math:`(N, C_{out}, H', W')`, with
          :math:`H' = \lfloor (H + p_t + p_b - d_h (k_h - 1) - 1) / s_h \rfloor + 1` as
          in ``nn.Conv2d``.

    Attributes:
        weight (Tensor): :math:`(C_{out}, C_{in} / g, k_h, k_w)`.
        bias (Tensor or None): :math:`(C_{out})`.

    Examples::

        >>> import torch
        >>> from sparseconv import SparseConv2d
        >>> conv = SparseConv2d(3, 8, kernel_size=3)
        >>> x = torch.randn(2, 3, 16, 16)
        >>> mask = (torch.rand(2, 1, 16, 16) > 0.9).float()
        >>> y, mask_out = conv(x * mask, mask)
        >>> y.shape, mask_out.shape
        (torch.Size([2, 8, 16, 16]), torch.Size([2, 1, 16, 16]))
        >>> down = SparseConv2d(3, 8, (4, 2), stride=2, padding=1, multi_channel=True)
        >>> y, mask_out = down(x, torch.ones(2, 3, 16, 16))
        >>> y.shape, mask_out.shape
        (torch.Size([2, 8, 8, 9]), torch.Size([2, 8, 8, 9]))
    """

    takes_mask = True  # SparseSequential passes (x, mask) to this module

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "same",
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        normalization: str = "paper",
        multi_channel: bool = False,
        eps: float = 1e-8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                f"be divisible by groups ({groups})"
            )
        self.kernel_size = self._positive_pair("kernel_size", kernel_size)
        self.stride = self._positive_pair("stride", stride)
        self.dilation = self._positive_pair("dilation", dilation)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be 'same', 'valid', an int or a pair, "
                                 f"got {padding!r}")  # fmt: skip
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={stride!r}")
        else:
            pair = _pair(padding)
            if not all(isinstance(p, int) and p >= 0 for p in pair):
                raise ValueError(f"padding must be non-negative, got {padding!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.groups = groups
        self.normalization = normalization
        self.multi_channel = bool(multi_channel)
        self.eps = float(eps)
        # the padding as conv2d takes it, or F.pad's 4 sides for an uneven "same"
        self._pad: tuple[int, int] = (0, 0)
        self._pad4: tuple[int, ...] | None = None
        if padding == "same":
            sides = _same_padding(self.kernel_size, self.dilation)
            if sides[0] == sides[1] and sides[2] == sides[3]:
                self._pad = (sides[2], sides[0])
            else:
                self._pad4 = sides
        elif not isinstance(padding, str):
            self._pad = _pair(padding)
        kh, kw = self.kernel_size
        self.window = kh * kw * (in_channels // groups if self.multi_channel else 1)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, kh, kw, **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @staticmethod
    def _positive_pair(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
        pair = _pair(value)
        if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
            raise ValueError(f"{name} must be a positive integer or a pair of them, "
                             f"got {value!r}")  # fmt: skip
        return (int(pair[0]), int(pair[1]))

    def reset_parameters(self) -> None:
        """He-normal weights for the layer as it computes (see the class docstring),
        zero bias."""
        fan_in = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        std = math.sqrt(2.0 / fan_in)
        if self.normalization == "paper":
            std *= self.window
        nn.init.normal_(self.weight, 0.0, std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _count(self, mask: Tensor) -> Tensor:
        """Valid inputs per output pixel: (N, 1, H', W'), or with ``multi_channel`` one
        channel per group, (N, groups, H', W')."""
        with torch.no_grad():
            if not self.multi_channel:
                return valid_count(mask, self.kernel_size, self.stride, self._pad, self.dilation)
            g = self.groups
            ones = torch.ones(g, self.in_channels // g, *self.kernel_size, dtype=mask.dtype,
                              device=mask.device)  # fmt: skip
            return F.conv2d(mask, ones, None, self.stride, self._pad, self.dilation, g)

    def normalizer(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Per-pixel scale and ``mask_out`` at the output's size, without autograd, from
        the (already padded) 0/1 mask: the scale is 1 / (n + eps) (``"paper"``) or
        |W| / n (``"partial"``) where n > 0, and 0 elsewhere; (N, 1, H', W'), or
        (N, groups, H', W') with ``multi_channel`` (each group's output channels share
        it). ``mask_out``: (N, 1, H', W'), or (N, C_out, H', W') with ``multi_channel``."""
        with torch.no_grad():
            count = self._count(mask)
            valid = count.clamp_max(1.0)  # counts are whole numbers: 1 where n > 0
            if self.normalization == "paper":
                # counts of 0 are lifted to 1 so that 0 / (0 + eps) cannot give NaN
                # (eps = 0, or eps lost in float16); valid is 0 there anyway
                scale = valid / (count.clamp_min(1.0) + self.eps)
            else:
                scale = (valid * float(self.window)) / count.clamp_min(1.0)
            mask_out = valid
            if self.multi_channel:
                mask_out = mask_out.repeat_interleave(self.out_channels // self.groups, dim=1)
        return scale, mark_mask(mask_out)

    def _full_normalizer(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`normalizer` for a mask of ones (before any "same" padding): the scale
        depends on the image size alone, so it is computed once per size, dtype and
        device and kept, (1, 1 or groups, H', W'); ``mask_out`` (N, ..., H', W') is a copy
        of the kept one (ones, unless padding or strides leave windows with no pixel)."""
        n, c, h, w = mask.shape
        key = (c, h, w, mask.dtype, mask.device)
        cache: dict = self.__dict__.setdefault("_full_scales", {})
        if key not in cache:
            ones = torch.ones(1, c, h, w, dtype=mask.dtype, device=mask.device)
            if self._pad4 is not None:
                ones = F.pad(ones, self._pad4)
            scale, mask_out = self.normalizer(ones)
            if len(cache) >= 8:  # many image sizes: keep the latest few
                cache.pop(next(iter(cache)))
            cache[key] = (scale, mask_out, bool(mask_out.min() == 1.0))
        scale, mask_out, full = cache[key]
        return scale, mark_mask(mask_out.expand(n, -1, -1, -1).contiguous(), full)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C_in, H, W), mask: (N, 1 or C_in, H, W) -> (y, mask_out); see Shape."""
        x_valid, scale, mask_out = self.prepare(x, mask)
        return self.apply_scale(x_valid, scale, mask_out), mask_out

    def prepare(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The mask's side of the layer, checked and without autograd: ``(x_valid,
        scale, mask_out)`` with ``x_valid`` the (padded) input times its mask and
        ``scale``, ``mask_out`` from :meth:`normalizer`. Where every input pixel is valid
        (common after a network's first layer) ``x_valid`` is ``x`` and the normaliser
        is the one kept for this image size: nothing is computed twice."""
        all_valid = check_mask(x, mask, self.in_channels if self.multi_channel else 1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x has {x.shape[1]} channels, the layer takes {self.in_channels}")
        # a block's output that is already 0 wherever this mask is: x * mask is x
        zero_outside = known_zero_outside(x, mask)
        if mask.dtype != x.dtype:
            mask = mask.to(x.dtype)
        if all_valid:
            scale, mask_out = self._full_normalizer(mask)
            return (x if self._pad4 is None else F.pad(x, self._pad4)), scale, mask_out
        if self._pad4 is not None:
            x, mask = F.pad(x, self._pad4), F.pad(mask, self._pad4)
        scale, mask_out = self.normalizer(mask)
        return (x if zero_outside else x * mask), scale, mask_out

    def apply_scale(
        self,
        x_valid: Tensor,
        scale: Tensor,
        mask_out: Tensor,
        bias: bool = True,
        zero_invalid: bool = False,
    ) -> Tensor:
        """The feature side: ``conv(x_valid) * scale + bias`` (``"partial"``: the bias
        where ``mask_out`` is 1), from :meth:`prepare`'s tensors; ``bias=False`` leaves
        the bias out (a caller that adds it later, after a max-pool, say).
        ``zero_invalid``: the bias only where ``mask_out`` is 1 for the paper's
        normalisation too, so that the output is 0 wherever ``mask_out`` is: for a caller
        whose output only another sparse layer reads (it multiplies by the mask anyway)."""
        b = self.bias if bias else None
        # partial: the bias only where the output is valid; nothing to mask where every
        # output is (a full mask, as noted by the layer that made it)
        partial = (self.normalization == "partial" or zero_invalid) and b is not None
        bias_mask = mask_out if partial and not known_full(mask_out) else None
        if scale.shape[1] == 1 and _eager(x_valid):
            return NormalizedConv.apply(x_valid, self.weight, b, scale, bias_mask, self.stride,
                                        self._pad, self.dilation, self.groups)  # fmt: skip
        # traced, autocast or a scale per group: the same function in plain ops
        y = F.conv2d(x_valid, self.weight, None, self.stride, self._pad, self.dilation,
                     self.groups)  # fmt: skip
        scale = scale.to(y.dtype)
        if b is None:
            return scaled(y, scale)
        b = b.view(1, -1, 1, 1).to(y.dtype)
        if bias_mask is not None:
            # no bias where nothing was valid: conv * scale is already 0 there
            return torch.addcmul(scaled(y, scale), b, bias_mask.to(y.dtype))
        if scale.shape[1] == 1:
            return torch.addcmul(b, y, scale)
        return scaled(y, scale) + b

    def extra_repr(self) -> str:
        def size(value: tuple[int, int]) -> str:
            return str(value[0]) if value[0] == value[1] else str(value)

        s = f"{self.in_channels}, {self.out_channels}, kernel_size={size(self.kernel_size)}"
        if self.stride != (1, 1):
            s += f", stride={size(self.stride)}"
        if self.padding != "same":
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else (
                f", padding={size(self.padding)}")  # fmt: skip
        if self.dilation != (1, 1):
            s += f", dilation={size(self.dilation)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        s += f", normalization={self.normalization!r}"
        if self.multi_channel:
            s += ", multi_channel=True"
        if self.bias is None:
            s += ", bias=False"
        if self.eps != 1e-8:
            s += f", eps={self.eps}"
        return s
