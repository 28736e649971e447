"""Where no kept return reaches the paper's network on KITTI: the held-out returns of
the test block with no kept return inside the network's window, and what each model
predicts there.

The paper's network (``nn.networks.DepthNet``: kernels 11, 7, 5, 3, 3 and 1 at full
resolution, stride 1) sees a square of ``2 * receptive_radius + 1`` = 25 pixels around
an output pixel. Where that square holds no kept return, no measurement reaches the
pixel: the paper's layer outputs its last bias there (a constant), partial convolution,
which withholds the bias where no input is valid, outputs 0 m. The share of such
returns depends only on the data and the draws, so it is measured once from the data
(``python -m sparseconv.report.kitti_reach``, which needs the KITTI data and writes
``results/kitti_reach.json``) and the book reads the file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from sparseconv.nn.networks import DepthNet
from sparseconv.registry.datasets import KITTI_TEST_SPARSITIES
from sparseconv.registry.models import MODEL_LABELS, tuned_models
from sparseconv.registry.records import atomic_write_text, read_record, resolve_results_dir
from sparseconv.report.text.results import join_and
from sparseconv.sweep.runs import search_folder
from sparseconv.train.lidar import lidar_masks, load_lidar

__all__ = [
    "REACH_FILE",
    "INVERSE_CLAMP_M",
    "receptive_radius",
    "out_of_reach",
    "measure_reach",
    "write_reach",
    "load_reach",
    "best_search_runs",
    "reach_table",
    "reach_paragraphs",
    "reach_text",
]

REACH_FILE = "kitti_reach.json"  # in the results folder, beside summary.md (not a run record)
INVERSE_CLAMP_M = 0.1  # kitti_errors clamps predictions to 0.1 m for the inverse depth


def receptive_radius(kernels: Sequence[int] = (*DepthNet.KERNELS, 1)) -> int:
    """Pixels an output pixel sees on each side through stride-1 convolutions of odd
    ``kernels`` (same padding): the sum of their half-widths (12 for the paper's network)."""
    if any(k < 1 or k % 2 == 0 for k in kernels):
        raise ValueError(f"kernels must be odd and positive, got {tuple(kernels)}")
    return sum((k - 1) // 2 for k in kernels)


def out_of_reach(depth: Tensor, keep: Tensor, top: int, radius: int) -> dict[str, float]:
    """Held-out returns without a kept return within ``radius`` pixels (Chebyshev).

    depth: (N, 1, H, W) metres (0: no return); keep: (N, 1, H, W) bool, the kept returns;
    rows above ``top`` are not evaluated. Returns the held-out returns counted
    (``held_out``), those out of reach (``out_of_reach``), their share, and their mean
    depth (m) and mean inverse depth (1/km), None where none is out of reach."""
    if depth.shape != keep.shape or depth.dim() != 4:
        raise ValueError(f"depth and keep must be (N, 1, H, W) alike, got "
                         f"{tuple(depth.shape)} and {tuple(keep.shape)}")  # fmt: skip
    held = (depth > 0) & ~keep
    held[..., :top, :] = False
    window = 2 * radius + 1
    reached = F.max_pool2d(keep.to(torch.float32), window, 1, radius) > 0
    lost = held & ~reached
    n, k = int(held.sum()), int(lost.sum())
    far = depth[lost].double()
    return {
        "held_out": n,
        "out_of_reach": k,
        "share": k / n if n else math.nan,
        "mean_depth_m": float(far.mean()) if k else None,
        "mean_inverse_per_km": float((1000.0 / far).mean()) if k else None,
    }


def measure_reach(
    data_dir: str | None = None,
    seeds: Sequence[int] = (0,),
    sparsities: Sequence[float] = KITTI_TEST_SPARSITIES,
    limit: int | None = None,
    lines_seeds: Sequence[int] = (),
) -> dict[str, Any]:
    """:func:`out_of_reach` on the test block's fixed draws (the test stream of each run
    seed) at every test sparsity, for the paper's network's radius: uniform draws over
    the returns for ``seeds`` (``by_seed``) and whole scan lines for ``lines_seeds``
    (``lines_by_seed``). Needs the KITTI data (``SPARSECONV_DATA``)."""
    data = load_lidar(data_dir, limit=limit)
    radius = receptive_radius()
    depth = data.depth[data.test]

    def by_seed(pattern: str, chosen: Sequence[int]) -> dict[str, dict[str, Any]]:
        return {
            str(seed): {
                f"{s:g}": out_of_reach(depth, lidar_masks(data, data.test, 1.0 - s, pattern,
                                                          seed, "test"), data.top, radius)
                for s in sparsities
            }
            for seed in chosen
        }  # fmt: skip

    return {
        "what": "held-out returns of the KITTI test block with no kept return within the "
        "paper's network's window, fixed draws of the test stream",
        "frames": [data.frames[data.test[0]], data.frames[data.test[-1]]],
        "n_frames": len(data.test),
        "first_row": data.top,
        "radius": radius,
        "window": 2 * radius + 1,
        "limit": limit,
        "by_seed": by_seed("uniform", seeds),
        "lines_by_seed": by_seed("lines", lines_seeds),
    }


def write_reach(results_dir: str | os.PathLike[str], reach: dict[str, Any]) -> Path:
    """Write ``reach`` (:func:`measure_reach`) to ``<results>/kitti_reach.json``, atomically."""
    path = resolve_results_dir(results_dir) / REACH_FILE
    atomic_write_text(path, json.dumps(reach, indent=1) + "\n")
    return path


def load_reach(results_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The measured reach file, or None where it has not been written."""
    path = resolve_results_dir(results_dir) / REACH_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def best_search_runs(results_dir: str | os.PathLike[str], sparsity: float) -> pd.DataFrame:
    """Each tuned model's search run trained at ``sparsity`` with the lowest validation
    MAE (columns ``model``, ``lr``, ``record``); diverged runs and quick runs left out."""
    folder = resolve_results_dir(results_dir) / "kitti" / search_folder("kitti")
    best: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = read_record(path)
        if (
            record.get("limit") is not None
            or record.get("sparsity") != sparsity
            or "diverged_at_epoch" in record
            or not math.isfinite(record["val_mae"])
        ):
            continue  # fmt: skip
        model = record["model"]
        if model not in best or record["val_mae"] < best[model]["val_mae"]:
            best[model] = record
    order = [m for m in tuned_models("kitti") if m in best]
    rows = [{"model": m, "lr": best[m]["lr"], "record": best[m]} for m in order]
    return pd.DataFrame(rows, columns=["model", "lr", "record"])


def _zero_floor(cell: dict[str, Any]) -> float:
    """The iMAE (1/km) that a 0-m prediction at the out-of-reach returns adds over all
    held-out returns: predictions are clamped to 0.1 m for the inverse."""
    if not cell["out_of_reach"]:
        return 0.0
    return cell["share"] * (1000.0 / INVERSE_CLAMP_M - cell["mean_inverse_per_km"])


def _mean_over_seeds(reach: dict[str, Any], seeds: list[str], value) -> dict[str, float]:
    """{test sparsity: the mean of ``value(cell)`` over ``seeds``}."""
    rows = [reach["by_seed"][seed] for seed in seeds]
    return {s: sum(value(row[s]) for row in rows) / len(rows) for s in rows[0]}


def reach_seeds(reach: dict[str, Any], runs: pd.DataFrame) -> list[str]:
    """The measured seeds that ``runs`` (model, record) were tested with, or every
    measured seed where none of theirs was measured."""
    measured = list(reach["by_seed"])
    used = {str(r["seed"]) for r in runs["record"]} if len(runs) else set()
    return [s for s in measured if s in used] or measured


def reach_table(reach: dict[str, Any], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per test share kept (%): the held-out returns out of the network's reach
    (``out of reach (%)``, mean over the seeds of ``runs`` that were measured,
    :func:`reach_seeds`), the MAE (m) and iMAE (1/km) that a 0-m prediction there adds
    (``MAE of 0 m (m)``: per seed ``share * their mean depth``; ``iMAE of 0 m``: per seed
    ``share * (1000 / 0.1 m - their mean inverse depth)``), and each model's measured
    iMAE (1/km) on the test block (a column per model label; ``runs``: model and record,
    means per model). Where whole scan lines were measured too, ``lines: out of reach
    (%)`` beside the uniform share (mean over every measured lines seed)."""
    seeds = reach_seeds(reach, runs)
    share = _mean_over_seeds(reach, seeds, lambda cell: cell["share"])
    floor = _mean_over_seeds(reach, seeds, _zero_floor)
    depth = _mean_over_seeds(reach, seeds, lambda cell: cell["share"] * (cell["mean_depth_m"] or 0))
    lines_seeds = list(reach.get("lines_by_seed") or {})
    lines = None
    if lines_seeds:  # the lines runs' own seeds are few: every measured one
        lines_reach = {"by_seed": reach["lines_by_seed"]}
        lines = _mean_over_seeds(lines_reach, lines_seeds, lambda cell: cell["share"])
    rows = []
    for s in share:
        row: dict[str, Any] = {"kept (%)": round(100 * (1 - float(s)))}
        row["out of reach (%)"] = 100 * share[s]
        if lines is not None:
            row["lines: out of reach (%)"] = 100 * lines.get(s, math.nan)
        row["MAE of 0 m (m)"] = depth[s]
        row["iMAE of 0 m"] = floor[s]
        for model, group in runs.groupby("model", sort=False):
            values = [r["test_imae_by_sparsity"].get(s) for r in group["record"]]
            values = [v for v in values if v is not None]
            row[MODEL_LABELS[model]] = sum(values) / len(values) if values else math.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("kept (%)")


def reach_paragraphs(reach: dict[str, Any] | None, table: pd.DataFrame) -> list[str]:
    """The section's paragraphs (``table``: :func:`reach_table`): the window and the share
    of held-out returns beyond it at the two lowest shares kept; partial convolution's
    iMAE and MAE against what 0 m there costs (where the table has it); whole scan lines
    (where measured)."""
    if reach is None:
        return ["The reach of the paper's network has not been measured yet "
                "(`python -m sparseconv.report.kitti_reach`, with the KITTI data)."]  # fmt: skip
    window = reach["window"]
    rows = table.sort_index()
    low = rows.head(2)

    def per_share(cell) -> str:
        return join_and([f"{cell(row)} keeping {kept} %" for kept, row in low.iterrows()])

    kernels = join_and([str(k) for k in (*DepthNet.KERNELS, 1)])
    lost = per_share(lambda r: f"{r['out of reach (%)']:.1f} %")
    rest = rows["out of reach (%)"].iloc[2:].max()
    paragraphs = [
        f"The paper's network sees a square of {window} × {window} pixels around each output "
        f"pixel (kernels {kernels} at full resolution). Of the test block's held-out returns, "
        f"{lost} have no kept return in that square (uniform draws of the test stream); "
        f"keeping more, at most {rest:.2f} %. No measurement reaches those returns: the "
        "paper's layer outputs its last bias there and the ConvNet and the ConvNet + mask a "
        "value of their biases alone, constants learned in training; partial convolution, "
        "which withholds the bias where no input is valid, outputs 0 m."
    ]
    partial = MODEL_LABELS["sparse_partial"]
    if partial in table and low[partial].notna().all():
        imae = per_share(lambda r: f"{r[partial]:.0f}/km against {r['iMAE of 0 m']:.0f}/km")
        mae = per_share(lambda r: f"{r['MAE of 0 m (m)']:.2f} m")
        paragraphs.append(
            "Partial convolution's iMAE shows it: with predictions clamped at 0.1 m, 0 m at "
            "the returns out of reach alone adds the table's floor, and partial convolution "
            f"measures {imae}. In MAE, 0 m there costs {mae}, where the paper's layer pays "
            "only its constant's distance to those returns: one place where the two layers "
            "of one function class part at the low shares. NN fill + ConvNet fills every "
            "pixel before its first convolution and normalized convolution works down to an "
            "eighth of the resolution, so measurements reach both from much further."
        )
    if "lines: out of reach (%)" in table:
        kept = join_and([f"{k} %" for k in low.index])
        shares = low["lines: out of reach (%)"]
        gone = join_and([f"{v:.1f} %" for v in shares])
        how = "mostly" if shares.max() > 50 else "often"
        paragraphs.append(
            f"Whole scan lines leave wider gaps: keeping {kept} of the lines, {gone} of the "
            "held-out returns lie beyond the window, so on that pattern the networks that "
            f"see {window} × {window} pixels {how} predict with no measurement in view."
        )
    return paragraphs


def reach_text(reach: dict[str, Any] | None, table: pd.DataFrame) -> str:
    """:func:`reach_paragraphs` as one paragraph."""
    return " ".join(reach_paragraphs(reach, table))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sparseconv.report.kitti_reach",
        description="Measure the KITTI test block's held-out returns out of the paper's "
        "network's reach and write <results>/kitti_reach.json (needs the KITTI data).",
    )
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="run seeds whose uniform test draws to measure")  # fmt: skip
    parser.add_argument("--lines-seeds", type=int, nargs="*", default=[],
                        help="run seeds whose whole-scan-line test draws to measure")  # fmt: skip
    args = parser.parse_args(argv)
    reach = measure_reach(args.data_dir, args.seeds, lines_seeds=args.lines_seeds)
    path = write_reach(args.results_dir, reach)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
