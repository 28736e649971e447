"""Training and evaluation of one run, and its record.

One run = one data set, one model variant, one training sparsity, one seed. The
protocol, the same for every model:

* training masks are drawn afresh for every batch of every epoch (``sparsify``);
* test masks are fixed per image by (seed, sparsity, index) (``fixed_mask``), so all
  models with the same seed see the same test inputs at a given sparsity;
* SGD with Nesterov momentum 0.9, cosine learning-rate decay stepped once per epoch;
* after training, the model is tested at every level of :data:`TEST_SPARSITIES`
  without retraining (the train-at-one, test-at-all matrix).

Data lives on the training device as uint8 and is converted per batch; nothing is
synchronised with the host inside an epoch.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import data as data_mod
from .models import MODELS, build_model, count_parameters
from .records import SCHEMA_VERSION, record_path, write_record
from .sparsify import check_sparsity, fixed_mask, sparsify

__all__ = [
    "DATASETS",
    "TEST_SPARSITIES",
    "DEFAULTS",
    "validate_params",
    "pick_device",
    "ClassificationData",
    "load_classification",
    "augment",
    "test_masks",
    "evaluate",
    "train_run",
    "git_state",
    "example_images",
    "load_depth",
    "depth_masks",
    "evaluate_depth",
    "predict_depth",
    "encode_depth_examples",
    "decode_depth_examples",
    "first_layer_kernels",
]

DATASETS = ("mnist", "caltech101", "depth")
PATTERNS = ("uniform", "lines")
TEST_SPARSITIES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
OPTIMIZER = "SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine decay per epoch"

# Per data set: the notebook defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {"sparsity": 0.5, "epochs": 20, "lr": 0.005, "batch_size": 128},
    "caltech101": {"sparsity": 0.05, "epochs": 20, "lr": 0.02, "batch_size": 64},
    "depth": {"sparsity": 0.95, "epochs": 10, "lr": 0.001, "batch_size": 32},
}
DEPTH_TEST_SPARSITIES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
DEPTH_SIZE = 48
DEPTH_SCALE = 20.0  # metres per network unit: inputs and outputs are depth / 20 m
DEPTH_OPTIMIZER = "Adam (the paper's), cosine decay per epoch"
EXAMPLE_SCENES = 3  # test scenes whose predictions a depth record keeps, for the book
CALTECH_SIZE = 64


def _bad(name: str, value: Any, why: str) -> ValueError:
    return ValueError(f"parameter {name}={value!r}: {why}")


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(name, value, f"must be an integer >= {minimum}")
    return value


def validate_params(
    dataset: str,
    *,
    sparsity: Any,
    model: Any,
    epochs: Any,
    lr: Any,
    batch_size: Any,
    seed: Any,
    limit: Any = None,
    data_dir: Any = None,
    results_dir: Any = "results",
    device: Any = "auto",
    threads: Any = None,
    pattern: Any = None,
    amp: Any = False,
    check_data: bool = True,
) -> dict[str, Any]:
    """Check every notebook parameter; return them normalised.

    Raises ValueError ``parameter <name>=<value>: <why>`` at the first bad one: a
    sparsity outside [0, 1), an unknown model, epochs < 1, a data folder without the
    data set that cannot be downloaded, and so on.
    """
    if dataset not in DATASETS:
        raise _bad("dataset", dataset, f"must be one of {DATASETS}")
    try:
        sparsity = check_sparsity(sparsity)
    except ValueError as exc:
        raise _bad("sparsity", sparsity, "must be a number with 0 <= sparsity < 1") from exc
    if model not in MODELS:
        raise _bad("model", model, f"must be one of {MODELS}")
    _check_int("epochs", epochs, 1)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise _bad("lr", lr, "must be a positive number")
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    _check_int("limit", limit, 1, allow_none=True)
    _check_int("threads", threads, 1, allow_none=True)
    if not isinstance(results_dir, str | os.PathLike) or str(results_dir) == "":
        raise _bad("results_dir", results_dir, "must be a folder path")
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise _bad("device", device, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise _bad("device", device, "CUDA is not available on this machine")
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise _bad("data_dir", data_dir, "must be a folder path or None")
    if pattern is None:
        pattern = "uniform"
    if pattern not in PATTERNS or (dataset != "depth" and pattern != "uniform"):
        allowed = PATTERNS if dataset == "depth" else ("uniform",)
        raise _bad("pattern", pattern, f"must be one of {allowed} for {dataset}")
    if not isinstance(amp, bool):
        raise _bad("amp", amp, "must be True (bfloat16 autocast) or False (float32)")
    if check_data:
        try:
            data_mod.ensure_dataset(dataset, data_dir)
        except data_mod.DataNotFoundError as exc:
            raise _bad("data_dir", data_dir, str(exc)) from exc
    return {
        "dataset": dataset,
        "sparsity": sparsity,
        "model": model,
        "epochs": epochs,
        "lr": float(lr),
        "batch_size": batch_size,
        "seed": seed,
        "limit": limit,
        "data_dir": None if data_dir is None else str(data_dir),
        "results_dir": str(results_dir),
        "device": device,
        "threads": threads,
        **({"pattern": pattern} if dataset == "depth" else {}),
        "amp": amp,
    }


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def tune_cpu_allocator() -> None:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS.

    Activations of a batch are tens of MB; by default glibc maps and unmaps each one,
    and the page faults cost more than some layers (measured: 1.5x slower training
    on 2 cores). Only affects Linux with glibc; harmless elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def git_state(folder: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the project's git tree; dirty ignores results/. None if no git."""
    cwd = folder or data_mod.project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


