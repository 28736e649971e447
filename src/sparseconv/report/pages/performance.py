"""What the performance and reproduce pages show: the benchmark files in
``results/benchmarks/`` and the run times in the records, against the goals of
``study.PERFORMANCE_GOALS`` and ``study.RUN_BUDGET_MIN``."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from sparseconv.registry.datasets import DATASET_NAMES
from sparseconv.report.analysis import load_runs, run_times
from sparseconv.report.performance_tables import (
    cost_table,
    floor_table,
    goals_table,
    layer_table,
    model_name,
    provenance_table,
    read_benchmark,
    versions_table,
)
from sparseconv.report.status import study_status
from sparseconv.report.tables import note_table, styled
from sparseconv.report.text.runs import (
    bench_load_sentence,
    compile_summary,
    devices_per_seed,
    performance_answer,
    ray_overhead_text,
)

__all__ = [
    "performance_page",
    "reproduce_page",
]


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
            '(median of interleaved timings); input density 30 %. "Less mask work": '
            "the layer's time less that of its mask work alone (check, count, "
            "normaliser, output mask), against the same baseline.",
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
        out["tab_floor"] = styled(
            floor_table(train),
            "Each training step against the rate of the dense network's convolutions "
            "alone, timed in the same run (one CPU thread).",
            1,
            empty="benchmarks/train.py has not measured the floor yet",
        )
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
        out["tab_floor"] = note_table("benchmarks/train.py has not been run")
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
    out["bench_load"] = bench_load_sentence(layer, train)
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
        out["compile_summary"] = compile_summary(compiled)
        out["compile_best"] = f"{frame['speedup'].max():.2f}"
    else:
        out["tab_compile"] = note_table("benchmarks/compile.py has not been run")
        out["compile_summary"] = "not measured"
        out["compile_best"] = "?"
    return out


def reproduce_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the reproduce page glues: where the study stands and the measured cost
    of its runs."""
    runs = load_runs(results_dir)
    cost = cost_table(results_dir, runs)
    return {
        "tab_status": styled(
            study_status(results_dir),
            "Where the study stands: per data set and protocol, each part's finished and "
            "total runs, the one-thread CPU-hours its pending runs need at the study's "
            "measured minutes per epoch, and what it waits for.",
            1,
        ),
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
