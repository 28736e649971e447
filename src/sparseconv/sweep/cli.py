"""Run a grid of runs through the data set's notebook, resumably.

    python -m sparseconv.sweep mnist --jobs 2
    python -m sparseconv.sweep caltech101 --models sparse dense --seeds 0
    python -m sparseconv.sweep mnist --executor ray --address HEAD:6379
    python -m sparseconv.sweep caltech101 --executor packed --device cuda --pack-size 32

Every run executes ``notebooks/<dataset>.ipynb`` with papermill in a temporary folder;
the sweep then writes the executed notebook and the run record into
``<results_dir>/<dataset>/`` atomically (the notebook first, the record last). Runs
whose record and notebook exist are skipped, so a stopped sweep resumes where it was. A failed
run is reported by name with its error; the others go on.

Executors: ``local`` (default) runs ``--jobs`` runs at once on this machine, each
with ``--threads-per-run`` CPU threads; ``ray`` sends each run to a Ray cluster as a
task (see :mod:`sparseconv.sweep.ray_executor`); ``packed`` trains classification runs
of one network together in this process, for a GPU
(:mod:`sparseconv.sweep.packed_executor`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sparseconv.registry.study import GRIDS, PROTOCOL, missing_rates, rates_table, untuned
from sparseconv.sweep.local import run_local
from sparseconv.sweep.packed_executor import PACK_SIZE, run_packed
from sparseconv.sweep.plan import plan_line
from sparseconv.sweep.ray_executor import run_ray
from sparseconv.sweep.runs import (
    Run,
    budget_grid,
    default_checkpoint_dir,
    from_search,
    grid,
    pending,
    reuse_from_search,
    tuning_grid,
)
from sparseconv.sweep.tuning import best_learning_rates, widening

__all__ = ["run_sweep", "main"]


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
    pack_size: int = PACK_SIZE,
    checkpoints: Path | None = None,
) -> list[tuple[Run, str]]:
    """Skip finished runs and execute the rest with ``executor`` ("local", "ray" or
    "packed"); the local executor keeps each run's checkpoint under ``checkpoints``
    (None: none). Returns the failures."""
    todo = pending(runs)
    out(f"{len(runs)} runs in the grid, {len(runs) - len(todo)} already done, {len(todo)} to run")
    if executor == "local":
        return run_local(todo, jobs=jobs, threads=threads, device=device, out=out,
                         checkpoints=checkpoints)  # fmt: skip
    if executor == "ray":
        return run_ray(
            todo,
            address=address,
            cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
            threads=threads,
            device=device,
            out=out,
        )
    if executor == "packed":
        return run_packed(todo, pack_size=pack_size, threads=threads, device=device, out=out)
    raise ValueError(f"executor must be 'local', 'ray' or 'packed', got {executor!r}")


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
    p.add_argument(
        "--executor",
        choices=("local", "ray", "packed"),
        default="local",
        help="packed: classification runs of one network trained together (for a GPU)",
    )
    p.add_argument("--pack-size", type=int, default=PACK_SIZE, help="runs per pack (packed)")
    p.add_argument("--address", help="Ray cluster HOST:PORT (ray executor; none: a local Ray)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs per run")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs per run")
    p.add_argument("--dry-run", action="store_true", help="list the pending runs and stop")
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=default_checkpoint_dir(),
        help="where a run's state is kept after every epoch, so that a stopped sweep "
        "resumes it (local executor; default: %(default)s)",
    )
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


def _holds(args: argparse.Namespace, runs: Sequence[Run]) -> list[str]:
    """Why a grid may not run yet: models of ``runs`` without a rate from their own
    search, or a search whose choice lies at the edge of the rates it tried."""
    dataset, protocol = args.dataset, PROTOCOL[args.dataset]
    holds = []
    missing = missing_rates(dataset, list(dict.fromkeys(run.params["model"] for run in runs)))
    if missing:
        found = best_learning_rates(args.results_dir, dataset, protocol=protocol)
        holds.append(
            f"the protocol-{protocol} grid of {dataset} trains at the rates its own search "
            f"chooses, and {', '.join(missing)} have none yet: run python -m "
            f"sparseconv.sweep {dataset} --tune, then set study.{rates_table(dataset)}"
            f"[{dataset!r}] from the book's search table (or pass --lr, or --models with "
            f"chosen ones); the search's complete models so far: {found} (a dry run's "
            "names carry the old protocol's rates)"
        )
    wider = widening(args.results_dir, dataset, protocol)
    if wider:
        holds.append(
            f"the search's choice for {', '.join(sorted(wider))} lies at the edge of the "
            f"rates tried: add {', '.join(f'{r:g}' for r in sorted(set(wider.values())))} "
            f"to study.SEARCH[{dataset!r}]['wider'] for each of them and run --tune again "
            "before the grid"
        )
    return holds


def _budget_holds(dataset: str, runs: Sequence[Run]) -> list[str]:
    """Why a budget check may not run yet: models without any chosen rate (they would
    train at DEFAULTS' fallback rate)."""
    missing = untuned(dataset, list(dict.fromkeys(run.params["model"] for run in runs)))
    if not missing:
        return []
    return [
        f"the budget check trains every model at its chosen rate, and {', '.join(missing)} "
        f"have none yet in study.{rates_table(dataset)}[{dataset!r}]: run python -m "
        f"sparseconv.sweep {dataset} --tune first, or pass --models with chosen ones"
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 if any run failed)."""
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be >= 1, got {args.jobs}")
    if args.tune and args.budget:
        raise SystemExit("--tune and --budget are separate runs; pass one of them")
    if args.tune and (args.seeds or args.sparsities):
        raise SystemExit("--tune runs study.SEARCH's (or TUNING's) seeds and sparsities; "
                         "--seeds and --sparsities do not apply to it")  # fmt: skip
    try:
        if args.budget:
            runs = budget_grid(
                args.dataset,
                models=args.models,
                epochs=[args.epochs] if args.epochs else None,
                seeds=args.seeds,
                sparsities=args.sparsities,
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

    if args.budget:
        holds = _budget_holds(args.dataset, runs)
    else:
        holds = [] if args.tune or args.lr is not None else _holds(args, runs)
    if holds and not args.dry_run:
        for hold in holds:
            print(f"error: {hold}", file=sys.stderr)
        return 2
    for hold in holds:
        print(f"note: {hold}")
    device_kind = "cuda" if str(args.device).startswith("cuda") else "cpu"
    to_train = [run for run in pending(runs) if not from_search(run)]
    print(plan_line(to_train, args.jobs, args.results_dir, device_kind))
    if args.dry_run:
        todo = pending(runs)
        for run in todo:
            note = " (made by the search: copied, not trained)" if from_search(run) else ""
            if args.executor == "local":
                note = run.resume_note(args.checkpoint_dir) or note
            print(run.name + note)
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
            pack_size=args.pack_size,
            checkpoints=args.checkpoint_dir,
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
