"""Run a grid of runs through the data set's notebook, resumably.

    python -m sparseconv.sweep mnist --jobs 2
    python -m sparseconv.sweep caltech101 --models sparse dense --seeds 0
    python -m sparseconv.sweep mnist --executor ray --address HEAD:6379

Every run executes ``notebooks/<dataset>.ipynb`` with papermill in a temporary folder;
the sweep then writes the executed notebook and the run record into
``<results_dir>/<dataset>/`` atomically (the notebook first, the record last). Runs
whose record and notebook exist are skipped, so a stopped sweep resumes where it was. A failed
run is reported by name with its error; the others go on.

Executors: ``local`` (default) runs ``--jobs`` runs at once on this machine, each
with ``--threads-per-run`` CPU threads; ``ray`` sends each run to a Ray cluster as a
task (see :mod:`sparseconv.ray_executor`).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .data import project_root
from .records import atomic_write_text, write_record
from .runs import Run, budget_grid, from_search, grid, pending, reuse_from_search, tuning_grid
from .study import GRIDS

__all__ = [
    "GRIDS",
    "Run",
    "grid",
    "tuning_grid",
    "pending",
    "execute_notebook",
    "run_sweep",
    "summary_line",
    "Progress",
    "notebook_source",
    "save_result",
    "main",
]


def notebook_source(dataset: str) -> str:
    """The text of ``notebooks/<dataset>.ipynb``."""
    return (project_root() / "notebooks" / f"{dataset}.ipynb").read_text()


def execute_notebook(
    notebook: str, params: dict[str, Any], threads: int | None = 1, device: str = "auto"
) -> tuple[dict[str, Any], str, float]:
    """Execute a notebook's text with ``params`` in a temporary folder.

    Returns ``(record, executed notebook text, seconds)``. The notebook writes its
    record into a temporary results folder; nothing outside the temporary folder is
    touched. Raises RuntimeError with the notebook's error if a cell fails.
    """
    import json

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
            pm.execute_notebook(
                str(source),
                str(output),
                parameters=run_params,
                cwd=str(folder),
                progress_bar=False,
                log_output=False,
                kernel_name="python3",
            )
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
    import json

    nb = json.loads(text)
    nb.get("metadata", {}).pop("widgets", None)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _local_task(
    notebook: str, params: dict[str, Any], threads: int | None, device: str
) -> tuple[dict[str, Any], str, float]:
    return execute_notebook(notebook, params, threads=threads, device=device)


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


def run_local(
    runs: Sequence[Run],
    jobs: int = 2,
    threads: int | None = 1,
    device: str = "auto",
    out: Callable[[str], None] = print,
) -> list[tuple[Run, str]]:
    """Run ``runs`` on this machine, ``jobs`` at a time. Returns the failures (run, error)."""
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
                    out(f"starting {run.name}")
                    future = pool.submit(
                        _local_task, notebooks[run.dataset], run.params, threads, device
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


def run_sweep(
    runs: Sequence[Run],
    executor: str = "local",
    jobs: int = 2,
    threads: int | None = 1,
    device: str = "auto",
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    out: Callable[[str], None] = print,
) -> list[tuple[Run, str]]:
    """Skip finished runs and execute the rest with ``executor``; returns the failures."""
    todo = pending(runs)
    out(f"{len(runs)} runs in the grid, {len(runs) - len(todo)} already done, {len(todo)} to run")
    if executor == "local":
        return run_local(todo, jobs=jobs, threads=threads, device=device, out=out)
    if executor == "ray":
        from .ray_executor import run_ray

        return run_ray(
            todo,
            address=address,
            cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
            threads=threads,
            device=device,
            out=out,
        )
    raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sparseconv.sweep",
        description="Run a data set's grid of runs (resumable: finished runs are skipped).",
    )
    p.add_argument("dataset", choices=sorted(GRIDS))
    p.add_argument("--models", nargs="+", help="models to run (default: the grid's)")
    p.add_argument("--sparsities", nargs="+", type=float, help="training sparsities")
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        help="seeds: the grid's cells at these seeds, or with --models these seeds for "
        "every named model",
    )
    p.add_argument("--pattern", choices=("uniform", "lines"), help="depth: sampling pattern")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the notebook's)")
    p.add_argument("--limit", type=int, help="training images per run (quick runs)")
    p.add_argument("--lr", type=float, help="learning rate (default: the notebook's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the notebook's)")
    p.add_argument("--results-dir", default="results", help="default: results/")
    p.add_argument("--data-dir", help="data folder (default: $SPARSECONV_DATA, else data/)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (local executor)")
    p.add_argument("--threads-per-run", type=int, default=1, help="CPU threads per run")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--amp", action="store_true", help="bfloat16 autocast (GPU); records end in _bf16"
    )
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="Ray cluster HOST:PORT (ray executor; none: a local Ray)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs per run")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs per run")
    p.add_argument("--dry-run", action="store_true", help="list the pending runs and stop")
    p.add_argument(
        "--tune",
        action="store_true",
        help="the learning-rate search (study.TUNING) instead of the grid",
    )
    p.add_argument("--lrs", nargs="+", type=float, help="with --tune: the rates to try")
    p.add_argument(
        "--budget",
        action="store_true",
        help="the budget check (study.BUDGET_CHECK) instead of the grid; with --epochs "
        "only that budget",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 if any run failed)."""
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be >= 1, got {args.jobs}")
    if args.tune and args.budget:
        raise SystemExit("--tune and --budget are separate runs; pass one of them")
    try:
        if args.budget:
            runs = budget_grid(
                args.dataset,
                models=args.models,
                epochs=[args.epochs] if args.epochs else None,
                limit=args.limit,
                results_dir=args.results_dir,
                data_dir=args.data_dir,
            )
        elif args.tune:
            runs = tuning_grid(
                args.dataset,
                models=args.models,
                lrs=args.lrs,
                epochs=args.epochs,
                limit=args.limit,
                results_dir=args.results_dir,
                data_dir=args.data_dir,
            )
        else:
            runs = grid(
                args.dataset,
                models=args.models,
                sparsities=args.sparsities,
                seeds=args.seeds,
                epochs=args.epochs,
                limit=args.limit,
                lr=args.lr,
                batch_size=args.batch_size,
                results_dir=args.results_dir,
                data_dir=args.data_dir,
                pattern=args.pattern,
                extra={"amp": True} if args.amp else None,
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .plan import plan_line

    device_kind = "cuda" if str(args.device).startswith("cuda") else "cpu"
    to_train = [run for run in pending(runs) if not from_search(run)]
    print(plan_line(to_train, args.jobs, args.results_dir, device_kind))
    if args.dry_run:
        todo = pending(runs)
        for run in todo:
            print(run.name + (" (made by the search: copied, not trained)"
                              if from_search(run) else ""))  # fmt: skip
        copied = sum(1 for run in todo if from_search(run))
        print(f"{len(todo)} of {len(runs)} runs pending"
              + (f" ({copied} copied from the search, {len(todo) - copied} to train)"
                 if copied else ""))  # fmt: skip
        return 0
    for name in reuse_from_search(runs):
        print(f"{name}: made by the learning-rate search, copied from tuning/")
    try:
        failures = run_sweep(
            runs,
            executor=args.executor,
            jobs=args.jobs,
            threads=args.threads_per_run,
            device=args.device,
            address=args.address,
            cpus_per_run=args.cpus_per_run,
            gpus_per_run=args.gpus_per_run,
        )
    except KeyboardInterrupt:
        return 130
    if failures:
        print(f"{len(failures)} runs failed:")
        for run, error in failures:
            print(f"  {run.name}: {error}")
        return 1
    print("all runs done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
