"""SparseConv2d and SparseMaxPool2d against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sparseconv import SparseConv2d, SparseMaxPool2d, valid_count


def reference_paper(x, mask, weight, bias, eps=1e-8):
    """The paper's formula written directly with torch.nn.functional."""
    k = weight.shape[-1]
    ones = torch.ones(1, 1, k, k, dtype=x.dtype)
    num = F.conv2d(x * mask, weight, padding=k // 2)
    den = F.conv2d(mask, ones, padding=k // 2)
    y = num / (den + eps) + bias.view(1, -1, 1, 1)
    return y, F.max_pool2d(mask, k, stride=1, padding=k // 2)


def reference_partial(x, mask, weight, bias):
    """Liu et al. (2018): conv * k^2 / count + bias where count > 0, else 0."""
    k = weight.shape[-1]
    ones = torch.ones(1, 1, k, k, dtype=x.dtype)
    num = F.conv2d(x * mask, weight, padding=k // 2)
    den = F.conv2d(mask, ones, padding=k // 2)
    y = torch.where(den > 0, num * (k * k) / den.clamp_min(1) + bias.view(1, -1, 1, 1), 0.0)
    return y, (den > 0).to(x.dtype)


def naive_paper(x, mask, weight, bias, eps=1e-8):
    """Pixel-by-pixel loops over the window: a hand computation of the formula."""
    n, c, h, w = x.shape
    out, _, k, _ = weight.shape
    r = k // 2
    y = torch.zeros(n, out, h, w, dtype=x.dtype)
    m_out = torch.zeros(n, 1, h, w, dtype=x.dtype)
    for b in range(n):
        for u in range(h):
            for v in range(w):
                count = 0.0
                acc = torch.zeros(out, dtype=x.dtype)
                for i in range(-r, r + 1):
                    for j in range(-r, r + 1):
                        uu, vv = u + i, v + j
                        if 0 <= uu < h and 0 <= vv < w and mask[b, 0, uu, vv] > 0:
                            count += 1
                            acc += weight[:, :, i + r, j + r] @ x[b, :, uu, vv]
                y[b, :, u, v] = acc / (count + eps) + bias
                m_out[b, 0, u, v] = 1.0 if count > 0 else 0.0
    return y, m_out


def random_case(n, c_in, h, w, density, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, h, w, generator=g, dtype=dtype)
    mask = (torch.rand(n, 1, h, w, generator=g) < density).to(dtype)
    return x, mask


@pytest.mark.parametrize("k", [1, 3, 5, 7, 11])
@pytest.mark.parametrize("c_in,c_out", [(1, 1), (3, 4), (16, 16)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forward_and_weight_gradient_match_functional_reference(k, c_in, c_out, dtype):
    x, mask = random_case(2, c_in, 13, 11, 0.3, dtype, seed=k)
    layer = SparseConv2d(c_in, c_out, k).to(dtype)
    with torch.no_grad():
        layer.bias.normal_()
    y, m_out = layer(x, mask)

    w = layer.weight.detach().clone().requires_grad_(True)
    b = layer.bias.detach().clone().requires_grad_(True)
    y_ref, m_ref = reference_paper(x, mask, w, b)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
    torch.testing.assert_close(y, y_ref, **tol)
    assert torch.equal(m_out, m_ref)

    g = torch.randn_like(y)
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad, **tol)
    torch.testing.assert_close(layer.bias.grad, b.grad, **tol)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_pixel_loops(k):
    x, mask = random_case(1, 2, 6, 5, 0.4, torch.float64, seed=3)
    layer = SparseConv2d(2, 3, k).double()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
        y, m_out = layer(x, mask)
    y_ref, m_ref = naive_paper(x, mask, layer.weight, layer.bias)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(m_out, m_ref)


def test_hand_computed_3x3():
    # 3 x 3 image, valid pixels at (0, 0) = 2 and (1, 1) = 4; all-ones 3 x 3 kernel.
    x = torch.tensor([[[[2.0, 9.0, 9.0], [9.0, 4.0, 9.0], [9.0, 9.0, 9.0]]]], dtype=torch.float64)
    mask = torch.tensor([[[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]]]], dtype=torch.float64)
    layer = SparseConv2d(1, 1, 3, eps=0.0).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.fill_(0.25)
        y, m_out = layer(x, mask)
    # windows reaching both valid pixels average them: (2 + 4) / 2 = 3; the others see
    # only the centre pixel 4 (the 9s are invalid and never count).
    expected = torch.tensor([[3.0, 3.0, 4.0], [3.0, 3.0, 4.0], [4.0, 4.0, 4.0]]) + 0.25
    torch.testing.assert_close(y[0, 0], expected.double())
    assert torch.equal(m_out, torch.ones_like(m_out))


@pytest.mark.parametrize("normalization", ["paper", "partial"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_all_invalid_gives_bias_or_zero_and_never_nan(normalization, dtype):
    x = torch.randn(2, 3, 8, 8, dtype=dtype) * 1e6
    mask = torch.zeros(2, 1, 8, 8, dtype=dtype)
    layer = SparseConv2d(3, 5, 3, normalization=normalization).to(dtype)
    with torch.no_grad():
        layer.bias.copy_(torch.arange(5, dtype=dtype) - 2)
    y, m_out = layer(x, mask)
    assert torch.isfinite(y).all()
    assert torch.equal(m_out, torch.zeros_like(m_out))
    if normalization == "paper":
        assert torch.equal(y, layer.bias.view(1, -1, 1, 1).expand_as(y).detach())
    else:
        assert torch.equal(y, torch.zeros_like(y))
    y.sum().backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_eps_zero_is_still_finite():
    layer = SparseConv2d(1, 1, 3, eps=0.0)
    y, _ = layer(torch.randn(1, 1, 5, 5), torch.zeros(1, 1, 5, 5))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("density", [0.02, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("k", [3, 5, 11])
def test_sparsity_invariance_of_a_constant_image(density, k):
    c = 3.7
    x = torch.full((2, 1, 20, 20), c, dtype=torch.float64)
    mask = torch.rand(2, 1, 20, 20, generator=torch.Generator().manual_seed(k)) < density
    mask = mask.double()
    layer = SparseConv2d(1, 1, k, bias=True).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
        y, m_out = layer(x, mask)
    reach = m_out > 0
    torch.testing.assert_close(y[reach.expand_as(y)], torch.full_like(y[reach.expand_as(y)], c))
    assert torch.equal(y[~reach.expand_as(y)], torch.zeros_like(y[~reach.expand_as(y)]))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_partial_matches_reference_and_is_conv2d_on_full_mask(k):
    x, mask = random_case(2, 3, 9, 9, 0.3, torch.float64)
    layer = SparseConv2d(3, 4, k, normalization="partial").double()
    with torch.no_grad():
        layer.bias.normal_()
        y, m_out = layer(x, mask)
        y_ref, m_ref = reference_partial(x, mask, layer.weight, layer.bias)
        torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
        assert torch.equal(m_out, m_ref)
        full = torch.ones_like(mask)
        y_full, _ = layer(x, full)
        conv = F.conv2d(x, layer.weight, layer.bias, padding=k // 2)
        # the zero padding counts as missing, so only the interior equals nn.Conv2d
        r = k // 2
        inner = (slice(None), slice(None), slice(r, 9 - r), slice(r, 9 - r))
        torch.testing.assert_close(y_full[inner], conv[inner], rtol=1e-10, atol=1e-10)


def test_normaliser_and_mask_have_no_autograd():
    x, mask = random_case(1, 2, 7, 7, 0.5, torch.float64)
    mask.requires_grad_(True)
    layer = SparseConv2d(2, 2, 3).double()
    scale, m_out = layer.normalizer(mask)
    assert not scale.requires_grad and not m_out.requires_grad
    y, m2 = layer(x, mask)
    assert not m2.requires_grad
    y.sum().backward()
    # the weight gradient equals the one with the count treated as a constant
    count = valid_count(mask.detach(), 3)
    w = layer.weight.detach().clone().requires_grad_(True)
    ref = F.conv2d(x * mask.detach(), w, padding=1) / (count + 1e-8)
    ref.sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad)


def test_valid_count_is_box_sum():
    mask = (torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    for k in (1, 3, 5, 11):
        expected = F.conv2d(mask, torch.ones(1, 1, k, k), padding=k // 2)
        assert torch.equal(valid_count(mask, k), expected)


def test_parameters_and_repr_like_conv2d():
    layer = SparseConv2d(3, 8, 5, bias=False, normalization="partial")
    assert layer.weight.shape == (8, 3, 5, 5)
    assert layer.bias is None
    text = repr(layer)
    assert "SparseConv2d(3, 8, kernel_size=5" in text and "partial" in text and "bias=False" in text
    assert SparseConv2d(1, 2, 3).bias.shape == (2,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": (3, 0)},
        {"kernel_size": 0},
        {"stride": 0},
        {"padding": "full"},
        {"padding": -1},
        {"padding": "same", "stride": 2},
        {"groups": 3},
        {"dilation": (1, 0)},
        {"normalization": "mean"},
        {"eps": -1.0},
        {"eps": float("nan")},
    ],
)
def test_bad_arguments_raise(kwargs):
    args = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, **kwargs}
    name, value = next(iter(kwargs.items()))
    with pytest.raises(ValueError, match=name if name != "kernel_size" else "kernel_size"):
        SparseConv2d(**args)
    with pytest.raises(ValueError) as error:
        SparseConv2d(**args)
    assert repr(value) in str(error.value) or str(value) in str(error.value)


def test_bad_mask_shape_raises():
    layer = SparseConv2d(2, 2, 3)
    with pytest.raises(ValueError, match="mask"):
        layer(torch.randn(1, 2, 5, 5), torch.ones(1, 2, 5, 5))
    with pytest.raises(ValueError, match="does not match"):
        layer(torch.randn(1, 2, 5, 5), torch.ones(1, 1, 4, 5))


@pytest.mark.parametrize("normalization", ["paper", "partial"])
def test_initialisation_keeps_activations_alive_without_batch_norm(normalization):
    torch.manual_seed(0)
    c = 16
    layers = [SparseConv2d(1, c, 5, normalization=normalization)]
    layers += [SparseConv2d(c, c, k, normalization=normalization) for k in (3, 3, 3)]
    x = torch.randn(64, 1, 28, 28)
    mask = torch.ones(64, 1, 28, 28)
    h = x
    for layer in layers:
        h, mask = layer(h, mask)
        h = torch.relu(h)
    # He initialisation: the mean square activation stays of order 1 (it shrinks by
    # ~k^2 per layer with nn.Conv2d's scale under the paper's normalisation).
    assert 0.1 < h.pow(2).mean().item() < 10.0
    if normalization == "paper":
        k, c_in = 3, c
        assert math.isclose(layers[1].weight.std().item(), k * math.sqrt(2 / c_in), rel_tol=0.1)


def test_sparse_max_pool_uses_valid_pixels_only():
    x = torch.tensor(
        [
            [
                [
                    [1.0, 100.0, -5.0, 7.0],
                    [2.0, 3.0, 8.0, 9.0],
                    [-1.0, -2.0, 6.0, 6.0],
                    [-3.0, -4.0, 6.0, 6.0],
                ]
            ]
        ]
    )
    mask = torch.tensor(
        [[[[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]]]
    )
    y, m_out = SparseMaxPool2d(2)(x, mask)
    # top-left: valid {1, 3} -> 3 (the invalid 100 is ignored); top-right: valid {-5} ->
    # -5; bottom-left: valid {-1, -2, -3, -4} -> -1; bottom-right: nothing valid -> 0
    assert torch.equal(y, torch.tensor([[[[3.0, -5.0], [-1.0, 0.0]]]]))
    assert torch.equal(m_out, torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]]))


def test_sparse_max_pool_gradient_reaches_only_valid_pixels():
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    mask = (torch.rand(2, 1, 6, 6) < 0.5).float()
    y, _ = SparseMaxPool2d(2)(x, mask)
    y.sum().backward()
    assert torch.count_nonzero(x.grad * (1 - mask)) == 0
    assert torch.isfinite(x.grad).all()


def _pool_by_loops(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """2x2 valid-only max pool, pixel by pixel: max over valid pixels, 0 if none."""
    n, c, h, w = x.shape
    y = torch.zeros(n, c, h // 2, w // 2, dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(h // 2):
                for j in range(w // 2):
                    vals = [
                        x[b, ch, 2 * i + di, 2 * j + dj]
                        for di in (0, 1)
                        for dj in (0, 1)
                        if mask[b, 0, 2 * i + di, 2 * j + dj] > 0
                    ]
                    if vals:
                        y[b, ch, i, j] = max(vals)
    return y


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_sparse_max_pool_matches_loops(dtype):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 3, 6, 8, generator=g) * 1e4).to(dtype)  # large negatives too
    x[0, 0, 0, 0] = torch.finfo(dtype).max  # an invalid extreme must not leak
    mask = (torch.rand(2, 1, 6, 8, generator=g) < 0.4).to(dtype)
    mask[0, 0, 0, 0] = 0.0
    mask[1, 0, :2, :2] = 0.0  # one window surely empty
    x = x.requires_grad_(True)
    y, m_out = SparseMaxPool2d(2)(x, mask)
    assert y.dtype == dtype
    assert torch.equal(y.detach(), _pool_by_loops(x.detach(), mask))
    assert y[1, :, 0, 0].abs().sum() == 0 and m_out[1, 0, 0, 0] == 0
    # the gradient of a window goes to its valid maximum, and nowhere else
    y.sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    _pool_by_loops(x_ref, mask).sum().backward()
    assert torch.equal(x.grad, x_ref.grad)


def test_fully_valid_mask_takes_the_same_values():
    # the layers skip masking work when every pixel is valid; the result must not change
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    full = torch.ones(2, 1, 9, 9, dtype=torch.float64)
    layer = SparseConv2d(3, 4, 5).double()
    y, m_out = layer(x, full)
    y_ref, m_ref = reference_paper(x, full, layer.weight, layer.bias)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(m_out, m_ref)
    pooled, m_pool = SparseMaxPool2d(2)(x, full)
    assert torch.equal(pooled, F.max_pool2d(x, 2))
    assert torch.equal(m_pool, torch.ones(2, 1, 4, 4, dtype=torch.float64))


@pytest.mark.parametrize("normalization", ["paper", "partial"])
def test_channels_last_inputs_give_the_same_results(normalization):
    # the study's models run channels-last (faster on CPU); the layers must not care
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 10, 10, dtype=torch.float64, generator=g)
    mask = (torch.rand(3, 1, 10, 10, generator=g) < 0.3).double()
    layer = SparseConv2d(4, 6, 5, normalization=normalization).double()
    pool = SparseMaxPool2d(2)
    outputs = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        xf = x.detach().contiguous(memory_format=fmt).requires_grad_(True)
        layer.zero_grad()
        y, m = layer(xf, mask)
        pooled, m2 = pool(y, m)
        pooled.square().sum().backward()
        outputs.append((pooled.detach(), m2, xf.grad, layer.weight.grad.clone()))
    for a, b in zip(*outputs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_partial_layer_on_a_noted_full_mask_skips_no_bias():
    """A full mask noted by the layer that made it: the partial layer skips masking its
    bias, which lands on every output pixel, as the formula says."""
    from sparseconv.nn.masks import known_full, mark_mask

    torch.manual_seed(0)
    layer = SparseConv2d(3, 4, 3, normalization="partial").double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    full = mark_mask(torch.ones(2, 1, 6, 6, dtype=torch.float64), True)
    assert known_full(full) and not known_full(torch.ones(2, 1, 6, 6))
    y_noted, _ = layer(x, full)
    # by hand: |W| / n times the convolution, plus the bias at every (valid) pixel
    ones = torch.ones(1, 1, 6, 6, dtype=torch.float64)
    n = torch.nn.functional.conv2d(ones, torch.ones(1, 1, 3, 3, dtype=torch.float64), padding=1)
    conv = torch.nn.functional.conv2d(x, layer.weight, padding=1)
    expected = conv * 9.0 / n + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(y_noted, expected, rtol=0, atol=1e-12)
    full.mul_(1.0)  # an in-place change drops the note
    assert not known_full(full)
