"""How page values reach the book: figures as PNG, everything through myst-nb's glue."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
from IPython.display import Image
from matplotlib.figure import Figure

FIGURE_DPI = 100  # pixels per inch of the PNG a figure is glued as


def figure_png(fig: Figure) -> Image:
    """``fig`` as a PNG image for the page, rendered here with matplotlib's Agg canvas, so
    a figure shows as a figure whatever the user's backend (``MPLBACKEND=Agg`` included,
    where IPython would otherwise glue its text repr)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


def publish(values: Mapping[str, Any]) -> None:
    """Glue every value for the page (``myst_nb.glue``, not displayed); figures are glued
    as PNG images (:func:`figure_png`) and closed."""
    from myst_nb import glue

    for name, value in values.items():
        if isinstance(value, Figure):
            glue(name, figure_png(value), display=False)
            plt.close(value)
        else:
            glue(name, value, display=False)