# --------------------------------------------------------------------------- data


@dataclass
class ClassificationData:
    """Images as uint8 on the device, with what is needed to turn them into inputs.

    ``train_x`` (N, C, S, S) uint8, ``train_y`` (N,) int64, likewise ``test_x``/``test_y``;
    ``mean``/``std`` (1, C, 1, 1) float, applied after scaling to [0, 1];
    ``augment`` whether training batches get random crops and flips;
    ``classes`` the class names.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: Tensor
    std: Tensor
    augment: bool
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def inputs(self, images: Tensor) -> Tensor:
        """uint8 (N, C, S, S) -> normalised float32 (N, C, S, S)."""
        return (images.float() / 255.0 - self.mean) / self.std


def load_classification(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> ClassificationData:
    """Train and test tensors of ``dataset`` on ``device``.

    MNIST: the official 60,000/10,000 split, pixels scaled to [0, 1] (a missing pixel
    reads as black, like the background). Caltech-101: the committed stratified
    80/20 split at 64 x 64, normalised with the training set's per-channel mean and
    standard deviation, training batches augmented. ``limit`` keeps a random subset of
    that many training images (and at most ``limit`` test images), for quick runs.
    """
    device = torch.device(device)
    if dataset == "mnist":
        train_x, train_y = data_mod.load_mnist(data_dir, train=True)
        test_x, test_y = data_mod.load_mnist(data_dir, train=False)
        mean = torch.zeros(1, 1, 1, 1)
        std = torch.ones(1, 1, 1, 1)
        augment = False
        classes = [str(i) for i in range(10)]
    elif dataset == "caltech101":
        cal = data_mod.load_caltech101(data_dir, size=CALTECH_SIZE)
        train_idx, test_idx = data_mod.caltech101_split(cal.files)
        train_x, train_y = cal.subset(train_idx)
        test_x, test_y = cal.subset(test_idx)
        scaled = train_x.float() / 255.0
        mean = scaled.mean(dim=(0, 2, 3), keepdim=True)
        std = scaled.std(dim=(0, 2, 3), keepdim=True)
        augment = True
        classes = cal.categories
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if limit is not None:
        g = torch.Generator().manual_seed(seed)
        train_keep = torch.randperm(len(train_x), generator=g)[:limit].sort().values
        train_x, train_y = train_x[train_keep], train_y[train_keep]
        test_x, test_y = test_x[:limit], test_y[:limit]
    return ClassificationData(
        dataset,
        train_x.to(device),
        train_y.to(device),
        test_x.to(device),
        test_y.to(device),
        mean.to(device),
        std.to(device),
        augment,
        classes,
    )


def augment(images: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop with ``pad`` pixels of zero padding and random horizontal flip.

    images: (N, C, S, S) float; one crop offset and one flip per image, vectorised.
    """
    n, _, s, _ = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=device)
    base = torch.arange(s, device=device)
    rows = (offsets[0][:, None] + base)[:, :, None]  # (N, S, 1)
    cols = offsets[1][:, None] + base  # (N, S)
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # (N, 1, S)
    batch = torch.arange(n, device=device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols]  # (N, S, S, C)
    return out.permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------- loops


def test_masks(data: ClassificationData, sparsity: float, seed: int) -> Tensor:
    """Fixed masks (N_test, 1, S, S), bool on the data's device, one per test image,
    depending only on (seed, sparsity, image index)."""
    _, _, h, w = data.test_x.shape
    return fixed_mask(range(len(data.test_x)), h, w, sparsity, seed).bool().to(data.test_x.device)


