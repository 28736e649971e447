"""What the conclusions page shows: every claim's verdicts, their readings, the power, and
claim 4's level-wise findings on both depth data sets."""

from __future__ import annotations

import os
from typing import Any

from IPython.display import Markdown

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.report.analysis import load_study
from sparseconv.report.claims import judge_claims
from sparseconv.report.claims_report import claims_table, power_table
from sparseconv.report.depth_tables import depth_tests_table
from sparseconv.report.tables import styled
from sparseconv.report.text.claims import consistency, verdict_basis


def conclusions_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """The last page: every claim for every variant and baseline, the reading of each
    verdict, the agreement of the two parametrisations, the power, and claim 4's
    level-wise findings."""
    study = load_study(results_dir)
    judgements = judge_claims(study)
    table = claims_table(judgements)
    depth = depth_tests_table(study["depth"])
    kitti = depth_tests_table(study["kitti"], "kitti")
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
        "concl_kitti": styled(
            kitti,
            "Claim 4 on real LiDAR, level-wise: each sparse variant against each baseline "
            "trained keeping the same share of the returns and tested keeping the other, "
            "paired by seed.",
            3,
            empty="no KITTI model type has runs at both training shares yet",
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
