"""The performance, layer and reproduce pages' tables: the benchmark files of
``results/benchmarks/``, the goals, the cost of the grids, provenance and versions."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.records import resolve_results_dir
from sparseconv.registry.study import PERFORMANCE_GOALS, RUN_BUDGET_MIN
from sparseconv.report.analysis import load_runs, with_device


def option_costs(results_dir: str | os.PathLike[str] = "results") -> tuple[pd.DataFrame, dict]:
    """The rows of ``benchmarks/layer_options.py`` (option, nn.Conv2d forward + backward
    in ms, SparseConv2d / nn.Conv2d) and the run's settings; empty if it has not run."""
    path = resolve_results_dir(results_dir) / "benchmarks" / "layer_options.json"
    if not path.is_file():
        return pd.DataFrame(), {}
    result = json.loads(path.read_text())
    table = pd.DataFrame(
        {
            "option": [r["option"] for r in result["rows"]],
            "nn.Conv2d, forward + backward (ms)": [
                1000 * r["median_seconds"]["conv2d"] for r in result["rows"]
            ],
            "SparseConv2d / nn.Conv2d": [r["ratio"] for r in result["rows"]],
        }
    )
    return table, {k: v for k, v in result.items() if k != "rows"}


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
                # the layer less its mask work (count, normaliser, check), timed alone
                "less mask work / conv": r.get("ratio_sparse_less_mask", float("nan")),
                "kept for backward, conv / sparse (MB)": (
                    f"{r['saved_bytes']['conv2d'] / 2**20:.1f} / "
                    f"{r['saved_bytes']['sparse'] / 2**20:.1f}"
                ),
            }
            for r in layer["rows"]
        ]
    )


def floor_table(train: dict) -> pd.DataFrame:
    """Each network's training step against the rate this thread sustains on its dense
    convolutions alone (``benchmarks/train.py``): arithmetic per image, that rate, and
    the step's rate as a share of it, per model (the study's layouts only). Empty for a
    benchmark file from before the floor was measured."""
    rows = [r for r in train["rows"] if "of_floor" in r and " " not in r["model"]]
    return pd.DataFrame(
        [
            {
                "data set": DATASET_NAMES[r["dataset"]],
                "model": model_name(r["model"]),
                "training arithmetic (MFLOP / image)": r["training_flops_per_image"] / 1e6,
                "dense convolutions alone (GFLOP / s)": r["conv_flops_per_second"] / 1e9,
                "step (GFLOP / s)": r["of_floor"] * r["conv_flops_per_second"] / 1e9,
                "share of the convolutions' rate (%)": 100 * r["of_floor"],
            }
            for r in rows
        ],
        columns=["data set", "model", "training arithmetic (MFLOP / image)",
                 "dense convolutions alone (GFLOP / s)", "step (GFLOP / s)",
                 "share of the convolutions' rate (%)"],
    )  # fmt: skip


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
                "measured": f"{r['ratio_sparse']:.3f} ×",
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
                    "measured": f"{r['time_vs_dense']:.3f} ×",
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
