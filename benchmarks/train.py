"""Training throughput of every model of the study, and the share of a step spent on data.

    python benchmarks/train.py [--steps 30] [--threads 1]

For each data set and model: images per second of the full training step (batch
preparation, forward, backward, SGD step) on random-but-realistic inputs of the study's
shapes and batch sizes, the ratio of each model to ``dense``, and the fraction of the
step spent preparing the batch (indexing the uint8 data, scaling, augmentation,
sparsification). Also the sparse and dense networks computing channels-first (the study's
run channels-last), and for MNIST the sparse network with the paper's 11-7-5-3 kernels
(the alternative to our 5-3-3 stack). Models are timed interleaved, median over steps. Writes
``results/benchmarks/train.json`` (machine, threads, torch version) for the book.
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
from sparseconv.nn.networks import ConvSpec, build_model
from sparseconv.registry.models import MODELS
from sparseconv.registry.study import DEFAULTS
from sparseconv.train.classify import augment
from sparseconv.train.engine import tune_cpu_allocator

SHAPES = {"mnist": (1, 28, 10), "caltech101": (3, 64, 101)}


PAPER_KERNELS = "sparse 11-7-5-3"
CHANNELS_FIRST = "(channels-first)"
PAPER_MNIST_SPEC = ConvSpec(kernels=(11, 7, 5, 3), pool_after=(0, 1))


def bench_dataset(dataset: str, steps: int, sparsity: float = 0.5) -> list[dict]:
    channels, size, classes = SHAPES[dataset]
    batch = DEFAULTS[dataset]["batch_size"]
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (4096, channels, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes, (4096,), generator=g)
    models = {m: build_model(dataset, m) for m in MODELS}
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
        return x, mask, labels[idx]

    def step(model):
        t0 = time.perf_counter()
        x, mask, y = prepare()
        t1 = time.perf_counter()
        optims[model].zero_grad(set_to_none=True)
        loss = F.cross_entropy(models[model](x, mask), y)
        loss.backward()
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
    rows = []
    dense = statistics.median(totals["dense"])
    for model in models:
        median = statistics.median(totals[model])
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "batch_size": batch,
                "images_per_second": batch / median,
                "time_vs_dense": median / dense,
                "data_share": sum(data_times[model]) / sum(totals[model]),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "train.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    rows = []
    print(f"{'data set':12s} {'model':26s} {'img/s':>8s} {'vs dense':>9s} {'data share':>11s}")
    for dataset in SHAPES:
        for row in bench_dataset(dataset, args.steps):
            rows.append(row)
            print(
                f"{row['dataset']:12s} {row['model']:26s} {row['images_per_second']:8.0f} "
                f"{row['time_vs_dense']:8.2f}x {100 * row['data_share']:10.1f}%",
                flush=True,
            )
    write_result(args.out, "training step throughput", rows, steps=args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
