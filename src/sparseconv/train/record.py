"""The one place a run's record is assembled and written."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from sparseconv.nn.networks import count_parameters
from sparseconv.registry.records import RUN_KEYS, SCHEMA_VERSION, record_path, write_record
from sparseconv.registry.study import PROTOCOL
from sparseconv.train.engine import provenance

__all__ = ["build_record", "save_run"]


def build_record(
    params: dict[str, Any],
    fields: dict[str, Any],
    net: nn.Module,
    dev: torch.device,
    started_at: str,
    executor: str,
) -> dict[str, Any]:
    """A record: the run's identity (schema, protocol, parameters), the data set's
    ``fields`` (metrics, history, timings), the model's size and layout, provenance."""
    identity = {
        "schema_version": SCHEMA_VERSION,
        "protocol": PROTOCOL[params["dataset"]],
        **{key: params[key] for key in RUN_KEYS},
    }
    return {
        **identity,
        **fields,
        "n_parameters": count_parameters(net),
        "amp": params["amp"],
        "memory_format": str(net.memory_format).removeprefix("torch."),
        **provenance(dev, started_at, executor),
    }


def save_run(record: dict[str, Any], results_dir: str | os.PathLike[str] | None) -> None:
    """Write ``record`` atomically to its path under ``results_dir`` (None: not at all)."""
    if results_dir is not None:
        write_record(record, record_path(results_dir, record))
