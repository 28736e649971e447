"""Shared fixtures. Tests read the real data from $SPARSECONV_DATA (CI: ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The data folder the tests use: $SPARSECONV_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("SPARSECONV_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data()
    if not (path / "MNIST" / "raw").is_dir():
        pytest.fail(
            f"the test data is not at {path}: set SPARSECONV_DATA to a folder with MNIST "
            "and Caltech-101 in torchvision's layout"
        )
    return path
