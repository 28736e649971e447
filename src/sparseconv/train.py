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
]

DATASETS = ("mnist", "caltech101")
TEST_SPARSITIES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
OPTIMIZER = "SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine decay per epoch"

# Per data set: the notebook defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {"sparsity": 0.5, "epochs": 20, "lr": 0.005, "batch_size": 128},
    "caltech101": {"sparsity": 0.05, "epochs": 20, "lr": 0.02, "batch_size": 64},
}
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
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model and test it at every sparsity; write and return its record.

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
        check_data=False,
    )
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    if threads is not None:
        torch.set_num_threads(threads)
    tune_cpu_allocator()
    dev = pick_device(device)
    torch.manual_seed(seed)
    data = load_classification(dataset, data_dir, limit, dev, seed)
    net = build_model(dataset, model).to(dev)
    n_parameters = count_parameters(net)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    generator = torch.Generator(device=dev).manual_seed(seed)
    masks_at_training_sparsity = test_masks(data, params["sparsity"], seed)

    history: list[dict[str, Any]] = []
    steps = math.ceil(len(data.train_x) / batch_size)
    bar = None
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=1.0)
        epoch_lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        loss, train_acc = _train_epoch(
            net,
            optimizer,
            data,
            params["sparsity"],
            batch_size,
            generator,
            bar.update if bar is not None else None,
        )
        scheduler.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        test_acc, test_mca = evaluate(net, data, masks_at_training_sparsity)
        entry = {
            "epoch": epoch,
            "loss": loss,
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "test_mean_class_accuracy": test_mca,
            "lr": epoch_lr,
            "seconds": seconds,
        }
        history.append(entry)
        if bar is not None:
            bar.close()
        if on_epoch is not None:
            on_epoch(entry)

    t0 = time.perf_counter()
    by_sparsity: dict[str, float] = {}
    mca_by_sparsity: dict[str, float] = {}
    for level in TEST_SPARSITIES:
        acc, mca = evaluate(net, data, test_masks(data, level, seed))
        by_sparsity[f"{level:g}"] = acc
        mca_by_sparsity[f"{level:g}"] = mca
    test_acc, test_mca = evaluate(net, data, masks_at_training_sparsity)
    eval_seconds = time.perf_counter() - t0

    commit, dirty = git_state()
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
