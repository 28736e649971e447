"""Classification runs (MNIST, Caltech-101): data, evaluation and the training loop.

The protocol (``study.PROTOCOL`` 3), the same for every model:

* training / validation / test splits (Caltech-101: no ``Faces``/``Faces_easy`` twins
  across them); training masks are drawn afresh for every batch (``sparsify``);
  validation and test masks are fixed per image by (seed, split, sparsity, index)
  (``fixed_mask`` with one stream per split), so all models with one seed see the same
  inputs and no validation mask is a test mask;
* SGD with Nesterov momentum 0.9, L2 weight decay 5e-4, cosine decay stepped per
  epoch; the paper layer's weights at matched step sizes (``optim.param_groups``)
  except for ``sparse_naive``;
* after every epoch the validation accuracy at the training sparsity; the model keeps
  the weights of its best validation epoch;
* the test set is evaluated once, after training, at every level of
  ``registry.datasets.TEST_SPARSITIES`` (the train-at-one, test-at-all matrix); models with batch
  norm are also tested after re-estimating its statistics at each test level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparseconv.data import images as data_mod
from sparseconv.data.sparsify import fixed_mask, sparsify
from sparseconv.data.splits import caltech101_split, mnist_validation_split
from sparseconv.nn.networks import ConvSpec, build_model
from sparseconv.nn.optim import describe_optimizer, make_optimizer
from sparseconv.registry.datasets import DATASETS, TEST_SPARSITIES
from sparseconv.registry.models import variant
from sparseconv.registry.study import N_TRAIN_EVAL, N_VAL
from sparseconv.train.checkpoint import Checkpoint
from sparseconv.train.engine import FitResult, fit

__all__ = [
    "CALTECH_SIZE",
    "WEIGHT_DECAY",
    "ClassificationData",
    "load_classification",
    "augment",
    "split_masks",
    "evaluate",
    "recalibrate_batch_norm",
    "train_classification",
    "example_images",
]

CALTECH_SIZE = DATASETS["caltech101"].size
WEIGHT_DECAY = 5e-4
BN_RECALIBRATION_IMAGES = 2_000


@dataclass
class ClassificationData:
    """Images as uint8 on the device, with what is needed to turn them into inputs.

    ``x[split]`` (N, C, S, S) uint8 and ``y[split]`` (N,) int64 for split "train",
    "val", "test" and "train_eval" (a fixed subset of the training images, for the
    accuracy in eval mode); ``mean``/``std`` (1, C, 1, 1) float, applied after scaling to
    [0, 1]; ``augment`` whether training batches get random crops and flips.
    """

    name: str
    x: dict[str, Tensor]
    y: dict[str, Tensor]
    mean: Tensor
    std: Tensor
    augment: bool
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def inputs(self, images: Tensor) -> Tensor:
        """uint8 (N, C, S, S) -> normalised (N, C, S, S) in ``mean``'s dtype (float32)."""
        return (images.to(self.mean.dtype) / 255.0 - self.mean) / self.std


