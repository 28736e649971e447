"""Generated sentences that read the results: the classification pages' reading of the
accuracy tests and verdicts, the depth page's findings and standouts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sparseconv.registry.datasets import DEPTH_DENSITIES
from sparseconv.registry.models import MODEL_LABELS
from sparseconv.report.claims import Judgement, find, judge_claims, level_tests
from sparseconv.report.depth_curves import NAN, depth_curve, nearest_curve, pattern_of, uniform_runs
from sparseconv.report.depth_diagnostics import flatness_means
from sparseconv.report.families import accuracy_family
from sparseconv.report.stats import ALPHA, MIN_SEEDS


def findings(runs: pd.DataFrame) -> str:
    """Sentences on the grid's main numbers, generated from the records: per training
    density, the best network at its own density against raw nearest-neighbour
    interpolation on the missing pixels."""
    uniform = uniform_runs(runs)
    if uniform.empty:
        return "No depth run of the current protocol has finished yet."
    sentences = []
    for level in DEPTH_DENSITIES:
        density = f"{100 * (1 - level):g} %"
        own = {m: depth_curve(uniform, m, level).get(level, NAN) for m in uniform["model"].unique()}
        own = {m: v for m, v in own.items() if not math.isnan(v)}
        if not own:
            sentences.append(f"No network trained at {density} density has finished yet.")
            continue
        best = min(own, key=own.__getitem__)
        trained = uniform[(uniform["sparsity"] - level).abs() < 1e-9]
        nearest = nearest_curve(trained).get(level, NAN)
        verb = "below" if own[best] < nearest else "above"
        sentences.append(
            f"Trained and tested at {density} density, the best network is the "
            f"{MODEL_LABELS[best]} with a missing-pixel MAE of {own[best]:.2f} m, {verb} raw "
            f"nearest-neighbour interpolation's {nearest:.2f} m."
        )
    return " ".join(sentences)


def transfer_reading(runs: pd.DataFrame) -> str:
    """Sentences on the errors at an unseen density, generated from the records: for
    each direction between the two grid densities (uniform sampling), every model's mean
    missing-pixel MAE at the test density, smallest first, with raw nearest neighbour and
    the paper's layer trained at the test density itself."""
    uniform = uniform_runs(runs)
    if uniform.empty:
        return "No depth run of the current protocol has finished yet."
    sentences = []
    for a, b in (DEPTH_DENSITIES, DEPTH_DENSITIES[::-1]):
        at = {m: depth_curve(uniform, m, a).get(b, NAN) for m in MODEL_LABELS}
        at = {m: v for m, v in at.items() if not math.isnan(v)}
        if not at:
            continue
        ranked = ", ".join(
            f"{MODEL_LABELS[m]} {v:.2f} m" for m, v in sorted(at.items(), key=lambda kv: kv[1])
        )
        text = (
            f"Trained at {100 * (1 - a):g} % and tested at {100 * (1 - b):g} % density: "
            f"{ranked}; raw nearest neighbour {nearest_curve(uniform).get(b, NAN):.2f} m"
        )
        home = depth_curve(uniform, "sparse", b).get(b, NAN)
        if not math.isnan(home):
            text += f"; the paper's layer trained at {100 * (1 - b):g} % reaches {home:.2f} m"
        sentences.append(text + ".")
    return " ".join(sentences)


def flatness_text(shares: dict[str, float], initial: float) -> str:
    """A sentence on the flat share of the first-layer kernels (``kernel_flatness``) of
    each model in ``shares``, against the random initial weights' ``initial``."""
    if not shares:
        return (
            f"Random initial weights give {initial:.3f}; no trained network's kernels "
            "are stored yet."
        )
    parts = [f"{value:.3f} for the {MODEL_LABELS[m]}" for m, value in shares.items()]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f"It is {listed}; random initial weights give {initial:.3f}."


