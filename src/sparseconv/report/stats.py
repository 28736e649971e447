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

__all__ = [
    "MIN_SEEDS",
    "ALPHA",
    "Estimate",
    "one_sample",
    "holm",
    "seed_level_effect",
    "pooled_levels",
]

MIN_SEEDS = 3  # below this a level-wise comparison is not tested (verdicts: study)
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
    differences this is the paired t-test). If all values are equal there is no estimate
    of their spread: the interval and p are NaN (no test), as in scipy. Accuracies move in
    steps of one test image, so equal differences are a matter of resolution, not of
    certainty."""
    from scipy import stats

    data = np.asarray([float(v) for v in values if not math.isnan(float(v))])
    n = len(data)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if n < 2:
        return Estimate(n, mean, math.nan, math.nan, math.nan)
    if float(data.std(ddof=1)) == 0.0:
        return Estimate(n, mean, math.nan, math.nan, math.nan)
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


def pooled_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """Level-wise effects with the variance pooled across levels: the mixed model
    ``effect = level + seed + error`` with level fixed and seed random, on the seeds that
    have every level (a balanced design, where REML has a closed form in the two-way
    ANOVA's mean squares, ``statsmodels`` ``anova_lm``): each level's estimate is its mean
    over seeds, with variance (sigma2_seed + sigma2_error) / n, sigma2_error = MS_error and
    sigma2_seed = max(0, (MS_seed - MS_error) / levels). So every level's interval uses
    the spread seen at all levels. ``frame``: columns comparison, seed, effect. Returns one
    row per comparison (in first-seen order): comparison, n (seeds), mean, low, high (95 %
    interval), p (t-test against 0 on n - 1 degrees of freedom, conservative for few
    seeds). p and the interval are NaN below ``MIN_SEEDS`` complete seeds or without
    spread; one level alone is the plain one-sample t-test."""
    from scipy import stats
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    columns = ["comparison", "n", "mean", "low", "high", "p"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    order = list(dict.fromkeys(frame["comparison"]))
    data = frame.assign(effect=frame["effect"].astype(float))
    levels = len(order)
    per_seed = data.groupby("seed")["comparison"].nunique()
    complete = data[data["seed"].isin(per_seed[per_seed == levels].index)]
    n = complete["seed"].nunique()
    rows = []
    se = math.nan
    if n >= MIN_SEEDS and levels == 1:
        se = float(complete["effect"].std(ddof=1)) / math.sqrt(n)
    elif n >= MIN_SEEDS:
        codes = complete.assign(
            level=complete["comparison"].map({c: f"L{i}" for i, c in enumerate(order)})
        )
        table = anova_lm(ols("effect ~ C(level) + C(seed)", data=codes).fit())
        ms_error = float(table.loc["Residual", "mean_sq"])
        ms_seed = float(table.loc["C(seed)", "mean_sq"])
        var_seed = max(0.0, (ms_seed - ms_error) / levels)
        se = math.sqrt((var_seed + ms_error) / n)
    for name in order:
        mine = data[data["comparison"] == name]
        seeds = int(mine["seed"].nunique())
        if n >= MIN_SEEDS and se > 0:
            mean = float(complete.loc[complete["comparison"] == name, "effect"].mean())
            half = float(stats.t.ppf(0.975, n - 1)) * se
            p = float(2 * stats.t.sf(abs(mean / se), n - 1))
            rows.append([name, n, mean, mean - half, mean + half, p])
        else:
            rows.append([name, seeds, float(mine["effect"].mean()), math.nan, math.nan, math.nan])
    return pd.DataFrame(rows, columns=columns)
