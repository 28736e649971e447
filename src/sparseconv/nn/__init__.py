"""The networks' building blocks: the sparsity invariant layer
(:mod:`~sparseconv.nn.layers`), its mask checks and counts (:mod:`~sparseconv.nn.masks`)
and fast passes (:mod:`~sparseconv.nn.kernels`), valid-pixel max-pooling
(:mod:`~sparseconv.nn.pooling`) and batch norm (:mod:`~sparseconv.nn.batchnorm`), the
study's conv/BN/pool block and its fused sparse forms (:mod:`~sparseconv.nn.blocks`),
normalized convolution (:mod:`~sparseconv.nn.nconv`), the study's networks
(:mod:`~sparseconv.nn.networks`), their arithmetic (:mod:`~sparseconv.nn.flops`) and the
optimisers whose step sizes match the layer's parametrisation (:mod:`~sparseconv.nn.optim`).

Imports: torch, :mod:`sparseconv.registry` and :mod:`sparseconv.data` (the nearest-
neighbour fill of one baseline); never training, the sweep or the report.
"""
