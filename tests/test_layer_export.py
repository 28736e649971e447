"""The layer where users run it: torch.compile without graph breaks, torch.export,
ONNX (checked with onnxruntime), float16 and bfloat16 autocast, channels_last."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparseconv import SparseConv2d, SparseMaxPool2d, SparseSequential


class Net(nn.Module):
    """A small sparse network over (x, mask), returning both."""

    def __init__(self) -> None:
        super().__init__()
        self.body = SparseSequential(
            SparseConv2d(2, 8, 5), nn.ReLU(), SparseMaxPool2d(2),
            SparseConv2d(8, 8, 3, stride=2, padding=1, normalization="partial"), nn.ReLU(),
            SparseConv2d(8, 4, (2, 3), dilation=2, groups=2),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body(x, mask)


def _inputs(seed: int = 0, density: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(3, 1, 24, 24, generator=g) < density).float()
    return torch.randn(3, 2, 24, 24, generator=g) * mask, mask


def _study_outputs(dataset: str, shape: tuple[int, ...]) -> list[float]:
    """The sparse study network's logits on a fixed input (seeded weights and input):
    six entries spread over them, then the sum of their absolute values and their sum."""
    from sparseconv.nn.networks import build_model

    torch.manual_seed(0)
    net = build_model(dataset, "sparse").eval()
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(shape[0], 1, *shape[2:], generator=g) < 0.3).float()
    x = torch.randn(*shape, generator=g) * mask
    with torch.no_grad():
        out = net(x, mask).double().flatten()
    picked = out[:: max(1, out.numel() // 6)][:6].tolist()
    return [*picked, float(out.abs().sum()), float(out.sum())]


def test_the_study_networks_compute_what_they_computed_before_the_options():
    # the networks' outputs before stride, dilation, groups and multi-channel masks (the
    # old and new layers were also compared bit for bit on random inputs, both
    # normalisations, kernels 1-11, forward and weight gradients). To float rounding, not
    # bit for bit: a SHA-256 digest of the float32 logits held on the machine that wrote
    # it and failed on a CPU whose convolution kernels round differently; these values
    # are those logits (the code that matched the digest, on such a CPU)
    for dataset, shape in (("mnist", (3, 1, 28, 28)), ("caltech101", (2, 3, 64, 64))):
        assert _study_outputs(dataset, shape) == pytest.approx(OUTPUTS[dataset], rel=1e-4,
                                                               abs=1e-5), dataset  # fmt: skip


OUTPUTS = {
    "mnist": [0.1542988, 2.0827472, 0.0593025, 1.9779902, -0.2088246, 2.8318608,
              30.3431307, 6.2779152],
    "caltech101": [1.024657, -3.5825584, 1.5961263, -0.1575963, 2.2377415, 1.4407862,
                   317.5123680, -9.9781117],
}  # fmt: skip


@pytest.mark.slow
def test_torch_compile_has_no_graph_break_and_the_same_numbers():
    torch.manual_seed(0)
    net = Net().eval()
    x, mask = _inputs()
    with torch.no_grad():
        expected = net(x, mask)
        compiled = torch.compile(net, fullgraph=True)  # fails on any graph break
        got = compiled(x, mask)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_torch_export_gives_the_same_numbers_on_other_masks():
    torch.manual_seed(0)
    net = Net().eval()
    program = torch.export.export(net, _inputs(0))
    for seed, density in ((1, 0.0), (2, 0.5), (3, 1.0)):
        x, mask = _inputs(seed, density)
        with torch.no_grad():
            for a, b in zip(program.module()(x, mask), net(x, mask), strict=True):
                assert torch.allclose(a, b, atol=1e-6)


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    net = Net().eval()
    path = tmp_path / "sparse.onnx"
    torch.onnx.export(net, _inputs(0), str(path), input_names=["x", "mask"],
                      output_names=["y", "mask_out"], dynamo=True)  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed, density in ((1, 0.0), (2, 0.5), (3, 1.0)):
        x, mask = _inputs(seed, density)
        y, mask_out = session.run(None, {"x": x.numpy(), "mask": mask.numpy()})
        with torch.no_grad():
            ref_y, ref_mask = net(x, mask)
        assert torch.allclose(torch.from_numpy(y), ref_y, atol=1e-4)
        assert torch.equal(torch.from_numpy(mask_out), ref_mask)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("normalization", ["paper", "partial"])
def test_autocast_stays_finite_and_close(dtype, normalization):
    torch.manual_seed(0)
    layer = SparseConv2d(2, 4, 3, normalization=normalization)
    x, mask = _inputs(0, 0.05)
    mask[0] = 0.0  # an empty mask: the eps path
    reference, _ = layer(x, mask)
    with torch.autocast("cpu", dtype=dtype):
        y, mask_out = layer(x, mask)
    assert y.dtype == dtype and torch.isfinite(y).all()
    ref = reference.detach()
    assert torch.allclose(y.float(), ref, rtol=0.05, atol=0.05 * ref.abs().max().item())
    # the layer in half precision itself: eps = 1e-8 underflows to 0 in float16, the
    # division by the count stays finite because it only happens where the count > 0
    half = SparseConv2d(2, 4, 3, normalization=normalization).to(dtype)
    y, _ = half(x.to(dtype), mask.to(dtype))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("multi_channel", [False, True])
def test_channels_last_gives_the_same_numbers(multi_channel):
    torch.manual_seed(0)
    layer = SparseConv2d(4, 6, 3, stride=2, padding=1, groups=2, multi_channel=multi_channel)
    x = torch.randn(2, 4, 10, 10)
    mask = (torch.rand(2, 4 if multi_channel else 1, 10, 10) > 0.5).float()
    expected = layer(x * mask, mask)
    layer_cl = layer.to(memory_format=torch.channels_last)
    got = layer_cl((x * mask).to(memory_format=torch.channels_last),
                   mask.to(memory_format=torch.channels_last))  # fmt: skip
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
