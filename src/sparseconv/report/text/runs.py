"""Generated sentences about the runs themselves: how much of a grid has finished, run
times, epochs kept late, longer training, the depth capacity check, the performance
page's answer and the devices per seed."""

from __future__ import annotations

import os

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    BUDGET_CHECK,
    PROTOCOL,
    REPORTED_PROTOCOL,
    TUNING,
    grid_tuned_models,
)
from sparseconv.report.analysis import (
    load_runs,
    timed_runs,
    with_device,
)
from sparseconv.report.performance_tables import model_name
from sparseconv.report.text.results import join_and
from sparseconv.sweep.runs import (
    budget_grid,
    grid,
    grid_folder,
    pending,
    separate_search,
    tuning_grid,
)


def fit_check(runs: pd.DataFrame, target: tuple[float, float] | None = None) -> str:
    """One sentence on fit: with ``target`` = (sparsity, accuracy), the ConvNet's test
    accuracy at that sparsity against the target; then the runs whose accuracy on training
    images (eval mode) is below their test accuracy, by how much and at which sparsities."""
    if runs.empty:
        return "no runs yet"
    parts = []
    if target is not None:
        level, goal = target
        dense = runs[(runs["model"] == "dense") & ((runs["sparsity"] - level).abs() < 1e-9)]
        if not dense.empty:
            accuracy = float(dense["test_accuracy"].mean())
            verdict = "meets" if accuracy >= goal else "misses"
            parts.append(
                f"the ConvNet reaches {100 * accuracy:.1f} % test accuracy at "
                f"{100 * level:g} % sparsity ({verdict} the {100 * goal:g} % target)"
            )
    gap = runs["test_accuracy"] - runs["record"].map(lambda r: r["train_eval_accuracy"])
    below = runs[gap > 0]
    if below.empty:
        parts.append("every run is at least as accurate on training images as on test images")
    else:
        models = "; ".join(sorted({MODEL_LABELS[m] for m in below["model"]}))
        levels = join_and([f"{100 * s:g}" for s in sorted(set(below["sparsity"]))])
        parts.append(
            f"{len(below)} of {len(runs)} runs are less accurate on training images than on "
            f"test images, by at most {100 * gap.max():.2f} points, all at {levels} % "
            f"sparsity ({models})"
        )
    return "; ".join(parts)


def runs_of_search(done: int, dataset: str) -> str:
    """'all 20 runs' once the search is complete, else '12 of its 20 runs so far'."""
    models = grid_tuned_models(dataset, REPORTED_PROTOCOL[dataset])
    total = len(TUNING[dataset]["lrs"]) * len(models)
    return f"all {total} runs" if done >= total else f"{done} of its {total} runs so far"


def ray_overhead_text(ray: dict | None) -> str:
    """The Ray executor's per-run overhead against the local one, said as 'within noise'
    when it is smaller than the spread between repeats of the same local run."""
    if not ray:
        return "not measured"
    local = ray["wall_seconds"]["local"]
    mean = sum(local) / len(local)
    band = (max(local) - min(local)) / mean if len(local) > 1 else float("nan")
    share = ray["overhead_share"]
    startup = f"a start-up of {ray['ray_startup_seconds']:.0f} s per sweep"
    if band == band and abs(share) <= band:
        return (
            f"{startup}, and a per-run overhead within noise: {100 * share:+.1f} % against "
            f"the local executor, while repeats of the same local run differ by "
            f"{100 * band:.0f} %"
        )
    return f"{startup}, and a per-run overhead of {100 * share:+.1f} % against the local executor"


def devices_per_seed(runs: pd.DataFrame) -> str:
    """One sentence per data set whose seeds mix devices (a paired comparison there pairs
    a CPU run with a GPU run), after one naming the data sets whose every seed ran on
    one device."""
    if runs.empty:
        return "No run has finished yet."
    frame = with_device(runs)
    whole, mixed = [], []
    for dataset, group in frame.groupby("dataset", sort=False):
        per_seed = group.groupby("seed")["device"].nunique()
        split = sorted(int(s) for s in per_seed[per_seed > 1].index)
        name = DATASET_NAMES[dataset]
        if not split:
            whole.append(name)
            continue
        seeds = ", ".join(str(s) for s in split[:-1]) + " and " * (len(split) > 1)
        seeds += str(split[-1])
        devices = " and ".join(
            "the CPU" if d == "cpu" else f"an {d}"
            for d in sorted(set(group["device"]), key=lambda d: d != "cpu")
        )
        mixed.append(
            f"In {name}, seed{'s' if len(split) > 1 else ''} {seeds} ran partly on "
            f"each of {devices}, so some of its paired comparisons pair runs from "
            "two devices."
        )
    out = []
    if whole:
        names = ", ".join(whole[:-1]) + " and " + whole[-1] if len(whole) > 1 else whole[0]
        out.append(
            f"Every seed of {names} ran on one device, so each paired comparison "
            "there pairs runs from the same device."
        )
    return " ".join(out + mixed)


