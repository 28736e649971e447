"""The package's layout: imports flow one way, from the report down to the registry.

Every ``import`` in ``src/sparseconv`` (at module level or inside a function) is read
with :mod:`ast`; no subpackage imports one above it, and no two modules import each
other, directly or through others.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import sparseconv

SRC = Path(sparseconv.__file__).parent
# lowest first: a subpackage may import its own modules and those of any lower rank
RANKS = {"registry": 0, "data": 1, "nn": 2, "train": 3, "sweep": 4, "report": 5, "lab": 6}
SUBPACKAGES = [name for name in RANKS if (SRC / name).is_dir()]


def module_names() -> list[str]:
    names = []
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def imports_of(module: str) -> set[str]:
    """The sparseconv modules ``module`` imports (``from a.b import c`` counts a.b.c when
    c is a module, else a.b)."""
    path = SRC.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SRC.parent / module.replace(".", "/") / "__init__.py"
    known = set(module_names())
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import (use sparseconv.<...>)"
            if node.module and node.module.startswith("sparseconv"):
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sparseconv")}
    return found - {module}


def rank(module: str) -> int:
    parts = module.split(".")
    return RANKS[parts[1]] if len(parts) > 1 else len(RANKS)  # the top level: the API


def test_every_module_sits_in_a_subpackage_that_says_what_it_may_import():
    loose = [m for m in module_names() if m.count(".") == 1 and m.split(".")[1] not in RANKS]
    assert not loose, f"modules outside the subpackages: {loose}"
    for name in SUBPACKAGES:
        doc = importlib.import_module(f"sparseconv.{name}").__doc__ or ""
        assert "Imports:" in doc, f"sparseconv.{name}'s docstring does not say what it imports"


def test_imports_flow_down_never_up():
    upward = [
        f"{m} -> {i}"
        for m in module_names()
        for i in imports_of(m)
        if rank(i) > rank(m) and i != "sparseconv"
    ]
    assert not upward, "imports against the direction: " + "; ".join(upward)


def test_no_import_circles():
    graph = {m: imports_of(m) for m in module_names()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_the_registry_is_torch_free():
    for module in module_names():
        if rank(module) == 0:
            tree = ast.parse((SRC.parent / (module.replace(".", "/") + ".py")).read_text()
                             if not module.endswith("registry") else
                             (SRC / "registry" / "__init__.py").read_text())  # fmt: skip
            roots = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import) else [node])
                if getattr(alias, "name", None)
            } | {
                node.module.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
            }
            assert not roots & {"torch", "numpy", "pandas", "matplotlib"}, module


def test_every_module_imports():
    for info in pkgutil.walk_packages(sparseconv.__path__, "sparseconv."):
        importlib.import_module(info.name)


def test_the_reports_concerns_stay_apart():
    # figures draw, text writes, pages assemble: no figure module writes sentences, no
    # text module draws, and nothing but a page imports a page
    crossings = []
    for module in module_names():
        if not module.startswith("sparseconv.report."):
            continue
        kind = module.split(".")[2]
        for target in imports_of(module):
            other = target.split(".")[2] if target.startswith("sparseconv.report.") else None
            if other == "pages" and kind != "pages":
                crossings.append(f"{module} -> {target}")
            if (kind, other) in {("figures", "text"), ("text", "figures")}:
                crossings.append(f"{module} -> {target}")
    assert not crossings, "; ".join(crossings)
