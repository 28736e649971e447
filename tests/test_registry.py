"""The registry: adding a model variant or a data set is one row plus its builder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sparseconv.nn import networks
from sparseconv.nn.optim import param_groups
from sparseconv.registry import datasets, models, study
from sparseconv.report.figures.style import model_style


@pytest.fixture
def toy_variant():
    """A variant that is not in the study: partial convolution under one learning rate."""
    row = models.ModelVariant("toy_partial_naive", "toy partial (one lr)", "sparse",
                              ("classification",), "#000000", "x", normalization="partial",
                              matched_steps=False, rate_from="dense")  # fmt: skip
    models.register_variant(row)
    yield row
    del models.VARIANTS[row.name]


def test_a_registered_variant_is_built_styled_and_trained_from_its_row(toy_variant):
    name = toy_variant.name
    assert name in models.models_of("mnist") and name not in models.models_of("depth")
    assert name not in models.tuned_models("mnist")  # it takes the ConvNet's rate
    assert study.default_lr("mnist", name, protocol=2) == study.LEARNING_RATES["mnist"]["dense"]
    net = networks.build_model("mnist", name)
    convs = [b.conv for b in net.blocks]
    assert all(c.normalization == "partial" for c in convs)
    x, mask = torch.rand(2, 1, 28, 28), (torch.rand(2, 1, 28, 28) > 0.5).float()
    assert net(x * mask, mask).shape == (2, 10)
    assert model_style(name) == {"label": "toy partial (one lr)", "color": "#000000",
                                 "marker": "x"}  # fmt: skip
    # partial normalisation: no weight is scaled, whatever matched_steps says
    assert len(param_groups(net, "sgd", 0.1, 5e-4)) == 1
    with pytest.raises(ValueError, match="toy_partial_naive.*does not take part in depth"):
        networks.build_model("depth", name)


def test_the_study_variants_are_the_rows_of_the_registry():
    assert models.MODELS == ("sparse", "sparse_naive", "sparse_partial", "dense", "dense_mask")
    assert models.DEPTH_MODELS == (*models.MODELS, "nn_convnet", "nconv")
    assert models.TUNED_MODELS == ("sparse", "sparse_partial", "dense", "dense_mask")
    mask_channel = networks.build_model("mnist", "dense_mask").blocks[0].conv.in_channels
    assert mask_channel == datasets.DATASETS["mnist"].channels + 1
    assert networks.build_model("depth", "nn_convnet").row.fill == "nearest"


def test_a_registered_data_set_is_built_from_its_row():
    toy = dataclasses.replace(datasets.DATASETS["mnist"], name="toy", title="Toy", channels=2,
                              classes=3, size=16)  # fmt: skip
    datasets.register_dataset(toy)
    try:
        assert models.models_of("toy") == models.MODELS
        net = networks.build_model("toy", "sparse")
        x, mask = torch.rand(4, 2, 16, 16), torch.ones(4, 1, 16, 16)
        assert net(x, mask).shape == (4, 3)
        with pytest.raises(ValueError, match="already registered"):
            datasets.register_dataset(toy)
    finally:
        del datasets.DATASETS["toy"]
    assert "toy" not in datasets.DATASETS


def test_bad_rows_are_refused_with_the_bad_value():
    with pytest.raises(ValueError, match="'spectral'"):
        models.ModelVariant("x", "x", "spectral", ("depth",), "#000", "o")
    with pytest.raises(ValueError, match="'bilinear'"):
        models.ModelVariant("x", "x", "dense", ("depth",), "#000", "o", fill="bilinear")
    with pytest.raises(ValueError, match="'segmentation'"):
        dataclasses.replace(datasets.DATASETS["mnist"], task="segmentation")
    with pytest.raises(ValueError, match="'nope'"):
        models.variant("nope")
    with pytest.raises(ValueError, match="'nope'"):
        networks.build_model("nope", "sparse")
