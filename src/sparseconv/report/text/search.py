"""Generated sentences about a learning-rate search over several levels (``study.SEARCH``):
how far it is, what it chose, and whether a choice lies at the edge of the rates tried."""

from __future__ import annotations

import os

from sparseconv.registry.models import MODEL_LABELS
from sparseconv.registry.study import (
    PROTOCOL,
    SEARCH,
    grid_spec,
    grid_tuned_models,
    rates_table,
    separate_search,
)
from sparseconv.report.text.results import join_and
from sparseconv.sweep.runs import pending, tuning_grid
from sparseconv.sweep.tuning import best_learning_rates, level_text, load_tuning, widening

__all__ = ["search_progress"]


def _seed_range(dataset: str, protocol: int) -> str:
    """The seeds of the grid's tuned models, e.g. "1 to 5"."""
    seeds = sorted({s for m in grid_tuned_models(dataset, protocol)
                    for s in grid_spec(dataset, protocol)[1][m]})  # fmt: skip
    return f"{seeds[0]} to {seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def _against_nearest(frame, nearest, dataset: str, levels) -> str:
    """Sentences naming, per training level, the models whose best validation error over
    the rates tried so far lies above raw nearest neighbour's (a network that loses to
    interpolation with no training is a finding to explain), and those below it."""
    best = frame[~frame["diverged"].astype(bool)].groupby(["sparsity", "model"])["val"].min()
    out = ""
    for level in [v for v in levels if v in nearest.index]:
        here = best[best.index.get_level_values("sparsity") == level].droplevel("sparsity")
        if here.empty:
            continue
        order = sorted(here.index, key=list(MODEL_LABELS).index)
        above = [f"{MODEL_LABELS[m]} (best {here[m]:.3f} m)" for m in order
                 if here[m] > nearest[level]]  # fmt: skip
        below = [f"{MODEL_LABELS[m]} ({here[m]:.3f} m)" for m in order
                 if here[m] <= nearest[level]]  # fmt: skip
        where = level_text(dataset, level)
        if above:
            out += (f" At {where}, no rate tried so far brings {join_and(above)} below it"
                    + (f"; {join_and(below)} {'is' if len(below) == 1 else 'are'} below it"
                       if below else "") + ".")  # fmt: skip
        else:
            out += f" At {where}, every model's best rate so far is below it."
    return out


def search_progress(
    dataset: str, results_dir: str | os.PathLike[str] = "results", protocol: int | None = None
) -> str:
    """A paragraph on ``protocol``'s own search (default: the current protocol): how
    many of its runs have finished, the rates chosen so far (each model's best mean
    validation score over the levels and seeds), the models whose choice lies at an edge
    of the rates tried, and where the grid takes its rates from."""
    protocol = PROTOCOL[dataset] if protocol is None else protocol
    if not separate_search(dataset, protocol):
        raise ValueError(f"{dataset}'s protocol {protocol} has no search of its own")
    spec = SEARCH[dataset]
    runs = tuning_grid(dataset, results_dir=str(results_dir), protocol=protocol)
    done = len(runs) - len(pending(runs))
    models = sorted({r.params["model"] for r in runs}, key=[r.params["model"] for r in runs].index)
    levels = ", ".join(level_text(dataset, s) for s in spec["sparsities"])
    seeds = ("seeds " if len(spec["seeds"]) > 1 else "seed ") + join_and(
        [str(s) for s in spec["seeds"]]
    )
    text = (
        f"Every model is trained at each of {len(spec['lrs'])} learning rates "
        f"({', '.join(f'{lr:g}' for lr in spec['lrs'])}) at each training level ({levels}), "
        f"with {seeds}, "
        "and keeps the rate with the best mean "
        "validation error over those runs. The search's runs stay out of the grid: "
        f"the grid's seeds ({_seed_range(dataset, protocol)}) come after the search's, "
        "since a cell at a search seed and the chosen rate would be the search's own run "
        "trained again, the one its rate was chosen on. "
        f"{done} of its {len(runs)} runs have finished."
    )
    widened = spec.get("wider", {})
    if widened:
        text += " Widened where a model's best lay at the edge: " + "; ".join(
            f"{MODEL_LABELS[m]} also at {join_and([f'{r:g}' for r in rates])}"
            for m, rates in widened.items()
        ) + "."  # fmt: skip
    frame = load_tuning(results_dir, dataset, protocol=protocol)
    nearest = frame.dropna(subset=["val_nn"]).groupby("sparsity")["val_nn"].mean()
    if len(nearest):
        text += (" Raw nearest neighbour, with no training, errs " + join_and(
            [f"{nearest[s]:.3f} m at {level_text(dataset, s)}" for s in spec["sparsities"]
             if s in nearest.index]) + " on the same validation inputs.")  # fmt: skip
        text += _against_nearest(frame, nearest, dataset, spec["sparsities"])
    chosen = best_learning_rates(results_dir, dataset, protocol=protocol)
    if chosen:
        text += " Chosen so far: " + "; ".join(
            f"{MODEL_LABELS[m]} {chosen[m]:g}" for m in models if m in chosen
        ) + "."  # fmt: skip
        wider = widening(results_dir, dataset, protocol=protocol)
        if wider:
            text += (
                " The best rate of " + join_and([MODEL_LABELS[m] for m in wider])
                + " lies at the edge of the rates tried, so the search widens there ("
                + join_and(sorted({f"{r:g}" for r in wider.values()}, key=float))
                + ") before the grid runs; the sweep refuses the grid until then."
            )  # fmt: skip
    else:
        text += " No model's search is complete yet."
    left = [MODEL_LABELS[m] for m in models if m not in chosen]
    table = f"study.{rates_table(dataset, protocol)}[{dataset!r}]"
    if left:
        text += (
            f" The grid waits for {join_and(left)}: a model's cells start once its rate is "
            f"chosen and copied into {table}, which a test checks against these records."
        )
    else:
        text += f" The grid trains at these rates ({table}, checked against the records)."
    return text
