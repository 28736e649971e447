"""SparseConv2d's nn.Conv2d options and multi-channel masks, against an independent
computation: every output pixel gathered window by window with ``F.unfold``."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from sparseconv import SparseConv2d, SparseMaxPool2d, SparseSequential


def reference(x, mask, weight, bias, *, stride, pads, dilation, groups, normalization,
              multi_channel, eps=1e-8):  # fmt: skip
    """The formula, by unfolding every window: ``pads`` is F.pad's (l, r, t, b)."""
    n, c_in, _, _ = x.shape
    c_out, c_per, kh, kw = weight.shape
    m = mask.expand(n, c_in, *mask.shape[2:]) if not multi_channel else mask
    xp, mp = F.pad(x * m, pads), F.pad(m, pads)
    cols = F.unfold(xp, (kh, kw), dilation=dilation, stride=stride)  # (N, C*kh*kw, L)
    mcols = F.unfold(mp, (kh, kw), dilation=dilation, stride=stride)
    h_out = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out_per = c_out // groups
    ys, masks = [], []
    for o in range(c_out):
        g = o // out_per
        rows = slice(g * c_per * kh * kw, (g + 1) * c_per * kh * kw)
        num = torch.einsum("k,nkl->nl", weight[o].reshape(-1), cols[:, rows])
        if multi_channel:
            count = mcols[:, rows].sum(dim=1)
            window = c_per * kh * kw
        else:
            count = mcols[:, : kh * kw].sum(dim=1)  # channel 0's taps: the shared mask
            window = kh * kw
        b = bias[o] if bias is not None else 0.0
        if normalization == "paper":
            y = num / (count + eps) + b
        else:
            y = torch.where(count > 0, num * window / count.clamp_min(1) + b, 0.0)
        ys.append(y.reshape(n, h_out, w_out))
        masks.append((count > 0).to(x.dtype).reshape(n, h_out, w_out))
    mask_out = torch.stack(masks, 1) if multi_channel else masks[0].unsqueeze(1)
    return torch.stack(ys, 1), mask_out


def _pads(layer):
    if layer._pad4 is not None:
        return layer._pad4
    ph, pw = layer._pad
    return (pw, pw, ph, ph)


KERNELS = [1, 2, 3, (3, 2), (2, 5)]
SETTINGS = [  # (stride, padding, dilation)
    (1, "same", 1),
    (1, "same", 2),
    (1, "valid", 1),
    (2, 1, 1),
    ((2, 1), (1, 0), (1, 2)),
]
GROUPS = [(4, 6, 1), (4, 6, 2)]  # (C_in, C_out, groups)
DENSITIES = [0.0, 0.3, 1.0]


@pytest.mark.parametrize("kernel,setting", list(itertools.product(KERNELS, SETTINGS)))
@pytest.mark.parametrize("normalization", ["paper", "partial"])
@pytest.mark.parametrize("multi_channel", [False, True])
def test_every_option_matches_the_windowed_reference(kernel, setting, normalization,
                                                     multi_channel):  # fmt: skip
    stride, padding, dilation = setting
    for (c_in, c_out, groups), density, with_bias in itertools.product(
        GROUPS, DENSITIES, (True, False)
    ):
        torch.manual_seed(hash((str(kernel), str(setting), groups, density)) % 1000)
        layer = SparseConv2d(c_in, c_out, kernel, stride, padding, dilation, groups, with_bias,
                             normalization=normalization, multi_channel=multi_channel
                             ).double()  # fmt: skip
        if layer.bias is not None:
            torch.nn.init.normal_(layer.bias)
        x = torch.randn(2, c_in, 9, 12, dtype=torch.float64, requires_grad=True)
        channels = c_in if multi_channel else 1
        mask = (torch.rand(2, channels, 9, 12) < density).double()
        y, mask_out = layer(x * mask, mask)
        y_ref, m_ref = reference(
            x * mask, mask, layer.weight, layer.bias, stride=layer.stride, pads=_pads(layer),
            dilation=layer.dilation, groups=groups, normalization=normalization,
            multi_channel=multi_channel,
        )  # fmt: skip
        assert y.shape == y_ref.shape and mask_out.shape == m_ref.shape
        assert torch.allclose(y, y_ref, atol=1e-10), (kernel, setting, groups, density)
        assert torch.equal(mask_out, m_ref)
        # backward: input and weight gradients of the same loss
        g = torch.randn_like(y)
        gx, gw = torch.autograd.grad((y * g).sum(), (x, layer.weight))
        gx_ref, gw_ref = torch.autograd.grad((y_ref * g).sum(), (x, layer.weight))
        assert torch.allclose(gx, gx_ref, atol=1e-10) and torch.allclose(gw, gw_ref, atol=1e-10)
        assert torch.isfinite(y).all()


