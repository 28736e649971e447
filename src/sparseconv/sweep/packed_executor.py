"""The sweep's third executor: the runs of a grid trained in packs, many runs of one
network in one process (:mod:`sparseconv.train.packed`), for a GPU.

Pending runs that share a data set, a model variant, epochs, batch size, limit and data
folder form packs of at most ``pack_size`` runs. Each pack trains in this process. Then
each run's record goes through the data set's notebook with ``packed_record`` set. The
notebook checks the record against the run's parameters, shows it as it shows a run it
trained (figures, the test at every level, the reproduction check) and writes it. The
sweep then keeps the executed notebook and the record beside it, as for the other
executors, with ``executor: "packed"`` in the record.

Classification only (the depth runs stop early, each at its own epoch).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sparseconv.registry.datasets import DATASETS
from sparseconv.sweep.execute import (
    Progress,
    execute_notebook,
    notebook_source,
    save_result,
    summary_line,
)
from sparseconv.sweep.runs import Run, pending
from sparseconv.train.classify import ClassificationData, load_classification
from sparseconv.train.engine import now, pick_device, tune_cpu_allocator
from sparseconv.train.packed import train_pack
from sparseconv.train.params import validate_params
from sparseconv.train.record import build_record

__all__ = ["PACK_SIZE", "packs_of", "run_packed"]

PACK_SIZE = 16  # runs per pack by default
# what the runs of one pack share (besides the data set)
_KEY = ("model", "epochs", "batch_size", "limit", "data_dir")


def packs_of(runs: Sequence[Run], pack_size: int = PACK_SIZE) -> list[list[Run]]:
    """``runs`` grouped into packs (in the order of their first run) of at most
    ``pack_size`` runs that can train together."""
    if pack_size < 1:
        raise ValueError(f"pack_size must be at least 1, got {pack_size}")
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        if DATASETS[run.dataset].task != "classification":
            raise ValueError(
                f"the packed executor trains classification runs only, got {run.name} "
                f"({run.dataset}); use --executor local for it"
            )
        key = (run.dataset, *(repr(run.params.get(k)) for k in _KEY))
        groups.setdefault(key, []).append(run)
    return [group[i : i + pack_size] for group in groups.values()
            for i in range(0, len(group), pack_size)]  # fmt: skip


def _loader(run: Run, dev: torch.device) -> Callable[[int], ClassificationData]:
    """The data of a pack whose first run is ``run``, loaded once per seed if the runs
    keep a ``limit`` of images (the subset depends on the seed), else once."""
    cache: dict[int, ClassificationData] = {}
    limit, data_dir = run.params["limit"], run.params["data_dir"]

    def data_of(seed: int) -> ClassificationData:
        key = seed if limit is not None else 0
        if key not in cache:
            cache[key] = load_classification(run.dataset, data_dir, limit, dev, seed)
        return cache[key]

    return data_of


def _params(run: Run, device: str) -> dict[str, Any]:
    given = {k: v for k, v in run.params.items() if k != "dataset"}
    return validate_params(run.dataset, **given, device=device, check_data=False)


def run_packed(
    runs: Sequence[Run],
    pack_size: int = PACK_SIZE,
    threads: int | None = None,
    device: str = "auto",
    out: Callable[[str], None] = print,
) -> list[tuple[Run, str]]:
    """Train ``runs`` in packs on ``device``; returns the failures as (run, error)."""
    if not runs:
        return []
    packs = packs_of(runs, pack_size)
    if threads is not None:
        torch.set_num_threads(threads)
    tune_cpu_allocator()
    dev = pick_device(device)
    notebooks = {ds: notebook_source(ds) for ds in {r.dataset for r in runs}}
    progress = Progress(len(runs), 1, out)
    failures: list[tuple[Run, str]] = []
    for pack in packs:
        live = [run for run in pack if pending([run])]
        for run in pack:
            if run not in live:
                progress.skipped(run, "skipped: finished elsewhere since the sweep began")
        if not live:
            continue
        out(f"starting a pack of {len(live)} runs: {live[0].name} ...")
        data_of = _loader(live[0], dev)
        try:
            params = [_params(run, device) for run in live]
            started = now()
            trained = train_pack(params, data_of, dev)
        except Exception as exc:  # report the pack's runs and go on
            for run in live:
                failures.append((run, str(exc)))
                progress.failed(run, str(exc))
            continue
        for run, run_params, (fields, net) in zip(live, params, trained, strict=True):
            record = build_record(run_params, fields, net, dev, started, "packed")
            try:
                with tempfile.TemporaryDirectory(prefix="sparseconv-pack-") as tmp:
                    path = Path(tmp) / "packed.json"
                    path.write_text(json.dumps(record))
                    shown, text, seconds = execute_notebook(
                        notebooks[run.dataset], {**run.params, "packed_record": str(path)},
                        threads=threads, device="cpu",
                    )  # fmt: skip
            except Exception as exc:
                failures.append((run, str(exc)))
                progress.failed(run, str(exc))
                continue
            if save_result(run, shown, text, "packed"):
                progress.finished(run, record["train_seconds"] + seconds, summary_line(shown))
            else:
                progress.skipped(run, "finished elsewhere meanwhile; kept that record")
    return failures
