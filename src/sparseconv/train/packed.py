"""Many classification runs trained together in one process: a *pack*.

The runs of a pack share a data set, a model variant, the number of epochs, the batch
size and the image limit. Each run keeps its own seed, learning rate and training
sparsity. The seed fixes its initial weights, its data order, augmentation and masks,
and its validation and test masks. The runs' weights are stacked
(``torch.func.stack_module_state``), and one forward pass computes every run's batch
(``torch.func.vmap`` over ``functional_call``). One backward pass of the summed losses
gives each run its own gradient, because the runs share no parameter.

A run's batches, masks and updates are drawn and applied in the same order as
:func:`sparseconv.train.classify.train_classification` draws them for the run alone:

* its own ``torch.Generator`` (seeded with the run's seed) gives the data order, the
  augmentation and the masks;
* its weights are initialised after ``torch.manual_seed(seed)``, as ``train_run`` does;
* SGD with Nesterov momentum and weight decay is written out per run (torch's formula),
  with the paper layer's matched step sizes (:func:`sparseconv.nn.optim.param_groups`) and
  each run's own cosine schedule.

A packed run's trajectory therefore equals the run trained alone, up to float rounding
(tested in float64). Dropout is the exception: under ``vmap`` it draws from the global
generator, so a network with dropout trains like the run alone only in distribution.

The kept epoch (best validation accuracy), the test evaluation and the record's fields
come from the same functions as a run trained alone
(:func:`sparseconv.train.classify.record_fields`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from sparseconv.nn.networks import build_model
from sparseconv.nn.optim import MOMENTUM, param_groups
from sparseconv.registry.models import variant
from sparseconv.train.classify import (
    WEIGHT_DECAY,
    ClassificationData,
    _training_batch,
    evaluate,
    record_fields,
    split_masks,
)
from sparseconv.train.engine import FitResult

__all__ = ["SHARED", "check_pack", "Pack", "train_pack"]

# the parameters every run of a pack must share
SHARED = ("dataset", "model", "epochs", "batch_size", "limit")


def check_pack(runs: Sequence[dict[str, Any]]) -> None:
    """ValueError unless ``runs`` (each a run's parameters) can train as one pack."""
    if not runs:
        raise ValueError("a pack needs at least one run")
    for key in SHARED:
        values = {repr(r[key]) for r in runs}
        if len(values) > 1:
            raise ValueError(f"the runs of a pack must share {key!r}, got {sorted(values)}")
    seeds = [(r["seed"], r["sparsity"], r["lr"]) for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a pack holds each (seed, sparsity, lr) once, got {seeds}")


class Pack:
    """The stacked weights and optimiser state of R runs of one network.

    ``nets``: the R networks as the runs would start alone (same initial weights). The
    networks must compute in ``torch.contiguous_format`` (``vmap`` cannot query another
    layout). ``lrs``: each run's base learning rate; ``epochs``: the cosine schedule's
    length.
    """

    def __init__(
        self, nets: Sequence[nn.Module], lrs: Sequence[float], epochs: int, compensate: bool
    ) -> None:
        self.size = len(nets)
        self.base = copy.deepcopy(nets[0]).to("meta")
        self.params, self.buffers = stack_module_state(list(nets))
        device = next(iter(self.params.values())).device
        # per parameter: the factors param_groups gives its lr and weight decay
        groups = param_groups(nets[0], "sgd", 1.0, 1.0, compensate=compensate)
        names = {id(p): name for name, p in nets[0].named_parameters()}
        self.factors = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in groups
                        for p in g["params"]}  # fmt: skip
        self.momentum: dict[str, Tensor] = {}
        # each run's own schedule, stepped as train_classification steps it
        dummies = [torch.optim.SGD([torch.zeros(1)], lr=lr) for lr in lrs]
        self.schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs)
                           for o in dummies]  # fmt: skip
        self.active = torch.ones(self.size, dtype=torch.bool, device=device)

    def lrs(self) -> Tensor:
        """(R,) the runs' learning rates in the current epoch (0 for a stopped run)."""
        device = self.active.device
        current = [s.optimizer.param_groups[0]["lr"] for s in self.schedulers]
        return torch.tensor(current, dtype=torch.float64, device=device) * self.active

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (R, B, C, H, W), mask: (R, B, 1, H, W) -> the runs' outputs (R, B, ...)."""

        def one(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, m: Tensor):
            return functional_call(self.base, (params, buffers), (x, m))

        return vmap(one, randomness="different")(self.params, self.buffers, x, mask)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    @torch.no_grad()
    def step(self, lrs: Tensor) -> None:
        """One SGD step of every run (Nesterov momentum, L2 weight decay, as torch.optim.SGD
        computes it) with the runs' learning rates ``lrs`` (R,)."""
        for name, p in self.params.items():
            if p.grad is None:
                continue
            lr_factor, wd_factor = self.factors[name]
            grad = p.grad.add(p, alpha=WEIGHT_DECAY * wd_factor)
            buf = self.momentum.get(name)
            if buf is None:
                buf = self.momentum[name] = grad.clone()
            else:
                buf.mul_(MOMENTUM).add_(grad)
            grad = grad.add(buf, alpha=MOMENTUM)
            rate = (lrs * lr_factor).to(p.dtype).view(-1, *([1] * (p.dim() - 1)))
            p.sub_(rate * grad)
            p.grad = None

    def end_epoch(self) -> None:
        """Step every run's schedule (after the epoch's updates, as a run alone does)."""
        for scheduler in self.schedulers:
            scheduler.optimizer.step()  # a no-op on the placeholder; keeps torch's order
            scheduler.step()

    def state_dict(self, run: int) -> dict[str, Tensor]:
        """Run ``run``'s weights and buffers, as its network's ``state_dict``."""
        both = {**self.params, **self.buffers}
        return {name: tensor[run].detach().clone() for name, tensor in both.items()}


