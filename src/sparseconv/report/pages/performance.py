"""What the performance and reproduce pages show: the benchmark files in
``results/benchmarks/`` and the run times in the records, against the goals of
``study.PERFORMANCE_GOALS`` and ``study.RUN_BUDGET_MIN``."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.records import resolve_results_dir
from sparseconv.registry.study import PERFORMANCE_GOALS, RUN_BUDGET_MIN
from sparseconv.report.analysis import load_runs, run_times, with_device
from sparseconv.report.tables import note_table, styled

__all__ = [
    "read_benchmark",
    "goals_table",
    "ray_overhead_text",
    "performance_page",
    "performance_answer",
    "versions_table",
    "model_name",
    "cost_table",
    "provenance_table",
    "devices_per_seed",
    "reproduce_page",
]


def model_name(name: str) -> str:
    """A benchmark row's model in the book's words: 'sparse (channels-first)' ->
    'sparse conv (channels-first)', 'sparse 11-7-5-3' -> 'sparse conv 11-7-5-3'."""
    base, _, rest = name.partition(" ")
    return f"{MODEL_LABELS.get(base, base)} {rest}".strip()


def read_benchmark(name: str, results_dir: str | os.PathLike[str] = "results") -> dict | None:
    """A benchmark file of ``results/benchmarks/`` (None if not run)."""
    path = resolve_results_dir(results_dir) / "benchmarks" / name
    return json.loads(path.read_text()) if path.is_file() else None


def layer_table(layer: dict) -> pd.DataFrame:
    """Forward + backward time of one layer: nn.Conv2d, a naive sparse layer, SparseConv2d."""
    return pd.DataFrame(
        [
            {
                "shape": r["shape"],
                "layout": r.get("layout", "channels-first"),
                "N, C_in → C_out, size, k": (
                    f"{r['batch']}, {r['in_channels']} → {r['out_channels']}, "
                    f"{r['size']}², {r['kernel']}"
                ),
                "nn.Conv2d (ms)": 1000 * r["median_seconds"]["conv2d"],
                "naive sparse / conv": r["ratio_naive"],
                "SparseConv2d / conv": r["ratio_sparse"],
                "kept for backward, conv / sparse (MB)": (
                    f"{r['saved_bytes']['conv2d'] / 2**20:.1f} / "
                    f"{r['saved_bytes']['sparse'] / 2**20:.1f}"
                ),
            }
            for r in layer["rows"]
        ]
    )


def goals_table(layer: dict | None, train: dict | None, times: pd.DataFrame) -> pd.DataFrame:
    """Every goal with what was measured and whether it holds (columns goal, measured,
    holds)."""
    goals = []
    for r in layer["rows"] if layer else []:
        limit = PERFORMANCE_GOALS["layer_vs_conv"]
        goals.append(
            {
                "goal": f"layer ≤ {limit:.2f} × nn.Conv2d ({r['shape']}, "
                f"{r.get('layout', 'channels-first')})",
                "measured": f"{r['ratio_sparse']:.2f} ×",
                "holds": r["ratio_sparse"] <= limit,
            }
        )
    for r in train["rows"] if train else []:
        if r["model"] == "sparse":
            limit = PERFORMANCE_GOALS["sparse_train_vs_dense"]
            goals.append(
                {
                    "goal": f"sparse training ≤ {limit:.2f} × dense "
                    f"({DATASET_NAMES[r['dataset']]})",
                    "measured": f"{r['time_vs_dense']:.2f} ×",
                    "holds": r["time_vs_dense"] <= limit,
                }
            )
    if train:
        share = max(r["data_share"] for r in train["rows"])
        limit = PERFORMANCE_GOALS["data_share"]
        goals.append(
            {
                "goal": f"time waiting for data < {100 * limit:g} % of a step",
                "measured": f"{100 * share:.1f} % (worst model)",
                "holds": share < limit,
            }
        )
    for dataset, budget in RUN_BUDGET_MIN.items():
        sub = times[
            (times["dataset"] == dataset)
            & (times["layout"] == "channels_last")
            & (times["device"] == "cpu")
        ]
        if not sub.empty:
            worst = float((sub["median_min"] / 2).max())
            goals.append(
                {
                    "goal": f"{DATASET_NAMES[dataset]}: ≤ {budget:g} min per run of the "
                    "grid (two at once)",
                    "measured": f"{worst:.1f} min (slowest model's median)",
                    "holds": worst <= budget,
                }
            )
    table = pd.DataFrame(goals, columns=["goal", "measured", "holds"])
    table["holds"] = table["holds"].map({True: "yes", False: "no"})
    return table


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


def cost_table(
    results_dir: str | os.PathLike[str] = "results", runs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per data set and device: runs, median training minutes, total hours of the runs'
    processes (one CPU thread each on a CPU; a share of the GPU on a GPU). ``runs``: the
    study's records if already loaded (else read from ``results_dir``)."""
    runs = load_runs(results_dir) if runs is None else runs
    rows = [
        {
            "data set": DATASET_NAMES[dataset],
            "device": device,
            "runs": len(group),
            "median minutes per run (training)": group["train_seconds"].median() / 60,
            "total process hours": group["train_seconds"].sum() / 3600,
        }
        for (dataset, device), group in runs.groupby(["dataset", "device"])
    ]
    return pd.DataFrame(rows)


