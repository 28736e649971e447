"""Data loading: MNIST with checksums, the Caltech-101 cache and split, missing data."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sparseconv.data import splits
from sparseconv.data.images import (
    MNIST_MD5,
    DataIntegrityError,
    DataNotFoundError,
    caltech101_files,
    caltech101_split,
    load_caltech101,
    load_mnist,
    resolve_data_dir,
)
from sparseconv.registry import paths


def test_mnist_loads_from_the_shared_folder(data_dir):
    train_x, train_y = load_mnist(data_dir, train=True, download=False)
    test_x, test_y = load_mnist(data_dir, train=False, download=False)
    assert train_x.shape == (60000, 1, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10000, 1, 28, 28)
    assert train_y.dtype == torch.int64 and set(train_y.unique().tolist()) == set(range(10))
    assert test_y.shape == (10000,)
    assert Counter(test_y.tolist())[1] == 1135  # the official test set's count of ones


def test_mnist_md5_sums_match_the_shared_md5sums_file(data_dir):
    listed = dict(
        reversed(line.split())
        for line in (data_dir / "MNIST" / "raw" / "MD5SUMS").read_text().splitlines()
    )
    assert listed == MNIST_MD5


def test_mnist_corrupt_file_is_refused(data_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_MD5:
        (raw / name).symlink_to(data_dir / "MNIST" / "raw" / name)
    bad = raw / "t10k-labels-idx1-ubyte"
    content = bytearray(bad.read_bytes())
    bad.unlink()
    content[100] ^= 1
    bad.write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path, train=False, download=False)


def test_missing_mnist_names_the_folder_and_how_to_provide_it(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message
    assert "SPARSECONV_DATA" in message


def test_failed_download_is_reported(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self, *args, **kwargs):
        raise RuntimeError("no network here")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DataNotFoundError, match="no network here"):
        load_mnist(tmp_path, download=True)


def test_missing_caltech_names_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        load_caltech101(tmp_path, download=False, cache=tmp_path / "cache")


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSECONV_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resolve_data_dir(None) == (tmp_path / "env").resolve()
    monkeypatch.delenv("SPARSECONV_DATA")
    assert resolve_data_dir(None) == paths.project_root() / "data"


def make_fake_caltech(root: Path) -> Path:
    """A tiny Caltech-101 folder: 2 classes, the background folder, one greyscale JPEG."""
    folder = root / "caltech101" / "101_ObjectCategories"
    rng = np.random.default_rng(0)
    for category, n in (("ant", 3), ("BACKGROUND_Google", 2), ("zebra", 2)):
        (folder / category).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 255, (30 + i, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / category / f"image_{i + 1:04d}.jpg")
    grey = rng.integers(0, 255, (25, 35), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(folder / "zebra" / "image_0003.jpg")
    return folder


def test_caltech_cache_greyscale_background_and_rebuild(tmp_path):
    make_fake_caltech(tmp_path)
    cache = tmp_path / "cache"
    data = load_caltech101(tmp_path, size=16, download=False, cache=cache)
    assert data.categories == ["ant", "zebra"]  # BACKGROUND_Google is not a class
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    grey = data.images[data.files.index("zebra/image_0003.jpg")]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert (cache / "caltech101_16.pt").is_file()

    # a second call reads the cache; a new size makes a new one
    again = load_caltech101(tmp_path, size=16, download=False, cache=cache)
    assert torch.equal(again.images, data.images)
    bigger = load_caltech101(tmp_path, size=24, download=False, cache=cache)
    assert bigger.images.shape == (6, 3, 24, 24)

    # a changed source is noticed: the cache is rebuilt, not reused stale
    path = tmp_path / "caltech101" / "101_ObjectCategories" / "ant" / "image_0001.jpg"
    Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(path)
    changed = load_caltech101(tmp_path, size=16, download=False, cache=cache)
    assert changed.images[0].sum() == 0
    assert not torch.equal(changed.images[0], data.images[0])


def test_caltech_cache_of_wrong_size_is_not_reused(tmp_path):
    make_fake_caltech(tmp_path)
    cache = tmp_path / "cache"
    load_caltech101(tmp_path, size=16, download=False, cache=cache)
    # a cache file whose stored size disagrees with its name is rebuilt
    stored = torch.load(cache / "caltech101_16.pt", weights_only=True)
    stored["size"] = 99
    torch.save(stored, cache / "caltech101_16.pt")
    data = load_caltech101(tmp_path, size=16, download=False, cache=cache)
    assert data.images.shape[-1] == 16
    assert torch.load(cache / "caltech101_16.pt", weights_only=True)["size"] == 16


def _linked_classes() -> Counter:
    """Per class, the images that a twin or listed near duplicate ties to another image
    (these may move between splits to join their group)."""
    from sparseconv.data.twins import TWIN_CLASSES, read_duplicates

    tied = {rel for a, b, _ in read_duplicates() for rel in (a, b)}
    counts = Counter(rel.split("/")[0] for rel in tied)
    counts[TWIN_CLASSES[1]] = 10**6  # every Faces_easy image follows its Faces photo
    return counts


def test_committed_split_is_stratified_disjoint_and_complete(data_dir):
    files, labels = caltech101_files(data_dir)
    assert len(files) == 8677 and len(set(labels)) == 101
    train, val, test = caltech101_split(files)
    sets = [set(t.tolist()) for t in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(range(len(files)))
    names = sorted({rel.split("/")[0] for rel in files})
    tied = _linked_classes()
    per_class = Counter(labels)
    test_per_class = Counter(labels[i] for i in sets[2])
    val_per_class = Counter(labels[i] for i in sets[1])
    for c, n in per_class.items():
        slack = tied[names[c]]
        assert abs(test_per_class[c] - 0.2 * n) <= 1 + slack, (c, n, test_per_class[c])
        # validation: 15 % of the class's training images, at least one
        n_trainval = n - test_per_class[c]
        target = max(1, round(0.15 * n_trainval))
        assert abs(val_per_class[c] - target) <= slack, (c, val_per_class[c])


def test_validation_was_carved_from_training_images_only():
    # the test lines are those of the original 80/20 split (seed 0), but for images that
    # joined their twin's or near duplicate's split
    from sparseconv.data.splits import make_stratified_split
    from sparseconv.data.twins import TWIN_CLASSES, read_duplicates

    lines = [ln.split("\t") for ln in splits.SPLIT_FILE.read_text().splitlines() if "\t" in ln]
    classes = sorted({rel.split("/")[0] for _, rel in lines})
    labels = [classes.index(rel.split("/")[0]) for _, rel in lines]
    _, test = make_stratified_split(labels, 0.2, 0)
    now = {i for i, (split, _) in enumerate(lines) if split == "test"}
    tied = {rel for a, b, _ in read_duplicates() for rel in (a, b)}
    for i in now ^ set(test):
        rel = lines[i][1]
        assert rel.startswith(f"{TWIN_CLASSES[1]}/") or rel in tied, rel


def test_no_twin_or_near_duplicate_crosses_the_committed_split(data_dir):
    from sparseconv.data.twins import TWIN_CLASSES, read_duplicates, twin_key

    files, _ = caltech101_files(data_dir)
    train, val, test = caltech101_split(files)
    split_of = {}
    for name, idx in zip(("train", "val", "test"), (train, val, test), strict=True):
        split_of |= {files[i]: name for i in idx.tolist()}
    photos = [rel for rel in files if rel.startswith(f"{TWIN_CLASSES[0]}/")]
    assert len(photos) == 435
    for rel in photos:
        crop = rel.replace(f"{TWIN_CLASSES[0]}/", f"{TWIN_CLASSES[1]}/")
        assert twin_key(crop) == twin_key(rel)
        assert split_of[crop] == split_of[rel], rel
    pairs = read_duplicates()
    assert len(pairs) > 0
    for a, b, r in pairs:
        assert r >= 0.99 and split_of[a] == split_of[b], (a, b)


@pytest.mark.slow
def test_a_fresh_scan_of_the_images_finds_exactly_the_listed_near_duplicates(data_dir, tmp_path):
    from sparseconv.data.twins import near_duplicate_pairs, read_duplicates

    data = load_caltech101(data_dir, size=64, download=False)
    found = {(data.files[i], data.files[j]) for i, j, _ in near_duplicate_pairs(data.images)}
    assert found == {(a, b) for a, b, _ in read_duplicates()}


def test_mnist_validation_split_is_fixed_and_disjoint():
    train, val = splits.mnist_validation_split()
    assert len(train) == 50_000 and len(val) == 10_000
    assert not set(train.tolist()) & set(val.tolist())
    again = splits.mnist_validation_split()
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])


def test_split_file_must_match_the_images(tmp_path, data_dir):
    files, _ = caltech101_files(data_dir)
    partial = tmp_path / "split.txt"
    lines = splits.SPLIT_FILE.read_text().splitlines()
    partial.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="does not match"):
        caltech101_split(files, partial)


def test_the_real_caltech_decodes_to_rgb(data_dir, tmp_path):
    # a copy of two real classes, one of which holds greyscale JPEGs
    folder = tmp_path / "caltech101" / "101_ObjectCategories"
    source = data_dir / "caltech101" / "101_ObjectCategories"
    for category in ("car_side", "Leopards"):
        shutil.copytree(source / category, folder / category)
    data = load_caltech101(tmp_path, size=32, download=False, cache=tmp_path / "cache")
    assert data.images.shape[1:] == (3, 32, 32)
    modes = {Image.open(folder / rel).mode for rel in data.files}
    assert "L" in modes  # car_side is greyscale in the original data
