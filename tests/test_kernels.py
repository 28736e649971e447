"""The layer's fast passes against the plain ops they replace, and the arithmetic count
against a hand computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sparseconv import SparseConv2d
from sparseconv.nn.flops import layer_costs, training_flops
from sparseconv.nn.kernels import NormalizedConv, box_count
from sparseconv.nn.masks import inspect_mask
from sparseconv.nn.networks import build_model


@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((3, 3), (1, 1), (1, 1), (1, 1)), ((5, 2), (2, 1), (2, 0), (1, 1)),
    ((3, 3), (1, 2), (3, 1), (2, 1)), ((1, 1), (1, 1), (0, 0), (1, 1)),
])  # fmt: skip
@pytest.mark.parametrize("channels", [1, 3])
def test_box_count_is_the_grouped_convolution_of_ones(kernel, stride, padding, dilation, channels):
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(3, channels, 11, 9, generator=g) < 0.4).float()
    ones = torch.ones(channels, 1, *kernel)
    expected = F.conv2d(mask, ones, None, stride, padding, dilation, channels)
    got = box_count(mask, kernel, stride, padding, dilation)
    assert got.is_contiguous() and torch.equal(got, expected)


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_normalized_conv_matches_autograd_of_plain_ops(partial, with_bias):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True) if with_bias else None
    scale = torch.rand(2, 1, 7, 8, generator=g, dtype=torch.float64)
    scale[0, 0, :2] = 0.0  # pixels without valid input
    bias_mask = (scale > 0).double() if partial else None
    args = ((1, 1), (1, 1), (1, 1), 1)
    y = NormalizedConv.apply(x, w, b, scale, bias_mask, *args)
    ref = F.conv2d(x, w, None, 1, 1) * scale
    if with_bias:
        bias = b.view(1, -1, 1, 1)
        ref = ref + (bias * bias_mask if partial else bias)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    inputs = (x, w) + ((b,) if with_bias else ())
    assert torch.autograd.gradcheck(
        lambda *t: NormalizedConv.apply(
            t[0], t[1], t[2] if with_bias else None, scale, bias_mask, *args
        ),  # fmt: skip
        inputs,
    )
    assert torch.autograd.gradgradcheck(
        lambda *t: NormalizedConv.apply(
            t[0], t[1], t[2] if with_bias else None, scale, bias_mask, *args
        ),  # fmt: skip
        inputs,
    )


def test_layer_keeps_one_normaliser_per_size_for_full_masks():
    layer = SparseConv2d(2, 3, 3).double()
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    full = torch.ones(2, 1, 6, 6, dtype=torch.float64)
    y1, m1 = layer(x, full)
    y2, m2 = layer(x, full)
    assert len(layer.__dict__["_full_scales"]) == 1
    # the kept normaliser is the one the general path computes
    scale, mask_out = layer.normalizer(full)
    ref = F.conv2d(x, layer.weight, None, 1, 1) * scale + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(y1, ref)
    assert torch.equal(y1, y2) and torch.equal(m1, mask_out)
    m1.zero_()  # the caller's mask_out is its own: the kept one is untouched
    assert torch.equal(layer(x, full)[1], mask_out)


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan")])
def test_inspect_mask_names_a_bad_value(bad):
    mask = torch.ones(1, 1, 3, 3)
    mask[0, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="only 0 and 1"):
        inspect_mask(mask)


def test_inspect_mask_says_all_valid():
    assert inspect_mask(torch.ones(2, 1, 3, 3))
    assert not inspect_mask(torch.tensor([[[[1.0, 0.0]]]]))
    assert not inspect_mask(torch.zeros(1, 1, 2, 2))


def test_flops_of_the_mnist_network_by_hand():
    net = build_model("mnist", "dense")
    costs = layer_costs(net, torch.zeros(2, 1, 28, 28), torch.ones(2, 1, 28, 28))
    # conv5 1->16 at 28 x 28, pool, conv3 16->16 at 14 x 14, pool, conv3 at 7 x 7,
    # linear 16*7*7 -> 128 -> 10
    macs = [28 * 28 * 16 * 25, 14 * 14 * 16 * 144, 7 * 7 * 16 * 144, 784 * 128, 128 * 10]
    assert [c.macs for c in costs] == macs
    flops = training_flops(costs)
    assert flops["forward"] == 2 * sum(macs)
    assert flops["training"] == 6 * sum(macs) - 2 * macs[0]
    assert costs[0].input_shape == (2, 1, 28, 28)


def test_a_layers_mask_is_not_checked_again_until_it_changes():
    layer = SparseConv2d(1, 2, 3)
    mask = (torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    _, mask_out = layer(torch.randn(1, 1, 6, 6), mask)
    calls = []
    real = torch.Tensor.__mul__
    try:  # the 0/1 check multiplies the mask by itself: it must not run again
        torch.Tensor.__mul__ = lambda a, b: calls.append(1) or real(a, b)
        inspect_mask(mask_out)
    finally:
        torch.Tensor.__mul__ = real
    assert not calls
    mask_out.mul_(0.5)  # an in-place change drops the note: the values are checked
    with pytest.raises(ValueError, match="only 0 and 1"):
        inspect_mask(mask_out)
