"""Statistics with the seed as the replication unit: paired tests, Holm's correction,
and seed-level effects with 95 % intervals (scipy and statsmodels).

Runs that share a seed share their initialisation, batch order and test masks, so they
are paired; runs of one seed at several sparsity levels are *not* independent
replicates. Every interval and test here therefore takes one value per seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MIN_SEEDS", "ALPHA", "Estimate", "one_sample", "holm", "seed_level_effect"]

MIN_SEEDS = 3  # below this a comparison is descriptive only
ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % Student-t interval and two-sided p-value (against
    zero); NaN interval and p with fewer than two seeds."""

    n: int
    mean: float
    low: float
    high: float
    p: float


def one_sample(values: Sequence[float]) -> Estimate:
    """Mean of per-seed values (e.g. paired differences, one per seed), its 95 % t-interval
    and the p-value of the t-test against 0 (``scipy.stats.ttest_1samp``; on paired
    differences this is the paired t-test). If all values are equal the interval is that
    value and p is 0 (a nonzero constant) or 1 (all zero)."""
    from scipy import stats

    data = np.asarray([float(v) for v in values if not math.isnan(float(v))])
    n = len(data)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if n < 2:
        return Estimate(n, mean, math.nan, math.nan, math.nan)
    if float(data.std(ddof=1)) == 0.0:
        return Estimate(n, mean, mean, mean, 0.0 if mean != 0.0 else 1.0)
    result = stats.ttest_1samp(data, 0.0)
    ci = result.confidence_interval(0.95)
    return Estimate(n, mean, float(ci.low), float(ci.high), float(result.pvalue))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests``) of one family
    of tests; NaN entries (tests not made) stay NaN and do not count."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    present = ~np.isnan(p)
    if present.any():
        out[present] = multipletests(p[present], alpha=ALPHA, method="holm")[1]
    return out.tolist()


def seed_level_effect(family: pd.DataFrame) -> Estimate:
    """The overall effect of a family: per seed, the mean of its ``effect`` column over
    all the family's comparisons (levels, baselines); then the mean over seeds with its
    95 % t-interval. ``family``: columns seed, effect."""
    if family.empty:
        return one_sample([])
    return one_sample(family.groupby("seed")["effect"].mean().tolist())
