"""The claims on the first and last pages, and how page values reach the book.

A book page computes nothing itself: it calls one of the ``*_page`` functions of the
report modules and hands the result to :func:`publish`, which glues every value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from .analysis import grid_progress, load_references, load_runs, reference_gap, seed_summary
from .claims import CLAIMS, abstract, claims_table, judge, judge_all
from .plots import accuracy_vs_sparsity, depth_mae_curves, legend_below
from .study import DATASET_NAMES, MODEL_LABELS
from .tables import intervals, note_table, styled

__all__ = ["publish", "intro_page", "conclusions_page", "depth_tests_table"]


def publish(values: Mapping[str, Any]) -> None:
    """Glue every value for the page (``myst_nb.glue``, not displayed); figures are
    closed once glued."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)
        if isinstance(value, Figure):
            plt.close(value)


def _glance_figure(results_dir: str | os.PathLike[str]) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.2))
    for ax, dataset in zip(axes[0], ("mnist", "caltech101"), strict=True):
        runs = load_runs(results_dir, dataset)
        title = DATASET_NAMES[dataset]
        if runs.empty:
            ax.text(0.5, 0.5, f"no finished {title} runs yet", ha="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_title(title)
            ax.set_axis_off()
        else:
            accuracy_vs_sparsity(seed_summary(runs), ax=ax, title=title)
    depth = load_runs(results_dir, "depth")
    for ax, level in zip(axes[1], (0.95, 0.5), strict=True):
        depth_mae_curves(depth, level, ax=ax)
    legend_below(fig, list(axes.ravel()))
    return fig


def intro_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """The first page: the generated abstract, the compact claims table (the paper's
    layer), group 66's Caltech gap, the figure at a glance and how much has run."""
    judgements = judge_all(results_dir)
    main = [j for j in judgements if j.variant == "sparse"]
    table = claims_table(main).drop(columns=["variant", "significant for / against"])
    refs = load_references(results_dir)
    out: dict[str, Any] = {
        "intro_abstract": Markdown(abstract(judgements)),
        "intro_claims": styled(table, "Each claim for the paper's layer: the verdict by the "
                               "one rule of the conclusions page, the overall effect (positive "
                               "favours the claim) with its 95 % interval over seeds."),
        "intro_g66_gap": float(reference_gap(refs, "group66", "caltech101").mean()),
        "fig_glance": _glance_figure(results_dir),
    }  # fmt: skip
    for dataset in ("mnist", "caltech101", "depth"):
        out[f"intro_{dataset}_progress"] = grid_progress(dataset, results_dir)
    return out


def depth_tests_table(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """Claim 4's family for each sparse variant: per baseline and direction, the baseline's
    MAE minus the sparse network's (m; positive favours the sparse network), paired by
    seed, Holm-corrected."""
    runs = load_runs(results_dir, "depth")
    claim = next(c for c in CLAIMS if c.kind == "depth")
    frames = []
    for variant in claim.variants:
        tests = judge(claim, runs, variant).tests
        if not tests.empty:
            frames.append(tests.assign(model=MODEL_LABELS[variant]))
    if not frames:
        return pd.DataFrame()
    tests = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({
        "model": tests["model"],
        "compared with": tests["baseline"].map(MODEL_LABELS),
        "trained → tested (density)": tests["comparison"],
        "seeds": tests["n"],
        "baseline MAE − sparse MAE (m)": tests["mean"],
        "95 % interval": intervals(tests["low"], tests["high"], 3),
        "p (Holm)": tests["p_holm"],
    })  # fmt: skip


def conclusions_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """The last page: every claim for every variant, and claim 4's tests."""
    table = claims_table(judge_all(results_dir))
    depth = depth_tests_table(results_dir)
    return {
        "concl_claims": styled(table, "Every claim for every variant of the sparse layer. "
                               "Verdicts need at least three seeds; the effect is the mean over "
                               "seeds of each seed's mean over the family (levels, baselines), "
                               "positive in the claim's favour, with its 95 % interval."),
        "concl_depth": styled(depth, "Claim 4: depth completion, each sparse variant against "
                              "each baseline trained at the same density and tested at the "
                              "other, paired by seed.", 3)
        if not depth.empty else note_table("no depth model type has runs at both densities"),
    }  # fmt: skip
