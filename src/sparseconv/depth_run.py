"""Depth completion runs on the synthetic scenes: data, masks, evaluation, training.

Protocol 1 of the depth study (``study.PROTOCOL``): L1 loss on all pixels, Adam with
one learning rate and cosine decay per epoch, the test error after every epoch, and
the final model tested at every level of ``study.DEPTH_TEST_SPARSITIES``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import data as data_mod
from .engine import fit
from .models import build_model
from .sparsify import fixed_mask
from .study import DEPTH_TEST_SPARSITIES

__all__ = [
    "DEPTH_SIZE",
    "DEPTH_SCALE",
    "DepthData",
    "load_depth",
    "depth_masks",
    "evaluate_depth",
    "predict_depth",
    "train_depth",
    "first_layer_kernels",
    "encode_depth_examples",
    "decode_depth_examples",
]

DEPTH_SIZE = 48
DEPTH_SCALE = 20.0  # metres per network unit: inputs and outputs are depth / 20 m
DEPTH_OPTIMIZER = "Adam (the paper's), cosine decay per epoch"
EXAMPLE_SCENES = 3  # test scenes whose predictions a depth record keeps, for the book


@dataclass
class DepthData:
    """Depth maps (N, 1, S, S) float32 metres on the device: training and test sets."""

    train: Tensor
    test: Tensor


def load_depth(limit: int | None = None, device: torch.device | str = "cpu") -> DepthData:
    """The fixed synthetic training (8,000) and test (1,000) maps at 48 x 48, generated
    once and cached in ``cache/``; ``limit`` keeps the first that many of each."""
    from .depth import DATA_SEED, depth_maps

    path = data_mod.cache_dir() / f"depth_{DEPTH_SIZE}_seed{DATA_SEED}.pt"
    stored = torch.load(path, weights_only=True) if path.is_file() else None
    if stored is None or stored.get("size") != DEPTH_SIZE:
        stored = {
            "train": depth_maps("train", DEPTH_SIZE),
            "test": depth_maps("test", DEPTH_SIZE),
            "size": DEPTH_SIZE,
        }
        data_mod._atomic_torch_save(stored, path)
    train, test = stored["train"], stored["test"]
    if limit is not None:
        train, test = train[:limit], test[:limit]
    return DepthData(train.to(device), test.to(device))


def depth_masks(
    n_or_indices: int | range,
    sparsity: float,
    pattern: str,
    generator: torch.Generator | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Masks (N, 1, S, S) for depth inputs. With an int: random training masks drawn from
    ``generator``; with a range of test indices: fixed masks per (seed, sparsity, index)."""
    from .depth import lines_mask
    from .sparsify import random_mask

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


@torch.no_grad()
def evaluate_depth(
    model: nn.Module, maps: Tensor, masks: Tensor, batch_size: int = 100
) -> tuple[float, float]:
    """(MAE, RMSE) in metres over all pixels of the ground truth."""
    model.eval()
    abs_sum = torch.zeros((), device=maps.device, dtype=torch.float64)
    sq_sum = torch.zeros((), device=maps.device, dtype=torch.float64)
    for start in range(0, len(maps), batch_size):
        truth = maps[start : start + batch_size]
        mask = masks[start : start + batch_size].float()
        pred = model(truth / DEPTH_SCALE * mask, mask) * DEPTH_SCALE
        abs_sum += (pred - truth).abs().sum().double()
        sq_sum += ((pred - truth) ** 2).sum().double()
    n = maps.numel()
    return (abs_sum / n).item(), math.sqrt((sq_sum / n).item())


def train_depth(
    params: dict[str, Any],
    dev: torch.device,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> tuple[dict[str, Any], nn.Module]:
    """Depth completion: L1 loss on all pixels, Adam, the same epoch loop; returns
    (record fields, model)."""
    from .depth import nearest_fill

    sparsity, pattern, seed = params["sparsity"], params["pattern"], params["seed"]
    batch_size, epochs = params["batch_size"], params["epochs"]
    data = load_depth(params["limit"], dev)
    net = build_model("depth", params["model"]).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=params["lr"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    generator = torch.Generator(device=dev).manual_seed(seed)
    test_idx = range(len(data.test))
    own_masks = depth_masks(test_idx, sparsity, pattern, seed=seed, device=dev)

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

    def eval_epoch() -> dict[str, float]:
        mae, rmse = evaluate_depth(net, data.test, own_masks)
        return {"test_mae": mae, "test_rmse": rmse}

    steps = math.ceil(len(data.train) / batch_size)
    result = fit(
        net, epochs, steps, optimizer, scheduler, train_epoch, eval_epoch, dev,
        progress=progress, on_epoch=on_epoch,
    )  # fmt: skip
    t0 = time.perf_counter()
    mae_by: dict[str, float] = {}
    rmse_by: dict[str, float] = {}
    nearest_by: dict[str, float] = {}
    for level in DEPTH_TEST_SPARSITIES:
        masks = depth_masks(test_idx, level, pattern, seed=seed, device=dev)
        mae_by[f"{level:g}"], rmse_by[f"{level:g}"] = evaluate_depth(net, data.test, masks)
        filled = nearest_fill(data.test * masks, masks)
        nearest_by[f"{level:g}"] = (filled - data.test).abs().mean().item()
    test_mae, test_rmse = evaluate_depth(net, data.test, own_masks)
    eval_seconds = time.perf_counter() - t0
    shown = list(range(min(EXAMPLE_SCENES, len(data.test))))
    examples = predict_depth(net, data.test[shown], own_masks[shown])
    fields: dict[str, Any] = {
        "pattern": pattern,
        "test_mae": test_mae,
        "test_rmse": test_rmse,
        "test_mae_by_sparsity": mae_by,
        "test_rmse_by_sparsity": rmse_by,
        "nearest_mae_by_sparsity": nearest_by,
        "example_predictions": encode_depth_examples(shown, examples),
        "first_layer_kernels": first_layer_kernels(net),
        "history": result.history,
        "train_seconds": result.train_seconds,
        "eval_seconds": eval_seconds,
        "architecture": "conv11-conv7-conv5-conv3-conv3 (16 ch) -> conv1, full resolution",
        "optimizer": DEPTH_OPTIMIZER,
        "image_size": DEPTH_SIZE,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "test_mask_seed": seed,
    }
    return fields, net


def first_layer_kernels(net: nn.Module) -> list[list[list[float]]]:
    """The trained first convolution's weights on the image's first channel (depth or
    grey value; not the mask channel of ``dense_mask``): (C_out, k, k) nested lists,
    4 significant digits, as stored in depth records for the book's kernel figure."""
    weight = net.blocks[0].conv.weight.detach().float().cpu()[:, 0]
    return [[[float(f"{v:.4g}") for v in row] for row in kernel] for kernel in weight.tolist()]


def encode_depth_examples(indices: list[int], depth: Tensor) -> dict[str, Any]:
    """A few predicted maps (N, 1, S, S) in metres, stored compactly in a record: each as
    base64 of little-endian uint16 centimetres."""
    import base64

    cm = (depth[:, 0].clamp(0, 650) * 100).round().to(torch.int32).numpy().astype("<u2")
    return {
        "test_indices": list(indices),
        "size": int(depth.shape[-1]),
        "encoding": "base64 of little-endian uint16 centimetres, row-major",
        "maps": [base64.b64encode(m.tobytes()).decode("ascii") for m in cm],
    }


def decode_depth_examples(stored: dict[str, Any]) -> Tensor:
    """The maps of :func:`encode_depth_examples` back as (N, 1, S, S) metres."""
    import base64

    import numpy as np

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
