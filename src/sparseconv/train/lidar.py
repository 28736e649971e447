"""Depth completion on real LiDAR returns: KITTI drive 2011_09_26_drive_0009 (``kitti``).

Protocol 1 of the real-data study (``study.PROTOCOL``). The drive's 443 projected scans
are split into contiguous blocks of frames with gaps (:func:`~sparseconv.data.kitti.
block_split`: train, validation, test). A run keeps a share of each scan's returns as
the input (``sparsity`` = the share removed; ``pattern`` "uniform" over the returns or
"lines", whole scan lines) and must predict the held-out returns: every error is
against a real measurement, in metres (:func:`~sparseconv.train.kitti_task.kitti_errors`:
MAE, RMSE, iMAE, iRMSE).

* Training: random crops of the image rows that hold returns, a fresh draw of the kept
  returns for every crop, L1 loss on the held-out returns; Adam with the paper layer's
  weights at matched step sizes; the rate drops and training stops when the validation
  error is flat (``study.EARLY_STOPPING``), keeping the best validation epoch.
* Validation and test: full-width frames with fixed draws per frame (their own seed
  streams, so validation never sees a test draw), from a few rows above the first row
  with returns (the networks' receptive field reaches 12 rows; nothing above is
  observed or predicted, so the errors are those of the full frames). The test block is
  evaluated once, at every level of the data set's ``test_levels``, beside raw
  nearest-neighbour fill of the same input.
* The four frames with KITTI's semi-dense ground truth: every trained model on their
  full ``velodyne_raw``, scored on the ground-truth pixels (descriptive: four frames).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sparseconv.data.kitti import (
    SAMPLE,
    block_split,
    ground_truth_frames,
    kitti_root,
    list_frames,
    read_depth,
)
from sparseconv.data.scenes import nearest_fill
from sparseconv.nn.nconv import NConvNet
from sparseconv.nn.networks import build_model
from sparseconv.nn.optim import describe_optimizer, make_optimizer
from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.models import variant
from sparseconv.registry.study import EARLY_STOPPING, LIDAR_CROP, LIDAR_STEPS
from sparseconv.train.checkpoint import Checkpoint
from sparseconv.train.engine import fit, plateau_scheduler
from sparseconv.train.kitti_examples import encode_frame
from sparseconv.train.kitti_task import MASK_STREAMS, elevation_bins, keep_lines, keep_returns

__all__ = [
    "LIDAR_SCALE",
    "LidarData",
    "load_lidar",
    "drive_intrinsics",
    "lidar_masks",
    "lidar_errors",
    "train_lidar",
]

LIDAR_SCALE = 80.0  # metres per network unit: inputs and outputs are depth / 80 m
MARGIN = 16  # rows above the first return row kept for evaluation (receptive field: 12)
N_TRAIN_EVAL = 20  # training frames on which the trained model is measured
VAL_EVERY = 2  # validation after each epoch on every second frame of its block
METRICS = ("mae", "rmse", "imae", "irmse")
SCHEDULE = "rate x 0.3 on a validation plateau, early stopping"


@dataclass
class LidarData:
    """The drive: scans (F, 1, H, W) in metres (0: no return), their frame numbers, the
    three blocks as positions, the first evaluated row and the camera matrix (3, 3)."""

    depth: Tensor
    frames: list[int]
    train: list[int]
    val: list[int]
    test: list[int]
    top: int
    intrinsics: Tensor


def drive_intrinsics(root: Path, drive: str, camera: str = "image_02") -> Tensor:
    """The camera matrix (3, 3) for ``drive``: KITTI calibrates per day, so the sample's
    matrix of the same day and camera serves (ValueError naming the file otherwise)."""
    day = drive[:10]
    for path in sorted((root / SAMPLE / "intrinsics").glob(f"{day}*{camera}.txt")):
        values = [float(v) for v in path.read_text().split()]
        if len(values) == 9:
            return torch.tensor(values).view(3, 3)
    raise ValueError(f"no camera matrix for {day} {camera} under {root / SAMPLE / 'intrinsics'}"
                     " (the 'lines' pattern needs it)")  # fmt: skip


def load_lidar(
    data_dir: str | None = None, limit: int | None = None, device: torch.device | str = "cpu"
) -> LidarData:
    """Every scan of the first drive under ``kitti/`` (``limit``: its first that many
    frames, a quick run), split into blocks (gaps scaled down for small limits)."""
    root = kitti_root(data_dir)
    frames = list_frames(data_dir)
    drive = frames[0].drive
    frames = [f for f in frames if f.drive == drive][:limit]
    depth = torch.stack([read_depth(f.path, root) for f in frames])
    gap = 10 if len(frames) >= 100 else max(1, len(frames) // 20)
    train, val, test = block_split(len(frames), gap=gap)
    rows = (depth > 0).any(dim=0).any(dim=-1).flatten().nonzero()
    top = max(0, int(rows[0]) - MARGIN) if len(rows) else 0
    return LidarData(depth.to(device), [f.index for f in frames], train, val, test, top,
                     drive_intrinsics(root, drive))  # fmt: skip


def lidar_masks(
    data: LidarData, positions: list[int], share: float, pattern: str, seed: int, split: str
) -> Tensor:
    """Fixed input masks (n, 1, H, W), bool, for the frames at ``positions``: ``share`` of
    each scan's returns ("uniform") or of its 64 scan lines ("lines"), drawn from (seed,
    the split's stream, share, frame number)."""
    stream = MASK_STREAMS[split]
    masks = []
    for p in positions:
        depth = data.depth[p].cpu()
        index = data.frames[p]
        if pattern == "lines":
            masks.append(keep_lines(depth, data.intrinsics, share, seed, stream, index))
        else:
            masks.append(keep_returns(depth, share, seed, stream, index))
    return torch.stack(masks).to(data.depth.device)