def _epoch(
    pack: Pack,
    data: Sequence[ClassificationData],
    runs: Sequence[dict[str, Any]],
    generators: Sequence[torch.Generator],
    progress: Callable[[int], None] | None,
) -> list[dict[str, float]]:
    """One pass over the training set for every run; each run's mean loss and running
    accuracy (the metrics of a run's epoch alone)."""
    pack.train()
    batch_size = runs[0]["batch_size"]
    n = len(data[0].x["train"])
    orders = [torch.randperm(n, generator=g, device=g.device) for g in generators]
    lrs = pack.lrs()
    device = lrs.device
    loss_sum = torch.zeros(pack.size, dtype=torch.float64, device=device)
    correct = torch.zeros(pack.size, dtype=torch.int64, device=device)
    for start in range(0, n, batch_size):
        xs, masks, ys = [], [], []
        for d, run, g, order in zip(data, runs, generators, orders, strict=True):
            idx = order[start : start + batch_size]
            x, mask = _training_batch(d, idx, run["sparsity"], g)
            xs.append(x)
            masks.append(mask)
            ys.append(d.y["train"][idx])
        y = torch.stack(ys)
        logits = pack.forward(torch.stack(xs), torch.stack(masks))
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        losses = losses.view(pack.size, -1).mean(dim=1)
        losses.sum().backward()
        pack.step(lrs)
        loss_sum += losses.detach().double() * y.shape[1]
        correct += (logits.detach().argmax(dim=-1) == y).sum(dim=1)
        if progress is not None:
            progress(1)
    pack.end_epoch()
    return [{"loss": float(loss_sum[r]) / n, "train_accuracy": int(correct[r]) / n}
            for r in range(pack.size)]  # fmt: skip


def train_pack(
    runs: Sequence[dict[str, Any]],
    data_of: Callable[[int], ClassificationData],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[tuple[dict[str, Any], nn.Module]]:
    """Train the classification ``runs`` (each a run's checked parameters, see
    :func:`sparseconv.train.params.validate_params`) as one pack on ``device``; returns,
    per run and in order, the record fields and the trained network (with its kept
    epoch's weights), as :func:`~sparseconv.train.classify.train_classification` does.

    ``data_of(seed)``: the run's data (the same for every seed unless ``limit`` is set).
    ``on_epoch(run, entry)``: called with each run's history entry.
    """
    check_pack(runs)
    dataset, model, epochs = runs[0]["dataset"], runs[0]["model"], runs[0]["epochs"]
    compensate = variant(model).matched_steps
    data = [data_of(r["seed"]) for r in runs]
    nets = []
    for run in runs:
        torch.manual_seed(run["seed"])  # the initial weights of the run alone
        nets.append(build_model(dataset, model, memory_format=torch.contiguous_format)
                    .to(device=device, dtype=dtype))  # fmt: skip
    pack = Pack(nets, [r["lr"] for r in runs], epochs, compensate)
    generators = [torch.Generator(device=device).manual_seed(r["seed"]) for r in runs]
    val_masks = [split_masks(d, "val", r["sparsity"], r["seed"])
                 for d, r in zip(data, runs, strict=True)]  # fmt: skip
    results = [FitResult() for _ in runs]
    best: list[tuple[float, dict[str, Tensor] | None]] = [(-math.inf, None) for _ in runs]
    for epoch in range(1, epochs + 1):
        lrs = pack.lrs().tolist()
        t0 = time.perf_counter()
        metrics = _epoch(pack, data, runs, generators, progress)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - t0) / pack.size  # the pack's time, shared
        for r, net in enumerate(nets):
            if not pack.active[r]:
                continue
            result = results[r]
            result.train_seconds += seconds
            if not math.isfinite(metrics[r]["loss"]):
                result.diverged_at_epoch = epoch
                pack.active[r] = False
                continue
            net.load_state_dict(pack.state_dict(r))
            accuracy, mean_class = evaluate(net, data[r], val_masks[r], split="val")
            entry = {
                "epoch": epoch,
                **metrics[r],
                "val_accuracy": accuracy,
                "val_mean_class_accuracy": mean_class,
                "lr": lrs[r],
                "seconds": seconds,
            }
            result.history.append(entry)
            if accuracy > best[r][0]:
                best[r] = (accuracy, pack.state_dict(r))
                result.best_epoch = epoch
            if on_epoch is not None:
                on_epoch(r, entry)
    out = []
    for r, (run, net) in enumerate(zip(runs, nets, strict=True)):
        state = best[r][1]
        if state is not None:
            net.load_state_dict(state)
        out.append((record_fields(net, data[r], run, results[r], compensate), net))
    return out
