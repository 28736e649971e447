"""Caltech-101 images that must share a split: ``Faces``/``Faces_easy`` twins and near
duplicates.

``Faces_easy`` holds crops of the ``Faces`` photos with the same file numbers, so a split
that puts one twin in training and the other in test leaks. Beyond these, the data set
holds near-duplicate photos (the same product shot recoloured, the same clip art twice):
two images whose greyscale thumbnails (``DUPLICATE_SIZE`` px, bilinear from the 64 px
cache) correlate at ``DUPLICATE_THRESHOLD`` or more. Below that threshold the pairs seen
were different photos of one object (consecutive frames, one motorbike model), which a
split may separate.

    python -m sparseconv.data.twins            # scan: what crosses the committed split
    python -m sparseconv.data.twins --write    # rewrite the split file so that nothing does

``--write`` also lists the near-duplicate pairs it found in ``caltech101_duplicates.txt``
beside the split file (``DUPLICATES_FILE``), so that tests check the split against them
without decoding an image.

Each group of linked images (twins and near duplicates, joined transitively) takes the
split of its first member in file order, so a ``Faces_easy`` crop follows its ``Faces``
photo and most of the committed split stays as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from sparseconv.data.images import load_caltech101
from sparseconv.data.splits import SPLIT_FILE, SPLITS, caltech101_split
from sparseconv.registry.datasets import DATASETS
from sparseconv.registry.records import atomic_write_text

__all__ = [
    "TWIN_CLASSES",
    "DUPLICATES_FILE",
    "read_duplicates",
    "DUPLICATE_SIZE",
    "DUPLICATE_THRESHOLD",
    "twin_key",
    "twin_pairs",
    "near_duplicate_pairs",
    "linked_groups",
    "crossing_pairs",
    "linked_assignment",
    "main",
]

TWIN_CLASSES = ("Faces", "Faces_easy")
DUPLICATE_SIZE = 32
DUPLICATE_THRESHOLD = 0.99
DUPLICATES_FILE = SPLIT_FILE.with_name("caltech101_duplicates.txt")


def read_duplicates(path: str | os.PathLike[str] = DUPLICATES_FILE) -> list[tuple[str, str, float]]:
    """The listed near-duplicate pairs (file a, file b, correlation)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            a, b, r = line.split("\t")
            rows.append((a, b, float(r)))
    return rows


def _write_duplicates(files: Sequence[str], pairs: Sequence[tuple[int, int, float]]) -> None:
    lines = [
        f"# Caltech-101 near duplicates: greyscale {DUPLICATE_SIZE} px thumbnails with Pearson "
        f"correlation >= {DUPLICATE_THRESHOLD:g}",
        "# (python -m sparseconv.data.twins --write); one split holds both images of a pair.",
    ]
    lines += [f"{files[i]}\t{files[j]}\t{r:.4f}" for i, j, r in pairs]
    atomic_write_text(DUPLICATES_FILE, "\n".join(lines) + "\n")


def twin_key(rel: str) -> str:
    """The key that a ``Faces`` photo and its ``Faces_easy`` crop share (the file number
    under one folder name); any other path is its own key."""
    folder, _, name = rel.partition("/")
    return f"{TWIN_CLASSES[0]}/{name}" if folder in TWIN_CLASSES else rel


def twin_pairs(files: Sequence[str]) -> list[tuple[int, int]]:
    """Positions (i, j), i < j, of images with the same :func:`twin_key`."""
    first: dict[str, int] = {}
    pairs = []
    for j, rel in enumerate(files):
        key = twin_key(rel)
        if key in first:
            pairs.append((first[key], j))
        else:
            first[key] = j
    return pairs


def near_duplicate_pairs(
    images: Tensor,
    threshold: float = DUPLICATE_THRESHOLD,
    size: int = DUPLICATE_SIZE,
    chunk: int = 2048,
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, r), i < j, of images whose greyscale ``size`` x ``size`` thumbnails
    have Pearson correlation r >= ``threshold``.

    images: uint8 or float (N, C, H, W). A constant thumbnail correlates with nothing."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    grey = images.float().mean(dim=1, keepdim=True)
    thumbs = F.interpolate(grey, size=(size, size), mode="bilinear", antialias=True)
    v = thumbs.flatten(1)
    v = v - v.mean(dim=1, keepdim=True)
    norm = v.norm(dim=1, keepdim=True)
    v = torch.where(norm > 1e-6, v / norm.clamp_min(1e-6), torch.zeros_like(v))
    pairs = []
    for start in range(0, len(v), chunk):
        r = v[start : start + chunk] @ v.T  # (chunk, N)
        rows, cols = torch.nonzero(r >= threshold - 1e-6, as_tuple=True)
        for i, j in zip((rows + start).tolist(), cols.tolist(), strict=True):
            if i < j:
                pairs.append((i, j, float(r[i - start, j])))
    return pairs


