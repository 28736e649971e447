"""The sweep's first executor: ``jobs`` runs at once on this machine, each a notebook
executed in its own process (:mod:`sparseconv.sweep.execute`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from sparseconv.sweep.execute import (
    Progress,
    execute_notebook,
    notebook_source,
    save_result,
    summary_line,
)
from sparseconv.sweep.runs import Run, pending

__all__ = ["run_local"]


def _local_task(
    notebook: str, params: dict[str, Any], threads: int | None, device: str
) -> tuple[dict[str, Any], str, float]:
    return execute_notebook(notebook, params, threads=threads, device=device)


def run_local(
    runs: Sequence[Run],
    jobs: int = 2,
    threads: int | None = 1,
    device: str = "auto",
    out: Callable[[str], None] = print,
    checkpoints: Path | None = None,
) -> list[tuple[Run, str]]:
    """Run ``runs`` on this machine, ``jobs`` at a time; each saves its state after every
    epoch under ``checkpoints`` (``Run.checkpoint_in``; None: no checkpoints) and resumes
    from it when started again. Returns the failures (run, error)."""
    if not runs:
        return []
    notebooks = {ds: notebook_source(ds) for ds in {r.dataset for r in runs}}
    progress = Progress(len(runs), jobs, out)
    failures: list[tuple[Run, str]] = []
    queue = list(runs)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        active: dict[Future[Any], Run] = {}
        try:
            while queue or active:
                while queue and len(active) < jobs:
                    run = queue.pop(0)
                    if not pending([run]):
                        progress.skipped(run, "skipped: finished elsewhere since the sweep began")
                        continue
                    saved = run.checkpoint_in(checkpoints) if checkpoints is not None else None
                    out(f"starting {run.name}{run.resume_note(checkpoints)}")
                    # a run stopped part-way (a killed sweep) resumes from its checkpoint
                    params = {**run.params, "checkpoint": str(saved) if saved else None}
                    future = pool.submit(
                        _local_task, notebooks[run.dataset], params, threads, device
                    )
                    active[future] = run
                done, _ = wait(active, return_when=FIRST_COMPLETED)
                for future in done:
                    run = active.pop(future)
                    try:
                        record, text, seconds = future.result()
                    except Exception as exc:  # report and go on
                        failures.append((run, str(exc)))
                        progress.failed(run, str(exc))
                        continue
                    if save_result(run, record, text, "local"):
                        progress.finished(run, seconds, summary_line(record))
                    else:
                        progress.skipped(run, "finished elsewhere meanwhile; kept that record")
        except KeyboardInterrupt:
            out("interrupted: cancelling the remaining runs; nothing half-written is kept")
            for future in active:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return failures
