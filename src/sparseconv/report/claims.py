"""The study's claims, each judged from the run records by the rule of
:mod:`sparseconv.report.verdicts`.

Every claim compares a sparse variant with each of its baselines over the claim's levels
(training levels, (training, test) pairs, directions). Per seed, the paired differences
(signed in the claim's favour) are averaged over those levels: the claim's primary
estimand (``study.PRIMARY_ESTIMANDS``). One verdict per claim, variant and baseline,
Holm-corrected over every primary test of the study (:func:`judge_claims`). The
level-wise differences are findings, with the variance pooled across levels
(:func:`level_tests`). The differences themselves come from
:mod:`sparseconv.report.families`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from sparseconv.registry.datasets import DATASETS, VERDICT_METRIC
from sparseconv.registry.study import DEPTH_MARGIN_SHARE, MARGINS
from sparseconv.report.analysis import load_study
from sparseconv.report.families import (  # the families' names stay importable from here
    FAMILY_COLUMNS,
    accuracy_family,
    check_pairing,
    depth_directions,
    depth_error_keys,
    depth_family,
    invariance_family,
    invariance_losses,
    level_label,
    metric_key,
)
from sparseconv.report.stats import holm, pooled_levels
from sparseconv.report.verdicts import Power, PrimaryTest, holm_words, power_analysis, primary_test

__all__ = [
    "Claim",
    "CLAIMS",
    "metric_key",
    "metric_name",
    "accuracy_family",
    "invariance_losses",
    "invariance_family",
    "depth_directions",
    "depth_error_keys",
    "depth_family",
    "claim_of",
    "family_of",
    "check_pairing",
    "margin_of",
    "level_tests",
    "Judgement",
    "judge_claims",
    "judge_all",
    "find",
]


@dataclass(frozen=True)
class Claim:
    """One claim: what it says, where it is tested, against which baselines, in what unit."""

    number: str
    short: str
    text: str
    dataset: str
    kind: str  # "accuracy", "invariance" or "depth"
    baselines: tuple[str, ...]
    unit: str
    variants: tuple[str, ...]
    # False for a claim's secondary test (claim 4 on the synthetic scenes)
    primary: bool = True


_CLASSIFICATION_VARIANTS = ("sparse", "sparse_partial", "sparse_naive")
_BETTER = "the sparse network is more accurate than the ConvNet at the sparsity it was trained at"
_INVARIANT = (
    "trained at one sparsity, the sparse network loses less accuracy at the other "
    "sparsities than the ConvNets do"
)
_DEPTH = (
    "trained at one density, the sparse network fills in the missing depth at the other "
    "density with a smaller error than the ConvNets and interpolation + ConvNet trained at "
    "the same density do"
)
_DEPTH_BASELINES = ("dense", "dense_mask", "nn_convnet")
CLAIMS = (
    Claim(
        "1",
        "more accurate than the ConvNet (group 66)",
        _BETTER,
        "mnist",
        "accuracy",
        ("dense",),
        "points",
        _CLASSIFICATION_VARIANTS,
    ),
    Claim(
        "2",
        "more accurate than the ConvNet (group 66)",
        _BETTER,
        "caltech101",
        "accuracy",
        ("dense",),
        "points",
        _CLASSIFICATION_VARIANTS,
    ),
    Claim(
        "3",
        "sparsity invariant (the paper)",
        _INVARIANT,
        "mnist",
        "invariance",
        ("dense", "dense_mask"),
        "points",
        _CLASSIFICATION_VARIANTS,
    ),
    Claim(
        "3",
        "sparsity invariant (the paper)",
        _INVARIANT,
        "caltech101",
        "invariance",
        ("dense", "dense_mask"),
        "points",
        _CLASSIFICATION_VARIANTS,
    ),
    # claim 4: primary on real LiDAR (KITTI), secondary on the synthetic scenes, where
    # every pixel has exact ground truth; normalized convolution (the layer's successor)
    # is judged beside the paper's layer on the real data
    Claim(
        "4",
        "sparsity invariant in depth completion, real LiDAR (primary)",
        _DEPTH,
        "kitti",
        "depth",
        _DEPTH_BASELINES,
        "m",
        ("sparse", "sparse_partial", "nconv"),
    ),
    Claim(
        "4",
        "sparsity invariant in depth completion, synthetic scenes (secondary)",
        _DEPTH,
        "depth",
        "depth",
        _DEPTH_BASELINES,
        "m",
        ("sparse", "sparse_partial"),
        primary=False,
    ),
)


def claim_of(dataset: str, kind: str) -> Claim:
    """The claim of ``kind`` on ``dataset`` (ValueError if there is none)."""
    for claim in CLAIMS:
        if claim.dataset == dataset and claim.kind == kind:
            return claim
    raise ValueError(f"no {kind} claim on {dataset!r}")


def family_of(claim: Claim, runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The per-seed paired differences of ``claim`` for ``variant`` against every baseline
    at every level (columns FAMILY_COLUMNS). Raises ValueError if the paired runs cross
    devices or torch builds (:func:`check_pairing`)."""
    if runs.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    check_pairing(runs)
    if claim.kind == "accuracy":
        return accuracy_family(runs, claim.dataset, variant, claim.baselines)
    if claim.kind == "invariance":
        return invariance_family(runs, claim.dataset, variant, claim.baselines)
    return depth_family(runs, variant, claim.baselines, claim.dataset)


