"""What the first page shows: the short answer, the claims of the paper's layer, the
figure at a glance and how far each grid has run."""

from __future__ import annotations

import os
from typing import Any

from IPython.display import Markdown

from sparseconv.report.analysis import load_references, load_study, reference_gap
from sparseconv.report.claims import judge_claims
from sparseconv.report.claims_report import claims_table
from sparseconv.report.figures.results import glance_figure
from sparseconv.report.tables import styled
from sparseconv.report.text.claims import short_answer
from sparseconv.report.text.runs import grid_progress


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
        "fig_glance": glance_figure(study),
    }
    for dataset in ("mnist", "caltech101", "kitti", "depth"):
        out[f"intro_{dataset}_progress"] = grid_progress(dataset, results_dir, study[dataset])
    return out