def performance_answer(layer: dict | None, train: dict | None) -> str:
    """One or two sentences for the top of the page: what one layer and one training step
    cost against their plain twins, from the committed benchmarks."""
    parts = []
    if layer:
        ratios = [r["ratio_sparse"] for r in layer["rows"]]
        parts.append(
            f"one SparseConv2d layer costs {min(ratios):.2f} to {max(ratios):.2f} × "
            "nn.Conv2d forward and backward"
        )
    if train:
        sparse = [r for r in train["rows"] if r["model"] == "sparse"]
        if sparse:
            ratios = [r["time_vs_dense"] for r in sparse]
            names = join_and([DATASET_NAMES[r["dataset"]] for r in sparse])
            parts.append(
                f"a training step of the sparse network {min(ratios):.2f} to "
                f"{max(ratios):.2f} × its ConvNet twin's ({names}, one CPU "
                "thread)"
            )
    if not parts:
        return "The benchmarks have not been run."
    return "Measured here, " + "; ".join(parts) + "."


def bench_load_sentence(layer: dict | None, train: dict | None) -> str:
    """What else ran while the committed benchmarks ran: the cores other processes kept
    busy on average (``other_load``, files from this version on), else the 1-minute load
    average when the file was written (the benchmark itself counts 1)."""
    benches = [(name, b) for name, b in (("layer", layer), ("training", train)) if b]
    others = [f"{name} {b['other_load']:.2f}" for name, b in benches
              if b.get("other_load") is not None]  # fmt: skip
    if others and len(others) == len(benches):
        return ("Other processes kept this many cores busy, on average, while each "
                "benchmark ran (0: a quiet machine): " + ", ".join(others) + ".")  # fmt: skip
    loads = [f"{name} {b['load_average']:.1f}" for name, b in benches
             if b.get("load_average")]  # fmt: skip
    if loads:
        return ("Their 1-minute load averages when written (the benchmark itself counts "
                "1): " + ", ".join(loads) + ".")  # fmt: skip
    return "The files do not record the machine's load."


def compile_summary(compiled: dict) -> str:
    """One clause on ``benchmarks/compile.py``'s rows: which compiled steps are faster
    than eager ones, and the compilation time."""
    rows = compiled["rows"]
    faster = [r for r in rows if r["speedup"] > 1]
    low = min(r["compile_seconds"] for r in rows)
    high = max(r["compile_seconds"] for r in rows)
    after = f"after {low:.0f} to {high:.0f} s of compilation"
    if not faster:
        speed = [r["speedup"] for r in rows]
        return (f"the compiled step is slower for all {len(rows)} steps measured "
                f"({min(speed):.2f} to {max(speed):.2f} × the eager speed), {after}")  # fmt: skip
    named = ", ".join(
        f"{DATASET_NAMES[r['dataset']]} {model_name(r['model'])} ({r['speedup']:.2f} ×)"
        for r in faster
    )
    slower = len(rows) - len(faster)
    return (f"the compiled step is faster only for {named}"
            + (f", and slower for {slower} of the {len(rows)} steps measured" if slower else "")
            + f", {after}")  # fmt: skip


def verb_for(value: float) -> str:
    return "leads" if value >= 0 else "trails"


def longer_training_text(table: pd.DataFrame, column: str = "test") -> str:
    """One reading of :func:`longer_training` (the numbers are in its table): how much
    the models gain from the longer run (points of ``column``: "test" or "test, mean per
    class"; means over seeds), and how the paper's layer's gap to the ConvNet changes at
    each level where both were trained longer."""
    if table.empty:
        return "benchmarks/epochs.py has not been run for this data set."
    test = table.pivot_table(index=["sparsity", "model"], columns="epochs", values=column)
    if test.shape[1] < 2:
        return "The grid's records of the cells trained longer are missing."
    short, long = test.columns.min(), test.columns.max()
    seeds = sorted({int(x) for x in table["seed"]})
    change = (test[long] - test[short]).dropna()
    listed = f"{', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"means over seeds {listed}"
    low, high = change.idxmin()[1], change.idxmax()[1]
    verb = "gains" if (change > 0).all() else "changes"
    text = (
        f"Trained for {long} instead of {short} epochs ({which}), every model {verb}: "
        f"from {change.min():+.2f} points ({low}) to {change.max():+.2f} ({high})"
    )
    sparse, dense = MODEL_LABELS["sparse"], MODEL_LABELS["dense"]
    for level in test.index.get_level_values(0).unique():
        cell = test.loc[level]
        if {sparse, dense} <= set(cell.index):
            lead = (cell.loc[sparse] - cell.loc[dense]).dropna()
            if len(lead) < 2:
                continue
            same = verb_for(lead[short]) == verb_for(lead[long])
            then = "by" if same else f"{verb_for(lead[long])} it by"
            text += (
                f"; at {level} the paper's layer {verb_for(lead[short])} the ConvNet by "
                f"{abs(lead[short]):.2f} points after {short} epochs and {then} "
                f"{abs(lead[long]):.2f} after {long}"
            )
    return text + "."


