"""Generated sentences about the claims' verdicts: what each verdict rests on, whether
the two parametrisations agree, the first page's short answer, and the effect formats."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sparseconv.registry.datasets import DATASET_NAMES, DATASETS, VERDICT_METRIC
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import VERDICT_MIN_SEEDS
from sparseconv.report.claims import Claim, Judgement
from sparseconv.report.verdicts import DESCRIPTIVE, PrimaryTest


def metric_words(claim: Claim) -> str:
    """The claim's metric and unit in words, e.g. 'mean per-class accuracy (points)'."""
    base = {"accuracy": "accuracy", "mean_class_accuracy": "mean per-class accuracy"}
    if claim.kind == "depth":
        real = DATASETS[claim.dataset].task == "lidar"
        return "held-out-return MAE (m)" if real else "missing-pixel MAE (m)"
    words = base[VERDICT_METRIC[claim.dataset]]
    words = f"invariance loss of {words}" if claim.kind == "invariance" else words
    return f"{words} (points)"


def digits_of(unit: str) -> int:
    return 3 if unit == "m" else 2


def format_effect(test: PrimaryTest, unit: str) -> str:
    """'+1.23 [-0.50, +2.96] points', '+1.23 points' (no interval) or '–' (no seeds)."""
    if test.n == 0:
        return "–"
    d = digits_of(unit)
    text = f"{test.mean:+.{d}f}"
    if not math.isnan(test.low):
        text += f" [{test.low:+.{d}f}, {test.high:+.{d}f}]"
    return f"{text} {unit}"


def number_text(value: float, unit: str) -> str:
    return "–" if value != value else f"{value:.{digits_of(unit)}f} {unit}"


def verdict_basis(j: Judgement) -> str:
    """One plain sentence: the verdict of ``j`` and what it rests on."""
    unit, t = j.claim.unit, j.test
    against = f"against the {MODEL_LABELS[j.baseline]}"
    if t.n == 0:
        return f"Verdict {against}: no runs yet."
    if j.verdict == DESCRIPTIVE:
        plural = "s" if t.n != 1 else ""
        return (
            f"Verdict {against}: descriptive ({t.n} seed{plural}, a verdict needs "
            f"{VERDICT_MIN_SEEDS}); effect {format_effect(t, unit)}."
        )
    d = digits_of(unit)
    base = (
        f"Verdict {against}: {j.verdict}; effect {format_effect(t, unit)} over {t.n} "
        f"seeds, margin ±{t.margin:.{d}f} {unit}"
    )
    if j.verdict in ("supported", "opposite"):
        small = "; smaller than the margin" if abs(t.mean) < t.margin else ""
        return f"{base}, Holm p {j.p_superiority_holm:.3g}{small}."
    if j.verdict == "equivalent":
        return (
            f"{base}: the 90 % interval [{t.low90:+.{d}f}, {t.high90:+.{d}f}] lies "
            f"inside it (TOST, Holm p {j.p_equivalence_holm:.3g})."
        )
    return (
        f"{base}: neither different from 0 (Holm p {j.p_superiority_holm:.2g}) nor shown "
        f"inside the margin (TOST Holm p {j.p_equivalence_holm:.2g})."
    )


def consistency(judgements: Sequence[Judgement]) -> list[str]:
    """Sentences on whether the paper's layer (``sparse``) and partial convolution
    (``sparse_partial``), one function class, get the same verdict for each claim and
    baseline; where not, the two effects side by side."""
    out = []
    partial = {
        (j.claim.number, j.claim.dataset, j.baseline): j
        for j in judgements
        if j.variant == "sparse_partial"
    }
    agree = 0
    for j in judgements:
        if j.variant != "sparse":
            continue
        other = partial.get((j.claim.number, j.claim.dataset, j.baseline))
        if other is None or not j.n_seeds:
            continue
        if other.verdict == j.verdict:
            agree += 1
            continue
        unit = j.claim.unit
        out.append(
            f"Claim {j.claim.number} on {DATASET_NAMES[j.claim.dataset]} against the "
            f"{MODEL_LABELS[j.baseline]}: {j.verdict} for the paper's layer "
            f"({format_effect(j.test, unit)}), {other.verdict} for partial convolution "
            f"({format_effect(other.test, unit)})."
        )
    head = (
        f"The paper's layer and partial convolution get the same verdict in {agree} of "
        f"{agree + len(out)} comparisons."
    )
    gaps = {}
    for j in judgements:
        other = partial.get((j.claim.number, j.claim.dataset, j.baseline))
        if j.variant == "sparse" and other is not None and j.n_seeds and other.n_seeds:
            gaps.setdefault(j.claim.unit, []).append(abs(j.test.mean - other.test.mean))
    if gaps:
        spans = [f"{max(v):.{digits_of(u)}f} {u}" for u, v in gaps.items()]
        head += (
            f" Their primary effects differ by at most {' and '.join(spans)} (largest "
            "gap between the two estimates of one claim and baseline)."
        )
    return [head, *out]


def short_answer(judgements: Sequence[Judgement]) -> str:
    """Two or three plain sentences for the first page, generated from the verdicts of
    the paper's layer (``sparse``): whether it is decided, then what holds for depth
    completion and for classification, against which baselines. Undecided claims are
    read from their 95 % intervals, and say so."""
    main = [j for j in judgements if j.variant == "sparse" and j.n_seeds]
    if not main:
        return "No claim can be judged yet: the study's grids have no finished runs."
    decided = [j for j in main if j.verdict != DESCRIPTIVE]
    sentences = []
    if not decided:
        most = max(j.n_seeds for j in main)
        sentences.append(
            f"Not decided yet: the finished grids have {most} seeds per cell, and the rule "
            f"needs {VERDICT_MIN_SEEDS} for a verdict."
        )
    tasks = (
        ("depth", "In depth completion", "density"),
        ("invariance", "In classification", "sparsity"),
    )
    for kind, task, level in tasks:
        mine = [j for j in main if j.claim.kind == kind]
        if kind == "depth":
            # the primary claim (real LiDAR) once it has runs, else the secondary one
            primary = [j for j in mine if j.claim.primary]
            mine = primary or mine
            if mine:
                task += " on real LiDAR" if primary else " on the synthetic scenes"
        if not mine:
            continue
        if decided:
            words = [
                f"{j.verdict} against the {MODEL_LABELS[j.baseline]}"
                + ("" if kind == "depth" else f" on {DATASET_NAMES[j.claim.dataset]}")
                for j in mine
            ]
            sentences.append(f"{task}, sparsity invariance is {'; '.join(words)}.")
            continue
        worse = [where_text(j, kind) for j in mine if j.test.high < 0]
        better = [where_text(j, kind) for j in mine if j.test.low > 0]
        if not worse and not better:
            sentences.append(f"{task}, every 95 % interval of invariance so far includes zero.")
            continue
        parts = []
        if worse:
            parts.append(f"less invariant than {join_names(worse)}")
        if better:
            parts.append(f"more invariant than {join_names(better)}")
        sentences.append(
            f"{task}, trained at one {level} and tested at others, the paper's layer is so "
            f"far {' and '.join(parts)} (95 % intervals that exclude zero); every other "
            "interval includes zero."
        )
    return " ".join(sentences[:3])


def where_text(j: Judgement, kind: str) -> str:
    name = f"the {MODEL_LABELS[j.baseline]}"
    return name if kind == "depth" else f"{name} on {DATASET_NAMES[j.claim.dataset]}"


def join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