def standouts(tests: pd.DataFrame) -> str:
    """One sentence naming the level-wise findings of :func:`depth_tests_table` whose
    Holm-adjusted p is below 0.05, with their effects."""
    if tests.empty:
        return ""
    hits = tests[tests["p (Holm)"] < ALPHA]
    if hits.empty:
        return (
            f"No level-wise difference stands out after Holm's correction "
            f"({int(tests['seeds'].max())} seeds)."
        )
    parts = [
        f"{r['model']} against {r['compared with']}, {r['trained → tested (density)']} "
        f"({r['baseline MAE − sparse MAE (m)']:+.2f} m)"
        for _, r in hits.iterrows()
    ]
    return (
        "Level-wise, only these differences stand out after Holm's correction: "
        + "; ".join(parts)
        + "."
    )


SUBJECTS = {"sparse": "The paper's layer", "sparse_partial": "Partial convolution"}


METRIC_WORDS = {"accuracy": "accuracy", "mean_class_accuracy": "mean per-class accuracy"}


def join_and(names: list[str]) -> str:
    """'a, b and c'."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def level_list(tests: pd.DataFrame) -> str:
    """'70, 80 and 90 %' from the comparisons 'trained at 70 %', ... of ``tests``."""
    names = [c.removeprefix("trained at ").removesuffix(" %") for c in tests["comparison"]]
    return join_and(names) + " %" if names else "no level"


def signed_list(values: pd.Series) -> str:
    return ", ".join(f"{v:+.2f}" for v in values)


def against_text(t: pd.DataFrame, other: str, margin: float) -> str:
    """'ahead of <other> by more than m points at L (+x), behind it by more than m points
    at L (-y) and within z points elsewhere' from a table of paired tests (column mean)."""
    ahead = t[t["mean"] > margin]
    behind = t[t["mean"] < -margin]
    rest = t[t["mean"].abs() <= margin]
    parts = []
    if not ahead.empty:
        parts.append(
            f"ahead of {other} by more than {margin:g} points at {level_list(ahead)} "
            f"({signed_list(ahead['mean'])})"
        )
    if not behind.empty:
        where = "it" if parts else other
        parts.append(
            f"behind {where} by more than {margin:g} points at {level_list(behind)} "
            f"({signed_list(behind['mean'])})"
        )
    if not rest.empty:
        within = f"within {rest['mean'].abs().max():.2f} points"
        parts.append(f"{within} elsewhere" if parts else f"{within} of {other} at every level")
    return join_and(parts)


def accuracy_reading(
    dataset: str,
    runs: pd.DataFrame,
    judgements: list[Judgement] | None = None,
    margin: float = 0.5,
) -> str:
    """Generated sentences on how far the accuracy verdicts can be read (points of the
    verdict metric, paired by seed, Holm over the levels): the paper's layer against
    partial convolution (the same functions), each against the ConvNet, where they are
    ahead or behind by more than ``margin`` points, and the ConvNet + mask against the
    paper's layer. Empty while any of these has fewer than ``MIN_SEEDS`` seeds."""

    def tests(model: str, baseline: str) -> pd.DataFrame:
        return level_tests(accuracy_family(runs, dataset, model, [baseline]))

    pairs = {
        "same": tests("sparse", "sparse_partial"),
        "sparse": tests("sparse", "dense"),
        "sparse_partial": tests("sparse_partial", "dense"),
        "mask": tests("dense_mask", "sparse"),
    }
    if any(t.empty or int(t["n"].min()) < MIN_SEEDS for t in pairs.values()):
        return ""
    same = pairs["same"]
    out = [
        f"The paper's layer and partial convolution, one family of functions in two "
        f"parametrisations, differ by at most {same['mean'].abs().max():.2f} points at any "
        f"level (smallest Holm-adjusted p {same['p_holm'].min():.2f})."
    ]
    significant_levels = []
    for variant in ("sparse", "sparse_partial"):
        t = pairs[variant]
        significant = t[t["p_holm"] < ALPHA]
        significant_levels += significant["comparison"].tolist()
        text = f"{SUBJECTS[variant]} is {against_text(t, 'the ConvNet', margin)}"
        text += f"; significant after Holm: {level_list(significant)}"
        if not significant.empty:
            text += f" (p {', '.join(f'{p:.3f}' for p in significant['p_holm'])})"
        out.append(text + ".")
    if judgements is None:
        judgements = judge_claims({dataset: runs})
    verdicts = {v: verdict_of(dataset, judgements, v) for v in ("sparse", "sparse_partial")}
    if len(set(verdicts.values())) > 1:
        rests = level_list(pd.DataFrame({"comparison": list(dict.fromkeys(significant_levels))}))
        out.append(
            f"So the two verdicts differ ({verdicts['sparse']} against "
            f"{verdicts['sparse_partial']}) although the functions are the same: with "
            f"{int(same['n'].min())} seeds the interval of each estimand is wide, and the "
            f"level-wise findings that stand out after Holm's correction are at {rests}."
        )
    mask = pairs["mask"]
    against_paper = against_text(mask, "the paper's layer", margin)
    excluding = mask[(mask["low"] > 0) | (mask["high"] < 0)]
    out.append(
        f"The ConvNet + mask, which sees the mask as a second input channel, is "
        f"{against_paper}; the 95 % interval excludes zero "
        f"at {level_list(excluding)}, and {int((mask['p_holm'] < ALPHA).sum())} of "
        f"{len(mask)} levels survive Holm's correction."
    )
    return " ".join(out)


