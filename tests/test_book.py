"""Source checks of the book pages that the Sphinx build does not catch."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def pages() -> list[str]:
    return [f for f in toc_files() if f.startswith("book/")]


def test_every_toc_entry_exists():
    for name in toc_files():
        assert (ROOT / f"{name}.md").is_file() or (ROOT / f"{name}.ipynb").is_file(), name


def test_every_page_opens_with_a_label_target():
    for name in pages():
        text = (ROOT / f"{name}.md").read_text()
        body = text.split("---", 2)[2] if text.startswith("---") else text
        first = body.strip().splitlines()[0]
        assert re.fullmatch(r"\([a-z0-9-]+\)=", first), f"{name}: starts with {first!r}"


def test_no_escaped_dollar_signs():
    # "\$" renders as a literal dollar sign: MyST math would silently become plain text
    for name in pages():
        text = (ROOT / f"{name}.md").read_text()
        assert "\\$" not in text, f"{name} has an escaped dollar sign"
