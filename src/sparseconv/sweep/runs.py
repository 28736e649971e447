"""The study's runs: one :class:`Run` per grid cell, the grids and the learning-rate
search as lists of runs, and which of them are still to do."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparseconv.data.sparsify import check_sparsity
from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.models import tuned_models
from sparseconv.registry.records import (
    atomic_write_text,
    read_record,
    record_path,
    resolve_results_dir,
    run_name,
)
from sparseconv.registry.study import (
    BUDGET_CHECK,
    CAP_FREE,
    DEFAULTS,
    GRIDS,
    PROTOCOL,
    REPORTED_PROTOCOL,
    SEARCH,
    TUNING,
    budget_levels,
    default_lr,
    grid_epochs,
    grid_levels,
    grid_spec,
    grid_tuned_models,
    lines_runs,
    search_rates,
    separate_search,
    trained_budgets,
)

__all__ = [
    "Run",
    "grid",
    "tuning_grid",
    "budget_grid",
    "default_checkpoint_dir",
    "grid_folder",
    "search_folder",
    "separate_search",
    "pending",
    "from_search",
    "reuse_from_search",
]


@dataclass
class Run:
    """One run: the notebook parameters, and its name and record path."""

    dataset: str
    params: dict[str, Any]
    subfolder: str = ""  # "tuning" for the learning-rate search
    name: str = field(init=False)
    record: Path = field(init=False)

    def __post_init__(self) -> None:
        self.record = record_path(
            self.params["results_dir"], {"dataset": self.dataset, **self.params}, self.subfolder
        )
        self.name = self.record.stem

    @property
    def notebook(self) -> Path:
        """Where the executed notebook is kept, beside the record."""
        return self.record.with_suffix(".ipynb")

    def checkpoint_in(self, folder: str | os.PathLike[str]) -> Path:
        """Where the run's state is saved after every epoch while it trains, so that a
        sweep started again resumes it (deleted once the record is written):
        ``<folder>/<results folder's digest>/<dataset>/[<subfolder>/]<run name>.pt``; the
        digest of the resolved results folder keeps two studies' runs of one name apart.
        A data set of ``study.CAP_FREE`` keeps one state per cell, whatever the cap and
        the folder (search, budget check or grid), ``<dataset>/<run name without the
        cap>.pt``, kept after the record: the same run under a later cap continues it."""
        where = str(resolve_results_dir(self.params["results_dir"]).resolve())
        root = Path(folder) / hashlib.sha256(where.encode()).hexdigest()[:12] / self.dataset
        if self.dataset in CAP_FREE:
            return root / f"{run_name({'dataset': self.dataset, **self.params}, cap=False)}.pt"
        return (root / self.subfolder if self.subfolder else root) / f"{self.name}.pt"

    def resume_note(self, folder: str | os.PathLike[str] | None) -> str:
        """What the sweep says of a run with a saved state under ``folder``: "" where
        there is none."""
        if folder is None or not self.checkpoint_in(folder).is_file():
            return ""
        if self.dataset in CAP_FREE:
            return " (continues its cell's saved state)"
        return " (stopped part-way: resumes from its checkpoint)"


def default_checkpoint_dir() -> Path:
    """Where the sweep keeps its runs' checkpoints by default: outside the repository
    (a fresh clone or work tree keeps them), in ``$XDG_CACHE_HOME/sparseconv/checkpoints``
    (``~/.cache`` where the variable is not set)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sparseconv" / "checkpoints"


def grid_folder(dataset: str, protocol: int | None = None) -> str:
    """The subfolder of ``results/<dataset>/`` that ``protocol``'s grid (default: the
    current one) goes to: none for the reported protocol, ``protocol<N>`` for a new
    protocol's grid, which runs beside the reported one and replaces it once complete
    (move its files up and set ``study.REPORTED_PROTOCOL``)."""
    protocol = PROTOCOL[dataset] if protocol is None else protocol
    return "" if protocol == REPORTED_PROTOCOL[dataset] else f"protocol{protocol}"