def linked_groups(n: int, pairs: Sequence[tuple[int, ...]]) -> list[int]:
    """Group id per position 0..n-1 (the smallest position of its group): positions
    joined by ``pairs`` (their first two entries), transitively."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, *_ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(n)]


def crossing_pairs(
    assignment: Sequence[str], pairs: Sequence[tuple[int, ...]]
) -> list[tuple[int, ...]]:
    """The ``pairs`` whose two positions lie in different splits of ``assignment``."""
    return [p for p in pairs if assignment[p[0]] != assignment[p[1]]]


def linked_assignment(assignment: Sequence[str], pairs: Sequence[tuple[int, ...]]) -> list[str]:
    """``assignment`` (a split name per position) with every linked group moved to the
    split of its first member, so that no pair crosses splits."""
    for split in assignment:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    groups = linked_groups(len(assignment), pairs)
    return [assignment[g] for g in groups]


def _split_names(files: Sequence[str], split_file: Path) -> list[str]:
    train, val, test = caltech101_split(list(files), split_file)
    names = [""] * len(files)
    for name, idx in zip(SPLITS, (train, val, test), strict=True):
        for i in idx.tolist():
            names[i] = name
    return names


def _write_split_file(files: Sequence[str], names: Sequence[str], path: Path) -> None:
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    note = (
        f"# Then Faces/Faces_easy twins and near duplicates (greyscale {DUPLICATE_SIZE} px "
        f"correlation >= {DUPLICATE_THRESHOLD:g}) moved to one split (sparseconv.data.twins)."
    )
    lines = header + ([note] if note not in header else [])
    lines += [f"{split}\t{rel}" for rel, split in zip(files, names, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Scan the committed split for twins and near duplicates across splits; with
    ``--write`` move them into one split. Exit status 1 if a scan finds crossings."""
    parser = argparse.ArgumentParser(prog="python -m sparseconv.data.twins", description=__doc__)
    parser.add_argument("--data-dir", help="default: $SPARSECONV_DATA, else data/")
    parser.add_argument("--split-file", default=str(SPLIT_FILE))
    parser.add_argument("--threshold", type=float, default=DUPLICATE_THRESHOLD)
    parser.add_argument("--write", action="store_true", help="rewrite the split file")
    args = parser.parse_args(argv)
    cal = load_caltech101(args.data_dir, size=DATASETS["caltech101"].size)
    path = Path(args.split_file)
    names = _split_names(cal.files, path)
    twins = twin_pairs(cal.files)
    duplicates = near_duplicate_pairs(cal.images, args.threshold)
    others = [p for p in duplicates if twin_key(cal.files[p[0]]) != twin_key(cal.files[p[1]])]
    print(f"{len(twins)} Faces/Faces_easy twin pairs, {len(crossing_pairs(names, twins))} "
          f"across splits")  # fmt: skip
    print(f"{len(others)} other near-duplicate pairs (r >= {args.threshold:g}), "
          f"{len(crossing_pairs(names, others))} across splits")  # fmt: skip
    for i, j, r in crossing_pairs(names, others):
        print(f"  {cal.files[i]} ({names[i]}) ~ {cal.files[j]} ({names[j]}): r = {r:.4f}")
    if args.write:
        fixed = linked_assignment(names, [*twins, *duplicates])
        moved = sum(a != b for a, b in zip(names, fixed, strict=True))
        _write_split_file(cal.files, fixed, path)
        _write_duplicates(cal.files, duplicates)
        print(f"moved {moved} images; wrote {os.fspath(path)}")
        return 0
    return 1 if crossing_pairs(names, [*twins, *duplicates]) else 0


if __name__ == "__main__":
    sys.exit(main())
