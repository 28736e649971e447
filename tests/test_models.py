"""The study's models: shapes, parameter counts, identical architectures."""

from __future__ import annotations

import pytest
import torch

from sparseconv.nn.batchnorm import SparseBatchNorm2d
from sparseconv.nn.networks import build_model, count_parameters, valid_fraction_per_layer
from sparseconv.registry.models import DEPTH_MODELS, MODELS


def conv_params(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def linear_params(n_in, n_out):
    return n_in * n_out + n_out


# MNIST: conv5 (1->16), pool, conv3, pool, conv3 -> 16 x 7 x 7 -> fc128 -> fc10
MNIST_PARAMS = (
    conv_params(1, 16, 5)
    + 2 * conv_params(16, 16, 3)
    + linear_params(16 * 7 * 7, 128)
    + linear_params(128, 10)
)


@pytest.mark.parametrize("model", MODELS)
def test_mnist_models_shape_and_parameter_count(model):
    net = build_model("mnist", model)
    x = torch.rand(5, 1, 28, 28)
    mask = (torch.rand(5, 1, 28, 28) < 0.5).float()
    assert net(x * mask, mask).shape == (5, 10)
    extra = 16 * 5 * 5 if model == "dense_mask" else 0  # the mask's input channel
    assert count_parameters(net) == MNIST_PARAMS + extra


@pytest.mark.parametrize("model", ["sparse", "dense", "dense_mask"])
def test_caltech_models_shape(model):
    net = build_model("caltech101", model)
    x = torch.rand(3, 3, 64, 64)
    mask = (torch.rand(3, 1, 64, 64) < 0.5).float()
    assert net(x * mask, mask).shape == (3, 101)


def test_sparse_and_dense_have_identical_architectures():
    for dataset in ("mnist", "caltech101"):
        shapes = {
            m: [tuple(p.shape) for p in build_model(dataset, m).parameters()]
            for m in ("sparse", "dense", "sparse_partial")
        }
        assert shapes["sparse"] == shapes["dense"] == shapes["sparse_partial"]


def test_unknown_model_or_dataset():
    with pytest.raises(ValueError, match="'lenet'"):
        build_model("mnist", "lenet")
    with pytest.raises(ValueError, match="'cifar'"):
        build_model("cifar", "sparse")


def test_sparse_batch_norm_uses_valid_positions_only():
    bn = SparseBatchNorm2d(2)
    x = torch.randn(4, 2, 5, 5)
    mask = (torch.rand(4, 1, 5, 5) < 0.5).float()
    # invalid positions hold garbage that must not move the statistics
    garbage = x + (1 - mask) * 1000.0
    y, m = bn(garbage, mask)
    valid = mask.expand_as(x).bool()
    for c in range(2):
        values = x[:, c][valid[:, c]]
        expected = (values - values.mean()) / torch.sqrt(values.var(unbiased=False) + bn.eps)
        torch.testing.assert_close(y[:, c][valid[:, c]], expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(y[~valid], torch.zeros_like(y[~valid]))
    assert torch.equal(m, mask)


def test_sparse_batch_norm_gradients_match_batch_norm_of_the_valid_values():
    # independent reference: F.batch_norm on the valid values of each channel only
    torch.manual_seed(1)
    bn = SparseBatchNorm2d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, 1.5, -2.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = (torch.randn(4, 3, 6, 6, dtype=torch.float64) * 3 + 2).requires_grad_(True)
    mask = (torch.rand(4, 1, 6, 6) < 0.4).double()
    upstream = torch.randn(4, 3, 6, 6, dtype=torch.float64)
    y, _ = bn(x, mask)
    (y * upstream).sum().backward()

    x_ref = x.detach().clone().requires_grad_(True)
    weight = bn.weight.detach().clone().requires_grad_(True)
    bias = bn.bias.detach().clone().requires_grad_(True)
    valid = mask[:, 0].bool()  # (N, H, W)
    values = x_ref.permute(1, 0, 2, 3)[:, valid]  # (C, n_valid)
    running_mean, running_var = (
        torch.zeros(3, dtype=torch.float64),
        torch.ones(3, dtype=torch.float64),
    )
    normed = torch.nn.functional.batch_norm(
        values.T, running_mean, running_var, weight, bias, training=True, eps=bn.eps
    )
    (normed * upstream.permute(0, 2, 3, 1)[valid]).sum().backward()
    torch.testing.assert_close(y.permute(1, 0, 2, 3)[:, valid], normed.T.detach())
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(bn.weight.grad, weight.grad)
    torch.testing.assert_close(bn.bias.grad, bias.grad)
    torch.testing.assert_close(bn.running_mean, running_mean)
    torch.testing.assert_close(bn.running_var, running_var)


def test_sparse_batch_norm_with_full_mask_is_batch_norm():
    torch.manual_seed(0)
    ours, plain = SparseBatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5)
    y, _ = ours(x, torch.ones(4, 1, 5, 5))
    torch.testing.assert_close(y, plain(x))
    torch.testing.assert_close(ours.running_var, plain.running_var)
    # and the masked path agrees with it when the mask happens to be full but the
    # fast path is not taken (a mask on another device type would do that)
    mask = torch.ones(4, 1, 5, 5)
    mask[0, 0, 0, 0] = 0.0
    y2, _ = SparseBatchNorm2d(3)(x, mask)
    assert y2[0, :, 0, 0].abs().sum() == 0


def test_nconv_on_depth_is_its_own_network():
    from sparseconv.nn.nconv import NConvNet

    net = build_model("depth", "nconv")
    x = torch.rand(2, 1, 48, 48)
    mask = (torch.rand(2, 1, 48, 48) < 0.05).float()
    assert isinstance(net, NConvNet) and net(x * mask, mask).shape == (2, 1, 48, 48)


@pytest.mark.parametrize("model", [m for m in DEPTH_MODELS if m != "nconv"])
def test_depth_network_is_the_papers(model):
    net = build_model("depth", model)
    x = torch.rand(2, 1, 48, 48)
    mask = (torch.rand(2, 1, 48, 48) < 0.05).float()
    assert net(x * mask, mask).shape == (2, 1, 48, 48)
    # kernels 11, 7, 5, 3, 3 (16 channels) and a final 1 x 1 to one channel
    expected = (
        conv_params(1, 16, 11)
        + conv_params(16, 16, 7)
        + conv_params(16, 16, 5)
        + 2 * conv_params(16, 16, 3)
        + conv_params(16, 1, 1)
    )
    extra = 16 * 11 * 11 if model == "dense_mask" else 0
    assert count_parameters(net) == expected + extra


def test_nn_convnet_is_the_convnet_on_the_nearest_neighbour_fill():
    from sparseconv.data.scenes import nearest_fill

    torch.manual_seed(0)
    net = build_model("depth", "nn_convnet").eval()
    plain = build_model("depth", "dense").eval()
    plain.load_state_dict(net.state_dict())
    x = torch.rand(2, 1, 48, 48) * 5 + 1
    mask = (torch.rand(2, 1, 48, 48) < 0.05).float()
    filled = nearest_fill(x * mask, mask)
    # by hand: the fill copies the nearest valid value, so the filled map has no zeros
    assert (filled > 0).all()
    torch.testing.assert_close(net(x * mask, mask), plain(filled, torch.ones_like(mask)))
    with pytest.raises(ValueError, match="'nn_convnet'"):
        build_model("mnist", "nn_convnet")


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_block_pools_before_relu_with_the_same_values_and_gradients(sparse, batch_norm):
    # ConvBlock applies the ReLU after the pool (cheaper); the result must be that of
    # the textbook order conv -> [bn] -> ReLU -> pool, values and gradients alike
    from sparseconv.nn.blocks import ConvBlock

    torch.manual_seed(0)
    block = ConvBlock(3, 4, 3, sparse=sparse, batch_norm=batch_norm, pool=True).double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    mask = (torch.rand(4, 1, 8, 8) < 0.4).double()
    x1 = (x * mask).requires_grad_(True)
    y, m_out = block(x1, mask)
    y.sum().backward()

    x2 = (x * mask).requires_grad_(True)
    if sparse:
        h, m = block.conv(x2, mask)
        if batch_norm:
            h, m = block.norm(h, m)
        ref, m_ref = block.pool(torch.relu(h), m)
    else:
        h = block.conv(x2)
        if batch_norm:
            h = block.norm(h)
        ref, m_ref = torch.nn.functional.max_pool2d(torch.relu(h), 2), None
    ref.sum().backward()
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-12)
    if m_ref is not None:
        assert torch.equal(m_out, m_ref)


