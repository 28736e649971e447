"""Runs per minute: runs trained one at a time against runs trained as one pack.

    python benchmarks/packed.py [--dataset caltech101] [--model sparse] [--sizes 1 8 32]
                                [--epochs 1] [--limit N] [--device auto]

For each pack size R, the same R runs (seeds 0..R-1, the data set's default sparsity
and rate) are trained for ``--epochs`` epochs twice on one device: one after another by
the per-process path (``train_classification``, what a notebook runs), then as one pack
(:mod:`sparseconv.train.packed`). It reports the training time of both and the ratio of
runs per minute, which is the packed executor's speed-up. Evaluation is left out of the
timing; both paths evaluate the same way. Writes
``results/benchmarks/packed_<device kind>.json``. On a GPU this is the measurement of the
issue's "10x runs per minute" goal; on the CPU it says what packing does there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import write_result

from sparseconv.registry.study import DEFAULTS, default_lr
from sparseconv.train.classify import load_classification, train_classification
from sparseconv.train.engine import pick_device, tune_cpu_allocator
from sparseconv.train.packed import train_pack


def _runs(dataset: str, model: str, size: int, epochs: int, limit: int | None) -> list[dict]:
    d = DEFAULTS[dataset]
    return [
        {
            "dataset": dataset,
            "model": model,
            "epochs": epochs,
            "batch_size": d["batch_size"],
            "limit": limit,
            "seed": seed,
            "sparsity": d["sparsity"],
            "lr": default_lr(dataset, model),
        }
        for seed in range(size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="caltech101", choices=["mnist", "caltech101"])
    parser.add_argument("--model", default="sparse")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    tune_cpu_allocator()
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    cache: dict[int, object] = {}

    def data_of(seed: int):
        key = seed if args.limit is not None else 0
        if key not in cache:
            cache[key] = load_classification(args.dataset, args.data_dir, args.limit, device, seed)
        return cache[key]

    rows = []
    for size in args.sizes:
        runs = _runs(args.dataset, args.model, size, args.epochs, args.limit)
        t0 = time.perf_counter()
        alone = 0.0
        for run in runs:
            torch.manual_seed(run["seed"])
            fields, _ = train_classification(
                {**run, "data_dir": args.data_dir}, device, False, None
            )
            alone += fields["train_seconds"]
        wall_alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        # each packed run's train_seconds is its share of the pack's time
        packed = sum(fields["train_seconds"] for fields, _ in train_pack(runs, data_of, device))
        wall_packed = time.perf_counter() - t0
        rows.append(
            {
                "pack_size": size,
                "train_seconds_alone": alone,
                "train_seconds_packed": packed,
                "speedup": alone / packed,
                "wall_seconds_alone": wall_alone,
                "wall_seconds_packed": wall_packed,
            }
        )
        print(
            f"R={size}: alone {alone:.1f} s, packed {packed:.1f} s, "
            f"{alone / packed:.2f}x the runs per minute"
        )
    name = "cpu" if device.type == "cpu" else "cuda"
    out = args.out or ROOT / "results" / "benchmarks" / f"packed_{name}.json"
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    write_result(
        out,
        "packed training, runs per minute",
        rows,
        dataset=args.dataset,
        model=args.model,
        epochs=args.epochs,
        limit=args.limit,
        device=device_name,
    )


if __name__ == "__main__":
    main()
