"""Per-run overhead of the Ray executor against the local one, on this machine.

    python benchmarks/ray_overhead.py [--limit 20000] [--repeats 2]

Runs the same MNIST run (one epoch on ``--limit`` images, about a minute on one CPU
thread) alternately through the local executor and through a private local Ray
instance that is started once beforehand (its start-up is reported separately: a
cluster is started once per sweep, not per run). Reports the wall time of each and the
Ray executor's extra time per run as a share of the local run. Writes
``results/benchmarks/ray_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray on loopback

import ray

from sparseconv.registry.records import atomic_write_text
from sparseconv.sweep.cli import run_sweep
from sparseconv.sweep.runs import grid


def timed_sweep(executor: str, limit: int, data_dir: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        runs = grid(
            "mnist",
            models=["dense"],
            sparsities=[0.5],
            seeds=[0],
            epochs=1,
            limit=limit,
            results_dir=tmp,
            data_dir=data_dir,
        )
        start = time.perf_counter()
        failures = run_sweep(runs, executor=executor, jobs=1, out=lambda s: None)
        wall = time.perf_counter() - start
        if failures:
            raise RuntimeError(failures[0][1])
        return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "ray_overhead.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        for _ in range(args.repeats):
            for executor in ("local", "ray"):
                walls[executor].append(timed_sweep(executor, args.limit, args.data_dir))
                print(f"{executor:5s} {walls[executor][-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
    local, remote = statistics.median(walls["local"]), statistics.median(walls["ray"])
    result = {
        "benchmark": "ray executor overhead per run",
        "platform": platform.platform(),
        "limit": args.limit,
        "ray_version": ray.__version__,
        "ray_startup_seconds": startup,
        "wall_seconds": walls,
        "overhead_seconds": remote - local,
        "overhead_share": (remote - local) / local,
    }
    print(f"Ray start-up (once per sweep): {startup:.1f} s")
    print(
        f"per run: local {local:.1f} s, ray {remote:.1f} s, overhead "
        f"{remote - local:+.1f} s = {100 * (remote - local) / local:+.1f} %"
    )
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