def search_folder(dataset: str, protocol: int | None = None) -> str:
    """The subfolder of the learning-rate search's records: ``tuning``, under the grid's
    folder (:func:`grid_folder`)."""
    folder = grid_folder(dataset, protocol)
    return f"{folder}/tuning" if folder else "tuning"


def grid(
    dataset: str,
    *,
    models: Sequence[str] | None = None,
    sparsities: Sequence[float] | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    limit: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    results_dir: str = "results",
    data_dir: str | None = None,
    pattern: str | None = None,
    extra: dict[str, Any] | None = None,
    protocol: int | None = None,
) -> list[Run]:
    """The runs of ``dataset``'s grid under ``protocol`` (default: the current one,
    ``study.PROTOCOL``), seed-major (every cell once before any twice; for depth and KITTI
    the uniform cells first, then the lines runs). Its epochs are
    ``study.grid_epochs`` (ValueError while a new protocol's budget is not chosen).

    ``models``/``sparsities`` replace the grid's lists. ``seeds`` with ``models`` gives
    every one of those models those seeds; without ``models`` it selects the grid's cells
    at those seeds (``seeds=[1, 2]`` splits a grid between machines), and a seed that no
    model of the grid has is a new seed for every model. The rest override the notebook
    defaults for every run; without ``lr`` each model gets the study's rate
    (:func:`sparseconv.registry.study.default_lr`). For depth and KITTI,
    ``pattern`` ("uniform" or "lines") selects the sampling; without any selection the
    depth and KITTI grids also hold their runs on the lines pattern.
    """
    if dataset not in GRIDS:
        raise ValueError(f"dataset must be one of {tuple(GRIDS)}, got {dataset!r}")
    selected = bool(models or sparsities or seeds or pattern)
    defaults = DEFAULTS[dataset]
    protocol = PROTOCOL[dataset] if protocol is None else protocol
    _, grid_seeds = grid_spec(dataset, protocol)
    grid_sparsities = grid_levels(dataset, protocol)
    if epochs is None:
        epochs = grid_epochs(dataset, protocol)
    folder = grid_folder(dataset, protocol)
    explicit = bool(models)
    models = list(models) if models else list(grid_seeds)
    levels = [check_sparsity(s) for s in (sparsities if sparsities else grid_sparsities)]
    known = {s for ss in grid_seeds.values() for s in ss}
    seeds_of = {
        m: grid_seeds.get(m, (0,))
        if not seeds
        else tuple(seeds)
        if explicit
        else tuple(s for s in seeds if s in grid_seeds.get(m, (0,)) or s not in known)
        for m in models
    }
    all_seeds = sorted({s for ss in seeds_of.values() for s in ss})
    runs: list[Run] = []
    for seed in all_seeds:
        for level in levels:
            for model in models:
                if seed not in seeds_of[model]:
                    continue
                params = {
                    "sparsity": level,
                    "model": model,
                    "epochs": epochs,
                    "lr": lr if lr is not None else default_lr(dataset, model, protocol),
                    "batch_size": batch_size if batch_size is not None else defaults["batch_size"],
                    "seed": seed,
                    "limit": limit,
                    "data_dir": data_dir,
                    "results_dir": results_dir,
                    **(extra or {}),
                }
                if DATASETS[dataset].task != "classification":
                    params["pattern"] = pattern or "uniform"
                runs.append(Run(dataset, params, subfolder=folder))
    if not selected and lines_runs(dataset, protocol):
        lines = [
            Run(
                dataset,
                {
                    **runs[0].params,
                    "model": m,
                    "sparsity": sp,
                    "seed": sd,
                    "pattern": "lines",
                    "lr": lr if lr is not None else default_lr(dataset, m, protocol),
                },
                subfolder=folder,
            )
            for m, sp, sd in lines_runs(dataset, protocol)
        ]
        # the claim's uniform cells first (seed-major), then the lines runs, which are
        # descriptive: a verdict's seeds are not held up by them
        runs = runs + sorted(lines, key=lambda r: r.params["seed"])
    return runs


