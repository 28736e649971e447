"""What every benchmark writes: its rows plus where and how they were measured."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from sparseconv.registry.records import atomic_write_text


def _busy_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot (Linux ``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


# when the benchmark started: importing this module is among its first steps
_START = (time.perf_counter(), _busy_seconds(), _own_seconds())


def other_load() -> float | None:
    """Cores kept busy by other processes while this benchmark ran, on average since it
    started (0: a quiet machine; 1: one core's worth of other work), from the machine's
    busy time less this process's own CPU time. None where ``/proc/stat`` is missing."""
    busy = _busy_seconds()
    if busy is None or _START[1] is None:
        return None
    wall = time.perf_counter() - _START[0]
    others = (busy - _START[1]) - (_own_seconds() - _START[2])
    return max(0.0, others / wall) if wall > 0 else None


def write_result(out: str | Path, benchmark: str, rows: list[dict], **settings: Any) -> None:
    """Write ``{"benchmark", machine, platform, threads, torch_version, **settings, rows}``
    as JSON to ``out`` atomically, and say so."""
    result = {
        "benchmark": benchmark,
        "machine": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        # the machine's 1-minute load average when the file is written: other work
        # running beside the benchmark (this process counts 1)
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "other_load": None if (load := other_load()) is None else round(load, 2),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        **settings,
        "rows": rows,
    }
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
