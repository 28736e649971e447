"""Keep one copy of each inline script of a page.

sphinx-thebe (loaded by Jupyter Book v1 even with thebe off) registers its configuration
script once per read of the sources, so a page can carry ``const THEBE_JS_URL = ...``
twice, and the browser reports the second declaration as an error.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _dedupe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # an inline script may come with filename None or '' (two registration paths)
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), str(script.attributes.get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("html-page-context", _dedupe, priority=900)  # after the themes add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
