"""The "Use the layer" page: what each option of the layer costs against nn.Conv2d."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from sparseconv.registry.records import resolve_results_dir
from sparseconv.report.tables import note_table, styled

__all__ = ["option_costs", "layer_page"]


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


def layer_page(results_dir: str | os.PathLike[str] = "results") -> dict[str, Any]:
    """Every value the layer page glues."""
    table, settings = option_costs(results_dir)
    if table.empty:
        return {"layer_costs": note_table("benchmarks/layer_options.py has not been run")}
    caption = (
        f"Forward + backward of one layer, {settings['channels']} → "
        f"{settings['channels']} channels, batch {settings['batch']}, "
        f"{settings['size']} × {settings['size']} pixels, {100 * settings['density']:g} % "
        f"valid, {settings['threads']} CPU thread(s), torch {settings['torch_version']}: "
        "the median of interleaved timings, nn.Conv2d with the same options as the "
        "baseline."
    )
    return {"layer_costs": styled(table, caption)}
