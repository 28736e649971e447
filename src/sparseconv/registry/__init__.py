"""What the study is, as plain Python (no torch): the tables of model variants
(:mod:`~sparseconv.registry.models`) and data sets (:mod:`~sparseconv.registry.datasets`),
the study's design (:mod:`~sparseconv.registry.study`: protocols, grids, seeds, margins,
learning rates), where files live (:mod:`~sparseconv.registry.paths`) and the run
record's format (:mod:`~sparseconv.registry.records`).

Imports: the standard library only. Every other subpackage may import this one.
"""