def _predict(net: nn.Module, depth: Tensor, keep: Tensor) -> Tensor:
    """The network's depth (n, 1, h, w) in metres from the kept returns of ``depth``.

    For the normalized-convolution network (three halvings) the frame is padded at the
    bottom and right to a multiple of 8 with pixels of zero confidence, which its
    convolutions treat as their own zero padding."""
    h, w = depth.shape[-2:]
    pad = (0, -w % 8, 0, -h % 8) if isinstance(net, NConvNet) else (0, 0, 0, 0)
    mask = torch.nn.functional.pad(keep.to(depth.dtype), pad)
    x = torch.nn.functional.pad(depth, pad) / LIDAR_SCALE * mask
    return (net(x, mask) * LIDAR_SCALE)[..., :h, :w]


def _sums(pred: Tensor, truth: Tensor, where: Tensor) -> Tensor:
    """(count, sum |e|, sum e^2, sum |inverse e|, sum inverse e^2) over ``where`` (float64),
    the inverse in 1/km with predictions clamped to 0.1 m as in kitti_errors."""
    p, t = pred[where].double(), truth[where].double()
    err, inv = p - t, 1000.0 / p.clamp_min(0.1) - 1000.0 / t
    return torch.stack([torch.tensor(float(len(t)), dtype=torch.float64, device=t.device),
                        err.abs().sum(), err.pow(2).sum(), inv.abs().sum(),
                        inv.pow(2).sum()])  # fmt: skip


def _from_sums(s: Tensor) -> dict[str, float]:
    n = float(s[0])
    if n == 0:
        return {k: math.nan for k in METRICS}
    return {"mae": float(s[1]) / n, "rmse": math.sqrt(float(s[2]) / n),
            "imae": float(s[3]) / n, "irmse": math.sqrt(float(s[4]) / n)}  # fmt: skip


@torch.no_grad()
def lidar_errors(
    fill: Callable[[Tensor, Tensor], Tensor], data: LidarData, positions: list[int], keep: Tensor
) -> dict[str, float]:
    """KITTI's four errors on the held-out returns of the frames at ``positions``, pooled
    over their pixels; ``fill(depth, keep)`` gives the completed depth (n, 1, h, w) m.
    Frames are cut at ``data.top`` (nothing above is observed) and filled one at a time."""
    total = torch.zeros(5, dtype=torch.float64, device=data.depth.device)
    for i, p in enumerate(positions):
        depth = data.depth[p : p + 1, :, data.top :]
        kept = keep[i : i + 1, :, data.top :]
        held_out = (depth > 0) & ~kept
        total += _sums(fill(depth, kept), depth, held_out)
    return _from_sums(total)


