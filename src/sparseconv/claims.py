"""The study's claims, each judged by one rule from the run records.

Every claim compares a sparse variant with its baselines over a *family* of
comparisons (training levels, directions, baselines). Each comparison is a paired test
over seeds (:func:`sparseconv.stats.one_sample` on per-seed differences); the family
is Holm-corrected; the verdict is one of four words (:func:`verdict`); the overall
effect is the seed-level mean over the family with its 95 % interval. Effects are
signed so that a positive value is in the claim's favour.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .stats import ALPHA, MIN_SEEDS, Estimate, holm, one_sample, seed_level_effect
from .study import DATASET_NAMES, MODEL_LABELS, TRAIN_SPARSITIES, VERDICT_METRIC

__all__ = [
    "VERDICTS",
    "verdict_basis",
    "Claim",
    "CLAIMS",
    "metric_key",
    "accuracy_family",
    "invariance_losses",
    "invariance_family",
    "depth_family",
    "family_tests",
    "verdict",
    "judge",
    "claims_table",
    "abstract",
]

VERDICTS = ("supported", "not supported", "opposite", "mixed")
DEPTH_DIRECTIONS = {"5 % → 50 %": (0.95, 0.5), "50 % → 5 %": (0.5, 0.95)}
FAMILY_COLUMNS = ["baseline", "comparison", "seed", "effect"]


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


_CLASSIFICATION_VARIANTS = ("sparse", "sparse_partial", "sparse_naive")
_BETTER = "the sparse network is more accurate than the ConvNet at the sparsity it was trained at"
_INVARIANT = (
    "trained at one sparsity, the sparse network loses less accuracy at the other "
    "sparsities than the ConvNets do"
)
CLAIMS = (
    Claim("1", "more accurate than the ConvNet (group 66)", _BETTER, "mnist", "accuracy",
          ("dense",), "points", _CLASSIFICATION_VARIANTS),
    Claim("2", "more accurate than the ConvNet (group 66)", _BETTER, "caltech101", "accuracy",
          ("dense",), "points", _CLASSIFICATION_VARIANTS),
    Claim("3", "sparsity invariant (the paper)", _INVARIANT, "mnist", "invariance",
          ("dense", "dense_mask"), "points", _CLASSIFICATION_VARIANTS),
    Claim("3", "sparsity invariant (the paper)", _INVARIANT, "caltech101", "invariance",
          ("dense", "dense_mask"), "points", _CLASSIFICATION_VARIANTS),
    Claim("4", "sparsity invariant in depth completion (the paper)",
          "trained at one density, the sparse network fills in the missing depth at the "
          "other density with a smaller error than the ConvNets and interpolation + ConvNet "
          "trained at the same density do", "depth", "depth",
          ("dense", "dense_mask", "nn_convnet"), "m", ("sparse", "sparse_partial")),
)  # fmt: skip


def metric_key(dataset: str, by_sparsity: bool = True) -> str:
    """The record field a data set's verdicts use: accuracy (MNIST) or mean per-class
    accuracy (Caltech-101, where a few classes hold most images), by test sparsity."""
    name = f"test_{VERDICT_METRIC[dataset]}"
    return f"{name}_by_sparsity" if by_sparsity else name


def _values(runs: pd.DataFrame, key: str) -> dict[tuple[str, int, float], dict[str, float]]:
    """(model, seed, training sparsity) -> the record's ``key`` dict."""
    return {
        (run["model"], int(run["seed"]), round(float(run["sparsity"]), 6)): run["record"][key]
        for _, run in runs.iterrows()
        if key in run["record"]
    }


def _level(value: float) -> str:
    return f"{value:g}"


