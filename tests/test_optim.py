"""Matched step sizes: the paper layer trained with optim.param_groups follows partial
convolution exactly (same functions, same updates), and the groups are what the
derivation says."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sparseconv.nn.layers import SparseConv2d
from sparseconv.nn.masks import valid_count
from sparseconv.nn.networks import build_model
from sparseconv.nn.optim import make_optimizer, param_groups


def _twins(dataset: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The paper layer's and partial convolution's networks from one seed, float64."""
    torch.manual_seed(3)
    paper = build_model(dataset, "sparse").double()
    torch.manual_seed(3)
    partial = build_model(dataset, "sparse_partial").double()
    return paper, partial


SHAPES = {"mnist": (16, 1, 28, 28), "caltech101": (8, 3, 64, 64), "depth": (4, 1, 48, 48)}


def _batches(dataset: str, n_steps: int, density_keep: float = 0.8):
    g = torch.Generator().manual_seed(0)
    shape = SHAPES[dataset]
    for _ in range(n_steps):
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        mask = (torch.rand((shape[0], 1, *shape[2:]), generator=g) < density_keep).double()
        if dataset == "depth":
            y = torch.rand((shape[0], 1, *shape[2:]), generator=g, dtype=torch.float64)
        else:
            y = torch.randint(0, 10 if dataset == "mnist" else 101, (shape[0],), generator=g)
        yield x * mask, mask, y


def _loss(dataset: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out - y).abs().mean() if dataset == "depth" else F.cross_entropy(out, y)


def test_seeded_models_hold_weights_k2_apart():
    paper, partial = _twins("mnist")
    for a, b in zip(paper.modules(), partial.modules(), strict=True):
        if isinstance(a, SparseConv2d):
            k2 = a.kernel_size[0] * a.kernel_size[1]
            torch.testing.assert_close(a.weight, k2 * b.weight, rtol=1e-6, atol=0)


# Caltech-101 is trained with SGD, depth with Adam. (Under Adam, a conv bias followed by
# batch norm has an analytically zero gradient; Adam scales its rounding noise up to
# lr-sized steps, which differ between any two networks, so that pair is not compared.)
@pytest.mark.parametrize(
    "dataset,optimizer,lr",
    [("mnist", "sgd", 0.02), ("mnist", "adam", 1e-3), ("caltech101", "sgd", 0.02),
     ("depth", "adam", 1e-3)],
)  # fmt: skip
@pytest.mark.slow
def test_compensated_paper_layer_trains_exactly_like_partial_convolution(dataset, optimizer, lr):
    paper, partial = _twins(dataset)
    opt_paper = make_optimizer(paper, optimizer, lr, 5e-4, compensate=True)
    opt_partial = make_optimizer(partial, optimizer, lr, 5e-4, compensate=True)
    torch.manual_seed(1)  # dropout: the same draws for both (same module order)
    batches = list(_batches(dataset, 20))
    for _x, mask, _ in batches[:1]:
        # no empty window at this density: the first layer sees a valid pixel everywhere
        assert bool((valid_count(mask, paper.blocks[0].conv.kernel_size) > 0).all())
    for step, (x, mask, y) in enumerate(batches):
        for net, opt in ((paper, opt_paper), (partial, opt_partial)):
            torch.manual_seed(100 + step)
            net.train()
            loss = _loss(dataset, net(x, mask), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    paper.eval()
    partial.eval()
    x, mask, _ = batches[0]
    with torch.no_grad():
        # eps = 1e-8 in the paper normalisation is the only difference
        torch.testing.assert_close(paper(x, mask), partial(x, mask), rtol=1e-5, atol=1e-6)
    # and the updates were not negligible: the weights moved
    first = paper.blocks[0].conv.weight
    assert first.grad is not None and float(first.grad.abs().max()) > 0


def test_one_learning_rate_does_not_match():
    paper, partial = _twins("mnist")
    opt_paper = make_optimizer(paper, "sgd", 0.05, 5e-4, compensate=False)
    opt_partial = make_optimizer(partial, "sgd", 0.05, 5e-4, compensate=True)
    for x, mask, y in _batches("mnist", 5):
        for net, opt in ((paper, opt_paper), (partial, opt_partial)):
            loss = F.cross_entropy(net(x, mask), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    x, mask, _ = next(_batches("mnist", 1))
    with torch.no_grad():
        gap = (paper(x, mask) - partial(x, mask)).abs().max().item()
    assert gap > 1e-3


def test_groups_scale_only_paper_layer_weights():
    net = build_model("mnist", "sparse")
    sgd = param_groups(net, "sgd", 0.1, 1e-3)
    adam = param_groups(net, "adam", 0.1, 1e-3, eps=1e-8)
    kernels = {5: 625.0, 3: 81.0}  # k^4
    # one base group plus one per kernel size
    assert len(sgd) == 3 and len(adam) == 3
    assert sgd[0]["lr"] == 0.1 and sgd[0]["weight_decay"] == 1e-3
    for group in sgd[1:]:
        (k,) = {p.shape[-1] for p in group["params"]}
        assert group["lr"] == pytest.approx(0.1 * kernels[k])
        assert group["weight_decay"] == pytest.approx(1e-3 / kernels[k])
    for group in adam[1:]:
        (k,) = {p.shape[-1] for p in group["params"]}
        assert group["lr"] == pytest.approx(0.1 * k * k)
        assert group["eps"] == pytest.approx(1e-8 / (k * k))
        assert group["weight_decay"] == pytest.approx(1e-3 / kernels[k])
    scaled = {id(p) for g in sgd[1:] for p in g["params"]}
    biases = [m.bias for m in net.modules() if isinstance(m, SparseConv2d)]
    assert not scaled & {id(b) for b in biases}
    assert sum(len(g["params"]) for g in sgd) == len(list(net.parameters()))
    # partial convolution and plain convolution are not rescaled
    for variant in ("sparse_partial", "dense", "dense_mask", "sparse_naive"):
        groups = param_groups(build_model("mnist", variant), "sgd", 0.1, 1e-3,
                              compensate=variant != "sparse_naive")  # fmt: skip
        assert len(groups) == 1


def test_bad_optimizer_is_named():
    with pytest.raises(ValueError, match="'rmsprop'"):
        param_groups(build_model("mnist", "sparse"), "rmsprop", 0.1, 0.0)