@torch.no_grad()
def evaluate(
    model: nn.Module, data: ClassificationData, masks: Tensor, batch_size: int = 500
) -> tuple[float, float]:
    """(accuracy, mean per-class accuracy) on the test set under ``masks`` (see test_masks)."""
    model.eval()
    device = data.test_x.device
    correct = torch.zeros(data.num_classes, device=device)
    total = torch.zeros(data.num_classes, device=device)
    for start in range(0, len(data.test_x), batch_size):
        stop = min(start + batch_size, len(data.test_x))
        mask = masks[start:stop].float()
        x = data.inputs(data.test_x[start:stop]) * mask
        pred = model(x, mask).argmax(dim=1)
        y = data.test_y[start:stop]
        total += torch.bincount(y, minlength=data.num_classes)
        correct += torch.bincount(y[pred == y], minlength=data.num_classes)
    accuracy = (correct.sum() / total.sum()).item()
    present = total > 0
    mean_class = (correct[present] / total[present]).mean().item()
    return accuracy, mean_class


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ClassificationData,
    sparsity: float,
    batch_size: int,
    generator: torch.Generator,
    progress: Callable[[int], None] | None,
) -> tuple[float, float]:
    """One pass over the training set; returns (mean loss, accuracy)."""
    model.train()
    device = data.train_x.device
    n = len(data.train_x)
    order = torch.randperm(n, generator=generator, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        x = data.inputs(data.train_x[idx])
        if data.augment:
            x = augment(x, generator)
        x, mask = sparsify(x, sparsity, generator)
        y = data.train_y[idx]
        logits = model(x, mask)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(dim=1) == y).sum()
        if progress is not None:
            progress(1)
    return loss_sum.item() / n, correct.item() / n


def provenance(dev: torch.device, started_at: str, executor: str) -> dict[str, Any]:
    """The record fields that say where, when and from which code a run came."""
    commit, dirty = git_state()
    return {
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "git_commit": commit,
        "git_dirty": dirty,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "executor": executor,
        "host": socket.gethostname(),
    }


def fit(
    epochs: int,
    steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    train_epoch: Callable[[Callable[[int], None] | None], dict[str, float]],
    eval_epoch: Callable[[], dict[str, float]],
    device: torch.device,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """The epoch loop shared by every data set: a progress bar per epoch, one scheduler
    step per epoch, a test evaluation after each. Returns (history, training seconds)."""
    history: list[dict[str, Any]] = []
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=1.0)
        epoch_lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        train_metrics = train_epoch(bar.update if bar is not None else None)
        scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        entry = {
            "epoch": epoch,
            **train_metrics,
            **eval_epoch(),
            "lr": epoch_lr,
            "seconds": seconds,
        }
        history.append(entry)
        if bar is not None:
            bar.close()
        if on_epoch is not None:
            on_epoch(entry)
    return history, train_seconds


