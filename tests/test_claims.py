"""The statistics and the one verdict rule, against hand computations."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sparseconv.claims import (
    CLAIMS,
    accuracy_family,
    claims_table,
    depth_family,
    family_tests,
    invariance_family,
    invariance_losses,
    judge,
    metric_key,
    verdict,
    verdict_basis,
)
from sparseconv.stats import holm, one_sample, seed_level_effect


def test_one_sample_by_hand():
    # values 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464 on 2 df
    est = one_sample([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert est.n == 3 and est.mean == pytest.approx(2.0)
    assert est.low == pytest.approx(2 - half) and est.high == pytest.approx(2 + half)
    assert est.p == pytest.approx(0.07417990022744858)


def test_one_sample_edge_cases():
    assert math.isnan(one_sample([]).mean)
    single = one_sample([4.0])
    assert single.n == 1 and single.mean == 4.0 and math.isnan(single.p)
    constant = one_sample([2.0, 2.0, 2.0])
    assert (constant.low, constant.high, constant.p) == (2.0, 2.0, 0.0)
    assert one_sample([0.0, 0.0, 0.0]).p == 1.0


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 0.01*3, 0.03*2, 0.04*1 -> running max 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.01, float("nan"), 0.02])  # a missing test does not count
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_seed_is_the_replication_unit():
    # two levels x three seeds: the interval has n = 3 (seed means 1.5, 2.5, 3.5), not 6
    family = pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2], "effect": [1, 2, 2, 3, 3, 4]})
    est = seed_level_effect(family)
    assert est.n == 3 and est.mean == pytest.approx(2.5)
    assert est.high - est.mean == pytest.approx(4.302652729911275 / math.sqrt(3))


def _tests(rows):
    return pd.DataFrame(rows, columns=["baseline", "comparison", "mean", "p_holm"])


def test_verdict_rule_every_case():
    sig, ns = 0.01, 0.5
    two = [("dense", "a", 1.0, sig), ("dense_mask", "a", 2.0, sig)]
    assert verdict(_tests(two), 3) == "supported"
    against = [("dense", "a", -1.0, sig), ("dense_mask", "a", -2.0, sig)]
    assert verdict(_tests(against), 3) == "opposite"
    assert verdict(_tests([("dense", "a", -1.0, ns), ("dense_mask", "a", 3.0, ns)]), 3) == (
        "not supported"
    )
    # significant both ways
    both = [("dense", "a", 1.0, sig), ("dense", "b", -1.0, sig), ("dense_mask", "a", 1.0, sig)]
    assert verdict(_tests(both), 3) == "mixed"
    # the edge case: one baseline significantly against, the other no difference
    one = [("dense", "a", -1.0, sig), ("dense_mask", "a", -1.0, ns)]
    assert verdict(_tests(one), 3) == "mixed"
    # one seed (or two): no verdict
    assert verdict(_tests(two), 1) == "1 seed, descriptive only"
    assert verdict(_tests(two), 2) == "2 seeds, descriptive only"


def _run(model, sparsity, seed, by, dataset="mnist"):
    key = metric_key(dataset)
    record = {key: {f"{k:g}": v for k, v in by.items()}}
    return {"model": model, "sparsity": sparsity, "seed": seed, "record": record}


def test_accuracy_family_pairs_by_seed_in_points():
    runs = pd.DataFrame([
        _run("sparse", 0.5, 0, {0.5: 0.90}), _run("dense", 0.5, 0, {0.5: 0.88}),
        _run("sparse", 0.5, 1, {0.5: 0.91}), _run("dense", 0.5, 1, {0.5: 0.92}),
        _run("sparse", 0.5, 2, {0.5: 0.95}),  # no partner: left out
    ])  # fmt: skip
    family = accuracy_family(runs, "mnist", "sparse", ["dense"])
    assert sorted(family["effect"].round(6).tolist()) == [-1.0, 2.0]
    tests = family_tests(family)
    assert tests.loc[0, "n"] == 2 and tests.loc[0, "mean"] == pytest.approx(0.5)


def test_a_comparison_with_fewer_than_three_seeds_is_not_tested():
    # two seeds that happen to agree (p = 0.0025 on 1 df) must not make a verdict
    family = pd.DataFrame({
        "baseline": ["dense"] * 5, "comparison": ["a", "a", "b", "b", "b"],
        "seed": [0, 1, 0, 1, 2], "effect": [0.56, 0.62, -1.0, 0.5, 2.0],
    })  # fmt: skip
    tests = family_tests(family)
    assert tests["n"].tolist() == [2, 3]
    assert tests.loc[0, "mean"] == pytest.approx(0.59)
    assert math.isnan(tests.loc[0, "p"]) and math.isnan(tests.loc[0, "p_holm"])
    # the Holm family is the one real test: adjusted p equals its raw p
    assert tests.loc[1, "p_holm"] == pytest.approx(one_sample([-1.0, 0.5, 2.0]).p)
    assert verdict(tests, 3) == "not supported"


def test_invariance_loss_is_signed():
    # trained at 50 %, tested at 10 %: 0.90; the same model type trained at 10 %: 0.95
    # -> loss +5 points. Trained at 10 %, tested at 50 %: 0.85 against 0.80 when trained
    # at 50 % -> loss -5 (a gain, which |delta| would have scored as a loss).
    runs = pd.DataFrame([
        _run("sparse", 0.5, 0, {0.1: 0.90, 0.5: 0.80}),
        _run("sparse", 0.1, 0, {0.1: 0.95, 0.5: 0.85}),
    ])  # fmt: skip
    losses = invariance_losses(runs, "mnist").set_index(["trained", "tested"])["loss"]
    assert losses[(0.5, 0.1)] == pytest.approx(5.0)
    assert losses[(0.1, 0.5)] == pytest.approx(-5.0)
    denser = invariance_losses(runs, "mnist", "denser")
    assert list(zip(denser["trained"], denser["tested"], strict=True)) == [(0.5, 0.1)]
    with pytest.raises(ValueError, match="'up'"):
        invariance_losses(runs, "mnist", "up")


def test_invariance_family_by_hand():
    rows = []
    for model, loss_at_01 in (("sparse", 0.02), ("dense", 0.06)):
        rows += [_run(model, 0.5, 0, {0.1: 0.95 - loss_at_01, 0.5: 0.8}),
                 _run(model, 0.1, 0, {0.1: 0.95, 0.5: 0.8})]  # fmt: skip
    family = invariance_family(pd.DataFrame(rows), "mnist", "sparse", ["dense"])
    # trained at 50 %: dense loses 6 points at 10 %, sparse 2 -> +4 for the claim;
    # trained at 10 %: both lose 0 at 50 %
    effect = family.set_index("comparison")["effect"]
    assert effect["trained at 50 %"] == pytest.approx(4.0)
    assert effect["trained at 10 %"] == pytest.approx(0.0)


def test_caltech_verdicts_use_mean_per_class_accuracy():
    assert metric_key("caltech101") == "test_mean_class_accuracy_by_sparsity"
    assert metric_key("mnist") == "test_accuracy_by_sparsity"
    # a Caltech record with plain accuracy only gives no comparison
    runs = pd.DataFrame([
        {"model": m, "sparsity": 0.5, "seed": 0,
         "record": {"test_accuracy_by_sparsity": {"0.5": 0.5}}} for m in ("sparse", "dense")
    ])  # fmt: skip
    assert accuracy_family(runs, "caltech101", "sparse", ["dense"]).empty


def test_depth_family_uses_absolute_error_at_the_test_density():
    def run(model, seed, by):
        record = {"pattern": "uniform", "test_mae_missing_by_sparsity": by,
                  "test_mae_by_sparsity": {k: 99.0 for k in by}}  # fmt: skip
        return {"model": model, "sparsity": 0.95, "seed": seed, "record": record}

    runs = pd.DataFrame([run("sparse", 0, {"0.5": 1.0, "0.95": 2.0}),
                         run("dense", 0, {"0.5": 1.5, "0.95": 2.1})])  # fmt: skip
    family = depth_family(runs, "sparse", ["dense"])
    # trained at 5 % density (0.95), tested at 50 % (0.5): 1.5 - 1.0 on missing pixels
    assert family.to_dict("records") == [
        {"baseline": "dense", "comparison": "5 % → 50 %", "seed": 0, "effect": 0.5}
    ]


def test_judge_and_table_on_three_seeds():
    rows = []
    for seed, gap in enumerate((0.010, 0.012, 0.011)):
        for level in (0.3, 0.6):
            rows += [_run("sparse", level, seed, {level: 0.9 + gap}),
                     _run("dense", level, seed, {level: 0.9})]  # fmt: skip
    claim = CLAIMS[0]
    j = judge(claim, pd.DataFrame(rows), "sparse")
    assert j.n_seeds == 3 and j.verdict == "supported"
    assert j.effect.mean == pytest.approx(1.1)
    table = claims_table([j, judge(claim, pd.DataFrame(rows), "sparse_partial")])
    assert table.loc[0, "verdict"] == "supported"
    assert table.loc[0, "effect [95 % CI]"].startswith("+1.10 [")
    assert table.loc[1, "verdict"] == "no runs yet"


def test_verdict_basis_names_the_significant_comparisons():
    from sparseconv.claims import Judgement

    claim = next(c for c in CLAIMS if c.kind == "invariance" and c.dataset == "caltech101")
    tests = pd.DataFrame({
        "baseline": ["dense", "dense_mask", "dense"], "comparison": ["trained at 20 %"] * 2
        + ["trained at 90 %"], "mean": [-0.59, -4.5, 3.0], "p_holm": [0.043, 0.28, 0.01],
    })  # fmt: skip
    est = one_sample([])
    text = verdict_basis(Judgement(claim, "sparse", tests, "mixed", est, 3))
    assert text == (
        "Verdict: mixed, resting on the 2 of 3 comparisons significant after Holm's "
        "correction: versus the ConvNet, trained at 20 % (-0.59 points, against the claim, "
        "Holm p 0.043); versus the ConvNet, trained at 90 % (+3.00 points, in the claim's "
        "favour, Holm p 0.010)."
    )
    none = tests.assign(p_holm=[0.5, 0.3, 1.0])
    assert verdict_basis(Judgement(claim, "sparse", none, "not supported", est, 3)) == (
        "Verdict: not supported; none of the 3 comparisons is significant after Holm's "
        "correction (smallest adjusted p 0.30)."
    )
    assert verdict_basis(Judgement(claim, "sparse", tests, "2 seeds, descriptive only", est,
                                   2)) == "Verdict: 2 seeds, descriptive only."  # fmt: skip