def load_classification(
    dataset: str,
    data_dir: str | None = None,
    limit: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> ClassificationData:
    """Train, validation and test tensors of ``dataset`` on ``device``.

    MNIST: 50,000 training and 10,000 validation images from the official training set
    (:func:`~sparseconv.data.images.mnist_validation_split`), the official 10,000 test images;
    pixels scaled to [0, 1] (a missing pixel reads as black, like the background).
    Caltech-101: the committed stratified train/val/test split at 64 x 64, normalised
    with the training images' per-channel mean and standard deviation, training
    batches augmented. ``limit`` keeps a random subset of that many training images
    (and at most ``limit`` validation and test images), for quick runs.
    """
    device = torch.device(device)
    x: dict[str, Tensor] = {}
    y: dict[str, Tensor] = {}
    if dataset == "mnist":
        images, labels = data_mod.load_mnist(data_dir, train=True)
        train_idx, val_idx = mnist_validation_split(len(images), N_VAL["mnist"])
        x["train"], y["train"] = images[train_idx], labels[train_idx]
        x["val"], y["val"] = images[val_idx], labels[val_idx]
        x["test"], y["test"] = data_mod.load_mnist(data_dir, train=False)
        mean, std = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
        augment_train, classes = False, [str(i) for i in range(10)]
    elif dataset == "caltech101":
        cal = data_mod.load_caltech101(data_dir, size=CALTECH_SIZE)
        splits = caltech101_split(cal.files)
        for name, idx in zip(("train", "val", "test"), splits, strict=True):
            x[name], y[name] = cal.subset(idx)
        scaled = x["train"].float() / 255.0
        mean = scaled.mean(dim=(0, 2, 3), keepdim=True)
        std = scaled.std(dim=(0, 2, 3), keepdim=True)
        augment_train, classes = True, cal.categories
    else:
        raise ValueError(f"dataset must be 'mnist' or 'caltech101', got {dataset!r}")
    if limit is not None:
        g = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(x["train"]), generator=g)[:limit].sort().values
        x["train"], y["train"] = x["train"][keep], y["train"][keep]
        for name in ("val", "test"):
            x[name], y[name] = x[name][:limit], y[name][:limit]
    x["train_eval"], y["train_eval"] = x["train"][:N_TRAIN_EVAL], y["train"][:N_TRAIN_EVAL]
    return ClassificationData(
        dataset,
        {k: v.to(device) for k, v in x.items()},
        {k: v.to(device) for k, v in y.items()},
        mean.to(device),
        std.to(device),
        augment_train,
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


# each fixed-mask split draws from its own stream (``fixed_mask``): validation masks are
# never the test masks of the same image index (protocol 3)
MASK_STREAMS = {"test": 0, "val": 1, "train_eval": 2}


def split_masks(data: ClassificationData, split: str, sparsity: float, seed: int) -> Tensor:
    """Fixed masks (N, 1, S, S), bool on the data's device, one per image of ``split``,
    depending only on (seed, split's stream, sparsity, image index)."""
    if split not in MASK_STREAMS:
        raise ValueError(f"split must be one of {tuple(MASK_STREAMS)}, got {split!r}")
    images = data.x[split]
    _, _, h, w = images.shape
    masks = fixed_mask(range(len(images)), h, w, sparsity, seed, MASK_STREAMS[split])
    return masks.bool().to(images.device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ClassificationData,
    masks: Tensor,
    split: str = "test",
    batch_size: int = 500,
) -> tuple[float, float]:
    """(accuracy, mean per-class accuracy) on ``split`` under ``masks`` (see split_masks).

    Mean per-class accuracy: the accuracy within each class present in the split,
    averaged over those classes with equal weight (the usual Caltech-101 metric).
    """
    model.eval()
    images, labels = data.x[split], data.y[split]
    correct = torch.zeros(data.num_classes, device=images.device)
    total = torch.zeros(data.num_classes, device=images.device)
    for start in range(0, len(images), batch_size):
        stop = min(start + batch_size, len(images))
        mask = masks[start:stop].float()
        x = data.inputs(images[start:stop]) * mask
        pred = model(x, mask).argmax(dim=1)
        y = labels[start:stop]
        total += torch.bincount(y, minlength=data.num_classes)
        correct += torch.bincount(y[pred == y], minlength=data.num_classes)
    accuracy = (correct.sum() / total.sum()).item()
    present = total > 0
    mean_class = (correct[present] / total[present]).mean().item()
    return accuracy, mean_class


def _training_batch(
    data: ClassificationData, idx: Tensor, sparsity: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Inputs and masks of the training images ``idx``: normalised, augmented (Caltech),
    then a fraction ``sparsity`` of each image's pixels removed at random."""
    x = data.inputs(data.x["train"][idx])
    if data.augment:
        x = augment(x, generator)
    return sparsify(x, sparsity, generator)


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module,
    data: ClassificationData,
    sparsity: float,
    generator: torch.Generator,
    n_images: int = BN_RECALIBRATION_IMAGES,
    batch_size: int = 250,
) -> bool:
    """Re-estimate every batch norm's running statistics on training images at
    ``sparsity`` (the training pipeline, no weight changes): a cumulative average over
    ``n_images``. Returns False (and does nothing) if the model has no batch norm."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return False
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.train()
    order = torch.randperm(len(data.x["train"]), generator=generator, device=data.x["train"].device)
    for t, start in enumerate(range(0, min(n_images, len(order)), batch_size)):
        for m in norms:
            m.momentum = 1.0 / (t + 1)  # running value = mean over the batches so far
        x, mask = _training_batch(data, order[start : start + batch_size], sparsity, generator)
        model(x, mask)
    for m in norms:
        m.momentum = 0.1
    model.eval()
    return True


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ClassificationData,
    sparsity: float,
    batch_size: int,
    generator: torch.Generator,
    progress: Callable[[int], None] | None,
) -> dict[str, float]:
    """One pass over the training set; returns the mean loss and running accuracy."""
    model.train()
    device = data.x["train"].device
    n = len(data.x["train"])
    order = torch.randperm(n, generator=generator, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        x, mask = _training_batch(data, idx, sparsity, generator)
        y = data.y["train"][idx]
        logits = model(x, mask)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(dim=1) == y).sum()
        if progress is not None:
            progress(1)
    return {"loss": loss_sum.item() / n, "train_accuracy": correct.item() / n}


def _by_level(values: dict[float, float]) -> dict[str, float]:
    return {f"{level:g}": v for level, v in values.items()}


def evaluate_all_levels(
    net: nn.Module, data: ClassificationData, seed: int, recalibrate: bool
) -> dict[str, Any]:
    """The test metrics at every level of TEST_SPARSITIES (record fields); with
    ``recalibrate`` also after re-estimating batch-norm statistics at each level."""
    acc: dict[float, float] = {}
    mca: dict[float, float] = {}
    for level in TEST_SPARSITIES:
        acc[level], mca[level] = evaluate(net, data, split_masks(data, "test", level, seed))
    fields: dict[str, Any] = {
        "test_accuracy_by_sparsity": _by_level(acc),
        "test_mean_class_accuracy_by_sparsity": _by_level(mca),
    }
    if recalibrate:
        stored = {k: v.clone() for k, v in net.state_dict().items()}
        acc_bn: dict[float, float] = {}
        mca_bn: dict[float, float] = {}
        for i, level in enumerate(TEST_SPARSITIES):
            generator = torch.Generator(device=data.x["train"].device).manual_seed(seed * 1000 + i)
            recalibrate_batch_norm(net, data, level, generator)
            masks = split_masks(data, "test", level, seed)
            acc_bn[level], mca_bn[level] = evaluate(net, data, masks)
            net.load_state_dict(stored)
        fields["test_accuracy_by_sparsity_bn_recalibrated"] = _by_level(acc_bn)
        fields["test_mean_class_accuracy_by_sparsity_bn_recalibrated"] = _by_level(mca_bn)
    return fields


def train_classification(
    params: dict[str, Any],
    dev: torch.device,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    spec: ConvSpec | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """Train and test one MNIST or Caltech-101 run; returns (record fields, model).

    ``spec``: another architecture than the data set's (for architecture measurements,
    ``benchmarks/caltech_fit.py``); the study's runs use the default."""
    dataset, model, seed = params["dataset"], params["model"], params["seed"]
    sparsity, batch_size = params["sparsity"], params["batch_size"]
    data = load_classification(dataset, params["data_dir"], params["limit"], dev, seed)
    net = build_model(dataset, model, spec).to(dev)
    compensate = variant(model).matched_steps
    optimizer = make_optimizer(net, "sgd", params["lr"], WEIGHT_DECAY, compensate=compensate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=params["epochs"])
    generator = torch.Generator(device=dev).manual_seed(seed)
    val_masks = split_masks(data, "val", sparsity, seed)

    def train_epoch(update: Callable[[int], None] | None) -> dict[str, float]:
        return _train_epoch(net, optimizer, data, sparsity, batch_size, generator, update)

    def val_epoch() -> dict[str, float]:
        accuracy, mean_class = evaluate(net, data, val_masks, split="val")
        return {"val_accuracy": accuracy, "val_mean_class_accuracy": mean_class}

    steps = math.ceil(len(data.x["train"]) / batch_size)
    result = fit(
        net, params["epochs"], steps, optimizer, scheduler, train_epoch, val_epoch, dev,
        select="val_accuracy", progress=progress, on_epoch=on_epoch,
        checkpoint=checkpoint, generators=[generator],
    )  # fmt: skip

    return record_fields(net, data, params, result, compensate), net


