"""The networks' building blocks: the sparsity invariant layer
(:mod:`~sparseconv.nn.layers`), valid-pixel max-pooling (:mod:`~sparseconv.nn.pooling`)
and batch norm (:mod:`~sparseconv.nn.batchnorm`),
normalized convolution (:mod:`~sparseconv.nn.nconv`), the study's networks
(:mod:`~sparseconv.nn.networks`) and the optimisers whose step sizes match the layer's
parametrisation (:mod:`~sparseconv.nn.optim`).

Imports: torch, :mod:`sparseconv.registry` and :mod:`sparseconv.data` (the nearest-
neighbour fill of one baseline); never training, the sweep or the report.
"""
