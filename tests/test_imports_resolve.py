"""Every sparseconv import written in a notebook, a book page, a benchmark or the README
resolves: the code moved, so the places that import it must move with it."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*from (sparseconv[\w.]*) import \(?([\w\s,]+?)\)?\s*(?:#.*)?$", re.M)


def sources() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        found.append((str(path.relative_to(ROOT)), code))
    for pattern in ("book/*.md", "benchmarks/*.py", "README.md"):
        for path in sorted(ROOT.glob(pattern)):
            found.append((str(path.relative_to(ROOT)), path.read_text()))
    return found


@pytest.mark.parametrize(("name", "text"), sources(), ids=[n for n, _ in sources()])
def test_every_import_resolves(name, text):
    missing = []
    for module, names in IMPORT.findall(text):
        loaded = importlib.import_module(module)
        for item in re.split(r"[\s,]+", names.strip()):
            if item and item != "as" and not hasattr(loaded, item):
                try:
                    importlib.import_module(f"{module}.{item}")
                except ImportError:
                    missing.append(f"{module}.{item}")
    assert not missing, f"{name} imports names that do not exist: {missing}"
