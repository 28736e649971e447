"""The paired differences each claim is judged on, per baseline, level and seed (the
seed is the replication unit), from the run records; and the rule that a pair shares one
device and one torch build. :mod:`sparseconv.report.claims` judges them."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sparseconv.registry.datasets import DATASETS, TRAIN_SPARSITIES, VERDICT_METRIC

__all__ = [
    "FAMILY_COLUMNS",
    "STRICT_PAIRING_PROTOCOL",
    "metric_key",
    "accuracy_family",
    "invariance_losses",
    "invariance_family",
    "depth_directions",
    "depth_error_keys",
    "depth_family",
    "check_pairing",
    "level_label",
]


def depth_directions(dataset: str = "depth") -> dict[str, tuple[float, float]]:
    """Claim 4's directions on a depth data set: "a % → b %" (the shares of pixels or
    returns kept in training and at test) -> (training sparsity, test sparsity), both
    ways between the data set's two training levels."""
    first, second = DATASETS[dataset].train_levels
    return {
        f"{100 * (1 - a):g} % → {100 * (1 - b):g} %": (a, b)
        for a, b in ((first, second), (second, first))
    }


FAMILY_COLUMNS = ["baseline", "comparison", "seed", "effect"]


def metric_key(dataset: str, by_sparsity: bool = True) -> str:
    """The record field a data set's verdicts use: accuracy (MNIST) or mean per-class
    accuracy (Caltech-101, where a few classes hold most images), by test sparsity."""
    name = f"test_{VERDICT_METRIC[dataset]}"
    return f"{name}_by_sparsity" if by_sparsity else name


def _values(runs: pd.DataFrame, key: str) -> dict[tuple[str, int, float], dict[str, float]]:
    """(model, seed, training sparsity) -> the record's ``key`` dict."""
    return {
        (run["model"], int(run["seed"]), round(float(run["sparsity"]), 6)): run["record"][key]
        for _, run in runs.iterrows()
        if key in run["record"]
    }


def level_label(value: float) -> str:
    """A level as the records' by-sparsity dicts key it: 0.5 -> "0.5"."""
    return f"{value:g}"


