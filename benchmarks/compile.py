"""Does ``torch.compile`` pay off for the study's training step on the CPU?

    python benchmarks/compile.py [--steps 15] [--threads 1]

For the sparse and dense model of each classification data set: the time of the first
compiled step (compilation), then eager and compiled training throughput (images per
second), timed alternately, median over steps, at sparsity 0.9 (where the sparse layers
cannot take their all-valid shortcuts), starting from an empty compiler cache. Writes
``results/benchmarks/compile.json`` (machine, threads, torch version) for the book.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# a cold compiler cache, so the first step's time is a full compilation
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="sparseconv-inductor-")
os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import write_result

from sparseconv.data.sparsify import sparsify
from sparseconv.nn.networks import build_model
from sparseconv.registry.study import DEFAULTS
from sparseconv.train.engine import tune_cpu_allocator

# data set -> (channels, side, classes)
SHAPES = {"mnist": (1, 28, 10), "caltech101": (3, 64, 101)}


def bench(dataset: str, model: str, steps: int, sparsity: float = 0.9) -> dict:
    channels, size, classes = SHAPES[dataset]
    batch = DEFAULTS[dataset]["batch_size"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, channels, size, size, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    net = build_model(dataset, model)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def loss_of(xs, mask, labels):
        return F.cross_entropy(net(xs, mask), labels)

    compiled = torch.compile(loss_of)

    def step(fn) -> float:
        start = time.perf_counter()
        xs, mask = sparsify(x, sparsity, g)
        loss = fn(xs, mask, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    compile_seconds = step(compiled)
    for _ in range(2):
        step(loss_of)
        step(compiled)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(steps):
        times["eager"].append(step(loss_of))
        times["compiled"].append(step(compiled))
    eager, fast = (statistics.median(times[k]) for k in ("eager", "compiled"))
    return {
        "dataset": dataset,
        "model": model,
        "batch_size": batch,
        "sparsity": sparsity,
        "compile_seconds": compile_seconds,
        "eager_images_per_second": batch / eager,
        "compiled_images_per_second": batch / fast,
        "speedup": eager / fast,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "compile.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    rows = []
    print(f"{'data set':12s} {'model':8s} {'compile s':>10s} {'eager':>7s} {'compiled':>9s}")
    for dataset in SHAPES:
        for model in ("sparse", "dense"):
            torch._dynamo.reset()
            row = bench(dataset, model, args.steps)
            rows.append(row)
            print(
                f"{dataset:12s} {model:8s} {row['compile_seconds']:10.0f} "
                f"{row['eager_images_per_second']:7.0f} {row['compiled_images_per_second']:9.0f}",
                flush=True,
            )
    write_result(args.out, "torch.compile of the training step", rows, steps=args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
