"""Many runs: the study's grids as lists of runs (:mod:`~sparseconv.sweep.runs`), their
cost (:mod:`~sparseconv.sweep.plan`), the learning-rate search's choice
(:mod:`~sparseconv.sweep.tuning`), and the three executors that run a grid's notebooks,
locally (:mod:`~sparseconv.sweep.local`, also ``python -m sparseconv.sweep``) or on an
existing Ray cluster (:mod:`~sparseconv.sweep.ray_executor`), or in packs of runs trained
together on a GPU (:mod:`~sparseconv.sweep.packed_executor`).

Imports: :mod:`sparseconv.train`, :mod:`sparseconv.data`, :mod:`sparseconv.registry`;
never the report.
"""
