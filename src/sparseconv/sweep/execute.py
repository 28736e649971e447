"""One run's notebook: executing it with papermill in a temporary folder, saving the
executed notebook and its record atomically, and the progress lines of a sweep."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparseconv.registry.paths import project_root
from sparseconv.registry.records import atomic_write_text, write_record
from sparseconv.sweep.runs import Run, pending

__all__ = ["notebook_source", "execute_notebook", "papermill_until_started",
           "kernel_not_started", "compact_notebook", "save_result", "Progress",
           "summary_line"]  # fmt: skip

# jupyter_client picks a kernel's TCP ports free and the kernel binds them a moment later;
# a process that binds one in between (another kernel starting, a Ray worker) leaves the
# kernel unable to start, and its client waits for it in vain. No cell has run then, so
# the run starts again, up to this many tries in all.
KERNEL_START_TRIES = 3
_NOT_STARTED = ("Kernel didn't respond", "Kernel died before replying to kernel_info")


def kernel_not_started(exc: BaseException) -> bool:
    """True for the error of a notebook whose kernel never started (no cell ran), which
    jupyter_client raises as a RuntimeError with one of two messages."""
    return type(exc) is RuntimeError and str(exc).startswith(_NOT_STARTED)


def papermill_until_started(
    source: Path, output: Path, parameters: dict[str, Any], cwd: Path, log_output: bool = True
) -> None:
    """Execute ``source`` into ``output`` with papermill (kernel ``python3``, no progress
    bar), starting it again while its kernel never starts (:func:`kernel_not_started`), up
    to ``KERNEL_START_TRIES`` tries in all. Any other error, and the last try's, is raised
    as papermill raised it."""
    import papermill as pm

    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            pm.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                cwd=str(cwd),
                progress_bar=False,
                log_output=log_output,
                kernel_name="python3",
            )
            return
        except RuntimeError as exc:
            if not kernel_not_started(exc) or attempt == KERNEL_START_TRIES:
                raise


def notebook_source(dataset: str) -> str:
    """The text of ``notebooks/<dataset>.ipynb``."""
    return (project_root() / "notebooks" / f"{dataset}.ipynb").read_text()


def execute_notebook(
    notebook: str, params: dict[str, Any], threads: int | None = 1, device: str = "auto"
) -> tuple[dict[str, Any], str, float]:
    """Execute a notebook's text with ``params`` in a temporary folder.

    Returns ``(record, executed notebook text, seconds)``. The notebook writes its
    record into a temporary results folder; nothing outside the temporary folder is
    touched. Raises RuntimeError with the notebook's error if a cell fails. A kernel
    that does not start is started again (:func:`papermill_until_started`).
    """
    import papermill as pm

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sparseconv-run-") as tmp:
        folder = Path(tmp)
        source = folder / "input.ipynb"
        output = folder / "output.ipynb"
        source.write_text(notebook)
        run_params = {**params, "results_dir": str(folder / "results"), "device": device}
        if threads is not None:
            run_params["threads"] = threads
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ[var] = str(threads)
        try:
            papermill_until_started(source, output, run_params, folder, log_output=False)
        except pm.PapermillExecutionError as exc:
            raise RuntimeError(f"{exc.ename}: {exc.evalue}") from None
        records = list((folder / "results").rglob("*.json"))
        if len(records) != 1:
            raise RuntimeError(f"the notebook wrote {len(records)} records, expected 1")
        record = json.loads(records[0].read_text())
        return record, compact_notebook(output.read_text()), time.perf_counter() - started


def compact_notebook(text: str) -> str:
    """Drop the saved ipywidgets state (the progress bars' live views, ~10 kB per bar)
    from an executed notebook; the bars' text form stays in the outputs."""
    nb = json.loads(text)
    nb.get("metadata", {}).pop("widgets", None)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def save_result(run: Run, record: dict[str, Any], notebook_text: str, executor: str) -> bool:
    """Write the executed notebook, then the record (its presence marks the run done).

    A run finished elsewhere meanwhile (another sweep, another machine) keeps its files:
    nothing is written and the result is False."""
    if not pending([run]):
        return False
    record = {**record, "executor": executor}
    record.setdefault("host", socket.gethostname())
    atomic_write_text(run.notebook, notebook_text)
    write_record(record, run.record)
    return True


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    """Prints ``[i/n] name ...`` lines with the estimated time left."""

    def __init__(self, total: int, parallel: int, out: Callable[[str], None] = print) -> None:
        self.total = total
        self.parallel = max(1, parallel)
        self.done = 0
        self.durations: list[float] = []
        self.out = out

    def finished(self, run: Run, seconds: float, summary: str) -> None:
        self.done += 1
        self.durations.append(seconds)
        left = self.total - self.done
        eta = sum(self.durations) / len(self.durations) * left / self.parallel
        self.out(
            f"[{self.done}/{self.total}] {run.name}: {summary} in {_format_seconds(seconds)}"
            f"; about {_format_seconds(eta)} left"
        )

    def skipped(self, run: Run, why: str) -> None:
        self.done += 1
        self.out(f"[{self.done}/{self.total}] {run.name}: {why}")

    def failed(self, run: Run, error: str) -> None:
        self.done += 1
        self.out(f"[{self.done}/{self.total}] {run.name}: FAILED: {error}")


def summary_line(record: dict[str, Any]) -> str:
    """A finished run in a few words for the progress log (validation accuracy where the
    record has it: the tuning runs' criterion)."""
    if "val_accuracy" in record:
        return (
            f"validation {100 * record['val_accuracy']:.2f} %, "
            f"test {100 * record['test_accuracy']:.2f} %"
        )
    if "test_accuracy" in record:
        return f"test accuracy {100 * record['test_accuracy']:.2f} %"
    if "val_mae_missing" in record:
        return (
            f"missing-pixel MAE: validation {record['val_mae_missing']:.3f} m, "
            f"test {record['test_mae_missing']:.3f} m, epochs {record['epochs_run']}"
        )
    return "done"
