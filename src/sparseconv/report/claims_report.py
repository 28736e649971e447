"""The claims' verdicts for readers and programs: the claims table (book pages,
``results/summary.md``), ``results/claims.csv``, the power table, and the generated
sentences (what a verdict rests on, whether the two parametrisations agree, the first
page's short answer). Every number comes from :func:`sparseconv.report.claims.judge_claims`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    DEPTH_MARGIN_SHARE,
    MARGINS,
    PRIMARY_ESTIMANDS,
)
from sparseconv.report.claims import CLAIMS, Judgement, metric_name
from sparseconv.report.text.claims import format_effect, metric_words, number_text

__all__ = [
    "CLAIMS_CSV_COLUMNS",
    "claims_table",
    "claims_frame",
    "power_table",
]


CLAIMS_CSV_COLUMNS = [
    "claim",
    "dataset",
    "metric",
    "variant",
    "baseline",
    "verdict",
    "effect",
    "ci_low",
    "ci_high",
    "margin",
    "n_seeds",
    "mde",
]


def claims_frame(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """The claims table for programs (``results/claims.csv``): CLAIMS_CSV_COLUMNS, effects
    in the claim's unit (accuracy points, metres), positive in its favour; ``mde`` the
    smallest effect the seeds detect with 80 % power."""
    rows = [
        [
            int(j.claim.number),
            j.claim.dataset,
            metric_name(j.claim),
            j.variant,
            j.baseline,
            j.verdict,
            j.test.mean,
            j.test.low,
            j.test.high,
            j.test.margin,
            j.test.n,
            j.power.mde,
        ]
        for j in judgements
    ]
    return pd.DataFrame(rows, columns=CLAIMS_CSV_COLUMNS)


def claims_table(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """The claims table for people: claim (its number), data set, metric (with the unit
    of the numbers that follow), variant, baseline, verdict, effect [95 % CI], margin,
    seeds, detectable effect (80 % power)."""
    rows = []
    for j in judgements:
        unit = j.claim.unit
        rows.append(
            {
                "claim": j.claim.number,
                "data set": DATASET_NAMES[j.claim.dataset],
                "metric": metric_words(j.claim),
                "variant": MODEL_LABELS[j.variant],
                "baseline": MODEL_LABELS[j.baseline],
                "verdict": j.verdict if j.n_seeds else "no runs yet",
                "effect [95 % CI]": format_effect(j.test, unit).removesuffix(f" {unit}"),
                "margin": number_text(j.test.margin, unit).removesuffix(f" {unit}"),
                "seeds": j.n_seeds,
                "detectable effect": number_text(j.power.mde, unit).removesuffix(f" {unit}"),
            }
        )
    return pd.DataFrame(rows)


def power_table(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """Per claim, variant and baseline (the single-rate layer, never judged, left out):
    the SD of the per-seed estimand, the smallest effect the seeds at hand detect with
    80 % power, the margin, and the seeds needed to detect an effect of the margin and to
    show equivalence within it."""

    def seeds(value: float) -> str:
        return "–" if value != value else ("> 10,000" if math.isinf(value) else f"{value:,.0f}")

    rows = []
    for j in judgements:
        if j.variant == "sparse_naive":
            continue
        unit = j.claim.unit
        rows.append(
            {
                "claim": f"{j.claim.number}, {DATASET_NAMES[j.claim.dataset]}",
                "variant": MODEL_LABELS[j.variant],
                "baseline": MODEL_LABELS[j.baseline],
                "seeds": j.n_seeds,
                "SD": number_text(j.power.sd, unit),
                "detectable": number_text(j.power.mde, unit),
                "margin": number_text(j.test.margin, unit),
                "seeds to detect Δ": seeds(j.power.seeds_superiority),
                "seeds for equivalence": seeds(j.power.seeds_equivalence),
            }
        )
    return pd.DataFrame(rows)


def preregistration_table() -> pd.DataFrame:
    """The verdict rule's fixed choices per claim (``study``): the primary estimand, the
    metric, the baselines, the equivalence margin and its reason."""
    rows = []
    for claim in CLAIMS:
        margin, reason = MARGINS[claim.dataset]
        size = (
            f"{margin:g} {claim.unit}"
            if margin is not None
            else f"{100 * DEPTH_MARGIN_SHARE:g} % of raw NN's MAE"
        )
        rows.append(
            {
                "claim": claim.number,
                "data set": DATASET_NAMES[claim.dataset],
                "primary estimand (per seed)": PRIMARY_ESTIMANDS[claim.kind],
                "baselines": ", ".join(MODEL_LABELS[b] for b in claim.baselines),
                "margin Δ": size,
                "why this margin": reason,
            }
        )
    return pd.DataFrame(rows)
