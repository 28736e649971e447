"""The verdict rule: every word and edge case against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sparseconv.report.verdicts import holm_words, power_analysis, primary_test, word


def _t_interval(values, level):
    x = np.asarray(values)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_supported_and_opposite_read_the_95_interval():
    up = primary_test([0.5, 0.7, 0.6, 0.8, 0.4], margin=0.2)
    assert (up.low, up.high) == pytest.approx(_t_interval([0.5, 0.7, 0.6, 0.8, 0.4], 0.95))
    assert up.low > 0 and word(up, up.p_superiority, up.p_equivalence) == "supported"
    down = primary_test([-0.5, -0.7, -0.6, -0.8, -0.4], margin=0.2)
    assert word(down, down.p_superiority, down.p_equivalence) == "opposite"


def test_equivalent_when_the_90_interval_lies_inside_the_margin():
    values = [0.05, -0.03, 0.02, 0.0, -0.01, 0.04]
    t = primary_test(values, margin=0.2)
    low90, high90 = _t_interval(values, 0.90)
    assert (t.low90, t.high90) == pytest.approx((low90, high90))
    assert -0.2 < low90 and high90 < 0.2
    # TOST by hand: the larger of the two one-sided p-values
    x = np.asarray(values)
    se = x.std(ddof=1) / math.sqrt(len(x))
    p_low = stats.t.sf((x.mean() + 0.2) / se, len(x) - 1)
    p_high = stats.t.cdf((x.mean() - 0.2) / se, len(x) - 1)
    assert t.p_equivalence == pytest.approx(max(p_low, p_high))
    assert word(t, t.p_superiority, t.p_equivalence) == "equivalent"


def test_every_seed_the_same_sign_but_the_interval_crossing_zero_is_inconclusive():
    values = [0.1, 0.9, 0.05, 1.5, 0.02]  # all positive, noisy
    t = primary_test(values, margin=0.2)
    assert t.low < 0 < t.high and t.high90 > 0.2
    assert word(t, t.p_superiority, t.p_equivalence) == "inconclusive"


def test_equal_differences_give_no_test_and_no_verdict_but_inconclusive():
    t = primary_test([0.01] * 5, margin=0.2)
    assert math.isnan(t.p_superiority) and math.isnan(t.p_equivalence)
    assert not t.tested
    assert word(t, t.p_superiority, t.p_equivalence) == "inconclusive"


def test_a_margin_of_zero_never_gives_equivalence():
    t = primary_test([0.001, -0.001, 0.0005, -0.0005, 0.0], margin=0.0)
    assert t.p_equivalence == 1.0
    assert word(t, t.p_superiority, t.p_equivalence) == "inconclusive"
    with pytest.raises(ValueError, match="-1"):
        primary_test([1.0, 2.0], margin=-1)


def test_fewer_than_five_seeds_are_descriptive():
    t = primary_test([0.5, 0.7, 0.6, 0.8], margin=0.2)
    assert word(t, 0.0001, 1.0) == "descriptive"


def test_holm_over_the_family_can_turn_supported_into_inconclusive():
    a = primary_test([0.1, 0.5, 0.3, 0.05, 0.4], margin=0.01)
    assert 0.025 < a.p_superiority < 0.05  # supported alone
    assert holm_words([a])[0] == ["supported"]
    # two such tests: Holm multiplies the smaller p by 2 (0.07), the larger keeps the max
    words, sup, _ = holm_words([a, a])
    assert sup == pytest.approx([2 * a.p_superiority] * 2)
    assert words == ["inconclusive", "inconclusive"]
    # a strong effect beside it: 3 tests, the strong one first (p * 3), then p * 2, p * 1
    b = primary_test([5.0, 5.1, 4.9, 5.2, 4.8], margin=0.01)
    words, sup, _ = holm_words([a, b, a])
    assert sup[1] == pytest.approx(3 * b.p_superiority)
    assert sup[0] == pytest.approx(max(3 * b.p_superiority, 2 * a.p_superiority))
    assert words == ["inconclusive", "supported", "inconclusive"]
    # a descriptive test does not count in the family
    few = primary_test([1.0, 1.2, 0.8], margin=0.01)
    words, sup, _ = holm_words([b, few])
    assert sup[0] == pytest.approx(b.p_superiority) and math.isnan(sup[1])
    assert words == ["supported", "descriptive"]


def test_power_by_the_textbook():
    # one-sample t-test, n = 10, alpha 0.05 two-sided, 80 % power: d = 0.997 (Cohen)
    p = power_analysis(sd=1.0, n=10, margin=1.0)
    assert p.mde == pytest.approx(0.997, abs=0.01)
    # detecting d = 1 with 80 % power needs 10 seeds
    assert p.seeds_superiority == 10
    # equivalence at +-1 sd when the truth is 0 needs more than superiority at 1 sd
    assert p.seeds_equivalence >= p.seeds_superiority
    assert math.isnan(power_analysis(sd=math.nan, n=3, margin=1.0).mde)
    assert math.isinf(power_analysis(sd=1.0, n=5, margin=0.0).seeds_equivalence)


def test_the_seed_search_finds_what_a_scan_finds():
    # the smallest n reaching 80 % power, against a plain scan of every n; effects from
    # one needing a handful of seeds to one needing more than the search's limit (inf)
    from statsmodels.stats.power import TTestPower

    from sparseconv.report.verdicts import POWER, _smallest_n

    analysis = TTestPower()
    for size in (5.0, 2.0, 1.0, 0.5, 0.2, 0.1):
        for alpha in (0.025, 0.05):

            def power_at(k: int, size: float = size, alpha: float = alpha) -> float:
                return float(analysis.power(size, k, alpha, alternative="larger"))

            scan = next((float(k) for k in range(2, 500) if power_at(k) >= POWER), math.inf)
            assert _smallest_n(power_at, stop=500) == scan, (size, alpha)
    assert _smallest_n(lambda k: 1.0) == 2.0
    assert math.isinf(_smallest_n(lambda k: 0.0))
    # a NaN where the doubling lands (statsmodels at a very large n): the scan's answer
    assert _smallest_n(lambda k: math.nan if k > 40 else float(k >= 37)) == 37.0
    assert math.isinf(_smallest_n(lambda k: math.nan if k > 40 else 0.0))
