"""The classification notebooks share one source: notebooks/mnist.ipynb."""

from __future__ import annotations

import json

import pytest

from sparseconv.registry.datasets import datasets_of
from sparseconv.registry.paths import project_root
from sparseconv.registry.study import DEFAULTS
from sparseconv.report.notebook import SOURCE_NOTEBOOK, classification_notebook

NOTEBOOKS = project_root() / "notebooks"


@pytest.mark.parametrize("dataset", [d for d in datasets_of("classification")])
def test_each_classification_notebook_is_made_from_the_source(dataset):
    made = classification_notebook(dataset)
    committed = (NOTEBOOKS / f"{dataset}.ipynb").read_text()
    assert committed == made, (
        f"notebooks/{dataset}.ipynb is out of date with notebooks/{SOURCE_NOTEBOOK}.ipynb: "
        "python -m sparseconv.report.notebook --write"
    )


def test_an_edit_of_the_source_reaches_the_made_notebook():
    source = json.loads((NOTEBOOKS / f"{SOURCE_NOTEBOOK}.ipynb").read_text())
    code = next(
        c for c in source["cells"] if c["cell_type"] == "code" and "tags" not in c["metadata"]
    )
    code["source"] = [*code["source"], "\nprint('an added line')"]
    made = json.loads(classification_notebook("caltech101", json.dumps(source)))
    texts = ["".join(c["source"]) for c in made["cells"]]
    assert any("print('an added line')" in t for t in texts)
    params = next(c for c in made["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert f"batch_size = {DEFAULTS['caltech101']['batch_size']}\n" in params["source"]
    assert not any('"mnist"' in t for t in texts)


def test_only_classification_data_sets_are_made():
    with pytest.raises(ValueError, match="'depth'"):
        classification_notebook("depth")
