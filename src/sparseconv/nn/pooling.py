"""Max-pooling over valid pixels, and a container that chains ``(x, mask)`` layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from sparseconv.nn.masks import check_mask, mark_mask

__all__ = ["SparseMaxPool2d", "SparseSequential"]


class SparseMaxPool2d(nn.Module):
    r"""Max-pooling of features over valid positions only, with the mask max-pooled alike.

    ``y`` at an output pixel is the maximum of ``x`` over the *valid* input pixels of its
    window, and 0 where the window holds no valid pixel; ``mask_out`` is the max-pool of
    ``mask`` (1 where any pixel of the window was valid). Zero padding never wins: padded
    positions count as missing. Arguments and output size as in ``nn.MaxPool2d``.

    Args:
        kernel_size (int or tuple): window size.
        stride (int or tuple, optional): step; defaults to ``kernel_size``.
        padding (int or tuple): implicit padding, at most half the (dilated) window.
            Default: 0.
        dilation (int or tuple): spacing of the window's taps. Default: 1.
        return_indices (bool): must be False (kept for ``nn.MaxPool2d``'s signature).
        ceil_mode (bool): round the output size up, as in ``nn.MaxPool2d``.
            Default: False.

    Shape:
        - Input: ``x`` :math:`(N, C, H, W)`, ``mask`` :math:`(N, 1, H, W)` or
          :math:`(N, C, H, W)` of 0/1 values.
        - Output: ``y`` :math:`(N, C, H', W')`, ``mask_out`` with the mask's channels,
          :math:`H' = \lfloor (H + 2p - d (k - 1) - 1) / s \rfloor + 1`.

    Examples::

        >>> import torch
        >>> from sparseconv import SparseMaxPool2d
        >>> pool = SparseMaxPool2d(2)
        >>> x = -torch.ones(1, 1, 2, 2)  # the valid pixel is the only candidate
        >>> mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> y, mask_out = pool(x, mask)
        >>> y.flatten().tolist(), mask_out.flatten().tolist()
        ([-1.0], [1.0])
    """

    takes_mask = True

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        if return_indices:
            raise ValueError("return_indices=True is not supported: the pooled mask says "
                             "which windows held a valid pixel")  # fmt: skip
        self.kernel_size = self._pair_of("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else self._pair_of("stride", stride, 1)
        self.padding = self._pair_of("padding", padding, 0)
        self.dilation = self._pair_of("dilation", dilation, 1)
        for p, k, d in zip(self.padding, self.kernel_size, self.dilation, strict=True):
            if p > (d * (k - 1) + 1) // 2:
                raise ValueError(
                    f"padding must be at most half the window, got padding={padding!r} for "
                    f"kernel_size={kernel_size!r}, dilation={dilation!r}"
                )
        self.ceil_mode = bool(ceil_mode)

    @staticmethod
    def _pair_of(name: str, value: int | tuple[int, int], least: int) -> tuple[int, int]:
        pair = _pair(value)
        if len(pair) != 2 or not all(isinstance(v, int) and v >= least for v in pair):
            raise ValueError(f"{name} must be an integer >= {least} or a pair of them, "
                             f"got {value!r}")  # fmt: skip
        return (int(pair[0]), int(pair[1]))

    def _pool(self, t: Tensor) -> Tensor:
        return F.max_pool2d(t, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)  # fmt: skip

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C, H, W), mask: (N, 1 or C, H, W) -> (y, mask_out), spatially pooled."""
        all_valid = check_mask(x, mask)
        if mask.dtype != x.dtype:
            mask = mask.to(x.dtype)
        if all_valid and self.padding == (0, 0):
            y = self._pool(x)
            return y, mark_mask(x.new_ones(mask.shape[0], mask.shape[1], *y.shape[2:]), True)
        with torch.no_grad():
            # invalid pixels sit at the dtype's most negative finite value, so any valid
            # pixel of a window wins the max; no -inf
            floor = (1.0 - mask) * torch.finfo(x.dtype).min
            mask_out = mark_mask(self._pool(mask))
        # x * mask + floor as two binary passes (a ternary broadcast such as addcmul is
        # several times slower on the CPU); x * mask keeps invalid extremes out
        y = self._pool((x * mask).add_(floor))
        # windows without a valid pixel hold the floor: zero them (and their gradient)
        return y * mask_out, mask_out

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        return s + (", ceil_mode=True" if self.ceil_mode else "")


class SparseSequential(nn.Sequential):
    """A chain of layers over ``(x, mask)``: a module with ``takes_mask = True``
    (:class:`~sparseconv.nn.layers.SparseConv2d`, :class:`SparseMaxPool2d`, or your own)
    takes and returns the pair; any other module (``nn.ReLU``, ``nn.Dropout``, ...) is
    applied to ``x`` alone and the mask passes unchanged.

    Examples::

        >>> import torch
        >>> from torch import nn
        >>> from sparseconv import SparseConv2d, SparseMaxPool2d, SparseSequential
        >>> net = SparseSequential(SparseConv2d(1, 4, 5), nn.ReLU(), SparseMaxPool2d(2),
        ...                        SparseConv2d(4, 8, 3))
        >>> x, mask = torch.randn(2, 1, 28, 28), (torch.rand(2, 1, 28, 28) > 0.7).float()
        >>> y, mask_out = net(x * mask, mask)
        >>> y.shape, mask_out.shape
        (torch.Size([2, 8, 14, 14]), torch.Size([2, 1, 14, 14]))
    """

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        for module in self:
            if getattr(module, "takes_mask", False):
                x, mask = module(x, mask)
            else:
                x = module(x)
        return x, mask