def _commit(record: dict[str, Any]) -> str:
    """'abc1234', 'abc1234 (dirty)' or '?' for a record's code version."""
    commit = record.get("git_commit")
    if not commit:
        return "?"
    return f"{commit[:7]} (dirty)" if record.get("git_dirty") else commit[:7]


def provenance_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Where the study's runs ran: per data set and device ("cpu" where a record names
    none), the seeds, the number of runs and the commits their records name."""
    columns = ["data set", "device", "seeds", "runs", "commits named"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = [
        [
            DATASET_NAMES[dataset],
            name,
            ", ".join(str(s) for s in sorted(set(group["seed"]))),
            len(group),
            ", ".join(sorted({_commit(r) for r in group["record"]})),
        ]
        for (dataset, name), group in with_device(runs).groupby(["dataset", "device"])
    ]
    return pd.DataFrame(rows, columns=columns)


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
            names = " and ".join(DATASET_NAMES[r["dataset"]] for r in sparse)
            parts.append(
                f"a training step of the sparse network {min(ratios):.2f} to "
                f"{max(ratios):.2f} × its ConvNet twin's ({names}, one CPU "
                "thread)"
            )
    if not parts:
        return "The benchmarks have not been run."
    return "Measured here, " + "; ".join(parts) + "."


def performance_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the performance page glues."""
    layer = read_benchmark("layer.json", results_dir)
    train = read_benchmark("train.json", results_dir)
    compiled = read_benchmark("compile.json", results_dir)
    times = run_times(load_runs(results_dir))
    out: dict[str, Any] = {
        "tab_layer": styled(
            layer_table(layer),
            "Forward + backward time of one layer "
            "(median of interleaved timings); input density 30 %.",
        )
        if layer
        else note_table("benchmarks/layer.py has not been run"),
        "layer_threads": layer["threads"] if layer else "?",
        "layer_torch": layer["torch_version"] if layer else "?",
        "ray_overhead": ray_overhead_text(read_benchmark("ray_overhead.json", results_dir)),
    }
    if train:
        frame = pd.DataFrame(train["rows"])
        shown = pd.DataFrame(
            {
                "data set": frame["dataset"].map(DATASET_NAMES),
                "model": frame["model"].map(model_name),
                "batch size": frame["batch_size"],
                "images / s": frame["images_per_second"].round(0).astype(int),
                "time vs dense": frame["time_vs_dense"],
                "data share (%)": 100 * frame["data_share"],
            }
        )
        out["tab_train"] = styled(shown, "Training throughput (one CPU thread, sparsity 50 %).")
        speed = {(r["dataset"], r["model"]): r["images_per_second"] for r in train["rows"]}
        layout = [
            f"{DATASET_NAMES[d]} {model_name(m.removesuffix(' (channels-first)'))} "
            f"{speed[(d, m.removesuffix(' (channels-first)'))] / v:.1f} ×"
            for (d, m), v in speed.items()
            if m.endswith(" (channels-first)")
        ]
        out["layout_speedup"] = "; ".join(layout) if layout else "not measured"
    else:
        out["tab_train"] = note_table("benchmarks/train.py has not been run")
        out["layout_speedup"] = "not measured"
    # two one-thread processes at once on the 2-core machine; a GPU was shared by more
    per_run = times["median_min"].where(times["device"] == "cpu") / 2
    shown_times = times.assign(
        per_run=per_run,
        dataset=times["dataset"].map(DATASET_NAMES),
        model=times["model"].map(model_name),
        layout=times["layout"].str.replace("_", "-"),
    ).rename(
        columns={
            "dataset": "data set",
            "median_min": "median (min)",
            "max_min": "max (min)",
            "per_run": "per grid run (min)",
        }
    )
    out["tab_run_times"] = (
        styled(
            shown_times,
            "Wall time of the study's finished runs "
            "(training and the final evaluation), per process. Per run of the grid: two "
            "one-thread processes at once on the 2-core machine; GPU runs shared the GPU "
            "with a varying number of others, so they have no per-run figure.",
            1,
        )
        if not times.empty
        else note_table("no finished runs yet")
    )
    out["perf_answer"] = performance_answer(layer, train)
    goals = goals_table(layer, train, times)
    out["tab_goals"] = styled(
        goals, "The performance goals and what the committed benchmarks and run records show."
    )
    out["goals_missed"] = int((goals["holds"] == "no").sum())
    out["goals_total"] = len(goals)
    if compiled:
        frame = pd.DataFrame(compiled["rows"])
        out["tab_compile"] = styled(
            pd.DataFrame(
                {
                    "data set": frame["dataset"].map(DATASET_NAMES),
                    "model": frame["model"].map(model_name),
                    "compilation (s)": frame["compile_seconds"].round(0).astype(int),
                    "eager (images / s)": frame["eager_images_per_second"].round(0).astype(int),
                    "compiled (images / s)": frame["compiled_images_per_second"]
                    .round(0)
                    .astype(int),
                    "speed-up": frame["speedup"],
                }
            ),
            "torch.compile of the training step, one CPU thread.",
        )
        best = frame.loc[frame["speedup"].idxmax()]
        slower = frame[frame["speedup"] < 1]
        out["compile_summary"] = (
            f"the compiled step is faster only for {DATASET_NAMES[best['dataset']]} "
            f"{model_name(best['model'])} ({best['speedup']:.2f} ×)"
            + (
                f", and slower for {len(slower)} of the {len(frame)} steps measured"
                if len(slower)
                else ""
            )
            + f", after {frame['compile_seconds'].min():.0f} to "
            f"{frame['compile_seconds'].max():.0f} s of compilation"
        )
        out["compile_best"] = f"{frame['speedup'].max():.2f}"
    else:
        out["tab_compile"] = note_table("benchmarks/compile.py has not been run")
        out["compile_summary"] = "not measured"
        out["compile_best"] = "?"
    return out