def verdict_of(dataset: str, judgements: list[Judgement], variant: str) -> str:
    """The accuracy claim's verdict on ``dataset`` for ``variant`` (against the ConvNet)."""
    found = find(judgements, dataset, "accuracy", variant)
    return found[0].verdict if found and found[0].n_seeds else "no runs yet"


def _density(sparsity: float) -> str:
    return f"{100 * (1 - sparsity):g} %"


def band_reading(runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0]) -> str:
    """Where the paper's layer trained at ``trained`` lies against raw nearest neighbour
    across the test densities (missing-pixel MAE, m): the densities where it is within
    25 % of nearest neighbour's error, its error at the other training density, and
    whether it rises as the input gets denser."""
    mine = depth_curve(runs, "sparse", trained)
    nearest = nearest_curve(runs)
    levels = [s for s in mine.index if s in nearest.index]
    if not levels:
        return "No run of the paper's layer has been tested yet."
    close = [s for s in levels if abs(mine[s] / nearest[s] - 1) <= 0.25]
    other = DEPTH_DENSITIES[1]
    near = join_and([_density(s) for s in sorted(close, reverse=True)])
    where = f"only at {near} test density" if close else "at no test density"
    text = (
        f"Trained at {_density(trained)}, the paper's layer is within 25 % of raw "
        f"nearest-neighbour interpolation's error {where}"
    )
    if other in levels:
        text += f"; at {_density(other)} it errs {mine[other]:.2f} m against {nearest[other]:.2f} m"
    dense = min(levels)
    low = min(levels, key=lambda s: mine[s])
    if mine[dense] > mine[low]:
        text += (
            f", and its error rises as the input gets denser beyond {_density(low)} "
            f"({mine[low]:.2f} m there, {mine[dense]:.2f} m at {_density(dense)})"
        )
    return text + "."


def kernel_reading(runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0]) -> str:
    """Whether the flat share of the first-layer kernels sets the paper's layer apart
    from the ConvNet trained at the same density, and their errors there (m)."""
    flat = flatness_means(runs, trained)
    if not {"sparse", "dense"} <= set(flat):
        return "The kernels of both the paper's layer and the ConvNet are not stored yet."
    mine = depth_curve(runs, "sparse", trained).get(trained, NAN)
    theirs = depth_curve(runs, "dense", trained).get(trained, NAN)
    gap = flat["dense"] - flat["sparse"]
    relation = "as flat as" if abs(gap) < 0.005 else "flatter than" if gap > 0 else "less flat than"
    return (
        f"Flatness alone does not set the normalised layers apart: trained at "
        f"{_density(trained)}, the ConvNet's kernels are {relation} the paper's layer's "
        f"({flat['dense']:.3f} against {flat['sparse']:.3f}, means over seeds), and at "
        f"that density the ConvNet errs {mine - theirs:.2f} m less on the missing pixels "
        f"({theirs:.2f} m against {mine:.2f} m)."
    )


