"""What each of SparseConv2d's options costs against nn.Conv2d with the same options.

    python benchmarks/layer_options.py [--repeats 20] [--threads 1]

For each row, ``F.conv2d(x * mask, w, b, stride, padding, dilation, groups)`` (the floor)
and ``SparseConv2d`` with the same options run forward + backward, interleaved in one
process (so machine load affects both alike); the median of ``--repeats`` timings of
each is reported with their ratio. Writes ``results/benchmarks/layer_options.json`` for
the book's "Use the layer" page.
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

BATCH, CHANNELS, SIZE, DENSITY = 16, 32, 64, 0.3
# (row name, SparseConv2d keyword arguments beyond (32, 32))
ROWS = [
    ("3 x 3 (the base)", {"kernel_size": 3}),
    ("3 x 3, partial normalisation", {"kernel_size": 3, "normalization": "partial"}),
    ("4 x 4 (even), same padding", {"kernel_size": 4}),
    ("3 x 3, stride 2", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("3 x 3, dilation 2", {"kernel_size": 3, "dilation": 2}),
    ("3 x 3, groups 4", {"kernel_size": 3, "groups": 4}),
    ("3 x 3, multi-channel mask", {"kernel_size": 3, "multi_channel": True}),
]


def bench_row(options: dict, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    layer = SparseConv2d(CHANNELS, CHANNELS, **options)
    channels = CHANNELS if layer.multi_channel else 1
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, generator=g)
    mask = (torch.rand(BATCH, channels, SIZE, SIZE, generator=g) < DENSITY).float()
    weight = layer.weight.detach().clone().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    padding = layer.padding if layer._pad4 is None else layer._pad4

    def floor() -> None:
        xp = F.pad(x * mask, padding) if layer._pad4 is not None else x * mask
        pad = 0 if layer._pad4 is not None else layer._pad
        y = F.conv2d(xp, weight, bias, layer.stride, pad, layer.dilation, layer.groups)
        y.sum().backward()

    def sparse() -> None:
        y, _ = layer(x, mask)
        y.sum().backward()

    fns = {"conv2d": floor, "sparse": sparse}
    for fn in fns.values():  # warm up
        fn()
        fn()
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    medians = {key: statistics.median(v) for key, v in times.items()}
    return {"median_seconds": medians, "ratio": medians["sparse"] / medians["conv2d"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", default=str(ROOT / "results" / "benchmarks" / "layer_options.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, options in ROWS:
        row = {"option": name, "options": {k: v for k, v in options.items()},
               **bench_row(options, args.repeats)}  # fmt: skip
        rows.append(row)
        conv_ms = 1000 * row["median_seconds"]["conv2d"]
        print(f"{name:32s} conv2d {conv_ms:7.1f} ms   sparse / conv2d {row['ratio']:.2f}")
    write_result(args.out, "layer_options", rows, batch=BATCH, channels=CHANNELS, size=SIZE,
                 density=DENSITY, repeats=args.repeats)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
