"""The budget check of protocol 3: is the training long enough for the comparison?

The runs of ``study.BUDGET_CHECK`` (``python -m sparseconv.sweep <dataset> --budget``,
records in ``results/<dataset>/budget/``) train every tuned model at one low and one high
training sparsity with two seeds at B, 2B and 4B epochs. A budget is *sufficient* when
doubling it moves every paired difference against the ConvNet by less than half the
claim's margin, and every model's own metric by less than the margin; both on the
validation split, in the data set's verdict metric (the test set stays unseen until the
grid's one evaluation). The grid's budget is the smallest sufficient one.

KITTI's check (``"from_history"``) trains only its longest budget: its learning rate
follows the validation plateau and never the cap, so each shorter budget B is read off
the longest run's history (the best validation error within its first B epochs, where a
run capped at B would have stopped or kept its weights). Its scores are validation MAE
in metres, lower is better, and its margin is 5 % of raw nearest neighbour's validation
MAE on the same inputs (known before any network trains).
"""

from __future__ import annotations

import math
import os

import pandas as pd

from sparseconv.registry.datasets import VERDICT_METRIC
from sparseconv.registry.models import MODEL_LABELS, tuned_models
from sparseconv.registry.records import read_record, resolve_results_dir
from sparseconv.registry.study import (
    BUDGET_CHECK,
    DEPTH_MARGIN_SHARE,
    MARGINS,
    PROTOCOL,
    SELECTION,
    budget_levels,
)
from sparseconv.sweep.tuning import level_text

__all__ = [
    "BASELINE",
    "UNITS",
    "load_budget",
    "budget_margin",
    "budget_means",
    "budget_check",
    "sufficient_budget",
    "budget_table",
]

BASELINE = "dense"  # the paired differences are against the ConvNet
COLUMNS = ["model", "sparsity", "seed", "epochs", "val", "train_loss", "train_eval", "minutes",
           "kept_epoch", "epochs_run", "val_nn"]  # fmt: skip
# the unit of a budget check's scores and differences, per data set
UNITS = {"mnist": "points", "caltech101": "points", "kitti": "m"}


def load_budget(results_dir: str | os.PathLike[str], dataset: str) -> pd.DataFrame:
    """One row per budget record of ``dataset`` under the current protocol and budget it
    answers for (columns COLUMNS): the validation score of the kept epoch (classification:
    the verdict metric in points; KITTI: MAE in m), the last epoch's training loss, the
    eval-mode training score, the minutes, the kept epoch, the epochs run and raw nearest
    neighbour's validation score (KITTI; NaN elsewhere). A ``"from_history"`` check gives
    each record one row per budget up to its own, read off its history; a shorter
    budget's eval-mode training score is NaN unless the run stopped within it."""
    if dataset not in BUDGET_CHECK:
        raise ValueError(f"no budget check for {dataset!r}; one of {tuple(BUDGET_CHECK)}")
    folder = resolve_results_dir(results_dir) / dataset / "budget"
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        r = read_record(path)
        if r.get("protocol") != PROTOCOL[dataset] or r.get("limit") is not None:
            continue
        if BUDGET_CHECK[dataset].get("from_history"):
            rows += [[*row, int(r["epochs"])] for row in _history_rows(r, dataset)]
            continue
        history = r.get("history") or [{}]
        rows.append(
            [
                r["model"],
                float(r["sparsity"]),
                int(r["seed"]),
                int(r["epochs"]),
                100 * r[f"val_{VERDICT_METRIC[dataset]}"],
                history[-1].get("loss", math.nan),
                100 * r["train_eval_accuracy"],
                r["train_seconds"] / 60,
                r.get("best_epoch", math.nan),
                len(r.get("history") or []),
                math.nan,
            ]
        )
    if not BUDGET_CHECK[dataset].get("from_history"):
        return pd.DataFrame(rows, columns=COLUMNS)
    # a budget read off two records of one cell (a shorter cap's run that ended before
    # it, and the longer cap's): the longer record's reading
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "cap"]).sort_values("cap", kind="stable")
    keys = ["model", "sparsity", "seed", "epochs"]
    return frame.drop_duplicates(keys, keep="last").drop(columns="cap").reset_index(drop=True)


def _history_rows(record: dict, dataset: str) -> list[list]:
    """The rows of one record of a ``"from_history"`` check: one per budget B of the
    check up to the record's own, as the run capped at B: its first min(B, epochs run)
    epochs, the kept epoch the best validation score among them. A run that ended before
    its cap (the plateau stopped it) is the run under every later cap too, so it answers
    for every budget of the check."""
    val_key, train_key, maximize = SELECTION[dataset]
    history = record.get("history") or []
    ended = len(history) < int(record["epochs"])
    rows = []
    for budget in BUDGET_CHECK[dataset]["epochs"]:
        if (budget > int(record["epochs"]) and not ended) or not history:
            continue
        seen = history[:budget]
        scores = [h[val_key] for h in seen]
        best = (max if maximize else min)(range(len(scores)), key=scores.__getitem__)
        whole = len(seen) == len(history)  # the run stopped within B: it is the run at B
        rows.append(
            [
                record["model"],
                float(record["sparsity"]),
                int(record["seed"]),
                int(budget),
                float(scores[best]),
                seen[-1].get("loss", math.nan),
                record.get(train_key, math.nan) if whole else math.nan,
                sum(h.get("seconds", math.nan) for h in seen) / 60,
                best + 1,
                len(seen),
                record.get("val_nn_mae", math.nan),
            ]
        )
    return rows