def accuracy_family(
    runs: pd.DataFrame, dataset: str, model: str, baselines: Sequence[str]
) -> pd.DataFrame:
    """Per baseline, training level and seed: the model's accuracy minus the baseline's
    (points) at the training level, same seed. Columns FAMILY_COLUMNS."""
    values = _values(runs, metric_key(dataset))
    rows = []
    for (name, seed, level), by in values.items():
        if name != model:
            continue
        for baseline in baselines:
            other = values.get((baseline, seed, level))
            if other is None:
                continue
            effect = 100 * (by[level_label(level)] - other[level_label(level)])
            rows.append([baseline, f"trained at {100 * level:g} %", seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def invariance_losses(
    runs: pd.DataFrame, dataset: str, direction: str = "all", key: str | None = None
) -> pd.DataFrame:
    """Signed accuracy loss (points) of each run at each other training level b: the
    accuracy at b of the same model type and seed *trained at b*, minus this run's
    accuracy at b. Positive: the unseen sparsity costs accuracy; 0: invariant; negative:
    better than the in-distribution model. ``direction``: "all" test levels, "denser"
    (fewer pixels missing than in training: the paper's direction) or "sparser".
    ``key``: the record field (default: the data set's verdict metric). Columns: model,
    seed, trained, tested, loss."""
    if direction not in ("all", "denser", "sparser"):
        raise ValueError(f"direction must be 'all', 'denser' or 'sparser', got {direction!r}")
    values = _values(runs, key or metric_key(dataset))
    rows = []
    for (model, seed, a), by in values.items():
        for b in TRAIN_SPARSITIES:
            if (
                abs(a - b) < 1e-9
                or (direction == "denser" and b > a)
                or (direction == "sparser" and b < a)
            ):
                continue
            own = values.get((model, seed, round(b, 6)))
            if own is None or level_label(b) not in own or level_label(b) not in by:
                continue
            rows.append([model, seed, a, b, 100 * (own[level_label(b)] - by[level_label(b)])])
    return pd.DataFrame(rows, columns=["model", "seed", "trained", "tested", "loss"])


def invariance_family(
    runs: pd.DataFrame,
    dataset: str,
    model: str,
    baselines: Sequence[str],
    direction: str = "all",
) -> pd.DataFrame:
    """Per baseline, training level and seed: the baseline's mean signed loss over the
    test levels minus the model's (points; positive: the model is more invariant)."""
    losses = invariance_losses(runs, dataset, direction)
    if losses.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    mean = losses.groupby(["model", "seed", "trained"])["loss"].mean()
    rows = []
    for (name, seed, trained), value in mean.items():
        if name != model:
            continue
        for baseline in baselines:
            if (baseline, seed, trained) in mean.index:
                effect = mean[(baseline, seed, trained)] - value
                rows.append([baseline, f"trained at {100 * trained:g} %", seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def depth_error_keys(dataset: str) -> tuple[str, str]:
    """The record fields of a depth data set's claim-4 errors by test sparsity: the
    model's and raw nearest neighbour's (missing pixels on the synthetic scenes,
    held-out returns on KITTI)."""
    metric = DATASETS[dataset].verdict_metric
    return f"test_{metric}_by_sparsity", f"nn_{metric}_by_sparsity"


def depth_family(
    runs: pd.DataFrame, model: str, baselines: Sequence[str], dataset: str = "depth"
) -> pd.DataFrame:
    """Per baseline, direction "a → b" (shares kept) and seed: the baseline's error at b
    minus the model's (metres; positive: the model's error is smaller), both trained at
    a, on the uniform pattern; the error is the MAE on the missing pixels (synthetic
    scenes) or on the held-out returns (KITTI). Absolute errors: the in-distribution
    model is not a divisor."""
    if runs.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS)
    uniform = runs[runs["record"].map(lambda r: r.get("pattern", "uniform")) == "uniform"]
    key = depth_error_keys(dataset)[0]
    errors = {
        (run["model"], int(run["seed"]), round(float(run["sparsity"]), 6)): run["record"][key]
        for _, run in uniform.iterrows()
        if key in run["record"]
    }
    rows = []
    for (name, seed, a), by in errors.items():
        if name != model:
            continue
        for label, (source, target) in depth_directions(dataset).items():
            if abs(a - source) > 1e-9:
                continue
            for baseline in baselines:
                other = errors.get((baseline, seed, a))
                if other is not None:
                    effect = other[level_label(target)] - by[level_label(target)]
                    rows.append([baseline, label, seed, effect])
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


# per data set, the first protocol whose pairs must share one device and one torch build
# (KITTI from its first: all its records are new)
STRICT_PAIRING_PROTOCOL = {"mnist": 3, "caltech101": 3, "depth": 3, "kitti": 1}


def check_pairing(runs: pd.DataFrame) -> None:
    """Refuse to pair runs across devices or torch builds: every run of one seed (the
    pairing unit of every claim) must share ``device`` and ``torch_version``. Raises
    ValueError naming the runs of each seed that mixes them. Records of protocols before
    ``STRICT_PAIRING_PROTOCOL`` are exempt (their mixing is reported on the reproduce
    page)."""
    if runs.empty:
        return
    problems = []
    for seed, group in runs.groupby("seed"):
        strict = [
            r
            for r in group["record"]
            if r.get("protocol", 1) >= STRICT_PAIRING_PROTOCOL.get(r.get("dataset"), 3)
        ]
        builds = {(r.get("device"), r.get("torch_version")) for r in strict}
        if len(builds) > 1:
            names = sorted(
                f"{r['model']} at {r['sparsity']:g} ({r.get('device')}, torch "
                f"{r.get('torch_version')})"
                for r in strict
            )
            problems.append(f"seed {seed}: " + "; ".join(names))
    if problems:
        raise ValueError(
            "paired runs must share one device and one torch build, but " + " | ".join(problems)
        )