def train_run(
    dataset: str,
    *,
    sparsity: float,
    model: str,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    limit: int | None = None,
    data_dir: str | None = None,
    results_dir: str | os.PathLike[str] | None = "results",
    device: str = "auto",
    threads: int | None = None,
    progress: bool = True,
    executor: str = "notebook",
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    pattern: str | None = None,
    amp: bool = False,
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model and test it at every sparsity; write and return its record.

    ``amp=True`` runs forward and backward under bfloat16 autocast (for GPUs; the
    study's records are float32): the record says so and its name ends in ``_bf16``.

    Returns ``(record, trained model)``. The record is written atomically to
    :func:`~sparseconv.records.record_path` at the very end (``results_dir=None``
    skips writing), so a stopped run leaves nothing behind. ``on_epoch`` receives each
    history entry as it is made (for live curves).
    """
    params = validate_params(
        dataset,
        sparsity=sparsity,
        model=model,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        limit=limit,
        data_dir=data_dir,
        results_dir="results" if results_dir is None else results_dir,
        device=device,
        threads=threads,
        pattern=pattern,
        amp=amp,
        check_data=False,
    )
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    if threads is not None:
        torch.set_num_threads(threads)
    tune_cpu_allocator()
    dev = pick_device(device)
    torch.manual_seed(seed)
    train = _train_depth if dataset == "depth" else _train_classification
    with autocast(dev, params["amp"]):
        return train(params, dev, started_at, results_dir, progress, executor, on_epoch)


def autocast(dev: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on ``dev`` when ``amp``, else a context that changes nothing."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)


def _train_classification(
    params: dict[str, Any],
    dev: torch.device,
    started_at: str,
    results_dir: str | os.PathLike[str] | None,
    progress: bool,
    executor: str,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> tuple[dict[str, Any], nn.Module]:
    """train_run for MNIST and Caltech-101 (SGD, cross-entropy, accuracy at every level)."""
    dataset, model, seed = params["dataset"], params["model"], params["seed"]
    epochs, lr, batch_size, limit = (
        params["epochs"],
        params["lr"],
        params["batch_size"],
        params["limit"],
    )
    data = load_classification(dataset, params["data_dir"], limit, dev, seed)
    net = build_model(dataset, model).to(dev)
    n_parameters = count_parameters(net)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    generator = torch.Generator(device=dev).manual_seed(seed)
    masks_at_training_sparsity = test_masks(data, params["sparsity"], seed)

    def train_epoch(update: Callable[[int], None] | None) -> dict[str, float]:
        loss, accuracy = _train_epoch(
            net, optimizer, data, params["sparsity"], batch_size, generator, update
        )
        return {"loss": loss, "train_accuracy": accuracy}

    def eval_epoch() -> dict[str, float]:
        accuracy, mean_class = evaluate(net, data, masks_at_training_sparsity)
        return {"test_accuracy": accuracy, "test_mean_class_accuracy": mean_class}

    steps = math.ceil(len(data.train_x) / batch_size)
    history, train_seconds = fit(
        epochs, steps, optimizer, scheduler, train_epoch, eval_epoch, dev, progress, on_epoch
    )

    t0 = time.perf_counter()
    by_sparsity: dict[str, float] = {}
    mca_by_sparsity: dict[str, float] = {}
    for level in TEST_SPARSITIES:
        acc, mca = evaluate(net, data, test_masks(data, level, seed))
        by_sparsity[f"{level:g}"] = acc
        mca_by_sparsity[f"{level:g}"] = mca
    test_acc, test_mca = evaluate(net, data, masks_at_training_sparsity)
    eval_seconds = time.perf_counter() - t0

    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "model": model,
        "sparsity": params["sparsity"],
        "seed": seed,
        "epochs": epochs,
        "lr": float(lr),
        "batch_size": batch_size,
        "limit": limit,
        "test_accuracy": test_acc,
        "test_mean_class_accuracy": test_mca,
        "test_accuracy_by_sparsity": by_sparsity,
        "test_mean_class_accuracy_by_sparsity": mca_by_sparsity,
        "history": history,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "n_parameters": n_parameters,
        "architecture": net.spec.describe(),
        "optimizer": OPTIMIZER,
        "n_train": len(data.train_x),
        "n_test": len(data.test_x),
        "test_mask_seed": seed,
        "amp": params["amp"],
        "memory_format": str(net.memory_format).removeprefix("torch."),
        **provenance(dev, started_at, executor),
    }
    if results_dir is not None:
        write_record(record, record_path(results_dir, record))
    return record, net


def example_images(dataset: str, data_dir: str | None = None, n: int = 4) -> Tensor:
    """The first ``n`` test images of ``dataset``, uint8 (n, C, S, S), for figures."""
    if dataset == "mnist":
        return data_mod.load_mnist(data_dir, train=False)[0][:n]
    if dataset == "caltech101":
        cal = data_mod.load_caltech101(data_dir, size=CALTECH_SIZE)
        _, test_idx = data_mod.caltech101_split(cal.files)
        return cal.images[test_idx[:n]]
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


# --------------------------------------------------------------------------- depth


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


def _train_depth(
    params: dict[str, Any],
    dev: torch.device,
    started_at: str,
    results_dir: str | os.PathLike[str] | None,
    progress: bool,
    executor: str,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> tuple[dict[str, Any], nn.Module]:
    """Depth completion: L1 loss on all pixels, Adam, the same epoch loop and records."""
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
    history, train_seconds = fit(
        epochs, steps, optimizer, scheduler, train_epoch, eval_epoch, dev, progress, on_epoch
    )
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
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "dataset": "depth",
        "model": params["model"],
        "sparsity": sparsity,
        "pattern": pattern,
        "seed": seed,
        "epochs": epochs,
        "lr": params["lr"],
        "batch_size": batch_size,
        "limit": params["limit"],
        "test_mae": test_mae,
        "test_rmse": test_rmse,
        "test_mae_by_sparsity": mae_by,
        "test_rmse_by_sparsity": rmse_by,
        "nearest_mae_by_sparsity": nearest_by,
        "example_predictions": encode_depth_examples(shown, examples),
        "first_layer_kernels": first_layer_kernels(net),
        "history": history,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "n_parameters": count_parameters(net),
        "architecture": "conv11-conv7-conv5-conv3-conv3 (16 ch) -> conv1, full resolution",
        "optimizer": DEPTH_OPTIMIZER,
        "image_size": DEPTH_SIZE,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "test_mask_seed": seed,
        "amp": params["amp"],
        "memory_format": str(net.memory_format).removeprefix("torch."),
        **provenance(dev, started_at, executor),
    }
    if results_dir is not None:
        write_record(record, record_path(results_dir, record))
    return record, net


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
