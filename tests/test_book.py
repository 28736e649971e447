"""Source checks of the book pages that the Sphinx build does not catch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


GLUE_REFERENCE = re.compile(r"\{glue(?::text|:figure|:md)?\}`?\s*([A-Za-z0-9_]+)")


def code_cells(text: str) -> list[str]:
    """The source of every ``{code-cell}`` of a MyST page, option lines removed."""
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    return ["\n".join(ln for ln in c.splitlines() if not ln.startswith(":")) for c in cells]


def run_page(name: str, workdir: Path, monkeypatch) -> dict[str, object]:
    """Execute a page's code cells in ``workdir`` with a recording ``glue``; return the glues."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import myst_nb

    glued: dict[str, object] = {}

    def fake_glue(key: str, value: object, display: bool = True) -> None:
        glued[key] = value

    from sparseconv.registry import paths

    monkeypatch.setattr(myst_nb, "glue", fake_glue)
    # "results" in the pages is taken from the project root: make it the work folder's
    monkeypatch.setattr(paths, "project_root", lambda: workdir)
    monkeypatch.setenv("SPARSECONV_CACHE", str(ROOT / "cache"))
    monkeypatch.chdir(workdir)
    namespace: dict[str, object] = {"__name__": f"page_{name.replace('/', '_')}"}
    for source in code_cells((ROOT / f"{name}.md").read_text()):
        exec(compile(source, f"{name}.md", "exec"), namespace)
    plt.close("all")
    return glued


def referenced_glues(name: str) -> set[str]:
    return set(GLUE_REFERENCE.findall((ROOT / f"{name}.md").read_text()))


def results_with(tmp_path: Path, records: dict[str, int]) -> Path:
    """A project folder whose results/ holds the reference tables and the first
    ``records[dataset]`` committed records (with notebooks) of each data set, and no
    benchmark files."""
    import shutil

    shutil.copytree(ROOT / "results" / "reference", tmp_path / "results" / "reference")
    for dataset, count in records.items():
        target = tmp_path / "results" / dataset
        target.mkdir(parents=True)
        source = ROOT / "results" / dataset
        for record in sorted(source.glob("*.json") if source.is_dir() else [])[:count]:
            shutil.copy(record, target / record.name)
            notebook = record.with_suffix(".ipynb")
            if notebook.exists():
                shutil.copy(notebook, target / notebook.name)
    return tmp_path


@pytest.mark.slow
def test_every_page_runs_on_an_empty_results_folder(tmp_path, monkeypatch):
    # a fresh clone before any run (or a user's own results_dir): gaps and notes, no error,
    # and every glue the page's text refers to exists
    workdir = results_with(tmp_path, {})
    for name in pages():
        glued = run_page(name, workdir, monkeypatch)
        missing = referenced_glues(name) - set(glued)
        assert not missing, f"{name}: text refers to glues that were not made: {missing}"


@pytest.mark.slow
def test_every_page_runs_with_a_grid_still_running(tmp_path, monkeypatch):
    # one record per data set: one model, one seed, one sparsity
    workdir = results_with(tmp_path, {"mnist": 1, "caltech101": 1, "depth": 1})
    for name in pages():
        glued = run_page(name, workdir, monkeypatch)
        missing = referenced_glues(name) - set(glued)
        assert not missing, f"{name}: text refers to glues that were not made: {missing}"


@pytest.mark.slow
def test_depth_page_with_a_finished_depth_grid(tmp_path, monkeypatch, depth_record):
    # every cell of the depth grid present (study-shaped records): the verdict path with
    # three seeds, the tables and the figures all run, and every glue exists
    from conftest import write_depth_study

    from sparseconv.registry.study import REPORTED_PROTOCOL
    from sparseconv.sweep.runs import grid

    workdir = results_with(tmp_path, {})
    scale = {"sparse": 0.8, "sparse_naive": 1.3, "sparse_partial": 0.9, "dense": 1.0,
             "dense_mask": 1.1, "nn_convnet": 0.95}  # fmt: skip
    order = list(scale)
    cells = [(r.params["model"], r.params["sparsity"], r.params["seed"], r.params["pattern"],
              scale[r.params["model"]] * (1 + 0.03 * r.params["seed"] * order.index(
                  r.params["model"])))
             for r in grid("depth", results_dir=str(workdir / "results"),
                           protocol=REPORTED_PROTOCOL["depth"])]  # fmt: skip
    write_depth_study(workdir / "results", depth_record, cells)
    glued = run_page("book/depth", workdir, monkeypatch)
    assert not referenced_glues("book/depth") - set(glued)
    # the page reports protocol 2's grid while protocol 3 runs beside it
    assert glued["depth_progress"].startswith("The depth pages report the protocol-2 grid "
                                              "(47 runs). Protocol 3")  # fmt: skip
    verdict = glued["depth_sparse_verdict"]
    assert verdict.startswith("Verdict against the ConvNet: ")
    assert verdict.count("Verdict against") == 3  # one per baseline of claim 4
    words = ("supported", "opposite", "equivalent", "inconclusive", "descriptive")
    assert any(f": {w}" in verdict for w in words)
