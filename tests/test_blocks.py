"""The fused sparse blocks compute what the plain layers compute, one after the other:
values, every gradient and the running statistics, in float64, where the convolution's
output has invalid pixels (the case the fused forms exist for) and where it has none."""

from __future__ import annotations

import copy

import pytest
import torch

from sparseconv.nn.blocks import ConvBlock


def _plain(block: ConvBlock, x: torch.Tensor, mask: torch.Tensor):
    """The block's layers applied one by one (the definition)."""
    y, m = block.conv(x, mask)
    if block.norm is not None:
        y, m = block.norm(y, m)
    y, m = block.pool(y, m)
    return torch.relu(y), m


@pytest.mark.parametrize("normalization", ["paper", "partial"])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("density", [0.02, 0.3, 1.0])
def test_fused_block_equals_its_layers(normalization, batch_norm, density):
    g = torch.Generator().manual_seed(7)
    mask = (torch.rand(4, 1, 12, 12, generator=g) < density).double()
    x = torch.randn(4, 3, 12, 12, generator=g, dtype=torch.float64) * mask
    block = ConvBlock(3, 5, 3, sparse=True, normalization=normalization,
                      batch_norm=batch_norm, pool=True).double()  # fmt: skip
    with torch.no_grad():
        block.conv.bias.normal_(generator=g)
        if batch_norm:
            block.norm.weight.normal_(generator=g)
            block.norm.bias.normal_(generator=g)
    twin = copy.deepcopy(block)
    if density < 1:  # the case the fused forms exist for: pixels no valid input reaches
        assert not bool(block.conv(x, mask)[1].min() > 0)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    y1, m1 = block(x1, mask)
    y2, m2 = _plain(twin, x2, mask)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-10)
    assert torch.equal(m1, m2)
    weights = torch.randn(y1.shape, generator=g, dtype=torch.float64)
    (y1 * weights).sum().backward()
    (y2 * weights).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-10)
    for (name, p1), p2 in zip(block.named_parameters(), twin.parameters(), strict=True):
        grad2 = torch.zeros_like(p2) if p2.grad is None else p2.grad
        torch.testing.assert_close(p1.grad, grad2, rtol=1e-9, atol=1e-10, msg=name)
    for b1, b2 in zip(block.buffers(), twin.buffers(), strict=True):
        torch.testing.assert_close(b1, b2, rtol=1e-10, atol=1e-12)


def test_fused_block_leaves_eval_mode_to_the_layers():
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(2, 1, 8, 8, generator=g) < 0.1).double()
    x = torch.randn(2, 2, 8, 8, generator=g, dtype=torch.float64) * mask
    block = ConvBlock(2, 4, 3, sparse=True, batch_norm=True, pool=True).double()
    block(x, mask)  # one training step's statistics
    block.eval()
    torch.testing.assert_close(block(x, mask)[0], _plain(block, x, mask)[0])


def test_fused_block_is_finite_for_a_steep_batch_norm():
    """A large batch-norm gain (|k| = gamma / sigma far above 1) must not push the pool's
    floor past the dtype's range: windows without a valid pixel stay exactly 0."""
    g = torch.Generator().manual_seed(11)
    mask = (torch.rand(2, 1, 10, 10, generator=g) < 0.05).float()
    x = torch.randn(2, 2, 10, 10, generator=g) * mask * 1e-3
    torch.manual_seed(0)
    block = ConvBlock(2, 3, 3, sparse=True, batch_norm=True, pool=True)
    twin = copy.deepcopy(block)
    with torch.no_grad():
        for b in (block, twin):
            b.norm.weight.copy_(torch.tensor([1e6, -1e6, 1.0]))
    y1, m1 = block(x, mask)
    y2, _ = _plain(twin, x, mask)
    assert torch.isfinite(y1).all()
    assert torch.equal(y1[(m1 == 0).expand_as(y1)], torch.zeros_like(y1[(m1 == 0).expand_as(y1)]))
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-2)
    y1.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)


@pytest.mark.parametrize("normalization", ["paper", "partial"])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_blocks_that_feed_a_sparse_layer_skip_its_mask_product(normalization, layout):
    # the depth network on a mask that stays sparse through every layer: with the
    # blocks' zeros noted, each layer skips its multiplication by the mask; the values
    # and every gradient equal those of the layers applied one by one (the definition)
    from sparseconv.nn.networks import DepthNet

    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(2, 1, 40, 48, generator=g) < 0.01).double()
    x = torch.rand(2, 1, 40, 48, generator=g, dtype=torch.float64) * mask
    fast = DepthNet("sparse" if normalization == "paper" else "sparse_partial",
                    memory_format=layout).double()  # fmt: skip
    with torch.no_grad():
        for p in fast.parameters():
            if p.dim() == 1:
                p.normal_(generator=g)  # biases away from 0, so that a bias shows
    slow = copy.deepcopy(fast)
    for block in slow.blocks:
        block.feeds_sparse = False
    assert all(b.feeds_sparse for b in fast.blocks)
    # the masks stay sparse: every layer has invalid pixels, so the shortcut is taken
    _, m = x, mask
    for block in slow.blocks:
        _, m = block(_, m)
        assert float(m.min()) == 0.0
    target = torch.rand(2, 1, 40, 48, generator=g, dtype=torch.float64)
    outs = []
    for net in (fast, slow):
        y = net(x, mask)
        ((y - target) ** 2).sum().backward()
        outs.append((y.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=0)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(grad, outs[1][1][name], rtol=1e-12, atol=1e-12, msg=name)
    # the intermediate outputs are 0 at the invalid pixels, and noted so
    from sparseconv.nn.masks import known_zero_outside

    h, m = fast.blocks[0](x.contiguous(memory_format=layout), mask)
    assert known_zero_outside(h, m) and float((h.detach() * (1 - m)).abs().max()) == 0.0
    h.add_(1.0)  # an in-place change drops the note
    assert not known_zero_outside(h, m)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_masked_sum_is_the_sum_of_the_product(layout):
    from sparseconv.nn.kernels import masked_sum

    g = torch.Generator().manual_seed(5)
    grad = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64)
    grad = grad.contiguous(memory_format=layout)
    mask = (torch.rand(3, 1, 5, 6, generator=g) < 0.5).double()
    want = torch.tensor([sum(float(grad[n, c, i, j] * mask[n, 0, i, j]) for n in range(3)
                             for i in range(5) for j in range(6)) for c in range(4)],
                        dtype=torch.float64)  # fmt: skip
    torch.testing.assert_close(masked_sum(grad, mask), want)
    per_channel = (torch.rand(3, 4, 5, 6, generator=g) < 0.5).double()
    torch.testing.assert_close(masked_sum(grad, per_channel), (grad * per_channel).sum((0, 2, 3)))
