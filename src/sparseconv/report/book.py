"""The claims on the first and last pages, and how page values reach the book.

A book page computes nothing itself: it calls one of the ``*_page`` functions of the
report modules and hands the result to :func:`publish`, which glues every value.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, Markdown
from matplotlib.figure import Figure

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.report.analysis import (
    grid_progress,
    load_references,
    load_study,
    reference_gap,
    seed_summary,
)
from sparseconv.report.claims import CLAIMS, family_of, judge_claims, level_tests
from sparseconv.report.claims_report import (
    claims_table,
    consistency,
    power_table,
    short_answer,
    verdict_basis,
)
from sparseconv.report.figures import accuracy_vs_sparsity, depth_mae_curves, legend_below
from sparseconv.report.tables import intervals, styled

__all__ = ["publish", "intro_page", "conclusions_page", "depth_tests_table"]


FIGURE_DPI = 100  # pixels per inch of the PNG a figure is glued as


def figure_png(fig: Figure) -> Image:
    """``fig`` as a PNG image for the page, rendered here with matplotlib's Agg canvas, so
    a figure shows as a figure whatever the user's backend (``MPLBACKEND=Agg`` included,
    where IPython would otherwise glue its text repr)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


def publish(values: Mapping[str, Any]) -> None:
    """Glue every value for the page (``myst_nb.glue``, not displayed); figures are glued
    as PNG images (:func:`figure_png`) and closed."""
    from myst_nb import glue

    for name, value in values.items():
        if isinstance(value, Figure):
            glue(name, figure_png(value), display=False)
            plt.close(value)
        else:
            glue(name, value, display=False)


def _glance_figure(study: dict[str, pd.DataFrame]) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.2))
    for ax, dataset in zip(axes[0], ("mnist", "caltech101"), strict=True):
        runs = study[dataset]
        title = DATASET_NAMES[dataset]
        if runs.empty:
            ax.text(0.5, 0.5, f"no finished {title} runs yet", ha="center", transform=ax.transAxes)
            ax.set_title(title)
            ax.set_axis_off()
        else:
            accuracy_vs_sparsity(seed_summary(runs), ax=ax, title=title)
    depth = study["depth"]
    for ax, level in zip(axes[1], (0.95, 0.5), strict=True):
        depth_mae_curves(depth, level, ax=ax)
    legend_below(fig, list(axes.ravel()))
    return fig


def intro_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """The first page: the short answer generated from the verdicts, the claims table of
    the paper's layer, group 66's Caltech gap, the figure at a glance and how much has
    run."""
    study = load_study(results_dir)
    judgements = judge_claims(study)
    main = [j for j in judgements if j.variant == "sparse"]
    table = claims_table(main)
    refs = load_references(results_dir)
    out: dict[str, Any] = {
        "intro_answer": Markdown(short_answer(judgements)),
        "intro_claims": styled(
            table,
            "Each claim for the paper's layer, one row per baseline: "
            "the verdict by the rule of the conclusions page, the primary "
            "effect (positive favours the claim) with its 95 % interval "
            "over seeds, the equivalence margin and the smallest effect the "
            "seeds detect with 80 % power.",
        ),
        "intro_g66_gap": float(reference_gap(refs, "group66", "caltech101").mean()),
        "fig_glance": _glance_figure(study),
    }
    for dataset in ("mnist", "caltech101", "depth"):
        out[f"intro_{dataset}_progress"] = grid_progress(dataset, results_dir, study[dataset])
    return out


def depth_tests_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Claim 4's level-wise findings for each sparse variant: per baseline and direction,
    the baseline's MAE minus the sparse network's (m; positive favours the sparse
    network), paired by seed, the variance pooled across directions, Holm-corrected over
    each baseline's directions. ``runs``: the depth study's records."""
    claim = next(c for c in CLAIMS if c.kind == "depth")
    frames = []
    for variant in claim.variants:
        tests = level_tests(family_of(claim, runs, variant))
        if not tests.empty:
            frames.append(tests.assign(model=MODEL_LABELS[variant]))
    if not frames:
        return pd.DataFrame()
    tests = pd.concat(frames, ignore_index=True)
    return pd.DataFrame(
        {
            "model": tests["model"],
            "compared with": tests["baseline"].map(MODEL_LABELS),
            "trained → tested (density)": tests["comparison"],
            "seeds": tests["n"],
            "baseline MAE − sparse MAE (m)": tests["mean"],
            "95 % interval": intervals(tests["low"], tests["high"], 3),
            "p (Holm)": tests["p_holm"],
        }
    )


def conclusions_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """The last page: every claim for every variant and baseline, the reading of each
    verdict, the agreement of the two parametrisations, the power, and claim 4's
    level-wise findings."""
    study = load_study(results_dir)
    judgements = judge_claims(study)
    table = claims_table(judgements)
    depth = depth_tests_table(study["depth"])
    readings = [
        f"* Claim {j.claim.number}, {DATASET_NAMES[j.claim.dataset]}, "
        f"{MODEL_LABELS[j.variant]}: {verdict_basis(j)}"
        for j in judgements
        if j.variant != "sparse_naive"
    ]
    return {
        "concl_claims": styled(
            table,
            "Every claim for every variant of the sparse layer and "
            "every baseline. The effect is the primary estimand: per seed "
            "the paired difference averaged over the claim's levels, then "
            "the mean over seeds with its 95 % interval, positive in the "
            "claim's favour; detectable effect: 80 % power at the seeds "
            "at hand.",
        ),
        "concl_readings": Markdown("\n".join(readings) + "\n"),
        "concl_consistency": Markdown(" ".join(consistency(judgements))),
        "concl_power": styled(
            power_table(judgements),
            "What the seeds can decide, per claim, "
            "variant and baseline: the SD of the per-seed estimand, the "
            "smallest effect detected with 80 % power (two-sided, "
            "α = 0.05 before Holm), and the seeds needed to detect an effect "
            "of the margin or to show equivalence within it (true "
            "difference 0).",
        ),
        "concl_depth": styled(
            depth,
            "Claim 4, level-wise: each sparse variant against "
            "each baseline trained at the same density and tested at the "
            "other, paired by seed.",
            3,
            empty="no depth model type has runs at both densities",
        ),
    }
