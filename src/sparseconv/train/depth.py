"""Depth completion runs on the synthetic scenes: data, masks, evaluation, training.

Protocol 2 of the depth study (``study.PROTOCOL``): L1 loss on all pixels; Adam with the
paper layer's weights at matched step sizes (``optim``; ``sparse_naive``: one rate);
the rate drops and training stops when the validation error on the missing pixels is
flat (``study.EARLY_STOPPING``), keeping the best validation epoch; then the test set
once, at every level of ``registry.datasets.DEPTH_TEST_SPARSITIES``, with errors on all pixels, on
the missing pixels and with the observed pixels passed through, beside nearest-neighbour
interpolation on the same pixels.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sparseconv.data import images as data_mod
from sparseconv.data.scenes import (
    DATA_SEED,
    SPLITS,
    depth_maps,
    lines_mask,
    mae_by_window_count,
    nearest_fill,
)
from sparseconv.data.sparsify import fixed_mask, random_mask
from sparseconv.nn.nconv import NConvNet
from sparseconv.nn.networks import DepthNet, build_model
from sparseconv.nn.optim import describe_optimizer, make_optimizer
from sparseconv.registry.datasets import DATASETS, DEPTH_TEST_SPARSITIES
from sparseconv.registry.models import variant
from sparseconv.registry.study import EARLY_STOPPING
from sparseconv.train.checkpoint import Checkpoint
from sparseconv.train.engine import fit, plateau_scheduler

__all__ = [
    "DEPTH_SIZE",
    "DEPTH_SCALE",
    "N_DEPTH_TRAIN_EVAL",
    "DepthData",
    "load_depth",
    "split_indices",
    "depth_masks",
    "depth_errors",
    "evaluate_depth",
    "nearest_errors",
    "predict_depth",
    "train_depth",
    "first_layer_kernels",
    "encode_depth_examples",
    "decode_depth_examples",
]

DEPTH_SIZE = DATASETS["depth"].size
DEPTH_SCALE = 20.0  # metres per network unit: inputs and outputs are depth / 20 m
EXAMPLE_SCENES = 3  # test scenes whose predictions a depth record keeps, for the book
N_DEPTH_TRAIN_EVAL = 1000  # training maps on which the trained model is measured
DEPTH_SCHEDULE = "rate x 0.3 on a validation plateau, early stopping"
# the error fields of a record (``depth_errors``)
_METRICS = ("mae", "rmse", "mae_missing", "rmse_missing", "mae_passthrough", "rmse_passthrough")


@dataclass
class DepthData:
    """Depth maps (N, 1, S, S) float32 metres on the device: the fixed training,
    validation and test sets."""

    train: Tensor
    val: Tensor
    test: Tensor


def load_depth(limit: int | None = None, device: torch.device | str = "cpu") -> DepthData:
    """The fixed synthetic training (8,000), validation (1,000) and test (1,000) maps at
    48 x 48, generated once and cached in ``cache/``; ``limit`` keeps the first that many
    of each."""
    path = data_mod.cache_dir() / f"depth_{DEPTH_SIZE}_seed{DATA_SEED}.pt"
    stored = torch.load(path, weights_only=True) if path.is_file() else None
    if stored is None or stored.get("size") != DEPTH_SIZE or "val" not in stored:
        stored = {split: depth_maps(split, DEPTH_SIZE) for split in ("train", "val", "test")}
        stored["size"] = DEPTH_SIZE
        data_mod._atomic_torch_save(stored, path)
    splits = [stored[split] for split in ("train", "val", "test")]
    if limit is not None:
        splits = [maps[:limit] for maps in splits]
    return DepthData(*(maps.to(device) for maps in splits))


def split_indices(split: str, n: int) -> range:
    """The scene indices of the first ``n`` maps of ``split`` (``depth.SPLITS``): fixed
    masks are drawn per scene index, so validation and test masks differ."""
    first = SPLITS[split][0]
    return range(first, first + n)


def depth_masks(
    n_or_indices: int | range,
    sparsity: float,
    pattern: str,
    generator: torch.Generator | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Masks (N, 1, S, S) for depth inputs. With an int: random training masks drawn from
    ``generator``; with a range of scene indices: fixed masks per (seed, sparsity, index)."""
    s = DEPTH_SIZE
    if isinstance(n_or_indices, int):
        if pattern == "lines":
            return lines_mask(n_or_indices, s, s, sparsity, generator).to(device)
        return random_mask(n_or_indices, s, s, sparsity, generator, device)
    if pattern == "lines":
        level = int(round(sparsity * 1_000_000))
        masks = [
            lines_mask(
                1,
                s,
                s,
                sparsity,
                torch.Generator().manual_seed((seed * 1_000_003 + level) * 100_003 + i),
            )
            for i in n_or_indices
        ]
        return torch.cat(masks).to(device)
    return fixed_mask(n_or_indices, s, s, sparsity, seed).to(device)


