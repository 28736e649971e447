"""Forward + backward cost of SparseConv2d against nn.Conv2d on the same shapes.

    python benchmarks/layer.py [--repeats 30] [--threads 2]

For each shape, three implementations run interleaved in one process (so machine load
affects them alike) and the median of many timings is reported:

* ``conv2d``: the floor, ``F.conv2d(x * mask, w, b)`` under autograd;
* ``naive``: the "before" line, a straightforward sparse layer that convolves the mask
  with a ones kernel under autograd in every call (as published ports do);
* ``sparse``: ``sparseconv.SparseConv2d``;
* ``mask``: the sparse layer's mask work alone (checking the mask, the count, the
  normaliser and the output mask), which depends on the mask only: the part of the
  layer's extra time that no pass over the features could remove.

Prints the ratios to the floor and peak memory, and writes
``results/benchmarks/layer.json`` (machine, threads, torch version) for the book.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import write_result

from sparseconv import SparseConv2d
from sparseconv.nn.masks import check_mask
from sparseconv.train.engine import tune_cpu_allocator

# (name, batch, c_in, c_out, size, kernel)
SHAPES = [
    ("mnist k5", 64, 16, 16, 28, 5),
    ("mnist k11", 64, 16, 16, 28, 11),
    ("caltech k3", 16, 32, 64, 64, 3),
    ("rgb k7", 16, 3, 32, 96, 7),
]
# the study's networks compute channels-last; channels-first is PyTorch's default
LAYOUTS = ("channels-last", "channels-first")


def naive_layer(x, mask, weight, bias):
    """The straightforward version: the count is a convolution under autograd."""
    k = weight.shape[-1]
    ones = torch.ones(1, 1, k, k, dtype=x.dtype)
    num = F.conv2d(x * mask, weight, padding=k // 2)
    count = F.conv2d(mask, ones, padding=k // 2)
    y = num / (count + 1e-8) + bias.view(1, -1, 1, 1)
    return y, F.max_pool2d(mask, k, stride=1, padding=k // 2)


def time_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def saved_bytes(forward) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``forward()``:
    the activation memory a layer costs during training (deduplicated by storage)."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    del out
    return sum(seen.values())


def bench_shape(name, n, c_in, c_out, size, k, repeats, layout, density=0.3):
    fmt = torch.channels_last if layout == "channels-last" else torch.contiguous_format
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c_in, size, size, generator=g).contiguous(memory_format=fmt)
    mask = (torch.rand(n, 1, size, size, generator=g) < density).float()
    layer = SparseConv2d(c_in, c_out, k).to(memory_format=fmt)
    weight = layer.weight.detach().clone().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    grad = torch.randn(n, c_out, size, size, generator=g).contiguous(memory_format=fmt)

    def floor():
        y = F.conv2d(x * mask, weight, bias, padding=k // 2)
        y.backward(grad)

    def naive():
        y, _ = naive_layer(x, mask, weight, bias)
        y.backward(grad)

    def sparse():
        y, _ = layer(x, mask)
        y.backward(grad)

    def mask_work():
        check_mask(x, mask, 1)
        layer.normalizer(mask)

    fns = {"conv2d": floor, "naive": naive, "sparse": sparse, "mask": mask_work}
    memory = {
        "conv2d": saved_bytes(lambda: F.conv2d(x * mask, weight, bias, padding=k // 2)),
        "naive": saved_bytes(lambda: naive_layer(x, mask, weight, bias)[0]),
        "sparse": saved_bytes(lambda: layer(x, mask)[0]),
    }
    for fn in fns.values():  # warm up
        fn()
        fn()
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            times[key].append(time_once(fn))
    medians = {key: statistics.median(v) for key, v in times.items()}
    return {
        "shape": name,
        "layout": layout,
        "batch": n,
        "in_channels": c_in,
        "out_channels": c_out,
        "size": size,
        "kernel": k,
        "input_density": density,
        "median_seconds": medians,
        "saved_bytes": memory,
        "ratio_sparse": medians["sparse"] / medians["conv2d"],
        "ratio_naive": medians["naive"] / medians["conv2d"],
        "ratio_sparse_less_mask": (medians["sparse"] - medians["mask"]) / medians["conv2d"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "layer.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    rows = []
    print(
        f"{'shape':12s} {'layout':14s} {'conv2d ms':>10s} {'naive':>8s} {'sparse':>8s} "
        f"{'no mask':>8s}   "
        "saved for backward (MB): conv2d / naive / sparse"
    )
    for shape in SHAPES:
        for layout in LAYOUTS:
            row = bench_shape(*shape, repeats=args.repeats, layout=layout)
            rows.append(row)
            m = row["median_seconds"]
            print(
                f"{row['shape']:12s} {layout:14s} {1000 * m['conv2d']:10.2f} "
                f"{row['ratio_naive']:7.2f}x "
                f"{row['ratio_sparse']:7.2f}x {row['ratio_sparse_less_mask']:7.2f}x   "
                + " / ".join(
                    f"{row['saved_bytes'][k] / 2**20:.1f}" for k in ("conv2d", "naive", "sparse")
                ),
                flush=True,
            )
    write_result(args.out, "layer forward + backward", rows, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
