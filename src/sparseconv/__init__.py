"""Sparsity invariant convolutions (Uhrig et al., 3DV 2017): layer, data, models, study.

The layer and sparsification are importable from the top level::

    from sparseconv import SparseConv2d, SparseMaxPool2d, SparseSequential, sparsify
"""

from sparseconv.data.sparsify import apply_fixed_mask, fixed_mask, sparsify
from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.masks import valid_count
from sparseconv.nn.pooling import SparseMaxPool2d, SparseSequential

__version__ = "0.1.0"

__all__ = [
    "SparseConv2d",
    "SparseMaxPool2d",
    "SparseSequential",
    "valid_count",
    "sparsify",
    "fixed_mask",
    "apply_fixed_mask",
]