def depth_errors(pred: Tensor, truth: Tensor, mask: Tensor) -> dict[str, float]:
    """Errors in metres of completed maps ``pred`` against ``truth`` (N, 1, H, W), with
    ``mask`` (N, 1, H, W) the observed pixels: MAE and RMSE over all pixels (``mae``,
    ``rmse``), over the missing pixels only (``*_missing``: the pixels to fill; NaN if
    none is missing), and over all pixels after passing the observed values through,
    ``m * truth + (1 - m) * pred`` (``*_passthrough``)."""
    sums = _error_sums(pred, truth, mask)
    return _errors_from_sums(sums, truth.numel(), float((mask == 0).sum()))


def _error_sums(pred: Tensor, truth: Tensor, mask: Tensor) -> tuple[float, float, float, float]:
    """(sum |e|, sum e^2, sum over missing |e|, sum over missing e^2), float64."""
    err = (pred - truth).double()
    missing = (mask == 0).double()
    return (
        err.abs().sum().item(),
        (err**2).sum().item(),
        (err.abs() * missing).sum().item(),
        (err**2 * missing).sum().item(),
    )


def _errors_from_sums(
    sums: tuple[float, float, float, float], n_pixels: int, n_missing: float
) -> dict[str, float]:
    abs_all, sq_all, abs_missing, sq_missing = sums
    nan = float("nan")
    return {
        "mae": abs_all / n_pixels,
        "rmse": math.sqrt(sq_all / n_pixels),
        "mae_missing": abs_missing / n_missing if n_missing else nan,
        "rmse_missing": math.sqrt(sq_missing / n_missing) if n_missing else nan,
        "mae_passthrough": abs_missing / n_pixels,
        "rmse_passthrough": math.sqrt(sq_missing / n_pixels),
    }


@torch.no_grad()
def evaluate_depth(
    model: nn.Module, maps: Tensor, masks: Tensor, batch_size: int = 100
) -> dict[str, float]:
    """The errors of :func:`depth_errors` of ``model`` on ``maps`` seen through ``masks``
    (both (N, 1, S, S)), in metres."""
    model.eval()
    totals = [0.0, 0.0, 0.0, 0.0]
    for start in range(0, len(maps), batch_size):
        truth = maps[start : start + batch_size]
        mask = masks[start : start + batch_size].float()
        pred = model(truth / DEPTH_SCALE * mask, mask).float() * DEPTH_SCALE
        totals = [a + b for a, b in zip(totals, _error_sums(pred, truth, mask), strict=True)]
    n_missing = float((masks == 0).sum())
    return _errors_from_sums(tuple(totals), maps.numel(), n_missing)  # type: ignore[arg-type]


def nearest_errors(maps: Tensor, masks: Tensor) -> dict[str, float]:
    """Raw nearest-neighbour interpolation (no training) on ``maps`` seen through
    ``masks``: MAE and RMSE in metres over all pixels and over the missing ones (it keeps
    the observed values, so passing them through changes nothing)."""
    errors = depth_errors(nearest_fill(maps * masks, masks), maps, masks)
    return {k: errors[k] for k in ("mae", "rmse", "mae_missing", "rmse_missing")}


