"""Arithmetic of a network: the multiply-adds of its convolutions and linear layers.

A training step's floor on a machine is its arithmetic at the rate the machine sustains
on the same convolutions; ``benchmarks/train.py`` measures that rate and the
performance page sets each network's step against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sparseconv.nn.layers import SparseConv2d

__all__ = ["LayerCost", "layer_costs", "training_flops"]


@dataclass(frozen=True)
class LayerCost:
    """One convolution or linear layer as a forward pass ran it.

    ``input_shape``: the layer's input (N, C, H, W) or (N, F); ``macs``: multiply-adds
    per image of the forward pass (the sparse layer's mask side, a one-channel box sum,
    is not counted: it is the cost the layer adds, not the network's arithmetic).
    """

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    macs: int


def _macs(module: nn.Module, out: Tensor) -> int:
    """Multiply-adds per image of ``module`` producing ``out`` (N, C_out, H', W') or (N, F)."""
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    weight = module.weight  # (C_out, C_in / groups, kh, kw): one MAC per tap per output
    per_output = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return int(out[0].numel()) * per_output


def layer_costs(model: nn.Module, x: Tensor, mask: Tensor) -> list[LayerCost]:
    """Every ``nn.Conv2d``, :class:`~sparseconv.nn.layers.SparseConv2d` and ``nn.Linear``
    of ``model`` in the order a forward pass on ``(x, mask)`` calls them."""
    costs: list[LayerCost] = []
    kinds = (nn.Conv2d, SparseConv2d, nn.Linear)

    def hook(name: str):
        def record(module: nn.Module, args: tuple, out) -> None:
            y = out[0] if isinstance(out, tuple) else out
            costs.append(LayerCost(name, module, tuple(args[0].shape), _macs(module, y)))

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, kinds)]  # fmt: skip
    try:
        with torch.no_grad():
            model(x, mask)
    finally:
        for handle in handles:
            handle.remove()
    return costs


def training_flops(costs: list[LayerCost]) -> dict[str, int]:
    """Floating-point operations per image (2 per multiply-add): ``forward``, and
    ``training`` = forward + backward, where the backward pass computes the weight
    gradient of every layer and the input gradient of all but the first (the image
    needs none): 3x the forward pass, 2x for the first layer."""
    forward = sum(2 * c.macs for c in costs)
    first = 2 * costs[0].macs if costs else 0
    return {"forward": forward, "training": 3 * forward - first}
