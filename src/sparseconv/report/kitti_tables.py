"""The KITTI page's tables: each model's error on the held-out returns against the share
of returns kept, and the four frames with KITTI's semi-dense ground truth."""

from __future__ import annotations

import pandas as pd

from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL, models_of

__all__ = ["NEAREST", "kitti_curves", "kitti_means", "ground_truth_table"]

NEAREST = "nearest"  # the training-free baseline's name in these tables


def kitti_curves(runs: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """Long table from the KITTI records: model, sparsity (training), seed, kept (% of the
    returns the test input keeps), value (m); raw nearest neighbour's errors on the same
    inputs as model ``"nearest"`` (once per training sparsity and seed)."""
    rows = []
    for _, run in runs.iterrows():
        record = run["record"]
        for source, model in ((f"test_{metric}_by_sparsity", run["model"]),
                              (f"nn_{metric}_by_sparsity", NEAREST)):  # fmt: skip
            for level, value in record.get(source, {}).items():
                rows.append({"model": model, "sparsity": float(run["sparsity"]),
                             "seed": int(run["seed"]), "kept": round(100 * (1 - float(level))),
                             "value": float(value)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["model", "sparsity", "seed", "kept", "value"])
    # the baseline depends on the inputs only: one row per (training level, seed, kept)
    return frame.drop_duplicates(["model", "sparsity", "seed", "kept"], ignore_index=True)


def kitti_means(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1) and seeds per (model, sparsity, kept)."""
    if curves.empty:
        return pd.DataFrame(columns=["model", "sparsity", "kept", "mean", "std", "n"])
    grouped = curves.groupby(["model", "sparsity", "kept"])["value"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def ground_truth_table(runs: pd.DataFrame, sparsity: float) -> pd.DataFrame:
    """Per model trained at ``sparsity`` (and raw nearest neighbour, last): the MAE (m) on
    each ground-truth frame, averaged over seeds, their mean, the mean RMSE (m) and the
    seeds. Index: the models' labels."""
    chosen = runs[(runs["sparsity"] - sparsity).abs() < 1e-9]
    rows: dict[str, dict[str, float]] = {}
    order = [m for m in models_of("kitti") if m in set(chosen["model"])] + [NEAREST]
    for model in order:
        source = chosen if model == NEAREST else chosen[chosen["model"] == model]
        per_run = []
        for _, run in source.iterrows():
            frames = run["record"].get("ground_truth_frames", {})
            key = "nearest" if model == NEAREST else "model"
            per_run.append({name: e[key] for name, e in frames.items()})
        if not per_run:
            continue
        names = sorted(per_run[0])
        mae = {n: sum(r[n]["mae"] for r in per_run) / len(per_run) for n in names}
        rmse = [sum(r[n]["rmse"] for r in per_run) / len(per_run) for n in names]
        label = NEAREST_LABEL if model == NEAREST else MODEL_LABELS[model]
        rows[label] = {**{f"{n} MAE": v for n, v in mae.items()},
                       "mean MAE": sum(mae.values()) / len(mae),
                       "mean RMSE": sum(rmse) / len(rmse),
                       "runs": len(per_run)}  # fmt: skip
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
