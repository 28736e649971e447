"""The "Use the layer" page: what each option of the layer costs against nn.Conv2d."""

from __future__ import annotations

import os
from typing import Any

from sparseconv.report.performance_tables import option_costs
from sparseconv.report.tables import note_table, styled

__all__ = ["option_costs", "layer_page"]


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