def tuning_grid(
    dataset: str,
    *,
    models: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    epochs: int | None = None,
    limit: int | None = None,
    results_dir: str = "results",
    data_dir: str | None = None,
    protocol: int | None = None,
) -> list[Run]:
    """The learning-rate search of ``dataset`` under ``protocol`` (default: the current
    one): every tuned model at each of its rates (``study.search_rates``, or ``lrs``); for
    the reported protocol at the
    sparsity and seed of ``study.TUNING`` (records in ``<results_dir>/<dataset>/tuning/``),
    for a new protocol at every level and seed of ``study.SEARCH`` and the grid's budget
    (records in its folder's ``tuning/``; rate-major)."""
    protocol = PROTOCOL[dataset] if protocol is None else protocol
    if dataset not in TUNING and dataset not in SEARCH:
        raise ValueError(f"no learning-rate search for {dataset!r}; one of "
                         f"{tuple(dict.fromkeys((*TUNING, *SEARCH)))}")  # fmt: skip
    defaults = DEFAULTS[dataset]
    if separate_search(dataset, protocol):
        setting = SEARCH[dataset]
        cells = [(level, seed) for seed in setting["seeds"] for level in setting["sparsities"]]
        epochs = grid_epochs(dataset, protocol) if epochs is None else epochs
    else:
        setting = TUNING[dataset]
        cells = [(setting["sparsity"], setting["seed"])]
        epochs = grid_epochs(dataset, protocol) if epochs is None else epochs

    def rates(model: str) -> tuple[float, ...]:
        if lrs:
            return tuple(lrs)
        return search_rates(dataset, model) if setting is SEARCH.get(dataset) else setting["lrs"]

    chosen = models or grid_tuned_models(dataset, protocol)
    every = sorted({rate for model in chosen for rate in rates(model)})
    return [
        Run(
            dataset,
            {
                "sparsity": level,
                "model": model,
                "epochs": epochs,
                "lr": float(rate),
                "batch_size": defaults["batch_size"],
                "seed": seed,
                "limit": limit,
                "data_dir": data_dir,
                "results_dir": results_dir,
                **({"pattern": "uniform"} if DATASETS[dataset].task != "classification" else {}),
            },
            subfolder=search_folder(dataset, protocol),
        )
        for rate in every
        for level, seed in cells
        for model in chosen
        if rate in rates(model)
    ]


def budget_grid(
    dataset: str,
    *,
    models: Sequence[str] | None = None,
    epochs: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    sparsities: Sequence[float] | None = None,
    limit: int | None = None,
    results_dir: str = "results",
    data_dir: str | None = None,
) -> list[Run]:
    """The budget check of ``dataset`` (``study.BUDGET_CHECK``): every tuned model at each
    of its sparsities, seeds and budgets, at the model's study rate; budget-major (the
    smaller budgets finish first); records go to ``<results_dir>/<dataset>/budget/``.
    These runs decide the grid's epochs and are never grid cells. ``seeds`` and
    ``sparsities`` pick a part of the check (ValueError for values outside it)."""
    if dataset not in BUDGET_CHECK:
        raise ValueError(f"no budget check for {dataset!r}; one of {tuple(BUDGET_CHECK)}")
    setting = dict(BUDGET_CHECK[dataset])
    for key, chosen in (("seeds", seeds), ("sparsities", sparsities)):
        if chosen:
            outside = [v for v in chosen if v not in setting[key]]
            if outside:
                raise ValueError(f"{key} {outside} are not in {dataset}'s budget check "
                                 f"{setting[key]}")  # fmt: skip
            setting[key] = tuple(chosen)
    trained = trained_budgets(dataset)
    read_off = [e for e in epochs or () if e not in trained]
    if read_off:
        raise ValueError(
            f"{dataset}'s budget check trains {', '.join(map(str, trained))} epochs only and "
            f"reads {', '.join(map(str, read_off))} off their histories (study.BUDGET_CHECK's "
            '"from_history"); pass --epochs with one of the trained budgets or none'
            if BUDGET_CHECK[dataset].get("from_history")
            else f"epochs {read_off} are not in {dataset}'s budget check {trained}"
        )
    defaults = DEFAULTS[dataset]
    return [
        Run(
            dataset,
            {
                "sparsity": level,
                "model": model,
                "epochs": int(budget),
                "lr": default_lr(dataset, model),
                "batch_size": defaults["batch_size"],
                "seed": seed,
                "limit": limit,
                "data_dir": data_dir,
                "results_dir": results_dir,
            },
            subfolder="budget",
        )
        for budget in (epochs or trained)
        for seed in setting["seeds"]
        for level in setting["sparsities"]
        if level in budget_levels(dataset, int(budget))
        for model in (models or tuned_models(dataset))
    ]


