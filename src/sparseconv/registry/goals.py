"""The issues' goals that the benchmarks and the fit check measure against: speed ratios,
each grid's budget per run, and the ConvNet's fit target.

Plain Python (no torch). :mod:`sparseconv.registry.study` re-exports every name here.
"""

from __future__ import annotations

__all__ = ["FIT_TARGET", "PERFORMANCE_GOALS", "RUN_BUDGET_MIN"]

# ratios against a plain baseline measured in one run (benchmarks/)
PERFORMANCE_GOALS = {
    # the throughput issue's goals, one CPU thread, ratios measured in one run
    "layer_vs_conv": 1.05,  # SparseConv2d forward + backward / nn.Conv2d
    "sparse_train_vs_dense": 1.10,  # the paper's network's training step / its dense twin's
    "data_share": 0.10,  # share of a training step spent preparing the batch
}
# Budget per run of a grid, in minutes of wall time with two one-thread runs at once
# (so half a run's process minutes): the issues' budgets
RUN_BUDGET_MIN = {"mnist": 1.5, "caltech101": 4.0, "depth": 7.5}
# (sparsity, test accuracy) the ConvNet must reach on a data set: the fair-training issue's
# fit target for Caltech-101
FIT_TARGET = {"caltech101": (0.05, 0.60)}
