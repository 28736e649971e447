"""The verdict rule: one pre-registered estimand per claim, four words, Holm over the
family of primary tests, and the power to decide.

For each claim, variant and baseline the *primary estimand* is, per seed, the paired
difference averaged over the claim's levels (``study.PRIMARY_ESTIMANDS``), signed in the
claim's favour; its estimate is the mean over seeds with a 95 % t-interval. With the
margin Delta of ``study.MARGINS``:

* *supported*: the superiority test rejects 0 with the effect above it;
* *opposite*: it rejects 0 with the effect below it;
* *equivalent*: two one-sided tests (``statsmodels`` ``ttost_mean``: the 90 % interval
  inside +-Delta) reject a difference of Delta or more;
* *inconclusive*: anything else;

each p-value Holm-corrected over the family of every primary test of the study (all
claims, variants and baselines with enough seeds), the superiority and the equivalence
p-values as two families. Before correction, "rejects" is the same as "the 95 % interval
excludes 0" and "the 90 % interval lies inside +-Delta". With fewer than
``study.VERDICT_MIN_SEEDS`` seeds a comparison is *descriptive*, outside the family.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sparseconv.registry.study import VERDICT_MIN_SEEDS
from sparseconv.report.stats import ALPHA, holm, one_sample

__all__ = [
    "VERDICTS",
    "DESCRIPTIVE",
    "POWER",
    "PrimaryTest",
    "Power",
    "primary_test",
    "word",
    "holm_words",
    "power_analysis",
]

VERDICTS = ("supported", "opposite", "equivalent", "inconclusive")
DESCRIPTIVE = "descriptive"
POWER = 0.8


@dataclass(frozen=True)
class PrimaryTest:
    """The primary estimand's test: mean over ``n`` seeds with its 95 % interval
    (``low``, ``high``) and 90 % interval (``low90``, ``high90``), the SD of the per-seed
    values, the two-sided superiority p against 0 and the TOST p against +-``margin``
    (NaN where not computable: fewer than 2 seeds, no spread, or no margin)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    low90: float
    high90: float
    p_superiority: float
    p_equivalence: float
    margin: float

    @property
    def tested(self) -> bool:
        """Whether this test enters the family (enough seeds, a spread to test)."""
        return self.n >= VERDICT_MIN_SEEDS and not math.isnan(self.p_superiority)


def primary_test(values: Sequence[float], margin: float) -> PrimaryTest:
    """The test of one primary estimand from its per-seed ``values`` (claim's unit,
    positive in its favour) and equivalence ``margin`` (>= 0, same unit)."""
    from statsmodels.stats.weightstats import DescrStatsW

    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    data = np.asarray([float(v) for v in values if not math.isnan(float(v))])
    est = one_sample(data.tolist())
    sd = float(data.std(ddof=1)) if len(data) >= 2 else math.nan
    low90 = high90 = p_eq = math.nan
    if not math.isnan(est.p):
        stats = DescrStatsW(data)
        low90, high90 = (float(v) for v in stats.tconfint_mean(alpha=0.1))
        p_eq = float(stats.ttost_mean(-margin, margin)[0]) if margin > 0 else 1.0
    return PrimaryTest(
        est.n, est.mean, sd, est.low, est.high, low90, high90, est.p, p_eq, float(margin)
    )


def word(test: PrimaryTest, p_superiority: float, p_equivalence: float) -> str:
    """The verdict of ``test`` given its (Holm-adjusted) p-values: one of ``VERDICTS``,
    or ``DESCRIPTIVE`` below ``VERDICT_MIN_SEEDS`` seeds. Superiority is read first: an
    effect that is both significant and inside the margin is *supported* (or
    *opposite*), the book notes when it is smaller than the margin."""
    if test.n < VERDICT_MIN_SEEDS:
        return DESCRIPTIVE
    if not math.isnan(p_superiority) and p_superiority < ALPHA:
        return "supported" if test.mean > 0 else "opposite"
    if not math.isnan(p_equivalence) and p_equivalence < ALPHA:
        return "equivalent"
    return "inconclusive"


def holm_words(tests: Sequence[PrimaryTest]) -> tuple[list[str], list[float], list[float]]:
    """The verdicts of a family of primary tests, Holm-corrected over the tests that
    enter it (:attr:`PrimaryTest.tested`): (words, adjusted superiority p, adjusted TOST
    p); NaN p for a test outside the family."""
    sup = [t.p_superiority if t.tested else math.nan for t in tests]
    eq = [t.p_equivalence if t.tested else math.nan for t in tests]
    sup_holm, eq_holm = holm(sup), holm(eq)
    words = [word(t, s, e) for t, s, e in zip(tests, sup_holm, eq_holm, strict=True)]
    return words, sup_holm, eq_holm


@dataclass(frozen=True)
class Power:
    """What ``n`` seeds can decide at SD ``sd`` of the per-seed estimand: the smallest
    effect detected with 80 % power (two-sided t-test at ``ALPHA``), and the seeds needed
    to detect an effect of the margin and to show equivalence when the true difference is
    0 (TOST at ``ALPHA``); NaN where the SD or margin is unknown."""

    n: int
    sd: float
    mde: float
    seeds_superiority: float
    seeds_equivalence: float


def _smallest_n(power_at: Callable[[int], float], start: int = 2, stop: int = 10_000) -> float:
    """The smallest n in [start, stop) whose ``power_at(n)`` reaches ``POWER`` (inf if
    none). Power grows with n, so a doubling search and a bisection find it in about
    2 log2(n) evaluations, where a scan takes n (thousands for a small effect). Where
    the doubling meets a NaN (statsmodels' noncentral t at a very large n) the rest of
    the range is scanned n by n, so the answer is always the scan's."""
    # every n below lo falls short; hi is the next n to try
    lo, hi = start, start
    while True:
        power = power_at(hi)
        if power >= POWER:
            break
        if math.isnan(power):
            return next((float(n) for n in range(lo, stop) if power_at(n) >= POWER), math.inf)
        if hi >= stop - 1:
            return math.inf
        lo, hi = hi + 1, min(2 * hi, stop - 1)
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= POWER:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def power_analysis(sd: float, n: int, margin: float) -> Power:
    """:class:`Power` of a one-sample (paired) t-test over seeds
    (``statsmodels.stats.power.TTestPower``). The equivalence seeds use the usual lower
    bound of TOST's power, 2 * power(one-sided test at Delta / sd) - 1; the two-sided
    test's power is taken as the one-sided power at ALPHA / 2."""
    from statsmodels.stats.power import TTestPower

    analysis = TTestPower()
    if math.isnan(sd) or sd <= 0 or n < 2:
        return Power(n, sd, math.nan, math.nan, math.nan)
    # the two-sided test's power as the one-sided power at ALPHA / 2 (the far tail adds
    # nothing visible, and statsmodels' two-sided noncentral t returns NaN at large effects)
    d = analysis.solve_power(nobs=n, alpha=ALPHA / 2, power=POWER, alternative="larger")
    if not margin > 0:
        return Power(n, sd, float(d) * sd, math.inf, math.inf)
    size = margin / sd
    superiority = _smallest_n(lambda k: analysis.power(size, k, ALPHA / 2, alternative="larger"))
    equivalence = _smallest_n(
        lambda k: 2 * analysis.power(size, k, ALPHA, alternative="larger") - 1
    )
    return Power(n, sd, float(d) * sd, superiority, equivalence)
