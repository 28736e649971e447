"""The Examples sections of the layers' docstrings run as written."""

from __future__ import annotations

import doctest

import pytest

import sparseconv.nn.layers
import sparseconv.nn.pooling


@pytest.mark.parametrize("module", [sparseconv.nn.layers, sparseconv.nn.pooling])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