def record_fields(
    net: nn.Module,
    data: ClassificationData,
    params: dict[str, Any],
    result: FitResult,
    compensate: bool,
) -> dict[str, Any]:
    """A trained run's record fields: the test set once, at every level (and after
    batch-norm recalibration), the kept epoch's validation scores, the accuracy on
    training images in eval mode and the run's history. ``net`` holds the kept weights."""
    seed, sparsity = params["seed"], params["sparsity"]
    t0 = time.perf_counter()
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    by_level = evaluate_all_levels(net, data, seed, recalibrate=has_bn)
    best = result.history[result.best_epoch - 1] if result.history else {}
    train_eval = evaluate(net, data, split_masks(data, "train_eval", sparsity, seed), "train_eval")
    key = f"{sparsity:g}"
    if key in by_level["test_accuracy_by_sparsity"]:
        test_acc = by_level["test_accuracy_by_sparsity"][key]
        test_mca = by_level["test_mean_class_accuracy_by_sparsity"][key]
    else:
        test_acc, test_mca = evaluate(net, data, split_masks(data, "test", sparsity, seed))
    fields: dict[str, Any] = {
        "test_accuracy": test_acc,
        "test_mean_class_accuracy": test_mca,
        **by_level,
        "val_accuracy": best.get("val_accuracy", 0.0),
        "val_mean_class_accuracy": best.get("val_mean_class_accuracy", 0.0),
        "best_epoch": result.best_epoch,
        "train_eval_accuracy": train_eval[0],
        "train_eval_mean_class_accuracy": train_eval[1],
        "history": result.history,
        "train_seconds": result.train_seconds,
        "eval_seconds": time.perf_counter() - t0,
        "architecture": net.spec.describe(),
        "optimizer": describe_optimizer("sgd", WEIGHT_DECAY, compensate),
        "n_train": len(data.x["train"]),
        "n_val": len(data.x["val"]),
        "n_test": len(data.x["test"]),
        "n_train_eval": len(data.x["train_eval"]),
        "test_mask_seed": seed,
    }
    if result.diverged_at_epoch is not None:
        fields["diverged_at_epoch"] = result.diverged_at_epoch
    return fields


def example_images(dataset: str, data_dir: str | None = None, n: int = 4) -> Tensor:
    """The first ``n`` test images of ``dataset``, uint8 (n, C, S, S), for figures."""
    if dataset == "mnist":
        return data_mod.load_mnist(data_dir, train=False)[0][:n]
    if dataset == "caltech101":
        cal = data_mod.load_caltech101(data_dir, size=CALTECH_SIZE)
        _, _, test_idx = caltech101_split(cal.files)
        return cal.images[test_idx[:n]]
    raise ValueError(f"dataset must be 'mnist' or 'caltech101', got {dataset!r}")
