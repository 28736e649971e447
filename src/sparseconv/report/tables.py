"""The book's one table style, and Markdown tables for ``results/summary.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = ["styled", "note_table", "markdown_table", "intervals"]

_CELL = [("border", "1px solid #c8c8c8"), ("padding", "3px 6px")]
TABLE_STYLES = [
    {
        "selector": "",
        "props": [
            ("border-collapse", "collapse"),
            ("margin", "0.5em 0 1em 0"),
            ("font-size", "0.84em"),
        ],
    },
    {"selector": "th", "props": [*_CELL, ("background", "#f2f2f2"), ("text-align", "left")]},
    {"selector": "td", "props": [*_CELL, ("text-align", "left")]},
    {
        "selector": "caption",
        "props": [
            ("caption-side", "bottom"),
            ("text-align", "left"),
            ("font-size", "0.95em"),
            ("padding-top", "0.4em"),
        ],
    },
]


def styled(
    frame: pd.DataFrame, caption: str | None = None, precision: int = 2, empty: str | None = None
) -> Styler:
    """A table in the book's style: borders, a caption below, no raw index, numbers
    right-aligned with ``precision`` decimals, missing values as '–'. Name the index
    (it becomes the first column) or leave it unnamed (it is dropped). An empty ``frame``
    with an ``empty`` note gives :func:`note_table` of that note instead."""
    if frame.empty and empty is not None:
        return note_table(empty)
    table = frame.reset_index() if frame.index.name is not None else frame.reset_index(drop=True)
    table.columns = [str(c) for c in table.columns]
    numbers = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    style = (
        table.style.hide(axis="index")
        .format(precision=precision, na_rep="–", thousands=",")
        .set_table_styles(TABLE_STYLES)
    )
    if numbers:
        style = style.set_properties(subset=numbers, **{"text-align": "right"})
    if caption:
        style = style.set_caption(caption)
    return style


def note_table(text: str) -> Styler:
    """A one-cell table that says why a table is empty, in the same style."""
    return styled(pd.DataFrame({"note": [text]}))


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (index dropped), for summary.md."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = (
        "| "
        + " | ".join(
            "---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns
        )
        + " |"
    )
    lines = [header, rule]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def intervals(low: pd.Series, high: pd.Series, digits: int = 2) -> list[str]:
    """'[low, high]' per row with signs, '–' where there is no interval (one seed)."""
    return [
        f"[{lo:+.{digits}f}, {hi:+.{digits}f}]" if pd.notna(lo) else "–"
        for lo, hi in zip(low, high, strict=True)
    ]