PINNED = {"torch": "2.14.1", "python": "3.11"}  # pyproject.toml's pins


def versions_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per data set, device, torch and Python version: the number of the study's records,
    and whether those versions are the project's pins (torch 2.14.1, Python 3.11)."""
    if runs.empty:
        return pd.DataFrame()
    frame = with_device(runs).assign(
        torch=runs["record"].map(lambda r: str(r.get("torch_version", "?")).split("+")[0]),
        python=runs["record"].map(lambda r: str(r.get("python_version", "?"))),
    )
    table = frame.groupby(["dataset", "device", "torch", "python"]).size().reset_index(name="runs")
    pinned = (table["torch"] == PINNED["torch"]) & table["python"].str.startswith(PINNED["python"])
    return pd.DataFrame(
        {
            "data set": table["dataset"].map(DATASET_NAMES),
            "device": table["device"],
            "torch": table["torch"],
            "Python": table["python"],
            "runs": table["runs"],
            "the project's pins": pinned.map({True: "yes", False: "no"}),
        }
    )


def reproduce_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the reproduce page glues: the measured cost of the study's runs."""
    runs = load_runs(results_dir)
    cost = cost_table(results_dir, runs)
    return {
        "tab_provenance": styled(
            provenance_table(runs),
            "Where the study's runs ran, and the code version each record names.",
            0,
        )
        if not runs.empty
        else note_table("no finished runs yet"),
        "devices_per_seed": devices_per_seed(runs),
        "tab_versions": styled(
            versions_table(runs), "The software each of the study's records ran with.", 0
        )
        if not runs.empty
        else note_table("no finished runs yet"),
        "tab_cost": styled(
            cost,
            "Measured cost of the study's finished runs, from their records (training time only).",
            1,
            empty="no finished runs yet",
        ),
    }
