"""The training engine shared by every data set: device, threads, the epoch loop with
model selection on validation, and where a run came from (provenance)."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparseconv.registry.paths import project_root
from sparseconv.train.checkpoint import Checkpoint

__all__ = [
    "pick_device",
    "tune_cpu_allocator",
    "plateau_scheduler",
    "git_state",
    "provenance",
    "autocast",
    "FitResult",
    "fit",
]


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def plateau_scheduler(optimizer: torch.optim.Optimizer, rule: dict[str, float]) -> Any:
    """The plateau rule of ``study.EARLY_STOPPING`` as torch's ReduceLROnPlateau: the
    rates times ``factor`` after ``lr_patience`` epochs in a row without a relative gain
    of ``min_gain`` in the (minimised) validation error."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        # torch drops the rate on the first stale epoch *after* ``patience`` of them
        optimizer, "min", factor=rule["factor"], patience=int(rule["lr_patience"]) - 1,
        threshold=rule["min_gain"], threshold_mode="rel",
    )  # fmt: skip


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
    """(commit, dirty) of the project's git tree; dirty ignores results/.

    A copy of the tree shipped to another machine (a GPU's, say) may carry no git folder
    or a stale one; ``$SPARSECONV_COMMIT`` then names the commit it was copied from, and
    wins: ``(that commit, None)``, dirty being unknown there. Without git or the
    variable, ``(None, None)``."""
    cwd = folder or project_root()
    shipped = os.environ.get("SPARSECONV_COMMIT") or None
    if shipped:
        return shipped, None
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


def cpu_model() -> str | None:
    """The processor's name as Linux reports it (``/proc/cpuinfo``), else the platform's
    (None where neither says): two CPUs whose kernels round differently train the same
    seed along different float paths, so a record names its CPU."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def provenance(dev: torch.device, started_at: str, executor: str) -> dict[str, Any]:
    """The record fields that say where, when and from which code a run came: the
    device, and for every run the CPU and the instruction set torch's CPU kernels use."""
    commit, dirty = git_state()
    return {
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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


def now() -> str:
    """The current UTC time as ISO 8601 seconds, as records store it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def autocast(dev: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on ``dev`` when ``amp``, else a context that changes nothing."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch history, training seconds, the epoch whose
    weights the model holds afterwards (1-based), the epoch at which the loss became
    non-finite (None if it never did), and whether early stopping ended training."""

    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    best_epoch: int = 0
    diverged_at_epoch: int | None = None
    stopped_early: bool = False


def fit(
    model: nn.Module,
    epochs: int,
    steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    train_epoch: Callable[[Callable[[int], None] | None], dict[str, float]],
    eval_epoch: Callable[[], dict[str, float]],
    device: torch.device,
    *,
    select: str | None = None,
    maximize: bool = True,
    patience: int | None = None,
    min_gain: float = 0.0,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Checkpoint | None = None,
    generators: Sequence[torch.Generator] = (),
) -> FitResult:
    """The epoch loop: a progress bar per epoch, one scheduler step per epoch, then
    ``eval_epoch`` (the validation metrics) after each.

    ``select``: a key of ``eval_epoch``'s result; the model ends with the weights of
    the epoch where it was best (largest with ``maximize``, else smallest), so the
    choice uses validation only. ``None`` keeps the last epoch's weights. A non-finite
    training loss stops training (recorded in ``diverged_at_epoch``) and keeps the best
    earlier weights.

    Early stopping (with ``select`` and ``patience``): training ends after ``patience``
    epochs in a row without a relative gain of at least ``min_gain`` over the best
    score so far. A ``ReduceLROnPlateau`` scheduler is stepped with the score.

    ``checkpoint``: the run's state is saved there after every epoch, and a saved state
    of the same run is resumed from before the first (with ``generators``, the random
    generators ``train_epoch`` draws from): the loop goes on as if never stopped.
    """
    result = FitResult()
    best_score = -math.inf if maximize else math.inf
    best_state: dict[str, Any] | None = None
    reference = best_score  # the score the last meaningful gain reached
    stale = 0
    on_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    first = 1
    saved = checkpoint.restore(model, optimizer, scheduler, generators) if checkpoint else None
    if saved is not None:
        result.history, result.train_seconds = saved["history"], saved["train_seconds"]
        result.best_epoch, result.stopped_early = saved["best_epoch"], saved["stopped"]
        best_score, best_state = saved["best_score"], saved["best_state"]
        reference, stale = saved["reference"], saved["stale"]
        first = saved["epoch"] + 1 if not saved["stopped"] else epochs + 1
        print(f"resumed after epoch {saved['epoch']} from {checkpoint.path.name}")  # type: ignore[union-attr]
    for epoch in range(first, epochs + 1):
        bar = None
        if progress:
            # a text bar, not a widget: it updates live in JupyterLab and in a terminal,
            # and, cleared at the end of the epoch, leaves the epoch's one-line summary
            # (``on_epoch``) as what an executed notebook keeps (a widget would be saved
            # at 0 %, and papermill shows none)

            from tqdm.std import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=1.0,
                       file=sys.stdout, dynamic_ncols=False, ncols=80)  # fmt: skip
        epoch_lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        train_metrics = train_epoch(bar.update if bar is not None else None)
        if not on_plateau:
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        result.train_seconds += seconds
        if bar is not None:
            bar.close()
        if not math.isfinite(train_metrics["loss"]):
            result.diverged_at_epoch = epoch
            break
        entry = {"epoch": epoch, **train_metrics, **eval_epoch(), "lr": epoch_lr}
        entry["seconds"] = seconds
        result.history.append(entry)
        if select is not None:
            score = entry[select]
            if on_plateau:
                scheduler.step(score)
            if (score > best_score) if maximize else (score < best_score):
                best_score = score
                best_state = copy.deepcopy(model.state_dict())
                result.best_epoch = epoch
            if _gained(score, reference, min_gain, maximize):
                reference, stale = score, 0
            else:
                stale += 1
        else:
            result.best_epoch = epoch
        stop = patience is not None and stale >= patience
        if checkpoint is not None:
            loop = {"epoch": epoch, "history": result.history, "stopped": stop,
                    "train_seconds": result.train_seconds, "best_epoch": result.best_epoch,
                    "best_score": best_score, "best_state": best_state,
                    "reference": reference, "stale": stale}  # fmt: skip
            checkpoint.save(model, optimizer, scheduler, generators, loop)
        if on_epoch is not None:
            on_epoch(entry)
        if stop:
            result.stopped_early = True
            break
    if best_state is not None and result.best_epoch != len(result.history):
        model.load_state_dict(best_state)
    return result


def _gained(score: float, reference: float, min_gain: float, maximize: bool) -> bool:
    """Whether ``score`` beats ``reference`` by at least the relative ``min_gain``."""
    if not math.isfinite(reference):
        return math.isfinite(score)
    margin = min_gain * abs(reference)
    return score > reference + margin if maximize else score < reference - margin
