"""Normalized convolution (Eldesokey et al. 2018) against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from sparseconv.nn.nconv import NConv2d, NConvNet, confidence_downsample


def _with_kernel(layer: NConv2d, kernel: torch.Tensor) -> NConv2d:
    """Set the layer's raw weights so that softplus(weight) == kernel (> 0)."""
    with torch.no_grad():
        layer.weight.copy_(torch.log(torch.expm1(kernel)))
    return layer


def test_normalized_convolution_by_hand():
    layer = _with_kernel(NConv2d(1, 1, 3), torch.ones(1, 1, 3, 3))
    x = torch.arange(9.0).view(1, 1, 3, 3)
    c = torch.tensor([[[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
    y, c_out = layer(x, c)
    # centre: sum(c * x) / sum(c) over the whole 3 x 3 = (0*1 + 2*0.5 + 4*1) / 2.5
    assert y[0, 0, 1, 1].item() == pytest.approx(5.0 / 2.5)
    assert c_out[0, 0, 1, 1].item() == pytest.approx(2.5 / 9)
    # bottom-right corner: its window (zero-padded) holds only the centre pixel
    assert y[0, 0, 2, 2].item() == pytest.approx(4.0)
    assert c_out[0, 0, 2, 2].item() == pytest.approx(1.0 / 9)


def test_a_weighted_kernel_and_an_empty_window():
    kernel = torch.tensor([[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]])
    layer = _with_kernel(NConv2d(1, 1, 3), kernel)
    with torch.no_grad():
        layer.bias.fill_(0.5)
    x = torch.randn(1, 1, 5, 5)
    c = torch.zeros(1, 1, 5, 5)
    c[0, 0, 2, 2], c[0, 0, 2, 3] = 1.0, 0.5
    y, c_out = layer(x, c)
    expected = (4 * 1.0 * x[0, 0, 2, 2] + 2 * 0.5 * x[0, 0, 2, 3]) / (4 * 1.0 + 2 * 0.5)
    assert y[0, 0, 2, 2].item() == pytest.approx(expected.item() + 0.5, rel=1e-5)
    assert c_out[0, 0, 2, 2].item() == pytest.approx(5.0 / 16)
    # a window with no confidence: the bias alone, finite, confidence 0
    assert y[0, 0, 0, 0].item() == pytest.approx(0.5) and c_out[0, 0, 0, 0].item() == 0.0
    assert torch.isfinite(y).all() and bool((layer.kernel() > 0).all())


def test_down_sampling_keeps_the_most_confident_pixel():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    c = torch.tensor([[[[0.1, 0.9], [0.3, 0.2]]]])
    values, conf = confidence_downsample(x, c)
    assert values.item() == 2.0 and conf.item() == pytest.approx(0.9)


def test_the_network_keeps_a_constant_scene_constant_for_any_mask():
    # every normalized convolution averages with positive weights: a scene at 7 m stays
    # at 7 m wherever some confidence reached (zero biases at initialisation)
    torch.manual_seed(0)
    net = NConvNet()
    assert sum(p.numel() for p in net.parameters()) < 2_000
    for density in (0.05, 0.3, 1.0):
        mask = (torch.rand(2, 1, 32, 48) < density).float()
        depth = net(7.0 * mask, mask)
        assert depth.shape == (2, 1, 32, 48)
        assert torch.allclose(depth, torch.full_like(depth, 7.0), atol=1e-4)
    loss = net(torch.rand(1, 1, 16, 16), torch.ones(1, 1, 16, 16)).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    with pytest.raises(ValueError, match="divisible by 8"):
        net(torch.ones(1, 1, 12, 12), torch.ones(1, 1, 12, 12))
    assert math.isfinite(loss.item())


def test_nconv_trains_on_the_synthetic_depth_task(tmp_path):
    # depth protocol 3 adds normalized convolution to the synthetic grid
    from sparseconv.registry.study import PROTOCOL
    from sparseconv.train.run import train_run

    record, _ = train_run("depth", sparsity=0.95, model="nconv", epochs=1, lr=1e-3,
                          batch_size=32, seed=0, limit=64, results_dir=tmp_path,
                          progress=False, threads=1)  # fmt: skip
    assert record["protocol"] == PROTOCOL["depth"] and record["architecture"].startswith("nconv5")
    kernels = record["first_layer_kernels"]  # the applied kernels, softplus of the weights
    assert len(kernels) == 2 and len(kernels[0]) == 5
    assert min(v for k in kernels for row in k for v in row) >= 0
    assert record["test_mae_missing"] > 0
