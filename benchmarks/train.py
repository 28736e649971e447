"""Training throughput of every model of the study, the share of a step spent on data,
and each step's distance from the machine's rate on the same convolutions.

    python benchmarks/train.py [--steps 30] [--threads 1]

For each data set and model (MNIST, Caltech-101, the synthetic depth scenes, and the
depth network on KITTI's 128 x 512 training crops at KITTI's sparsity): images per
second of the full training step (batch preparation, forward, backward, SGD step) on
random-but-realistic inputs of the study's shapes and batch sizes, the ratio of each
model to ``dense``, and the fraction of the step spent preparing the batch (indexing the
uint8 data, scaling, augmentation, sparsification). Also the sparse and dense
classification networks computing channels-first (the study's run channels-last), and
for MNIST the sparse network with the paper's 11-7-5-3 kernels (the alternative to our
5-3-3 stack). Models are timed interleaved, median over steps.

The floor: each network's training arithmetic (:func:`sparseconv.nn.flops.training_flops`)
and the time of its dense convolutions alone (``F.conv2d`` forward + backward on each
layer's input shape, timed in the same run); their quotient is the FLOP rate this thread
sustains on those convolutions, and ``of_floor`` is a step's FLOP rate as a share of it.

Writes ``results/benchmarks/train.json`` (machine, threads, torch version) for the book.
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

from sparseconv.data.sparsify import sparsify
from sparseconv.nn.flops import layer_costs, training_flops
from sparseconv.nn.networks import ConvSpec, build_model
from sparseconv.registry.models import DEPTH_MODELS, MODELS, models_of
from sparseconv.registry.study import DEFAULTS, LIDAR_CROP
from sparseconv.train.classify import augment
from sparseconv.train.engine import tune_cpu_allocator

# (channels, (height, width), classes); depth and KITTI: one channel of depth, a regression
SHAPES = {
    "mnist": (1, (28, 28), 10),
    "caltech101": (3, (64, 64), 101),
    "depth": (1, (48, 48), None),
    "kitti": (1, LIDAR_CROP, None),
}
# the share of pixels each data set's benchmark input keeps: half (the grids' middle), and
# for KITTI a tenth of the returns of the rows that hold them (about 5 % of those pixels:
# 0.5 %), drawn uniformly over the crop, a stand-in for real scans; there the masks stay
# sparse through every layer, where the others fill after the first
KEPT = {"mnist": 0.5, "caltech101": 0.5, "depth": 0.5, "kitti": 0.005}


PAPER_KERNELS = "sparse 11-7-5-3"
CHANNELS_FIRST = "(channels-first)"
PAPER_MNIST_SPEC = ConvSpec(kernels=(11, 7, 5, 3), pool_after=(0, 1))


def _median_seconds(fn, steps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_floor(dataset: str, x: torch.Tensor, mask: torch.Tensor, steps: int) -> dict:
    """The dense network's arithmetic and the time of its convolutions alone.

    Returns training FLOPs per image, the seconds per batch of every ``F.conv2d`` of the
    dense network, forward and backward (no input gradient for the first), and their
    quotient, the FLOP rate of these convolutions on this thread."""
    model = build_model(dataset, "dense")
    costs = layer_costs(model, x, mask)
    flops = training_flops(costs)
    convs = [c for c in costs if isinstance(c.module, torch.nn.Conv2d)]
    total = 0.0
    for i, cost in enumerate(convs):
        conv = cost.module
        inp = torch.randn(cost.input_shape).contiguous(memory_format=torch.channels_last)
        inp.requires_grad_(i > 0)
        weight = conv.weight.detach().clone().requires_grad_(True)
        bias = conv.bias.detach().clone().requires_grad_(True)

        def step(inp=inp, weight=weight, bias=bias, conv=conv):
            out = F.conv2d(inp, weight, bias, conv.stride, conv.padding)
            out.backward(torch.ones_like(out))

        total += _median_seconds(step, steps)
    conv_flops = len(x) * sum(
        (6 if i > 0 else 4) * c.macs for i, c in enumerate(convs)
    )  # fmt: skip
    return {
        "training_flops_per_image": flops["training"],
        "conv_seconds": total,
        "conv_flops_per_second": conv_flops / total,
    }


def bench_dataset(dataset: str, steps: int) -> list[dict]:
    channels, (height, width), classes = SHAPES[dataset]
    sparsity = 1.0 - KEPT[dataset]
    depth = classes is None
    batch = DEFAULTS[dataset]["batch_size"]
    g = torch.Generator().manual_seed(0)
    n = 4096 if height * width < 10_000 else 64  # KITTI crops: 64 of them
    data = torch.randint(0, 256, (n, channels, height, width), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes or 1, (n,), generator=g)
    names = models_of("kitti") if dataset == "kitti" else DEPTH_MODELS if depth else MODELS
    models = {m: build_model(dataset, m) for m in names}
    if not depth:
        for variant in ("sparse", "dense"):  # the layout the study does not use, for the ratio
            models[f"{variant} {CHANNELS_FIRST}"] = build_model(
                dataset, variant, memory_format=torch.contiguous_format
            )
    if dataset == "mnist":
        # the alternative the MNIST page weighs: the paper's 11-7-5-3 kernels, same poolings
        models[PAPER_KERNELS] = build_model("mnist", "sparse", PAPER_MNIST_SPEC)
    optims = {
        m: torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9) for m, net in models.items()
    }

    def prepare():
        idx = torch.randint(0, len(data), (batch,), generator=g)
        x = data[idx].float() / 255.0
        if dataset == "caltech101":
            x = augment(x, g)
        x, mask = sparsify(x, sparsity, g)
        return x, mask, (data[idx].float() / 255.0 if depth else labels[idx])

    def loss_of(model, x, mask, y):
        out = models[model](x, mask)
        return (out - y).abs().mean() if depth else F.cross_entropy(out, y)

    def step(model):
        t0 = time.perf_counter()
        x, mask, y = prepare()
        t1 = time.perf_counter()
        optims[model].zero_grad(set_to_none=True)
        loss_of(model, x, mask, y).backward()
        optims[model].step()
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0

    for model in models:
        for _ in range(3):
            step(model)
    totals = {m: [] for m in models}
    data_times = {m: [] for m in models}
    for _ in range(steps):
        for model in models:
            total, prep = step(model)
            totals[model].append(total)
            data_times[model].append(prep)
    x, mask, _ = prepare()
    floor = conv_floor(dataset, x, mask, steps)
    rows = []
    dense = statistics.median(totals["dense"])
    for model in models:
        median = statistics.median(totals[model])
        step_rate = batch * floor["training_flops_per_image"] / median
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "batch_size": batch,
                "images_per_second": batch / median,
                "time_vs_dense": median / dense,
                "data_share": sum(data_times[model]) / sum(totals[model]),
                "training_flops_per_image": floor["training_flops_per_image"],
                "conv_flops_per_second": floor["conv_flops_per_second"],
                "of_floor": step_rate / floor["conv_flops_per_second"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--datasets", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "train.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    rows = []
    print(f"{'data set':12s} {'model':26s} {'img/s':>8s} {'vs dense':>9s} {'data share':>11s} "
          f"{'of floor':>9s}")  # fmt: skip
    for dataset in args.datasets:
        for row in bench_dataset(dataset, args.steps):
            rows.append(row)
            print(
                f"{row['dataset']:12s} {row['model']:26s} {row['images_per_second']:8.0f} "
                f"{row['time_vs_dense']:8.2f}x {100 * row['data_share']:10.1f}% "
                f"{100 * row['of_floor']:8.0f}%",
                flush=True,
            )
    write_result(args.out, "training step throughput", rows, steps=args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