def _nearest(depth: Tensor, keep: Tensor) -> Tensor:
    mask = keep.to(depth.dtype)
    return nearest_fill(depth * mask, mask)


def _ground_truth(
    net: nn.Module, data_dir: str | None, dev: torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per ground-truth frame: the model's and raw nearest neighbour's four errors on the
    semi-dense ground truth, from the frame's full velodyne_raw; and the model's
    completion of the first frame, stored compactly (:func:`encode_frame`)."""
    out: dict[str, Any] = {}
    example: dict[str, Any] = {}
    for frame in ground_truth_frames(data_dir):
        raw = frame.velodyne_raw.unsqueeze(0).to(dev)
        truth = frame.groundtruth.unsqueeze(0).to(dev)
        keep, where = raw > 0, truth > 0
        with torch.no_grad():
            pred = _predict(net, raw, keep)
        model = _from_sums(_sums(pred, truth, where))
        nearest = _from_sums(_sums(_nearest(raw, keep), truth, where))
        out[frame.name] = {"model": model, "nearest": nearest}
        if not example:
            example = encode_frame(frame.name, pred)
    return out, example


def _crops(
    data: LidarData, bins: Tensor | None, share: float, batch: int, g: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A training batch: (depth crops (B, 1, h, w) m, kept returns (B, 1, h, w) bool) from
    random training frames and positions in the rows with returns, a fresh draw each."""
    height, width = LIDAR_CROP
    dev = data.depth.device
    _, _, rows, cols = data.depth.shape
    frames = torch.tensor(data.train)[torch.randint(len(data.train), (batch,), generator=g)]
    tops = torch.randint(data.top, max(data.top, rows - height) + 1, (batch,), generator=g)
    lefts = torch.randint(0, max(0, cols - width) + 1, (batch,), generator=g)
    depth = torch.stack([data.depth[f, :, t : t + height, s : s + width]
                         for f, t, s in zip(frames.tolist(), tops.tolist(), lefts.tolist(),
                                            strict=True)])  # fmt: skip
    if bins is None:
        keep = (torch.rand(depth.shape, generator=g).to(dev) < share) & (depth > 0)
    else:
        lines = torch.stack([bins[f, :, t : t + height, s : s + width]
                             for f, t, s in zip(frames.tolist(), tops.tolist(), lefts.tolist(),
                                                strict=True)])  # fmt: skip
        chosen = torch.rand(batch, 64, generator=g).argsort(dim=1)[:, : max(1, round(share * 64))]
        kept_lines = torch.zeros(batch, 65, dtype=torch.bool)
        kept_lines.scatter_(1, chosen, True)  # column 64 (no return, bin -1) stays False
        keep = torch.gather(kept_lines, 1, lines.flatten(1).long()).view_as(lines)
        keep = keep.to(dev) & (depth > 0)
    return depth, keep


def train_lidar(
    params: dict[str, Any],
    dev: torch.device,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    checkpoint: Checkpoint | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """One run on the KITTI drive (see the module docstring); returns (record fields,
    model)."""
    share, pattern, seed = 1.0 - params["sparsity"], params["pattern"], params["seed"]
    batch_size, epochs, model = params["batch_size"], params["epochs"], params["model"]
    rule = EARLY_STOPPING["kitti"]
    data = load_lidar(params["data_dir"], params["limit"], dev)
    net = build_model("kitti", model).to(dev)
    compensate = variant(model).matched_steps
    optimizer = make_optimizer(net, "adam", params["lr"], 0.0, compensate=compensate)
    scheduler = plateau_scheduler(optimizer, rule)
    generator = torch.Generator().manual_seed(seed)
    bins = None
    if pattern == "lines":
        bins = torch.stack([elevation_bins(data.depth[p].cpu(), data.intrinsics)
                            for p in range(len(data.frames))])  # fmt: skip
        bins = torch.where(bins < 0, 64, bins).to(torch.uint8)
    val = data.val[::VAL_EVERY]
    val_keep = lidar_masks(data, val, share, pattern, seed, "val")
    # the training-free baseline on the same validation inputs: what a search can hold a
    # network against without the test block
    val_nearest = lidar_errors(_nearest, data, val, val_keep)
    steps = LIDAR_STEPS  # batches of crops per epoch

    def network(depth: Tensor, keep: Tensor) -> Tensor:
        return _predict(net, depth, keep)

    def train_epoch(update: Callable[[int], None] | None) -> dict[str, float]:
        net.train()
        loss_sum = torch.zeros((), device=dev)
        for _ in range(steps):
            depth, keep = _crops(data, bins, share, batch_size, generator)
            held_out = (depth > 0) & ~keep
            pred = net(depth / LIDAR_SCALE * keep, keep.to(depth.dtype))
            err = (pred - depth / LIDAR_SCALE).abs()
            loss = (err * held_out).sum() / held_out.sum().clamp_min(1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            if update is not None:
                update(1)
        return {"loss": loss_sum.item() / steps * LIDAR_SCALE}

    def val_epoch() -> dict[str, float]:
        net.eval()
        errors = lidar_errors(network, data, val, val_keep)
        return {"val_mae": errors["mae"], "val_rmse": errors["rmse"]}

    result = fit(
        net, epochs, steps, optimizer, scheduler, train_epoch, val_epoch, dev,
        select="val_mae", maximize=False, patience=int(rule["patience"]),
        min_gain=rule["min_gain"], progress=progress, on_epoch=on_epoch,
        checkpoint=checkpoint, generators=[generator],
    )  # fmt: skip
    net.eval()
    t0 = time.perf_counter()
    test: dict[str, dict[str, float]] = {}
    nearest: dict[str, dict[str, float]] = {}
    for level in DATASETS["kitti"].test_levels:
        keep = lidar_masks(data, data.test, 1.0 - level, pattern, seed, "test")
        test[f"{level:g}"] = lidar_errors(network, data, data.test, keep)
        nearest[f"{level:g}"] = lidar_errors(_nearest, data, data.test, keep)
    own_level = f"{params['sparsity']:g}"
    if own_level not in test:
        keep = lidar_masks(data, data.test, share, pattern, seed, "test")
        test[own_level] = lidar_errors(network, data, data.test, keep)
        nearest[own_level] = lidar_errors(_nearest, data, data.test, keep)
    shown = data.train[:: max(1, len(data.train) // N_TRAIN_EVAL)][:N_TRAIN_EVAL]
    train_eval = lidar_errors(
        network, data, shown, lidar_masks(data, shown, share, pattern, seed, "train")
    )
    truth, example = _ground_truth(net, params["data_dir"], dev)
    eval_seconds = time.perf_counter() - t0
    best = result.history[result.best_epoch - 1] if result.history else {}
    fields: dict[str, Any] = {
        "pattern": pattern,
        **{f"test_{k}": test[own_level][k] for k in METRICS},
        **{f"test_{k}_by_sparsity": {lv: e[k] for lv, e in test.items()} for k in METRICS},
        **{f"nn_{k}_by_sparsity": {lv: e[k] for lv, e in nearest.items()} for k in METRICS},
        "ground_truth_frames": truth,
        "ground_truth_example": example,
        "val_mae": best.get("val_mae", float("nan")),
        "val_nn_mae": val_nearest["mae"],
        "val_nn_rmse": val_nearest["rmse"],
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_eval_mae": train_eval["mae"],
        "history": result.history,
        "train_seconds": result.train_seconds,
        "eval_seconds": eval_seconds,
        "architecture": net.spec.describe() if hasattr(net, "spec") else net.describe(),
        "optimizer": describe_optimizer("adam", 0.0, compensate, SCHEDULE),
        "crop": list(LIDAR_CROP),
        "steps_per_epoch": steps,
        "first_row": data.top,
        "frames": {"train": [data.frames[p] for p in (data.train[0], data.train[-1])],
                   "val": [data.frames[p] for p in (data.val[0], data.val[-1])],
                   "test": [data.frames[p] for p in (data.test[0], data.test[-1])]},
        "n_train": len(data.train),
        "n_val": len(val),
        "n_test": len(data.test),
        "test_mask_seed": seed,
    }  # fmt: skip
    if result.diverged_at_epoch is not None:
        fields["diverged_at_epoch"] = result.diverged_at_epoch
    return fields, net