def budget_margin(frame: pd.DataFrame, dataset: str) -> float:
    """The claim's margin in the budget check's unit: ``MARGINS`` where it is a number;
    for KITTI ``DEPTH_MARGIN_SHARE`` times raw nearest neighbour's validation MAE,
    averaged over the check's levels (NaN before any run)."""
    margin = MARGINS[dataset][0]
    if margin is not None:
        return float(margin)
    if frame.empty:
        return math.nan
    per_level = frame.groupby("sparsity")["val_nn"].mean()
    return DEPTH_MARGIN_SHARE * float(per_level.mean())


def budget_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (sparsity, epochs, model): the mean validation score over seeds (``val``) and
    the mean paired difference to the ConvNet of the same seed (``diff``, ``UNITS``; NaN
    for the ConvNet itself), and the seeds (``n``)."""
    if frame.empty:
        return pd.DataFrame(columns=["sparsity", "epochs", "model", "val", "diff", "n"])
    base = frame[frame["model"] == BASELINE].set_index(["sparsity", "epochs", "seed"])["val"]
    keyed = frame.set_index(["sparsity", "epochs", "seed"])
    diff = keyed["val"] - base.reindex(keyed.index)
    frame = frame.assign(diff=diff.to_numpy())
    frame.loc[frame["model"] == BASELINE, "diff"] = math.nan
    grouped = frame.groupby(["sparsity", "epochs", "model"])
    out = grouped.agg(val=("val", "mean"), diff=("diff", "mean"), n=("seed", "nunique"))
    return out.reset_index()


def budget_check(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per budget B whose double 2B has run: the largest change, over models and levels,
    of a model's validation score and of a paired difference to the ConvNet when B is
    doubled (``UNITS``), the limits (margin, half the margin; :func:`budget_margin`) and
    whether B is sufficient.
    A budget with a missing cell (model, level, seeds) is not judged (NaN)."""
    margin = budget_margin(frame, dataset)
    setting = BUDGET_CHECK[dataset]
    means = budget_means(frame)
    rows = []
    for budget, double in zip(setting["epochs"], setting["epochs"][1:], strict=False):
        # the levels both budgets ran (a doubling may run at some levels only)
        levels = [v for v in budget_levels(dataset, double) if v in budget_levels(dataset, budget)]
        cells = len(levels) * len(tuned_models(dataset))
        a = means[(means["epochs"] == budget) & means["sparsity"].isin(levels)]
        b = means[(means["epochs"] == double) & means["sparsity"].isin(levels)]
        a, b = a.set_index(["sparsity", "model"]), b.set_index(["sparsity", "model"])
        complete = all(len(t) == cells and (t["n"] == len(setting["seeds"])).all() for t in (a, b))
        model_move = (b["val"] - a["val"]).abs().max() if complete else math.nan
        diff_move = (b["diff"] - a["diff"]).abs().max() if complete else math.nan
        judged = complete and math.isfinite(margin)
        ok = (model_move < margin and diff_move < margin / 2) if judged else None
        rows.append(
            {
                "budget (epochs)": budget,
                "doubled to": double,
                "largest change of a model": model_move,
                "largest change of a difference": diff_move,
                "noise of a change": _noise(frame, budget, double) if complete else math.nan,
                "limit, model": margin,
                "limit, difference": margin / 2,
                "sufficient": {True: "yes", False: "no", None: "–"}[ok],
            }
        )
    return pd.DataFrame(rows)


def _noise(frame: pd.DataFrame, budget: int, double: int) -> float:
    """The standard error of a mean change of one model's score on doubling, from the
    spread of the per-seed changes (pooled over models and levels; ``UNITS``): a change
    well below it cannot be told from the seed-to-seed noise."""
    keys = ["model", "sparsity", "seed"]
    a = frame[frame["epochs"] == budget].set_index(keys)["val"]
    b = frame[frame["epochs"] == double].set_index(keys)["val"]
    change = (b - a.reindex(b.index)).dropna().reset_index()
    spread = change.groupby(["model", "sparsity"])["val"].var().mean()
    seeds = change["seed"].nunique()
    return math.sqrt(spread / seeds) if seeds >= 2 else math.nan


def sufficient_budget(frame: pd.DataFrame, dataset: str) -> int | None:
    """The smallest sufficient budget of :func:`budget_check`, or None (none yet)."""
    check = budget_check(frame, dataset)
    chosen = check[check["sufficient"] == "yes"]
    return int(chosen["budget (epochs)"].iloc[0]) if not chosen.empty else None


def budget_table(frame: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """Validation score (``UNITS``, mean over seeds) per level and budget (rows) and model
    (columns), then each model's difference to the ConvNet; ``dataset`` names the levels
    as its pages do (default: as sparsities)."""
    means = budget_means(frame)
    if means.empty:
        return pd.DataFrame()
    val = means.pivot_table(index=["sparsity", "epochs"], columns="model", values="val")
    diff = means.pivot_table(index=["sparsity", "epochs"], columns="model", values="diff")
    if dataset is not None:  # the levels in the check's order (KITTI: 10 % kept first)
        order = list(BUDGET_CHECK[dataset]["sparsities"])
        rows = sorted(val.index, key=lambda key: (order.index(key[0]), key[1]))
        val, diff = val.loc[rows], diff.reindex(rows)
    models = [m for m in MODEL_LABELS if m in val.columns]
    table = val[models].rename(columns=MODEL_LABELS)
    for m in [m for m in models if m in diff.columns and m != BASELINE]:
        table[f"{MODEL_LABELS[m]} − ConvNet"] = diff[m]
    table.index = [
        f"{level_text(dataset, s) if dataset else f'{100 * s:g} %'}, {e} epochs"
        for s, e in table.index
    ]
    table.index.name = "trained at, budget"
    return table