def test_output_size_and_padding_follow_nn_conv2d():
    for kernel, stride, padding, dilation in [
        (3, 1, "same", 1),
        (4, 1, "same", 1),
        ((2, 3), 1, "same", (2, 1)),
        (3, 2, 1, 1),
        (5, (2, 3), (2, 0), 1),
        (2, 1, "valid", 3),
    ]:
        conv = torch.nn.Conv2d(2, 3, kernel, stride, padding, dilation)
        sparse = SparseConv2d(2, 3, kernel, stride, padding, dilation, normalization="partial")
        x = torch.randn(1, 2, 11, 9)
        y, mask_out = sparse(x, torch.ones(1, 1, 11, 9))
        assert y.shape == conv(x).shape == mask_out.shape[:1] + y.shape[1:2] + mask_out.shape[2:]
        # a full mask away from the border: partial convolution is nn.Conv2d itself
        with torch.no_grad():
            conv.weight.copy_(sparse.weight)
            conv.bias.copy_(sparse.bias)
        if padding == "valid":
            assert torch.allclose(y, conv(x), atol=1e-5)


def test_multi_channel_mask_counts_each_groups_channels():
    # 2 input channels, 2 groups: output channel 0 sees input 0 only, channel 1 input 1
    layer = SparseConv2d(2, 2, 1, groups=2, multi_channel=True, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.tensor([[[[2.0]], [[5.0]]]])
    y, mask_out = layer(x, torch.tensor([[[[1.0]], [[0.0]]]]))
    assert y.flatten().tolist() == pytest.approx([2.0, 0.0]) and mask_out.flatten().tolist() == [
        1,
        0,
    ]
    # one group: both outputs average the one valid channel: 2 / 1
    dense = SparseConv2d(2, 2, 1, multi_channel=True, bias=False)
    with torch.no_grad():
        dense.weight.fill_(1.0)
    y, mask_out = dense(x * torch.tensor([[[[1.0]], [[0.0]]]]), torch.tensor([[[[1.0]], [[0.0]]]]))
    assert y.flatten().tolist() == pytest.approx([2.0, 2.0]) and mask_out.shape == (1, 2, 1, 1)
    # partial: scale (C_in / groups) k^2 / count = 2 / 1
    partial = SparseConv2d(2, 1, 1, multi_channel=True, bias=False, normalization="partial")
    with torch.no_grad():
        partial.weight.fill_(1.0)
    y, _ = partial(x * torch.tensor([[[[1.0]], [[0.0]]]]), torch.tensor([[[[1.0]], [[0.0]]]]))
    assert y.item() == pytest.approx(4.0)


def test_bad_masks_are_named():
    layer = SparseConv2d(3, 2, 3, multi_channel=True)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(1, 1, 5, 5\)"):
        layer(torch.randn(1, 3, 5, 5), torch.ones(1, 1, 5, 5))
    with pytest.raises(ValueError, match="0.5"):
        SparseConv2d(3, 2, 3)(torch.randn(1, 3, 5, 5), torch.full((1, 1, 5, 5), 0.5))
    with pytest.raises(ValueError, match="4 channels"):
        SparseConv2d(3, 2, 3)(torch.randn(1, 4, 5, 5), torch.ones(1, 1, 5, 5))


def test_sparse_max_pool_takes_max_pool2d_arguments_and_checks_them():
    x = torch.randn(2, 3, 9, 9)
    full = torch.ones(2, 1, 9, 9)
    for kwargs in [
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 2},
        {"kernel_size": (3, 2), "dilation": 2},
        {"kernel_size": 2, "ceil_mode": True},
    ]:
        y, mask_out = SparseMaxPool2d(**kwargs)(x, full)
        assert torch.equal(y, torch.nn.MaxPool2d(**kwargs)(x))
        assert mask_out.shape[2:] == y.shape[2:]
    for bad in [
        {"kernel_size": 0},
        {"kernel_size": 2, "stride": 0},
        {"kernel_size": 2, "padding": 2},
        {"kernel_size": 2, "padding": -1},
    ]:
        name = list(bad)[-1]
        with pytest.raises(ValueError, match=name):
            SparseMaxPool2d(**bad)
    with pytest.raises(ValueError, match="return_indices"):
        SparseMaxPool2d(2, return_indices=True)
    # a multi-channel mask pools per channel
    mask = torch.zeros(1, 2, 2, 2)
    mask[0, 0, 0, 0] = 1.0
    y, mask_out = SparseMaxPool2d(2)(-torch.ones(1, 2, 2, 2), mask)
    assert y.flatten().tolist() == [-1.0, 0.0] and mask_out.flatten().tolist() == [1.0, 0.0]


def test_sparse_sequential_chains_pairs_and_plain_modules():
    torch.manual_seed(0)
    conv1, conv2 = SparseConv2d(1, 4, 3), SparseConv2d(4, 2, 3, stride=2, padding=1)
    pool, relu = SparseMaxPool2d(2), torch.nn.ReLU()
    net = SparseSequential(conv1, relu, pool, conv2)
    x, mask = torch.randn(2, 1, 12, 12), (torch.rand(2, 1, 12, 12) > 0.5).float()
    y, mask_out = net(x * mask, mask)
    a, m = conv1(x * mask, mask)
    a, m = pool(relu(a), m)
    expected, m = conv2(a, m)
    assert torch.equal(y, expected) and torch.equal(mask_out, m)
    assert y.shape == (2, 2, 3, 3)