def _by_level(per_level: dict[float, dict[str, float]], prefix: str) -> dict[str, Any]:
    """{f"{prefix}_{metric}_by_sparsity": {"0.95": value, ...}} for every metric."""
    metrics = next(iter(per_level.values())).keys()
    return {
        f"{prefix}_{metric}_by_sparsity": {f"{lv:g}": e[metric] for lv, e in per_level.items()}
        for metric in metrics
    }


def train_depth(
    params: dict[str, Any],
    dev: torch.device,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    channels: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """Depth completion (protocol 2, see the module docstring); returns (record fields,
    model). ``channels``: another width than the paper's 16 (for capacity measurements,
    ``benchmarks/depth_fit.py``); the study's runs use the paper's."""
    sparsity, pattern, seed = params["sparsity"], params["pattern"], params["seed"]
    batch_size, epochs, model = params["batch_size"], params["epochs"], params["model"]
    rule = EARLY_STOPPING["depth"]
    data = load_depth(params["limit"], dev)
    net = (build_model("depth", model) if channels is None else DepthNet(model, channels)).to(dev)
    compensate = variant(model).matched_steps
    optimizer = make_optimizer(net, "adam", params["lr"], 0.0, compensate=compensate)
    scheduler = plateau_scheduler(optimizer, rule)
    generator = torch.Generator(device=dev).manual_seed(seed)

    def fixed(split: str, maps: Tensor, level: float) -> Tensor:
        return depth_masks(split_indices(split, len(maps)), level, pattern, seed=seed, device=dev)

    val_masks = fixed("val", data.val, sparsity)

    def train_epoch(update: Callable[[int], None] | None) -> dict[str, float]:
        net.train()
        n = len(data.train)
        order = torch.randperm(n, generator=generator, device=dev)
        loss_sum = torch.zeros((), device=dev)
        for start in range(0, n, batch_size):
            truth = data.train[order[start : start + batch_size]]
            mask = depth_masks(len(truth), sparsity, pattern, generator, device=dev)
            pred = net(truth / DEPTH_SCALE * mask, mask)
            loss = (pred - truth / DEPTH_SCALE).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(truth)
            if update is not None:
                update(1)
        return {"loss": loss_sum.item() / n * DEPTH_SCALE}

    def val_epoch() -> dict[str, float]:
        errors = evaluate_depth(net, data.val, val_masks)
        return {f"val_{k}": errors[k] for k in ("mae", "mae_missing", "rmse_missing")}

    steps = math.ceil(len(data.train) / batch_size)
    result = fit(
        net, epochs, steps, optimizer, scheduler, train_epoch, val_epoch, dev,
        select="val_mae_missing", maximize=False, patience=int(rule["patience"]),
        min_gain=rule["min_gain"], progress=progress, on_epoch=on_epoch,
        checkpoint=checkpoint, generators=[generator],
    )  # fmt: skip

    t0 = time.perf_counter()
    test: dict[float, dict[str, float]] = {}
    nearest: dict[float, dict[str, float]] = {}
    for level in DEPTH_TEST_SPARSITIES:
        masks = fixed("test", data.test, level)
        test[level] = evaluate_depth(net, data.test, masks)
        nearest[level] = nearest_errors(data.test, masks)
    own_masks = fixed("test", data.test, sparsity)
    own = test.get(sparsity) or evaluate_depth(net, data.test, own_masks)
    by_count = _by_window_count(net, data.test, own_masks)
    train_eval_maps = data.train[:N_DEPTH_TRAIN_EVAL]
    train_eval = evaluate_depth(net, train_eval_maps, fixed("train", train_eval_maps, sparsity))
    eval_seconds = time.perf_counter() - t0
    best = result.history[result.best_epoch - 1] if result.history else {}
    shown = list(range(min(EXAMPLE_SCENES, len(data.test))))
    examples = predict_depth(net, data.test[shown], own_masks[shown])
    fields: dict[str, Any] = {
        "pattern": pattern,
        **{f"test_{k}": own[k] for k in _METRICS},
        **_by_level(test, "test"),
        **_by_level(nearest, "nn"),
        **by_count,
        "val_mae_missing": best.get("val_mae_missing", float("nan")),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_eval_mae_missing": train_eval["mae_missing"],
        "train_eval_mae": train_eval["mae"],
        "example_predictions": encode_depth_examples(shown, examples),
        "first_layer_kernels": first_layer_kernels(net),
        "history": result.history,
        "train_seconds": result.train_seconds,
        "eval_seconds": eval_seconds,
        "architecture": net.describe()
        if isinstance(net, NConvNet)
        else _architecture(model, net.spec.channels),
        "optimizer": describe_optimizer("adam", 0.0, compensate, DEPTH_SCHEDULE),
        "image_size": DEPTH_SIZE,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "n_test": len(data.test),
        "n_train_eval": len(train_eval_maps),
        "test_mask_seed": seed,
    }
    if result.diverged_at_epoch is not None:
        fields["diverged_at_epoch"] = result.diverged_at_epoch
    return fields, net


def _by_window_count(net: nn.Module, maps: Tensor, masks: Tensor) -> dict[str, Any]:
    """Missing-pixel MAE of ``net`` and of raw nearest neighbour grouped by the valid
    pixels in each pixel's 11 x 11 window (``depth.mae_by_window_count``), and the share
    of missing pixels per group, at the masks ``masks`` (the training density)."""
    pred = torch.cat([predict_depth(net, maps[i : i + 100], masks[i : i + 100])
                      for i in range(0, len(maps), 100)]).to(maps.device)  # fmt: skip
    masks = masks.float()
    own = mae_by_window_count(pred, maps, masks)
    nearest = mae_by_window_count(nearest_fill(maps * masks, masks), maps, masks)
    return {
        "test_mae_missing_by_window_count": own["mae"],
        "nn_mae_missing_by_window_count": nearest["mae"],
        "missing_share_by_window_count": own["share"],
    }


def _architecture(model: str, channels: int) -> str:
    text = f"conv11-conv7-conv5-conv3-conv3 ({channels} ch) -> conv1, full resolution"
    return ("nearest-neighbour fill -> " + text) if variant(model).fill == "nearest" else text


def first_layer_kernels(net: nn.Module) -> list[list[list[float]]]:
    """The trained first convolution's weights on the image's first channel (depth or
    grey value; not the mask channel of ``dense_mask``): (C_out, k, k) nested lists,
    4 significant digits, as stored in depth records for the book's kernel figure. For
    normalized convolution the kernel it applies, softplus of its weights (5 x 5)."""
    if isinstance(net, NConvNet):
        weight = net.first[0].kernel().detach().float().cpu()[:, 0]
    else:
        weight = net.blocks[0].conv.weight.detach().float().cpu()[:, 0]
    return [[[float(f"{v:.4g}") for v in row] for row in kernel] for kernel in weight.tolist()]


def encode_depth_examples(indices: list[int], depth: Tensor) -> dict[str, Any]:
    """A few predicted maps (N, 1, S, S) in metres, stored compactly in a record: each as
    base64 of little-endian uint16 centimetres."""
    cm = (depth[:, 0].clamp(0, 650) * 100).round().to(torch.int32).numpy().astype("<u2")
    return {
        "test_indices": list(indices),
        "size": int(depth.shape[-1]),
        "encoding": "base64 of little-endian uint16 centimetres, row-major",
        "maps": [base64.b64encode(m.tobytes()).decode("ascii") for m in cm],
    }


def decode_depth_examples(stored: dict[str, Any]) -> Tensor:
    """The maps of :func:`encode_depth_examples` back as (N, 1, S, S) metres."""

    size = stored["size"]
    maps = [
        np.frombuffer(base64.b64decode(m), dtype="<u2").reshape(size, size) / 100.0
        for m in stored["maps"]
    ]
    return torch.from_numpy(np.stack(maps)).float().unsqueeze(1)


@torch.no_grad()
def predict_depth(model: nn.Module, truth: Tensor, mask: Tensor) -> Tensor:
    """The model's completion (N, 1, S, S) in metres of ``truth`` seen through ``mask``."""
    model.eval()
    device = next(model.parameters()).device
    mask = mask.float().to(device)
    return (model(truth.to(device) / DEPTH_SCALE * mask, mask) * DEPTH_SCALE).cpu()
