"""A run's state after every epoch, so that a run stopped part-way (a session's end, a
killed process) resumes where it stopped instead of starting again.

The file holds the weights, the optimiser's and scheduler's state, the random generators
that draw batches and masks, the epoch loop's own state (history, best weights and score,
early stopping's counters) and the run's identity: its parameters, a digest of the
training code, the torch version and the device type. A file of another identity is
ignored (and replaced), so a resumed run is always one run of one training code and one
torch build on one kind of device. Written atomically;
:func:`~sparseconv.train.run.train_run` deletes it once the record is written (a run of
``study.CAP_FREE`` keeps it, for the same run under a later cap), and the record lists
the epochs after which the run was resumed (``resumed_after_epochs``) and the commits
and CPUs that trained the epochs before them (``resumed_from_commits``,
``resumed_from_cpus``; a CPU whose kernels round differently takes the run along another
float path from there on, as it would have from the start).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparseconv.registry.records import RUN_KEYS

__all__ = ["IDENTITY_KEYS", "Checkpoint", "run_identity"]

# the run's parameters, and the sampling pattern and autocast a run may add
IDENTITY_KEYS = (*RUN_KEYS, "pattern", "amp")


# the package's files that decide what a run computes: the data, the layers and networks,
# the training loops, and the registry's rows of models and data sets. The study's design
# (registry/study.py) changes often without touching a run (a chosen rate, a grid), so
# only its values that training reads enter the identity (``_study_values``). A protocol's
# number is not among them: a new protocol that changes a grid only (its cap, its seeds)
# keeps its runs' states, and one that changes training changes this code or those
# values. Left out: this module (saving and restoring, tested to give the run never
# stopped) and the record's assembly, which come after training: a change to either
# keeps the runs in flight resumable.
TRAINING_CODE = ("data", "nn", "train", "registry/models.py", "registry/datasets.py")
NOT_TRAINING = ("train/checkpoint.py", "train/record.py")


def training_code_digest() -> str:
    """SHA-256 (16 hex digits) of the ``TRAINING_CODE`` files, names and contents: equal
    for two trees whose training code is the same, whatever their commits (a later
    commit that changes only the report, the sweep or the study's grids keeps it)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in TRAINING_CODE:
        root = package / part
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if str(path.relative_to(package)) in NOT_TRAINING:
                continue
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(package)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _study_values(dataset: str) -> dict[str, Any]:
    """The values of ``registry.study`` that a run of ``dataset`` reads while training."""
    from sparseconv.registry import study

    return {
        "defaults": study.DEFAULTS.get(dataset),
        "early_stopping": study.EARLY_STOPPING.get(dataset),
        "lidar": [list(study.LIDAR_CROP), study.LIDAR_STEPS] if dataset == "kitti" else None,
        "evaluation": [study.N_VAL.get(dataset), study.N_TRAIN_EVAL],
    }


def run_identity(params: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the run's parameters (for a data set
    of ``study.CAP_FREE`` all but the epoch cap), the training code
    (:func:`training_code_digest` and the study's values it reads), the torch version and
    the device type."""
    from sparseconv.registry.study import CAP_FREE

    free = params.get("dataset") in CAP_FREE
    return {
        **{key: params.get(key) for key in IDENTITY_KEYS if not (free and key == "epochs")},
        "training_code": training_code_digest(),
        "study": _study_values(str(params.get("dataset"))),
        "torch_version": torch.__version__,
        "device_type": device.type,
    }


def _write(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cap_epochs(identity: dict[str, Any]) -> tuple[int, ...]:
    """The caps whose end state a run of a ``study.CAP_FREE`` data set keeps on its way
    (:meth:`Checkpoint.save`): its budget check's, the grid's among them."""
    from sparseconv.registry.study import BUDGET_CHECK

    return tuple(BUDGET_CHECK.get(str(identity.get("dataset")), {}).get("epochs", ()))


class Checkpoint:
    """The checkpoint file of one run at ``path`` for a run of ``identity``
    (:func:`run_identity`). :func:`~sparseconv.train.engine.fit` calls :meth:`save` after
    every epoch and :meth:`restore` before the first; ``resumed`` lists the epochs after
    which this run was resumed, over all its restarts.

    ``cap``: the run's epoch cap where its identity leaves the cap out (``study.CAP_FREE``),
    so that one file serves the run under every cap: a state saved after more epochs than
    ``cap`` is not this run's (it went past its end), so it is neither restored nor
    overwritten; this run's state is ``<stem>_ep<cap>.pt`` beside it instead, which a
    longer run leaves on its way through each cap of the budget check."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        identity: dict[str, Any],
        commit: str | None = None,
        cpu: str | None = None,
        cap: int | None = None,
    ) -> None:
        self.path = self.base = Path(path)
        self.identity = identity
        self.cap = cap
        self.commit, self.cpu = commit, cpu  # of the process running now, for the record
        self.resumed: list[int] = []
        # the commits and CPUs of the parts before each resumption
        self.commits: list[str | None] = []
        self.cpus: list[str | None] = []

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
            "commits": [*self.commits, self.commit],
            "cpus": [*self.cpus, self.cpu],
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generators": [g.get_state() for g in generators],
            "torch_rng": torch.get_rng_state(),
            "loop": loop,
        }
        _write(state, self.path)
        epoch = int(loop["epoch"])
        if self.cap is not None and epoch in _cap_epochs(self.identity) and not loop.get("stopped"):
            # the end state of this run under the cap ``epoch`` (the budget check's caps,
            # one of which the grid takes): that run finishes from it with its evaluation
            # alone, even after this one has gone on
            _write(state, self._at(epoch))

    def _at(self, cap: int) -> Path:
        """The file of this run's state under ``cap`` where the cell's own file has gone
        past it: ``<stem>_ep<cap>.pt`` beside it."""
        return self.base.with_name(f"{self.base.stem}_ep{cap}{self.base.suffix}")

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
        state = self._read()
        if state is not None and self.cap is not None and state["loop"]["epoch"] > self.cap:
            # past this run's cap: keep it for the longer run, and use this cap's own file
            self.path = self._at(self.cap)
            state = self._read()
        if state is None or len(state["generators"]) != len(generators):
            return None
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for generator, saved in zip(generators, state["generators"], strict=True):
            generator.set_state(saved)
        torch.set_rng_state(state["torch_rng"])
        loop = state["loop"]
        self.resumed = [*state["resumed"], int(loop["epoch"])]
        self.commits, self.cpus = list(state["commits"]), list(state["cpus"])
        return loop

    def _read(self) -> dict[str, Any] | None:
        """The saved state of this run at ``path``; None where there is no file, or one
        of another run or code, or one that cannot be read."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception:  # unreadable: start afresh (the next save replaces it)
            return None
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            return None
        return state

    def remove(self) -> None:
        """Delete the file (the run's record is written)."""
        self.path.unlink(missing_ok=True)