def accuracy_family(
    runs: pd.DataFrame, dataset: str, model: str, baselines: Sequence[str]
) -> pd.DataFrame:
    """Per baseline, training level and seed: the model's accuracy minus the baseline's
    (points) at the training level, same seed. Columns FAMILY_COLUMNS."""
    values = _values(runs, metric_key(dataset))
    rows = []
    for (name, seed, level), by in values.items():
        if name != model:
            continue
        for baseline in baselines:
            other = values.get((baseline, seed, level))
            if other is None:
                continue
            effect = 100 * (by[_level(level)] - other[_level(level)])
            rows.append([baseline, f"trained at {100 * level:g} %", seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def invariance_losses(
    runs: pd.DataFrame, dataset: str, direction: str = "all", key: str | None = None
) -> pd.DataFrame:
    """Signed accuracy loss (points) of each run at each other training level b: the
    accuracy at b of the same model type and seed *trained at b*, minus this run's
    accuracy at b. Positive: the unseen sparsity costs accuracy; 0: invariant; negative:
    better than the in-distribution model. ``direction``: "all" test levels, "denser"
    (fewer pixels missing than in training: the paper's direction) or "sparser".
    ``key``: the record field (default: the data set's verdict metric). Columns: model,
    seed, trained, tested, loss."""
    if direction not in ("all", "denser", "sparser"):
        raise ValueError(f"direction must be 'all', 'denser' or 'sparser', got {direction!r}")
    values = _values(runs, key or metric_key(dataset))
    rows = []
    for (model, seed, a), by in values.items():
        for b in TRAIN_SPARSITIES:
            if (
                abs(a - b) < 1e-9
                or (direction == "denser" and b > a)
                or (direction == "sparser" and b < a)
            ):
                continue
            own = values.get((model, seed, round(b, 6)))
            if own is None:
                continue
            rows.append([model, seed, a, b, 100 * (own[_level(b)] - by[_level(b)])])
    return pd.DataFrame(rows, columns=["model", "seed", "trained", "tested", "loss"])


def invariance_family(
    runs: pd.DataFrame,
    dataset: str,
    model: str,
    baselines: Sequence[str],
    direction: str = "all",
) -> pd.DataFrame:
    """Per baseline, training level and seed: the baseline's mean signed loss over the
    test levels minus the model's (points; positive: the model is more invariant)."""
    losses = invariance_losses(runs, dataset, direction)
    if losses.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    mean = losses.groupby(["model", "seed", "trained"])["loss"].mean()
    rows = []
    for (name, seed, trained), value in mean.items():
        if name != model:
            continue
        for baseline in baselines:
            if (baseline, seed, trained) in mean.index:
                effect = mean[(baseline, seed, trained)] - value
                rows.append([baseline, f"trained at {100 * trained:g} %", seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def depth_family(runs: pd.DataFrame, model: str, baselines: Sequence[str]) -> pd.DataFrame:
    """Per baseline, direction "a → b" (densities) and seed: the baseline's MAE on the
    missing pixels at b minus the model's (metres; positive: the model's error is
    smaller), both trained at a, on the uniform pattern. Absolute errors: the
    in-distribution model is not a divisor."""
    if runs.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    uniform = runs[runs["record"].map(lambda r: r.get("pattern", "uniform")) == "uniform"]
    errors = {
        (run["model"], int(run["seed"]), round(float(run["sparsity"]), 6)): run["record"][
            "test_mae_missing_by_sparsity"
        ]
        for _, run in uniform.iterrows()
    }
    rows = []
    for (name, seed, a), by in errors.items():
        if name != model:
            continue
        for label, (source, target) in DEPTH_DIRECTIONS.items():
            if abs(a - source) > 1e-9:
                continue
            for baseline in baselines:
                other = errors.get((baseline, seed, a))
                if other is not None:
                    effect = other[_level(target)] - by[_level(target)]
                    rows.append([baseline, label, seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def family_tests(family: pd.DataFrame) -> pd.DataFrame:
    """One paired test per (baseline, comparison) over seeds, Holm-corrected over the
    family. A comparison with fewer than ``MIN_SEEDS`` seeds (an unfinished grid) is
    descriptive only: its p is NaN and it does not count in the correction or a verdict.
    Columns: baseline, comparison, n, mean, low, high, p, p_holm."""
    rows = []
    for (baseline, comparison), group in family.groupby(["baseline", "comparison"], sort=False):
        est = one_sample(group["effect"].tolist())
        p = est.p if est.n >= MIN_SEEDS else math.nan
        rows.append([baseline, comparison, est.n, est.mean, est.low, est.high, p])
    table = pd.DataFrame(rows, columns=["baseline", "comparison", "n", "mean", "low", "high", "p"])
    table["p_holm"] = holm(table["p"].tolist()) if not table.empty else []
    return table


def verdict(tests: pd.DataFrame, n_seeds: int) -> str:
    """The one verdict rule.

    Fewer than ``MIN_SEEDS`` seeds: "<n> seed(s), descriptive only". Otherwise, with
    significance at Holm-adjusted p < 0.05 and effects signed in the claim's favour:

    * *supported*: every baseline has a significant comparison in favour, none against;
    * *opposite*: every baseline has a significant comparison against, none in favour;
    * *not supported*: no comparison is significant;
    * *mixed*: anything else (both directions, or only some baselines).
    """
    if n_seeds < MIN_SEEDS:
        return f"{n_seeds} seed{'s' if n_seeds != 1 else ''}, descriptive only"
    significant = tests[tests["p_holm"] < ALPHA]
    if significant.empty:
        return "not supported"
    baselines = set(tests["baseline"])
    favour = set(significant.loc[significant["mean"] > 0, "baseline"])
    against = set(significant.loc[significant["mean"] < 0, "baseline"])
    if favour == baselines and not against:
        return "supported"
    if against == baselines and not favour:
        return "opposite"
    return "mixed"


@dataclass(frozen=True)
class Judgement:
    """A claim judged for one variant: its tests, verdict, overall effect, seeds."""

    claim: Claim
    variant: str
    tests: pd.DataFrame
    verdict: str
    effect: Estimate
    n_seeds: int

    @property
    def counts(self) -> tuple[int, int, int]:
        """(significant in favour, significant against, tests)."""
        sig = self.tests[self.tests["p_holm"] < ALPHA]
        return int((sig["mean"] > 0).sum()), int((sig["mean"] < 0).sum()), len(self.tests)


def family_of(claim: Claim, runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The family of per-seed effects of ``claim`` for ``variant``."""
    if runs.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    if claim.kind == "accuracy":
        return accuracy_family(runs, claim.dataset, variant, claim.baselines)
    if claim.kind == "invariance":
        return invariance_family(runs, claim.dataset, variant, claim.baselines)
    return depth_family(runs, variant, claim.baselines)


def judge(claim: Claim, runs: pd.DataFrame, variant: str) -> Judgement:
    """Judge ``claim`` for ``variant`` on ``runs`` (the data set's study records)."""
    family = family_of(claim, runs, variant)
    tests = family_tests(family)
    n_seeds = int(family["seed"].nunique()) if not family.empty else 0
    return Judgement(claim, variant, tests, verdict(tests, n_seeds),
                     seed_level_effect(family), n_seeds)  # fmt: skip


def verdict_basis(judgement: Judgement) -> str:
    """One plain sentence: the verdict and the comparisons it rests on (those significant
    after Holm, with their effect in the claim's unit, signed in its favour)."""
    tests, unit = judgement.tests, judgement.claim.unit
    if judgement.n_seeds < MIN_SEEDS or tests.empty:
        return f"Verdict: {judgement.verdict}."
    significant = tests[tests["p_holm"] < ALPHA]
    if significant.empty:
        return (f"Verdict: {judgement.verdict}; none of the {len(tests)} comparisons is "
                f"significant after Holm's correction (smallest adjusted p "
                f"{tests['p_holm'].min():.2f}).")  # fmt: skip
    digits = 3 if unit == "m" else 2
    parts = []
    for row in significant.itertuples():
        side = "in the claim's favour" if row.mean > 0 else "against the claim"
        effect = f"{row.mean:+.{digits}f} {unit}"
        parts.append(f"versus the {MODEL_LABELS[row.baseline]}, {row.comparison} "
                     f"({effect}, {side}, Holm p {row.p_holm:.3f})")  # fmt: skip
    return (f"Verdict: {judgement.verdict}, resting on the {len(significant)} of "
            f"{len(tests)} comparisons significant after Holm's correction: "
            f"{'; '.join(parts)}.")  # fmt: skip


def judge_all(results_dir: str | os.PathLike[str] = "results") -> list[Judgement]:
    """Every claim for every variant, from the study's records in ``results_dir``."""
    from .analysis import load_runs

    runs = {ds: load_runs(results_dir, ds) for ds in {c.dataset for c in CLAIMS}}
    return [judge(c, runs[c.dataset], v) for c in CLAIMS for v in c.variants]


def format_effect(est: Estimate, unit: str) -> str:
    """'+1.23 [-0.50, 2.96] points', '+1.23 points' (one seed) or '–' (none)."""
    if est.n == 0:
        return "–"
    digits = 3 if unit == "m" else 2
    text = f"{est.mean:+.{digits}f}"
    if est.n >= 2:
        text += f" [{est.low:+.{digits}f}, {est.high:+.{digits}f}]"
    return f"{text} {unit}"


def claims_table(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """One row per (claim, variant): claim, data set, variant, verdict, effect with its
    95 % interval, seeds, and the significant comparisons for and against of the family."""
    rows = []
    for j in judgements:
        favour, against, k = j.counts
        rows.append(
            {
                "claim": f"{j.claim.number}. {j.claim.short}",
                "data set": DATASET_NAMES[j.claim.dataset],
                "variant": MODEL_LABELS[j.variant],
                "verdict": j.verdict if j.n_seeds else "no runs yet",
                "effect [95 % CI]": format_effect(j.effect, j.claim.unit),
                "seeds": j.n_seeds,
                "significant for / against": f"{favour} / {against} of {k}"
                if k and j.n_seeds >= MIN_SEEDS
                else "–",
            }
        )
    return pd.DataFrame(rows)


def abstract(judgements: Sequence[Judgement]) -> str:
    """A few sentences, generated from the verdicts of the paper's layer (``sparse``),
    for the first page: one per judged claim and data set, and the claims with no runs."""
    main = [j for j in judgements if j.variant == "sparse"]
    judged = [j for j in main if j.n_seeds]
    if not judged:
        return "No claim can be judged yet: the study's grids have no finished runs."
    sentences = []
    for j in judged:
        seeds = f"{j.n_seeds} seed{'s' if j.n_seeds != 1 else ''}"
        sentences.append(
            f"On {DATASET_NAMES[j.claim.dataset]}, claim {j.claim.number} ({j.claim.text}) "
            f"is **{j.verdict}** for the paper's layer: overall effect "
            f"{format_effect(j.effect, j.claim.unit)}, {seeds}."
        )
    waiting = [f"{j.claim.number} on {DATASET_NAMES[j.claim.dataset]}" for j in main
               if not j.n_seeds]  # fmt: skip
    if waiting:
        sentences.append(f"Not judged yet (no finished runs): claim {', '.join(waiting)}.")
    return " ".join(sentences)
