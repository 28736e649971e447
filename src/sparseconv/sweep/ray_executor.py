"""The sweep's second executor: every run is a task on an existing Ray cluster.

    python -m sparseconv.sweep mnist --executor ray --address HEAD_HOST:6379
    python -m sparseconv.sweep mnist --executor ray            # a private local Ray

Each task executes the data set's notebook with papermill in a temporary folder on
its worker and returns the record and the executed notebook; the driver (this process)
writes both atomically into ``results/``, so workers need no shared file system for
results. Workers read the data from ``--data-dir`` (or their own ``SPARSECONV_DATA``):
every node needs the data there, or internet access to download it. Every node needs
this package installed in the Python environment Ray runs (``pip install -e ".[cluster]"``).

A run whose worker dies is retried (``max_retries``); a run that fails is reported by name
with its error while the others go on; Ctrl-C cancels the outstanding tasks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from sparseconv.sweep.execute import (
    Progress,
    execute_notebook,
    notebook_source,
    save_result,
    summary_line,
)
from sparseconv.sweep.runs import Run

__all__ = ["check_address", "run_ray", "MAX_RETRIES"]

MAX_RETRIES = 3


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail within ``timeout`` seconds, naming ``address``, if nothing listens there.

    ``ray.init`` on a dead address retries for minutes; a plain TCP connection to the
    head's port answers at once.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address must be HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(
            f"no Ray cluster answers at {address} ({exc.__class__.__name__}: {exc}); start "
            f"one with `ray start --head --port {port}` or pass the head's address"
        ) from None


def _task(notebook: str, params: dict[str, Any], threads: int | None, device: str):
    """Runs on a worker: execute the notebook, return (record, notebook text, seconds, host)."""
    record, text, seconds = execute_notebook(notebook, params, threads=threads, device=device)
    return record, text, seconds, socket.gethostname()


def run_ray(
    runs: Sequence[Run],
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    threads: int | None = 1,
    device: str = "auto",
    out: Callable[[str], None] = print,
    max_retries: int = MAX_RETRIES,
) -> list[tuple[Run, str]]:
    """Execute ``runs`` as Ray tasks; returns the failures as (run, error)."""
    if not runs:
        return []
    if address is None or address.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        # keep a single-machine Ray on loopback: without this Ray advertises the
        # machine's network address instead of 127.0.0.1 (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise SystemExit(
            'the ray executor needs Ray: pip install -e ".[cluster]" (on every node)'
        ) from None
    if address:
        check_address(address)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    resources = ray.cluster_resources()
    out(f"Ray cluster: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
    if gpus_per_run > 0 and device == "auto":
        device = "cuda"
    task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=max_retries)(_task)
    notebooks = {ds: notebook_source(ds) for ds in {r.dataset for r in runs}}
    parallel = max(1, int(resources.get("CPU", 1) // max(cpus_per_run, 1e-9)))
    if gpus_per_run > 0:
        parallel = max(1, int(resources.get("GPU", 0) // gpus_per_run))
    progress = Progress(len(runs), parallel, out)
    failures: list[tuple[Run, str]] = []
    pending: dict[Any, tuple[Run, float]] = {}
    try:
        for run in runs:
            ref = task.remote(notebooks[run.dataset], run.params, threads, device)
            pending[ref] = (run, time.perf_counter())
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                run, _submitted = pending.pop(ref)
                try:
                    record, text, seconds, host = ray.get(ref)
                except Exception as exc:  # the run's own error, or retries exhausted
                    message = _error_text(exc)
                    failures.append((run, message))
                    progress.failed(run, message)
                    continue
                record["host"] = host
                if save_result(run, record, text, "ray"):
                    progress.finished(run, seconds, summary_line(record))
                else:
                    progress.skipped(run, "finished elsewhere meanwhile; kept that record")
    except KeyboardInterrupt:
        out(f"interrupted: cancelling {len(pending)} outstanding Ray tasks")
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
    return failures


def _error_text(exc: BaseException) -> str:
    """The innermost error message of a Ray task failure, on one line."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
