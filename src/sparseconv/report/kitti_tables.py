"""The KITTI page's tables: each model's error on the held-out returns against the share
of returns kept, the four frames with KITTI's semi-dense ground truth, how each model
trained, and the published validation-set figures."""

from __future__ import annotations

import os

import pandas as pd

from sparseconv.registry.datasets import KITTI_TRAIN_SPARSITIES
from sparseconv.registry.models import MODEL_LABELS, NEAREST_LABEL, models_of
from sparseconv.registry.records import resolve_results_dir
from sparseconv.report.depth_curves import pattern_of
from sparseconv.train.kitti_examples import decode_frame

__all__ = [
    "NEAREST",
    "kitti_curves",
    "kitti_means",
    "ground_truth_table",
    "kitti_fit_table",
    "capped_runs",
    "load_published",
    "published_table",
    "kitti_benchmark_table",
    "HELD_OUT_COLUMN",
    "stored_examples",
    "uniform_runs",
    "kitti_lines_table",
]

NEAREST = "nearest"  # the training-free baseline's name in these tables


def uniform_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs on the uniform pattern (claim 4's inputs; the lines runs apart)."""
    return runs[pattern_of(runs) == "uniform"] if len(runs) else runs


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
    each ground-truth frame, averaged over seeds, their mean, KITTI's other three errors
    averaged over frames and seeds (RMSE in m, iMAE and iRMSE in 1/km) and the runs.
    Index: the models' labels."""
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

        def mean(metric: str, per_run: list = per_run, names: list = names) -> float:
            return sum(r[n][metric] for r in per_run for n in names) / (len(per_run) * len(names))

        label = NEAREST_LABEL if model == NEAREST else MODEL_LABELS[model]
        rows[label] = {**{f"{n} MAE": v for n, v in mae.items()},
                       "mean MAE": sum(mae.values()) / len(mae),
                       "mean RMSE": mean("rmse"),
                       "mean iMAE (1/km)": mean("imae"),
                       "mean iRMSE (1/km)": mean("irmse"),
                       "runs": len(per_run)}  # fmt: skip
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def kitti_fit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Did each KITTI model train properly? Per model and training share (means over the
    seeds): the epochs run against the cap, the runs the plateau rule stopped, the best
    (kept) epoch, the last epoch's training loss (L1, m), and the MAE (m) on training
    frames (eval mode), on validation (kept epoch) and on the test block at the training
    share."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    order = {m: i for i, m in enumerate(models_of("kitti"))}
    runs = runs.assign(pattern=pattern_of(runs))
    groups = runs.groupby(["model", "sparsity", "pattern"])
    for (model, sparsity, pattern), group in sorted(
        groups, key=lambda g: (g[0][2] != "uniform", -g[0][1], order[g[0][0]])
    ):
        records = list(group["record"])

        def mean(key: str, records: list[dict] = records) -> float:
            return float(pd.Series([r[key] for r in records], dtype=float).mean())

        caps = sorted({int(r["epochs"]) for r in records})
        rows.append(
            {
                "model": MODEL_LABELS.get(model, model),
                "trained keeping": f"{round(100 * (1 - sparsity))} %",
                "pattern": pattern,
                "runs": len(records),
                "epochs run (cap)": f"{mean('epochs_run'):.1f} ({'/'.join(map(str, caps))})",
                "plateau stops": f"{sum(bool(r['stopped_early']) for r in records)} of "
                f"{len(records)}",
                "kept epoch": f"{mean('best_epoch'):.1f}",
                "training loss": float(
                    pd.Series([r["history"][-1]["loss"] for r in records]).mean()
                ),
                "training frames": mean("train_eval_mae"),
                "validation": mean("val_mae"),
                "test": mean("test_mae"),
            }
        )
    return pd.DataFrame(rows)


def capped_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs the epoch cap ended (not the plateau rule, not a divergence): model,
    sparsity, seed, pattern, epochs. For them a doubled cap could train on, so their cells still
    need the budget check's doubling."""
    rows = [
        {"model": run["model"], "sparsity": float(run["sparsity"]), "seed": int(run["seed"]),
         "pattern": run["record"].get("pattern", "uniform"),
         "epochs": int(run["record"]["epochs"])}
        for _, run in runs.iterrows()
        if not run["record"].get("stopped_early")
        and "diverged_at_epoch" not in run["record"]
        and int(run["record"]["epochs_run"]) >= int(run["record"]["epochs"])
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "sparsity", "seed", "pattern", "epochs"])


