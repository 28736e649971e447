"""The statistics and the one verdict rule, against hand computations."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sparseconv.report.claims import CLAIMS, judge_claims, level_tests
from sparseconv.report.claims_report import CLAIMS_CSV_COLUMNS, claims_frame, claims_table
from sparseconv.report.families import (
    accuracy_family,
    depth_family,
    invariance_family,
    invariance_losses,
    metric_key,
)
from sparseconv.report.stats import holm, one_sample, pooled_levels, seed_level_effect
from sparseconv.report.text.claims import short_answer, verdict_basis


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
    # equal values: no estimate of the spread, so no interval and no test (p NaN), never
    # p = 0: accuracies move in steps of one image, [0.01, 0.01, 0.01] is not certainty
    constant = one_sample([0.01, 0.01, 0.01])
    assert constant.mean == pytest.approx(0.01)
    assert math.isnan(constant.low) and math.isnan(constant.high) and math.isnan(constant.p)
    assert math.isnan(one_sample([0.0, 0.0, 0.0]).p)


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
    tests = level_tests(family)
    assert tests.loc[0, "n"] == 2 and tests.loc[0, "mean"] == pytest.approx(0.5)
    assert math.isnan(tests.loc[0, "p"])  # two seeds: a finding is not tested


def test_level_wise_findings_pool_the_variance_across_levels():
    # 3 seeds x 2 levels, effect = level mean + seed shift + noise; balanced, so the
    # mixed model's level estimates are the level means over seeds
    family = pd.DataFrame({
        "baseline": ["dense"] * 6, "comparison": ["a", "a", "a", "b", "b", "b"],
        "seed": [0, 1, 2, 0, 1, 2], "effect": [1.0, 1.4, 0.9, 2.1, 2.3, 1.7],
    })  # fmt: skip
    pooled = pooled_levels(family)
    assert pooled["mean"].tolist() == pytest.approx([1.1, 2.0333333])
    # by hand: grand mean 1.5667; level means 1.1, 2.0333; seed means 1.55, 1.85, 1.3
    # residuals e = x - level mean - seed mean + grand mean; MS_error = sum e^2 / 2
    x = {(0, "a"): 1.0, (1, "a"): 1.4, (2, "a"): 0.9, (0, "b"): 2.1, (1, "b"): 2.3,
         (2, "b"): 1.7}  # fmt: skip
    grand = sum(x.values()) / 6
    level = {"a": 1.1, "b": 6.1 / 3}
    seed = {0: 1.55, 1: 1.85, 2: 1.3}
    ms_error = sum((v - level[c] - seed[s] + grand) ** 2 for (s, c), v in x.items()) / 2
    ms_seed = 2 * sum((m - grand) ** 2 for m in seed.values()) / 2
    se = math.sqrt((max(0.0, (ms_seed - ms_error) / 2) + ms_error) / 3)
    half = 4.302652729911275 * se  # t(0.975, 2)
    assert (pooled["high"] - pooled["mean"]).tolist() == pytest.approx([half, half])
    tests = level_tests(family)
    # Holm over the two levels of the baseline, by hand from the raw p-values
    assert tests["p_holm"].tolist() == pytest.approx(holm(tests["p"].tolist()))
    # two seeds that happen to agree are never tested
    two = family[family["seed"] < 2]
    assert level_tests(two)["p"].isna().all()


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


def _claim1_runs(gaps_by_seed, levels=(0.3, 0.6)):
    """MNIST runs where the paper's layer leads the ConvNet by ``gaps_by_seed[seed]``
    (fractions) at every level."""
    rows = []
    for seed, gap in enumerate(gaps_by_seed):
        for level in levels:
            rows += [_run("sparse", level, seed, {t: 0.9 + gap for t in levels}),
                     _run("dense", level, seed, {t: 0.9 for t in levels})]  # fmt: skip
    return pd.DataFrame(rows)


def _claim1(judgements, variant="sparse"):
    return next(j for j in judgements if j.claim.number == "1" and j.variant == variant)


def test_claim1_primary_estimand_and_its_words_by_hand():
    # per seed +1.0, +1.2, +1.1, +1.3, +0.9 points at both levels: mean 1.1, sd 0.158
    runs = _claim1_runs([0.010, 0.012, 0.011, 0.013, 0.009])
    judgements = judge_claims({"mnist": runs})
    j = _claim1(judgements)
    assert j.n_seeds == 5 and j.test.mean == pytest.approx(1.1)
    half = 2.7764451051977987 * 0.15811388300841897 / math.sqrt(5)  # t(0.975, 4) sd / sqrt n
    assert (j.test.low, j.test.high) == pytest.approx((1.1 - half, 1.1 + half))
    # the only test in the family (others have no runs): Holm leaves its p as it is
    assert j.p_superiority_holm == pytest.approx(j.test.p_superiority)
    assert j.verdict == "supported"
    assert j.test.margin == 0.2 and j.baseline == "dense"
    table = claims_table(judgements)
    row = table[(table["claim"] == "1") & (table["variant"] == "sparse conv")]
    assert row["verdict"].item() == "supported"
    assert row["effect [95 % CI]"].item().startswith("+1.10 [")
    assert row["metric"].item() == "accuracy (points)" and row["margin"].item() == "0.20"
    assert _claim1(judgements, "sparse_partial").verdict == "descriptive"


def test_four_seeds_are_descriptive_and_stay_out_of_the_family():
    judgements = judge_claims({"mnist": _claim1_runs([0.010, 0.012, 0.011, 0.013])})
    j = _claim1(judgements)
    assert j.verdict == "descriptive" and math.isnan(j.p_superiority_holm)


def test_claims_frame_has_the_promised_columns():
    judgements = judge_claims({"mnist": _claim1_runs([0.010, 0.012, 0.011, 0.013, 0.009])})
    frame = claims_frame(judgements)
    assert list(frame.columns) == CLAIMS_CSV_COLUMNS == [
        "claim", "dataset", "metric", "variant", "baseline", "verdict", "effect", "ci_low",
        "ci_high", "margin", "n_seeds", "mde"]  # fmt: skip
    row = frame[(frame["claim"] == 1) & (frame["variant"] == "sparse")].iloc[0]
    assert row["dataset"] == "mnist" and row["baseline"] == "dense"
    assert row["effect"] == pytest.approx(1.1) and row["n_seeds"] == 5
    assert row["mde"] > 0 and set(frame["verdict"]) <= {
        "supported", "opposite", "equivalent", "inconclusive", "descriptive"}  # fmt: skip
    # one verdict per claim, variant and baseline
    assert len(frame) == sum(len(c.variants) * len(c.baselines) for c in CLAIMS)


def test_verdict_basis_states_the_word_and_what_it_rests_on():
    judgements = judge_claims({"mnist": _claim1_runs([0.010, 0.012, 0.011, 0.013, 0.009])})
    text = verdict_basis(_claim1(judgements))
    assert text.startswith("Verdict against the ConvNet: supported; effect +1.10 [")
    assert "over 5 seeds, margin ±0.20 points, Holm p" in text
    few = judge_claims({"mnist": _claim1_runs([0.010, 0.012, 0.011])})
    assert verdict_basis(_claim1(few)) == (
        "Verdict against the ConvNet: descriptive (3 seeds, a verdict needs 5); effect "
        f"{claims_table(few).loc[0, 'effect [95 % CI]']} points."
    )


def test_short_answer_says_when_nothing_is_decided_yet():
    few = judge_claims({"mnist": _claim1_runs([0.010, 0.012, 0.011])})
    assert short_answer(few).startswith("Not decided yet: the finished grids have 3 seeds")
    assert short_answer(judge_claims({})).startswith("No claim can be judged yet")


def test_pairs_across_devices_or_torch_builds_are_refused_with_their_names():
    from sparseconv.report.claims import family_of
    from sparseconv.report.families import check_pairing

    def run(model, seed, device, torch_version, protocol=3):
        record = {"protocol": protocol, "model": model, "sparsity": 0.5, "device": device,
                  "torch_version": torch_version, metric_key("mnist"): {"0.5": 0.9}}  # fmt: skip
        return {"model": model, "sparsity": 0.5, "seed": seed, "record": record}

    same = pd.DataFrame(
        [
            run("sparse", 0, "cpu", "2.14.1"),
            run("dense", 0, "cpu", "2.14.1"),
            run("sparse", 1, "cuda", "2.14.1"),
            run("dense", 1, "cuda", "2.14.1"),
        ]
    )
    check_pairing(same)  # seeds may differ in device; a seed's runs may not
    mixed = pd.DataFrame([run("sparse", 0, "cpu", "2.14.1"), run("dense", 0, "cuda", "2.14.1")])
    with pytest.raises(ValueError, match=r"seed 0: dense at 0.5 \(cuda, torch 2.14.1\); sparse"):
        family_of(CLAIMS[0], mixed, "sparse")
    builds = pd.DataFrame([run("sparse", 0, "cpu", "2.14.1"), run("dense", 0, "cpu", "2.11.0")])
    with pytest.raises(ValueError, match="2.11.0"):
        check_pairing(builds)
    # an earlier protocol's records are reported on the reproduce page, not refused
    old = pd.DataFrame([run("sparse", 0, "cpu", "2.14.1", 2), run("dense", 0, "cuda", "2.11", 2)])
    check_pairing(old)
