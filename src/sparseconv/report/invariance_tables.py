"""The invariance page's tables: invariance losses per model, the transfer between
training and test levels and the level-wise tests of claim 3."""

from __future__ import annotations

import pandas as pd

from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import GRIDS
from sparseconv.report.analysis import cross_summary
from sparseconv.report.claims import CLAIMS, Judgement, family_of, find, level_tests
from sparseconv.report.families import invariance_losses, metric_key
from sparseconv.report.stats import one_sample
from sparseconv.report.tables import intervals

DIRECTIONS = {"all": "all other levels", "denser": "denser only", "sparser": "sparser only"}


TRANSFER = [(0.05, 0.05), (0.05, 0.9), (0.5, 0.5), (0.5, 0.9), (0.9, 0.9), (0.9, 0.05)]


def loss_summary(runs: pd.DataFrame, dataset: str, key: str | None = None) -> pd.DataFrame:
    """Per model and direction: the mean signed loss (points) of a model used at a
    sparsity it was not trained at, against the same model type and seed trained there;
    the seed is the unit (per seed, the mean over training and test levels), with the
    95 % interval over seeds. Columns: model, test levels, seeds, loss, 95 % interval."""
    rows = []
    for direction, words in DIRECTIONS.items():
        losses = invariance_losses(runs, dataset, direction, key)
        for model in GRIDS[dataset][1]:
            mine = losses[losses["model"] == model]
            if mine.empty:
                continue
            est = one_sample(mine.groupby("seed")["loss"].mean().tolist())
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "test levels": words,
                    "seeds": est.n,
                    "mean loss (points)": est.mean,
                    "95 % interval": f"[{est.low:+.2f}, {est.high:+.2f}]" if est.n >= 2 else "–",
                }
            )
    return pd.DataFrame(rows)


def transfer_table(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The heat maps read at a few places: the verdict metric (%, mean over seeds) of each
    model trained at one sparsity and tested at the same or another."""
    key = metric_key(dataset)
    table = {}
    for model in GRIDS[dataset][1]:
        matrix = cross_summary(runs, model, key)
        table[MODEL_LABELS[model]] = {
            f"{100 * a:g} → {100 * b:g} %": 100 * matrix.loc[a, b]
            if a in matrix.index and b in matrix.columns
            else float("nan")
            for a, b in TRANSFER
        }
    frame = pd.DataFrame(table).T
    frame.index.name = "model"
    return frame


def invariance_judgements(judgements: list[Judgement], dataset: str) -> list[Judgement]:
    """Claim 3 on ``dataset`` for the paper's layer, one judgement per baseline."""
    return find(judgements, dataset, "invariance", "sparse")


def invariance_tests_table(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Claim 3's level-wise findings for the paper's layer: per baseline and training
    level, the baseline's mean loss minus the sparse network's (points; positive: the
    sparse network is more invariant), paired by seed, the variance pooled across levels,
    Holm-adjusted over each baseline's levels."""
    claim = next(c for c in CLAIMS if c.kind == "invariance" and c.dataset == dataset)
    tests = level_tests(family_of(claim, runs, "sparse"))
    if tests.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "baseline": tests["baseline"].map(MODEL_LABELS),
            "trained at": tests["comparison"].str.removeprefix("trained at "),
            "seeds": tests["n"],
            "baseline loss − sparse loss": tests["mean"],
            "95 % interval": intervals(tests["low"], tests["high"], 2),
            "p (Holm)": tests["p_holm"],
        }
    )
