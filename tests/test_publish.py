"""Figures reach the book as images whatever matplotlib's backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # the headless backend under which figures used to vanish

import matplotlib.pyplot as plt  # noqa: E402

from sparseconv.report.publish import figure_png  # noqa: E402


def test_a_figure_becomes_a_png_under_the_agg_backend():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [1, 0])
    image = figure_png(fig)
    assert image.format == "png" and image.data.startswith(b"\x89PNG")
    # what myst-nb glues: the display bundle holds the PNG, not a text repr
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(image)
    assert "image/png" in data and "<Figure" not in data.get("text/plain", "")
    plt.close(fig)