@pytest.mark.parametrize("dataset", ["mnist", "caltech101", "depth"])
@pytest.mark.parametrize("variant", ["sparse", "dense_mask"])
def test_memory_format_changes_no_value(dataset, variant):
    torch.manual_seed(0)
    fast = build_model(dataset, variant).double().eval()
    plain = build_model(dataset, variant, memory_format=torch.contiguous_format).double().eval()
    plain.load_state_dict(fast.state_dict())
    channels, side = {"mnist": (1, 28), "caltech101": (3, 64), "depth": (1, 48)}[dataset]
    x = torch.rand(2, channels, side, side, dtype=torch.float64)
    mask = (torch.rand(2, 1, side, side) < 0.3).double()
    fast_conv = next(m for m in fast.modules() if hasattr(m, "weight") and m.weight.dim() == 4)
    assert fast_conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(x * mask, mask), plain(x * mask, mask), rtol=1e-10, atol=1e-10)


def test_valid_fraction_of_the_depth_network_by_hand():
    # one valid pixel in the middle of a 48 x 48 map: after the 11 x 11 layer an 11 x 11
    # square is valid, after 7 x 7 a 17 x 17 one, then 21, 23, 25 pixels wide
    mask = torch.zeros(1, 1, 48, 48)
    mask[0, 0, 24, 24] = 1
    fractions = valid_fraction_per_layer(build_model("depth", "sparse"), mask)
    assert fractions == pytest.approx([w * w / 48**2 for w in (11, 17, 21, 23, 25)])
    with pytest.raises(ValueError, match="dense"):
        valid_fraction_per_layer(build_model("depth", "dense"), mask)


def test_architecture_descriptions():
    assert build_model("mnist", "sparse").spec.describe() == (
        "conv5-pool-conv3-pool-conv3 (16 ch) -> fc128 -> fc"
    )
    assert build_model("depth", "dense").spec.describe() == (
        "conv11-conv7-conv5-conv3-conv3 (16 ch) -> conv1 (1 ch)"
    )
