"""A run's state after every epoch, so that a run stopped part-way (a session's end, a
killed process) resumes where it stopped instead of starting again.

The file holds the weights, the optimiser's and scheduler's state, the random generators
that draw batches and masks, the epoch loop's own state (history, best weights and score,
early stopping's counters) and the run's identity: its parameters, the git commit and
torch version of the code that trained it and the device type. A file of another identity
is ignored (and replaced), so a resumed run is always one run of one code on one kind of
device. Written atomically; :func:`~sparseconv.train.run.train_run` deletes it once the
record is written, and the record lists the epochs after which the run was resumed
(``resumed_after_epochs``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["IDENTITY_KEYS", "Checkpoint", "run_identity"]

# the parameters that make a run what it is (not where it writes, nor its thread count)
IDENTITY_KEYS = ("dataset", "model", "sparsity", "seed", "epochs", "lr", "batch_size", "limit",
                 "pattern", "amp")  # fmt: skip


def run_identity(
    params: dict[str, Any], device: torch.device, code: tuple[str | None, bool | None]
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the run's parameters, the code
    (``code``: git commit and whether the tree was dirty, ``engine.git_state()``), the
    torch version and the device type."""
    commit, dirty = code
    return {
        **{key: params.get(key) for key in IDENTITY_KEYS},
        "git_commit": commit,
        "git_dirty": dirty,
        "torch_version": torch.__version__,
        "device_type": device.type,
    }


class Checkpoint:
    """The checkpoint file of one run at ``path`` for a run of ``identity``
    (:func:`run_identity`). :func:`~sparseconv.train.engine.fit` calls :meth:`save` after
    every epoch and :meth:`restore` before the first; ``resumed`` lists the epochs after
    which this run was resumed, over all its restarts."""

    def __init__(self, path: str | os.PathLike[str], identity: dict[str, Any]) -> None:
        self.path = Path(path)
        self.identity = identity
        self.resumed: list[int] = []

    def save(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        generators: Sequence[torch.Generator],
        loop: dict[str, Any],
    ) -> None:
        """Write the state after an epoch (``loop``: the epoch loop's own state, with
        ``epoch`` the last finished one), atomically."""
        state = {
            "identity": self.identity,
            "resumed": self.resumed,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generators": [g.get_state() for g in generators],
            "torch_rng": torch.get_rng_state(),
            "loop": loop,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def restore(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        generators: Sequence[torch.Generator],
    ) -> dict[str, Any] | None:
        """Load a saved state of this run into the objects and return the epoch loop's
        state; None (nothing changed) where there is no file, or one of another run or
        code, or one that cannot be read."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception:  # unreadable: start afresh (the next save replaces it)
            return None
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            return None
        if len(state["generators"]) != len(generators):
            return None
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for generator, saved in zip(generators, state["generators"], strict=True):
            generator.set_state(saved)
        torch.set_rng_state(state["torch_rng"])
        loop = state["loop"]
        self.resumed = [*state["resumed"], int(loop["epoch"])]
        return loop

    def remove(self) -> None:
        """Delete the file (the run's record is written)."""
        self.path.unlink(missing_ok=True)