def depth_capacity_text(table: pd.DataFrame) -> str:
    """One reading of :func:`depth_capacity` (the numbers are in its table): the largest
    gain any model takes from more width or epochs, and which models stay above raw
    nearest neighbour's test error even at their best setting."""
    if table.empty:
        return "benchmarks/depth_fit.py has not been run."
    nearest = float(table["nearest neighbour"].iloc[0])
    best = table.groupby("model", sort=False)["test"].min()
    first = table.groupby("model", sort=False)["test"].first()
    gain = (first - best).sort_values(ascending=False)
    above = [m for m, v in best.items() if v > nearest]
    text = (
        f"More width or epochs lower a model's test MAE by at most {gain.iloc[0]:.2f} m "
        f"({gain.index[0]})"
    )
    if above:
        names = " and ".join(above) if len(above) <= 2 else ", ".join(above)
        return text + (
            f"; even at its best setting, {names} stays above raw nearest "
            f"neighbour's {nearest:.2f} m."
        )
    return text + f"; at their best, every model is below raw nearest neighbour ({nearest:.2f} m)."


def kept_late(runs: pd.DataFrame, last: int = 2) -> str:
    """'k of n runs': the runs whose kept (best-validation) epoch is one of their ``last``
    epochs, i.e. whose validation curve had not turned down before the end."""
    kept = [
        r["best_epoch"] > len(r["history"]) - last
        for r in runs["record"]
        if r.get("best_epoch") is not None and r.get("history")
    ]
    return f"{sum(kept)} of {len(kept)} runs"


def time_by_device(runs: pd.DataFrame) -> str:
    """One sentence: the median and longest wall time of a run (training + final
    evaluation, minutes of one process) on each device the runs used, CPU first. A GPU
    is shared by several runs at once, so its minutes are not a per-run cost."""
    if runs.empty:
        return "No run has finished yet, so none is timed."
    frame = timed_runs(runs)
    parts = []
    for name, group in sorted(frame.groupby("device"), key=lambda kv: kv[0] != "cpu"):
        where = "on one CPU thread" if name == "cpu" else f"on an {name} shared with other runs"
        parts.append(
            f"{group['minutes'].median():.1f} minutes {where} (at most "
            f"{group['minutes'].max():.1f}; {len(group)} runs)"
        )
    return "Median wall time of a run: " + "; ".join(parts) + "."


def grid_progress(
    dataset: str,
    results_dir: str | os.PathLike[str] = "results",
    runs: pd.DataFrame | None = None,
) -> str:
    """One sentence for a book page: how much of ``dataset``'s study grid has finished
    (record and executed notebook in ``results_dir``) and what a missing run looks like;
    ``runs``: the data set's study records if the page has read them already."""
    name = DATASET_NAMES[dataset]
    try:
        expected = grid(dataset, results_dir=str(results_dir))
    except ValueError:  # a new protocol's grid whose budget is not chosen yet
        expected = []
    left = len(pending(expected))
    if not grid_folder(dataset):
        if left == 0:
            return f"All {len(expected)} runs of the {name} grid have finished."
        return (
            f"{len(expected) - left} of the {len(expected)} runs of the {name} grid have "
            f"finished; {left} are still to come (rerunning python -m sparseconv.sweep "
            f"{dataset} resumes where it stopped). Missing runs appear as gaps in the "
            'figures and as "–" in the tables.'
        )
    reported = len(load_runs(results_dir, dataset) if runs is None else runs)
    text = (
        f"The {name} pages report the protocol-{REPORTED_PROTOCOL[dataset]} grid "
        f"({reported} runs). Protocol {PROTOCOL[dataset]}, which replaces it once "
        "complete, is under way: "
    )
    parts = []
    if dataset in BUDGET_CHECK:
        budget = budget_grid(dataset, results_dir=str(results_dir))
        parts.append(f"{len(budget) - len(pending(budget))} of the {len(budget)} runs of "
                     "its budget check")  # fmt: skip
    if expected and separate_search(dataset):
        search = tuning_grid(dataset, results_dir=str(results_dir))
        parts.append(f"{len(search) - len(pending(search))} of the {len(search)} runs of "
                     "its learning-rate search")  # fmt: skip
    if expected:
        parts.append(f"{len(expected) - left} of the {len(expected)} runs of its grid")
    text += join_and(parts) + " have finished"
    if not expected:
        text += "; its grid waits for the budget the check chooses"
    return text + "."