def metric_name(claim: Claim) -> str:
    """The claim's metric as ``claims.csv`` names it."""
    if claim.kind == "depth":
        return DATASETS[claim.dataset].verdict_metric
    base = VERDICT_METRIC[claim.dataset]
    return f"invariance_loss_{base}" if claim.kind == "invariance" else base


def margin_of(claim: Claim, runs: pd.DataFrame) -> float:
    """The equivalence margin of ``claim`` in its unit (``study.MARGINS``); for depth,
    ``DEPTH_MARGIN_SHARE`` times raw nearest neighbour's error (missing pixels, or
    held-out returns) at claim 4's target levels on the uniform pattern, the claim's
    inputs (mean over the records and directions; NaN without records)."""
    fixed = MARGINS[claim.dataset][0]
    if fixed is not None:
        return float(fixed)
    key = depth_error_keys(claim.dataset)[1]
    values = [
        run["record"][key][level_label(target)]
        for _, run in runs.iterrows()
        for source, target in depth_directions(claim.dataset).values()
        if key in run["record"]
        and run["record"].get("pattern", "uniform") == "uniform"  # the claim's inputs
        and abs(float(run["sparsity"]) - source) < 1e-9
    ]
    return DEPTH_MARGIN_SHARE * sum(values) / len(values) if values else math.nan


def level_tests(family: pd.DataFrame) -> pd.DataFrame:
    """Level-wise findings per baseline: the mixed model of
    :func:`sparseconv.report.stats.pooled_levels` (variance pooled across levels, seed as random
    effect), Holm-corrected over the levels of each baseline. Columns: baseline,
    comparison, n, mean, low, high, p, p_holm."""
    columns = ["baseline", "comparison", "n", "mean", "low", "high", "p", "p_holm"]
    frames = []
    for baseline, group in family.groupby("baseline", sort=False):
        table = pooled_levels(group)
        table.insert(0, "baseline", baseline)
        table["p_holm"] = holm(table["p"].tolist())
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


@dataclass(frozen=True)
class Judgement:
    """One claim judged for one variant against one baseline: the per-seed differences
    at every level (``family``), the primary test of their per-seed mean, the power, and
    the verdict with its Holm-adjusted p-values (over the study's family)."""

    claim: Claim
    variant: str
    baseline: str
    family: pd.DataFrame
    test: PrimaryTest
    power: Power
    verdict: str
    p_superiority_holm: float
    p_equivalence_holm: float

    @property
    def n_seeds(self) -> int:
        return self.test.n

    @property
    def per_seed(self) -> pd.Series:
        """The primary estimand per seed (mean over the claim's levels)."""
        return self.family.groupby("seed")["effect"].mean()


def _primary(claim: Claim, family: pd.DataFrame, margin: float) -> tuple[PrimaryTest, pd.DataFrame]:
    """The primary test over the seeds that have every level of the family."""
    if family.empty:
        # no runs: the margin stays as known (NaN where it comes from records)
        return replace(primary_test([], 0.0), margin=margin), family
    levels = family["comparison"].nunique()
    complete = family.groupby("seed")["comparison"].nunique()
    keep = complete[complete == levels].index
    family = family[family["seed"].isin(keep)]
    per_seed = family.groupby("seed")["effect"].mean()
    return primary_test(per_seed.tolist(), margin if margin == margin else 0.0), family


def judge_claims(runs_by_dataset: dict[str, pd.DataFrame]) -> list[Judgement]:
    """Every claim, variant and baseline on the study's records (``runs_by_dataset``: a
    data set's name -> :func:`sparseconv.report.analysis.load_runs`), in CLAIMS order; the
    verdicts are Holm-corrected over all primary tests with enough seeds."""
    staged = []
    for claim in CLAIMS:
        runs = runs_by_dataset.get(claim.dataset, pd.DataFrame())
        margin = margin_of(claim, runs) if not runs.empty else math.nan
        for variant in claim.variants:
            family = family_of(claim, runs, variant)
            for baseline in claim.baselines:
                mine = family[family["baseline"] == baseline] if not family.empty else family
                test, used = _primary(claim, mine, margin)
                power = power_analysis(test.sd, test.n, test.margin)
                staged.append((claim, variant, baseline, used, test, power))
    words, sup, eq = holm_words([t for *_, t, _ in staged])
    return [
        Judgement(c, v, b, f, t, p, w, s_, e)
        for (c, v, b, f, t, p), w, s_, e in zip(staged, words, sup, eq, strict=True)
    ]


def judge_all(results_dir: str | os.PathLike[str] = "results") -> list[Judgement]:
    """:func:`judge_claims` on the study's records in ``results_dir``."""
    return judge_claims(load_study(results_dir))


def find(
    judgements: Sequence[Judgement], dataset: str, kind: str, variant: str = "sparse"
) -> list[Judgement]:
    """The judgements of the claim of ``kind`` on ``dataset`` for ``variant`` (one per
    baseline)."""
    return [
        j
        for j in judgements
        if j.claim.dataset == dataset and j.claim.kind == kind and j.variant == variant
    ]
