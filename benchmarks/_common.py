"""What every benchmark writes: its rows plus where and how they were measured."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from sparseconv.registry.records import atomic_write_text


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
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        **settings,
        "rows": rows,
    }
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