def benchmark_reading(
    table: pd.DataFrame,
    column: str = "ours, synthetic 5 %: MAE (m)",
    where: str = "On our synthetic scenes at 5 % density",
) -> str:
    """Whether KITTI's benchmark and our runs rank the paper's network and NN fill +
    ConvNet the same way (by MAE), from a table with the benchmark's entries and our
    errors in ``column`` (:func:`~sparseconv.report.depth_tables.benchmark_table`,
    :func:`~sparseconv.report.kitti_tables.kitti_benchmark_table`); ``where`` names our
    setting."""
    if table.empty:
        return "The benchmark's numbers are not in results/reference/."
    by = {row["KITTI entry"].split(" (")[0]: row for _, row in table.iterrows()}
    theirs, ours = by.get("SparseConvs"), by.get("NN+CNN")
    if theirs is None or ours is None:
        return "The benchmark table lacks the paper's network or NN+CNN."
    kitti = "NN+CNN" if ours["KITTI MAE (mm)"] < theirs["KITTI MAE (mm)"] else "SparseConvs"
    text = (
        f"On KITTI's test server the paper's group's NN+CNN entry errs "
        f"{ours['KITTI MAE (mm)']:.0f} mm MAE against {theirs['KITTI MAE (mm)']:.0f} mm for "
        f"SparseConvs, so {kitti} ranks first there."
    )
    mine, fill = theirs[column], ours[column]
    if math.isnan(mine) or math.isnan(fill):
        return text + " Our runs of the two models are not all in yet."
    mine_first = "NN+CNN" if fill < mine else "SparseConvs"
    agree = "the same ranking" if mine_first == kitti else "the opposite ranking"
    return text + (
        f" {where}, NN fill + ConvNet errs {fill:.2f} m against {mine:.2f} m for the "
        f"paper's layer: {agree}."
    )


def lagging_seeds_reading(
    runs: pd.DataFrame, trained: float = DEPTH_DENSITIES[0], lag: float = 0.15
) -> str:
    """The runs at ``trained`` (uniform) whose test error on the missing pixels is more
    than ``lag`` above the mean of the same model's other seeds, with what the plateau
    rule did to them (learning-rate cuts, early stop) against those other seeds."""
    uniform = runs[pattern_of(runs) == "uniform"] if len(runs) else runs
    chosen = uniform[np.isclose(uniform["sparsity"], trained)] if len(uniform) else uniform

    def cuts(record: dict) -> int:
        return len({round(h["lr"], 12) for h in record["history"]}) - 1

    parts = []
    for model in [m for m in MODEL_LABELS if len(chosen) and m in set(chosen["model"])]:
        same = chosen[chosen["model"] == model]
        for _, row in same.iterrows():
            others = [r for r in same[same["seed"] != row["seed"]]["record"]]
            mine = row["record"]
            if not others:
                continue
            rest = float(np.mean([r["test_mae_missing"] for r in others]))
            if mine["test_mae_missing"] <= (1 + lag) * rest:
                continue
            epochs = len(mine["history"])
            stop = f"ran all {epochs} epochs"
            if mine.get("stopped_early"):
                stop = f"was stopped by the rule after {epochs} epochs"
            parts.append(
                f"{MODEL_LABELS[model]}, seed {row['seed']}, errs {mine['test_mae_missing']:.2f} m "
                f"against {rest:.2f} m for its other seeds; its rate was cut {cuts(mine)} "
                f"times and it {stop}, while the other seeds' rates were cut "
                f"{join_and([str(cuts(r)) for r in others])} times"
            )
    if not parts:
        return (f"At {_density(trained)} density no seed ends more than {100 * lag:g} % behind "
                "the same model's other seeds.")  # fmt: skip
    return f"At {_density(trained)} density: " + "; ".join(parts) + "."
