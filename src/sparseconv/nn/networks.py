"""The networks of the study: one architecture per data set, several ways to treat
the missing pixels.

Every model takes ``(x, mask)`` with x (N, C, H, W) the zero-filled sparse image and
mask (N, 1, H, W), and returns class logits (N, num_classes). The four variants share
the architecture exactly (same layers, kernels, poolings, linear head):

A variant is a row of :data:`sparseconv.registry.models.VARIANTS`; the networks read
its fields, never its name:

* ``convolution="sparse"``: :class:`~sparseconv.nn.layers.SparseConv2d` (with the row's
  ``normalization``) and :class:`~sparseconv.nn.pooling.SparseMaxPool2d`; the mask
  travels with the features (``sparse``, ``sparse_naive``, ``sparse_partial``).
* ``convolution="dense"``: ``nn.Conv2d`` and ``nn.MaxPool2d`` on the zero-filled image;
  the mask is ignored unless ``mask_channel`` (one more input channel: ``dense_mask``) or
  ``fill="nearest"`` (nearest-neighbour interpolation first: ``nn_convnet``).

A data set's network is built from its row of
:data:`sparseconv.registry.datasets.DATASETS` (channels, classes, side) and the
architecture the row names in :data:`ARCHITECTURES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sparseconv.data.scenes import nearest_fill
from sparseconv.nn.blocks import ConvBlock
from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.nconv import NConvNet
from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.models import ModelVariant, variant

__all__ = [
    "ConvSpec",
    "MNIST_SPEC",
    "CALTECH_SPEC",
    "Classifier",
    "build_model",
    "variant_for",
    "ARCHITECTURES",
    "count_parameters",
    "valid_fraction_per_layer",
    "DepthNet",
]


@dataclass(frozen=True)
class ConvSpec:
    """An architecture: conv kernels in order, and after which of them to 2x2 max-pool.

    ``kernels``: odd kernel sizes, one convolution each, ``channels`` wide, stride 1,
    same padding. ``pool_after``: indices into ``kernels`` followed by a 2x2 pool.
    ``hidden``: widths of the hidden linear layers. ``batch_norm`` after each conv,
    ``dropout`` before each linear layer (0 for none). ``linear_head=False``: no linear
    layers; the last kernel is the output convolution (to one channel, for depth).
    """

    kernels: tuple[int, ...]
    pool_after: tuple[int, ...]
    channels: int = 16
    hidden: tuple[int, ...] = (128,)
    batch_norm: bool = False
    dropout: float = 0.0
    linear_head: bool = True

    def output_size(self, size: int) -> int:
        """Spatial side after the convolutions for an input of side ``size``."""
        for i in range(len(self.kernels)):
            if i in self.pool_after:
                size //= 2
        return size

    def describe(self) -> str:
        """E.g. ``'conv11-pool-conv7-pool-conv5-conv3 (16 ch) -> fc128 -> fc'``."""
        parts: list[str] = []
        for i, k in enumerate(self.kernels):
            parts.append(f"conv{k}" + ("+bn" if self.batch_norm else ""))
            if i in self.pool_after:
                parts.append("pool")
        if not self.linear_head:
            return f"{'-'.join(parts[:-1])} ({self.channels} ch) -> {parts[-1]} (1 ch)"
        head = "".join(f"fc{h} -> " for h in self.hidden)
        drop = f", dropout {self.dropout}" if self.dropout else ""
        return f"{'-'.join(parts)} ({self.channels} ch) -> {head}fc{drop}"


# MNIST: the paper's 11-7-5-3 kernels, truncated and pooled to fit 28 x 28 and the
# CPU budget (justified on the book's MNIST page).
MNIST_SPEC = ConvSpec(kernels=(5, 3, 3), pool_after=(0, 1), channels=16, hidden=(128,))

# Caltech-101 at 64 x 64: the same kernel tail, one more 3 x 3 block, batch norm and
# pooling in every block, dropout before and between the linear layers. 32 channels and
# dropout 0.25 (15 epochs): the candidate of benchmarks/caltech_fit.py that fits, the
# ConvNet at 5 % sparsity above 60 % test accuracy and more accurate on its training
# images than on the test images (16 channels and dropout 0.5 underfit).
CALTECH_SPEC = ConvSpec(
    kernels=(5, 3, 3, 3),
    pool_after=(0, 1, 2, 3),
    channels=32,
    hidden=(256,),
    batch_norm=True,
    dropout=0.25,
)


class Classifier(nn.Module):
    """Conv blocks from a :class:`ConvSpec`, then a linear head.

    Input x (N, in_channels, S, S) zero-filled, mask (N, 1, S, S); output logits
    (N, num_classes). The convolutions compute in ``memory_format`` (inputs are converted).
    """

    def __init__(
        self,
        variant: str,
        spec: ConvSpec,
        in_channels: int,
        num_classes: int,
        input_size: int,
        memory_format: torch.memory_format = torch.channels_last,
    ) -> None:
        super().__init__()
        self.memory_format = memory_format
        row = variant_for(variant, "classification")
        self.variant = variant
        self.row = row
        self.spec = spec
        sparse, normalization = row.sparse, row.normalization
        channels_in = in_channels + (1 if row.mask_channel else 0)
        blocks = []
        for i, k in enumerate(spec.kernels):
            blocks.append(
                ConvBlock(
                    channels_in,
                    spec.channels,
                    k,
                    sparse=sparse,
                    normalization=normalization,
                    batch_norm=spec.batch_norm,
                    pool=i in spec.pool_after,
                )
            )
            channels_in = spec.channels
        self.blocks = nn.ModuleList(blocks)
        side = spec.output_size(input_size)
        if side < 1:
            raise ValueError(f"input_size {input_size} is too small for {spec.describe()}")
        layers: list[nn.Module] = []
        width = spec.channels * side * side
        for h in spec.hidden:
            if spec.dropout:
                layers.append(nn.Dropout(spec.dropout))
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        if spec.dropout:
            layers.append(nn.Dropout(spec.dropout))
        layers.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*layers)
        self.to(memory_format=memory_format)

    def features(self, x: Tensor, mask: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(features, mask) after each block, for inspection (e.g. mask density per layer)."""
        if self.row.mask_channel:
            x = torch.cat([x, mask.to(x.dtype)], dim=1)
        x = x.contiguous(memory_format=self.memory_format)
        out = []
        for block in self.blocks:
            x, mask = block(x, mask)
            out.append((x, mask))
        return out

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (N, C, S, S), mask: (N, 1, S, S) -> logits (N, num_classes)."""
        mask = mask.to(x.dtype)
        if self.row.mask_channel:
            x = torch.cat([x, mask], dim=1)
        x = x.contiguous(memory_format=self.memory_format)
        for block in self.blocks:
            x, mask = block(x, mask)
        return self.head(torch.flatten(x, 1))


class DepthNet(nn.Module):
    """The paper's depth completion network: five convolutions (kernels 11, 7, 5, 3, 3,
    16 channels, ReLU) and a final 1 x 1 convolution to one channel, full resolution.

    Sparse variants use SparseConv2d for all six layers (the mask travels along), dense
    ones nn.Conv2d (``dense_mask``: the mask as a second input channel; ``nn_convnet``:
    the input filled by nearest-neighbour interpolation first, the paper's interpolation
    baseline; the fill has no parameters and no gradient).
    x: (N, 1, H, W) zero-filled sparse depth, mask: (N, 1, H, W) -> depth (N, 1, H, W).
    """

    KERNELS = (11, 7, 5, 3, 3)

    def __init__(
        self,
        variant: str,
        channels: int = 16,
        memory_format: torch.memory_format = torch.channels_last,
        in_channels: int = 1,
        task: str = "depth",
    ) -> None:
        super().__init__()
        self.memory_format = memory_format
        row = variant_for(variant, task)
        self.variant = variant
        self.row = row
        self.spec = ConvSpec(
            kernels=(*self.KERNELS, 1),
            pool_after=(),
            channels=channels,
            hidden=(),
            linear_head=False,
        )
        sparse, normalization = row.sparse, row.normalization
        c_in = in_channels + (1 if row.mask_channel else 0)
        blocks = []
        for k in self.KERNELS:
            # every block feeds the next sparse layer (the last one included)
            blocks.append(ConvBlock(c_in, channels, k, sparse=sparse, normalization=normalization,
                                    feeds_sparse=sparse))  # fmt: skip
            c_in = channels
        self.blocks = nn.ModuleList(blocks)
        if sparse:
            self.last: nn.Module = SparseConv2d(channels, 1, 1, normalization=normalization)
        else:
            self.last = nn.Conv2d(channels, 1, 1)
            nn.init.normal_(self.last.weight, 0.0, math.sqrt(1.0 / channels))
            nn.init.zeros_(self.last.bias)
        self.to(memory_format=memory_format)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        mask = mask.to(x.dtype)
        if self.row.mask_channel:
            x = torch.cat([x, mask], dim=1)
        if self.row.fill == "nearest":
            x = nearest_fill(x, mask)
        x = x.contiguous(memory_format=self.memory_format)
        for block in self.blocks:
            x, mask = block(x, mask)
        if isinstance(self.last, SparseConv2d):
            return self.last(x, mask)[0]
        return self.last(x)


def variant_for(name: str, task: str) -> ModelVariant:
    """The registry row of model ``name``; ValueError unless it accepts ``task``."""
    row = variant(name)
    if task not in row.tasks:
        raise ValueError(f"model {name!r} does not take part in {task}; its tasks are {row.tasks}")
    return row


Builder = Callable[[str, str, "ConvSpec | None", torch.memory_format], nn.Module]


def _classifier(default: ConvSpec) -> Builder:
    def build(dataset, variant, spec, memory_format):
        row = DATASETS[dataset]
        return Classifier(variant, spec or default, row.channels, row.classes, row.size,
                          memory_format)  # fmt: skip

    return build


def _depthnet(dataset, variant, spec, memory_format):
    row = DATASETS[dataset]
    if variant_for(variant, row.task).convolution == "nconv":
        return NConvNet()
    return DepthNet(variant, memory_format=memory_format, in_channels=row.channels, task=row.task)


# a data set row's ``architecture`` -> its builder (data set, variant, spec, memory format)
ARCHITECTURES: dict[str, Builder] = {
    "mnist": _classifier(MNIST_SPEC),
    "caltech101": _classifier(CALTECH_SPEC),
    "depthnet": _depthnet,
}


def build_model(
    dataset: str,
    variant: str,
    spec: ConvSpec | None = None,
    memory_format: torch.memory_format = torch.channels_last,
) -> nn.Module:
    """The study's model ``variant`` for ``dataset`` (a name in the data set registry).

    ``memory_format``: the layout the network computes in; channels-last is 1.5-2x faster
    on the CPU (``benchmarks/train.py``) and computes the same function.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}")
    return ARCHITECTURES[DATASETS[dataset].architecture](dataset, variant, spec, memory_format)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def valid_fraction_per_layer(model: Classifier | DepthNet, mask: Tensor) -> list[float]:
    """Fraction of valid positions after each block of a sparse model, for input ``mask``.

    mask: (N, 1, S, S). Mask propagation does not depend on the weights, so an
    untrained model gives the same answer as a trained one.
    """
    if not variant(model.variant).sparse:
        raise ValueError(f"only sparse models propagate a mask, got {model.variant!r}")
    channels = model.blocks[0].conv.in_channels
    x = torch.zeros(mask.shape[0], channels, *mask.shape[2:])
    model.eval()
    if isinstance(model, DepthNet):
        fractions = []
        mask = mask.float()
        for block in model.blocks:
            x, mask = block(x, mask)
            fractions.append(mask.mean().item())
        return fractions
    return [m.mean().item() for _, m in model.features(x, mask.float())]