def load_published(results_dir: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """Published errors on KITTI's selected validation set,
    ``results/reference/kitti_validation.csv`` (empty if missing): method, model (ours of
    the same kind, or blank), mae_m, rmse_m, source."""
    path = resolve_results_dir(results_dir) / "reference" / "kitti_validation.csv"
    return pd.read_csv(path, keep_default_na=False) if path.is_file() else pd.DataFrame()


def published_table(published: pd.DataFrame, runs: pd.DataFrame, sparsity: float) -> pd.DataFrame:
    """The published validation-set figures (MAE, RMSE, m) beside ours of the same kind on
    the four ground-truth frames, trained keeping ``1 - sparsity`` of the returns (mean
    MAE and RMSE over the frames and seeds; "–" where that model has no run yet)."""
    if published.empty:
        return pd.DataFrame()
    ours = ground_truth_table(runs, sparsity) if not runs.empty else pd.DataFrame()
    rows = []
    for _, entry in published.iterrows():
        label = MODEL_LABELS.get(entry["model"], "")
        have = label and not ours.empty and label in ours.index
        rows.append(
            {
                "published": entry["method"],
                "MAE (m)": float(entry["mae_m"]),
                "RMSE (m)": float(entry["rmse_m"]),
                "source": entry["source"],
                "ours": label or "–",
                "our MAE (m)": f"{ours.loc[label, 'mean MAE']:.3f}" if have else "–",
                "our RMSE (m)": f"{ours.loc[label, 'mean RMSE']:.3f}" if have else "–",
            }
        )
    return pd.DataFrame(rows)


# the column of :func:`kitti_benchmark_table` that ranks our models
HELD_OUT_COLUMN = "ours, held-out returns: MAE (m)"


def kitti_benchmark_table(
    bench: pd.DataFrame, runs: pd.DataFrame, sparsity: float = KITTI_TRAIN_SPARSITIES[0]
) -> pd.DataFrame:
    """KITTI's test-server entries (MAE and RMSE, mm: ``results/reference/
    kitti_benchmark.csv``, the paper's own among them) beside our model of the same kind
    trained keeping ``1 - sparsity`` of the returns: its MAE (m) on the test block's
    held-out returns at that share and its mean MAE on the four ground-truth frames,
    means over seeds ("interpolation alone" beside raw nearest neighbour; NaN where no
    run has finished)."""
    if bench.empty:
        return pd.DataFrame()
    chosen = runs[(runs["sparsity"] - sparsity).abs() < 1e-9] if len(runs) else runs
    level = f"{sparsity:g}"
    truth = ground_truth_table(chosen, sparsity) if len(chosen) else pd.DataFrame()
    rows = []
    for _, entry in bench.iterrows():
        model = entry["model"] if isinstance(entry["model"], str) and entry["model"] else None
        nearest = model is None and str(entry["method"]).startswith("NadarayaW")
        if model is not None:
            source, key, label = chosen[chosen["model"] == model], "test", MODEL_LABELS[model]
        elif nearest:
            source, key, label = chosen.drop_duplicates("seed"), "nn", NEAREST_LABEL
        else:
            source, key, label = chosen.iloc[0:0], "", ""
        values = [r[f"{key}_mae_by_sparsity"][level] for r in source["record"]] if key else []
        held_out = sum(values) / len(values) if values else float("nan")
        on_truth = (
            float(truth.loc[label, "mean MAE"])
            if label and not truth.empty and label in truth.index
            else float("nan")
        )
        # the server's errors in whole millimetres (its published resolution), ours in metres
        rows.append({"KITTI entry": entry["method"],
                     "KITTI MAE (mm)": int(round(float(entry["mae_mm"]))),
                     "KITTI RMSE (mm)": int(round(float(entry["rmse_mm"]))),
                     HELD_OUT_COLUMN: held_out,
                     "ours, ground-truth frames: MAE (m)": on_truth})  # fmt: skip
    return pd.DataFrame(rows)


def stored_examples(runs: pd.DataFrame, sparsity: float) -> tuple[str | None, int, dict]:
    """The completions of the first ground-truth frame kept in the records of the models
    trained at ``sparsity`` (each model's lowest seed): (frame name, stride, {label: map
    in metres}); (None, 0, {}) where no record keeps one."""
    chosen = runs[(runs["sparsity"] - sparsity).abs() < 1e-9] if len(runs) else runs
    frame, stride, maps = None, 0, {}
    for model in models_of("kitti"):
        mine = chosen[chosen["model"] == model].sort_values("seed") if len(chosen) else chosen
        stored = [
            r["ground_truth_example"] for r in mine["record"] if r.get("ground_truth_example")
        ]
        if not stored:
            continue
        frame, stride = stored[0]["frame"], int(stored[0]["stride"])
        maps[MODEL_LABELS[model]] = decode_frame(stored[0])
    return frame, stride, maps


def kitti_lines_table(runs: pd.DataFrame) -> pd.DataFrame:
    """MAE (m) on the held-out returns of the models trained on the lines pattern (whole
    scan lines kept), tested on the same pattern at every share: the mean over seeds per
    model (the seeds in the row label), raw nearest neighbour of the same inputs last;
    columns: the share of the returns kept (%, ascending)."""
    lines = runs[pattern_of(runs) == "lines"] if len(runs) else runs
    if lines.empty:
        return pd.DataFrame()
    means = kitti_means(kitti_curves(lines))
    order = [m for m in models_of("kitti") if m in set(means["model"])] + [NEAREST]
    rows = {}
    for model in order:
        mine = means[means["model"] == model].sort_values("kept")
        seeds = int(mine["n"].max())
        label = NEAREST_LABEL if model == NEAREST else f"{MODEL_LABELS[model]} ({seeds})"
        rows[label] = dict(zip((f"{k} %" for k in mine["kept"]), mine["mean"], strict=True))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model (seeds)"
    return table