def pending(runs: Sequence[Run]) -> list[Run]:
    """The runs still to do: no record yet, a record of another protocol than the current
    one (``study.PROTOCOL``), or a record without its executed notebook (made outside the
    sweep, e.g. by calling ``train_run`` directly), which the sweep replaces so that every
    run of a grid comes with the notebook that made it. A budget run that a shorter cap's
    run answers for (:func:`ended_before`) is done."""
    return [r for r in runs if not _done(r)]


def _done(run: Run) -> bool:
    if not (run.record.is_file() and run.notebook.is_file()):
        return ended_before(run) is not None
    return read_record(run.record).get("protocol", 1) == PROTOCOL[run.dataset]


def ended_before(run: Run) -> Run | None:
    """For a run of a ``"from_history"`` budget check (KITTI's): the same cell's run
    under a shorter cap of the check that ended before that cap (the plateau stopped it;
    current protocol, with its notebook), or None. Its training never reads the cap
    (``study.CAP_FREE``), so that run is this one too, and its record answers for every
    budget of the check (:func:`sparseconv.report.budget.load_budget`)."""
    setting = BUDGET_CHECK.get(run.dataset, {})
    if not setting.get("from_history") or run.subfolder != "budget":
        return None
    for cap in [e for e in setting["epochs"] if e < int(run.params["epochs"])]:
        shorter = Run(run.dataset, {**run.params, "epochs": cap}, subfolder=run.subfolder)
        if not (shorter.record.is_file() and shorter.notebook.is_file()):
            continue
        record = read_record(shorter.record)
        ended = len(record.get("history") or []) < cap
        if ended and record.get("protocol", 1) == PROTOCOL[run.dataset]:
            return shorter
    return None


def from_search(run: Run) -> Run | None:
    """The learning-rate search's run that is the same run as grid cell ``run`` (same
    model, sparsity, seed, rate and settings, current protocol, with its notebook), or
    None. The search trains at the grid's settings, so its run at the chosen rate is a
    grid cell already; the grid need not train it again."""
    if run.subfolder != grid_folder(run.dataset) or separate_search(run.dataset):
        return None
    same = Run(run.dataset, run.params, subfolder=search_folder(run.dataset))
    if not (same.record.is_file() and same.notebook.is_file()):
        return None
    if read_record(same.record).get("protocol") != PROTOCOL[run.dataset]:
        return None
    return same


def reuse_from_search(runs: Sequence[Run]) -> list[str]:
    """Copy into the grid every pending run that the search has made already
    (:func:`from_search`): its executed notebook, then its record, each written
    atomically (a copy stopped half-way leaves the run pending). Returns their names."""
    reused = []
    for run in pending(runs):
        same = from_search(run)
        if same is None:
            continue
        atomic_write_text(run.notebook, same.notebook.read_text())
        atomic_write_text(run.record, same.record.read_text())
        reused.append(run.name)
    return reused
