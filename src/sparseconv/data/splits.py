"""The fixed splits: Caltech-101's committed train/val/test file and MNIST's validation
images. Nothing here reads an image; the splits depend on file names and labels only."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

__all__ = [
    "SPLIT_FILE",
    "SPLITS",
    "VAL_FRACTION",
    "make_stratified_split",
    "caltech101_split",
    "mnist_validation_split",
]

SPLIT_FILE = Path(__file__).with_name("caltech101_split.txt")


def make_stratified_split(
    labels: list[int] | Tensor, test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Stratified split of positions ``0..N-1``: per class, ``round(test_fraction * n_c)``
    random positions (at least one) go to test. Returns sorted (train, test) positions."""
    labels_t = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    train: list[int] = []
    test: list[int] = []
    for c in torch.unique(labels_t).tolist():
        members = torch.nonzero(labels_t == c).flatten()
        perm = members[torch.randperm(len(members), generator=generator)]
        n_test = max(1, int(round(test_fraction * len(members))))
        test.extend(perm[:n_test].tolist())
        train.extend(perm[n_test:].tolist())
    return sorted(train), sorted(test)


SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.15  # of each class's training images (Caltech-101)


def caltech101_split(
    files: list[str], split_file: str | os.PathLike[str] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Positions (train, val, test) into ``files`` (a :class:`Caltech101`'s) from the split file.

    The committed file ``caltech101_split.txt`` lists one ``<split>\t<relative path>``
    line per image (split ``train``, ``val`` or ``test``). It was made by
    :func:`write_split_file` (80/20 within each class, seed 0), then
    :func:`carve_validation` moved 15 % of each class's training images to ``val``
    (seed 1); the test images never changed. Raises ValueError if it does not cover the
    images exactly once.
    """
    path = Path(split_file) if split_file is not None else SPLIT_FILE
    assignment: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        split, rel = line.split("\t")
        if split not in SPLITS or rel in assignment:
            raise ValueError(f"bad line in {path}: {line!r}")
        assignment[rel] = split
    if set(assignment) != set(files):
        missing = sorted(set(files) - set(assignment))[:3]
        extra = sorted(set(assignment) - set(files))[:3]
        raise ValueError(
            f"the split file {path} does not match the images: missing {missing}, extra {extra}"
        )
    positions = {
        name: torch.tensor([i for i, rel in enumerate(files) if assignment[rel] == name])
        for name in SPLITS
    }
    return positions["train"], positions["val"], positions["test"]


def mnist_validation_split(
    n: int = 60_000, n_val: int = 10_000, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Positions (train, val) into the official MNIST training set: ``n_val`` images
    drawn by a fixed permutation (seed 0, independent of any run's seed), both sorted."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values
