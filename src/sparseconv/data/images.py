"""Data sets as in-memory uint8 tensors: MNIST and Caltech-101, through torchvision.

The data folder is, in order: the ``data_dir`` argument, the environment variable
``SPARSECONV_DATA``, else ``data/`` in the project root. It uses torchvision's layout
(``<data_dir>/MNIST/raw/...``, ``<data_dir>/caltech101/101_ObjectCategories/...``) and is
only read. Derived files (the Caltech-101 cache) go to ``cache/`` in the project root
(or ``SPARSECONV_CACHE``), which git ignores.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sparseconv.data.splits import caltech101_split
from sparseconv.registry.paths import project_root

__all__ = [
    "DataNotFoundError",
    "DataIntegrityError",
    "resolve_data_dir",
    "cache_dir",
    "MNIST_MD5",
    "load_mnist",
    "Caltech101",
    "load_caltech101",
    "caltech101_files",
    "ensure_dataset",
    "caltech101_example",
]


class DataNotFoundError(FileNotFoundError):
    """The data set is not in the data folder and could not be downloaded."""


class DataIntegrityError(ValueError):
    """A data file does not have the expected checksum."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir`` if given, else ``$SPARSECONV_DATA``, else ``<project root>/data``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get("SPARSECONV_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "data"


def cache_dir() -> Path:
    """``$SPARSECONV_CACHE`` if set, else ``<project root>/cache`` (git-ignored)."""
    env = os.environ.get("SPARSECONV_CACHE")
    return Path(env).expanduser().resolve() if env else project_root() / "cache"


def _how_to_provide(name: str, folder: Path, expected: Path) -> str:
    return (
        f"{name} was not found in the data folder {folder} (expected {expected}) and could "
        f"not be downloaded. Provide it in torchvision's layout: either run once with "
        f"internet access so torchvision downloads it there, or copy an existing copy and "
        f"point the project at it with the environment variable SPARSECONV_DATA=/path/to/data "
        f"or the data_dir argument."
    )


def _try_download(fetch: Callable[[], object], root: Path) -> Exception | None:
    """Call ``fetch`` (a torchvision download); on failure remove the empty folders it
    left under ``root`` and return the error."""
    existed = {p for p in root.rglob("*")} if root.exists() else set()
    root_existed = root.exists()
    try:
        fetch()
        return None
    except Exception as exc:  # network errors come in many types
        if root.exists():
            created = [p for p in root.rglob("*") if p not in existed and p.is_dir()]
            for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
                if not any(folder.iterdir()):
                    folder.rmdir()
            if not root_existed and not any(root.iterdir()):
                root.rmdir()
        return exc


# MD5 sums of the official *uncompressed* IDX files (torchvision only lists the .gz sums).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

_verified: dict[tuple[str, int, int], str] = {}


def _md5(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _mnist_files_present(raw: Path) -> bool:
    return all((raw / name).is_file() for name in MNIST_MD5)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None, train: bool = True, download: bool = True
) -> tuple[Tensor, Tensor]:
    """MNIST as ``(images, labels)``: uint8 (N, 1, 28, 28) and int64 (N,).

    N is 60,000 for ``train=True``, 10,000 otherwise. The four raw files are checked
    against their MD5 sums. If they are missing and ``download`` is true, torchvision
    downloads them into the data folder; if that fails, DataNotFoundError says how to
    provide them.
    """
    from torchvision.datasets import MNIST

    root = resolve_data_dir(data_dir)
    raw = root / "MNIST" / "raw"
    if not _mnist_files_present(raw):
        error = None
        if download:
            error = _try_download(lambda: MNIST(str(root), train=train, download=True), root)
        if not _mnist_files_present(raw):
            message = _how_to_provide("MNIST", root, raw / "train-images-idx3-ubyte")
            if error is not None:
                message += f" (download failed: {type(error).__name__}: {error})"
            raise DataNotFoundError(message) from error
    for name, expected in MNIST_MD5.items():
        actual = _md5(raw / name)
        if actual != expected:
            raise DataIntegrityError(
                f"{raw / name} has MD5 {actual}, expected {expected}: the file is corrupt or "
                f"not the official MNIST file; delete it to download it again"
            )
    dataset = MNIST(str(root), train=train, download=False)
    images = dataset.data.unsqueeze(1).contiguous()
    labels = dataset.targets.to(torch.int64)
    return images, labels


# ----------------------------------------------------------------------------- Caltech-101

CALTECH_BACKGROUND = "BACKGROUND_Google"


@dataclass
class Caltech101:
    """Caltech-101 decoded once: ``images`` uint8 (N, 3, S, S), ``labels`` int64 (N,),
    ``files`` the N paths relative to ``101_ObjectCategories``, ``categories`` the 101
    class names (label i is ``categories[i]``)."""

    images: Tensor
    labels: Tensor
    files: list[str]
    categories: list[str]

    def subset(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """``(images[indices], labels[indices])``."""
        return self.images[indices], self.labels[indices]


def _caltech_listing(folder: Path) -> tuple[list[str], list[int], list[str]]:
    """Relative JPEG paths, labels and sorted category names (background excluded)."""
    categories = sorted(
        d.name for d in folder.iterdir() if d.is_dir() and d.name != CALTECH_BACKGROUND
    )
    files: list[str] = []
    labels: list[int] = []
    for label, category in enumerate(categories):
        for path in sorted((folder / category).glob("*.jpg")):
            files.append(f"{category}/{path.name}")
            labels.append(label)
    return files, labels, categories


def _source_fingerprint(folder: Path, files: list[str]) -> str:
    """Hash of every source file's relative path, size and modification time."""
    digest = hashlib.sha256()
    for rel in files:
        stat = (folder / rel).stat()
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _decode(path: Path, size: int) -> np.ndarray:
    """One JPEG -> uint8 (3, size, size): RGB (greyscale is replicated), resized whole."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def _atomic_torch_save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_caltech101(
    data_dir: str | os.PathLike[str] | None = None,
    size: int = 64,
    download: bool = True,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Caltech101:
    """All 8,677 Caltech-101 images, RGB, resized to ``size x size``, from a uint8 cache.

    The first call decodes every JPEG once and writes ``<cache>/caltech101_<size>.pt``;
    later calls read that file. The cache stores a fingerprint of the source files
    (paths, sizes, modification times) and the size; it is rebuilt when either
    changes, never reused stale. ``BACKGROUND_Google`` is not a class.
    """
    from torchvision.datasets import Caltech101 as TVCaltech101

    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    root = resolve_data_dir(data_dir)
    folder = root / "caltech101" / "101_ObjectCategories"
    if not folder.is_dir():
        error = None
        if download:
            error = _try_download(
                lambda: TVCaltech101(str(root), target_type="category", download=True), root
            )
        if not folder.is_dir():
            message = _how_to_provide("Caltech-101", root, folder)
            if error is not None:
                message += f" (download failed: {type(error).__name__}: {error})"
            raise DataNotFoundError(message) from error
    files, labels, categories = _caltech_listing(folder)
    if not files:
        raise DataNotFoundError(f"no JPEG images found under {folder}")
    fingerprint = _source_fingerprint(folder, files)
    cache_path = Path(cache) if cache is not None else cache_dir()
    cache_file = cache_path / f"caltech101_{size}.pt"
    if cache_file.is_file():
        stored = torch.load(cache_file, weights_only=True)
        if stored.get("fingerprint") == fingerprint and stored.get("size") == size:
            return Caltech101(
                stored["images"], stored["labels"], list(stored["files"]), list(categories)
            )
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc=f"decoding Caltech-101 to {size}x{size}")
    images = torch.from_numpy(np.stack([_decode(folder / rel, size) for rel in iterator]))
    label_t = torch.tensor(labels, dtype=torch.int64)
    _atomic_torch_save(
        {
            "images": images,
            "labels": label_t,
            "files": files,
            "categories": categories,
            "size": size,
            "fingerprint": fingerprint,
        },
        cache_file,
    )
    return Caltech101(images, label_t, files, categories)


def caltech101_files(data_dir: str | os.PathLike[str] | None = None) -> tuple[list[str], list[int]]:
    """Relative paths and labels of the Caltech-101 images, without decoding any."""
    folder = resolve_data_dir(data_dir) / "caltech101" / "101_ObjectCategories"
    files, labels, _ = _caltech_listing(folder)
    return files, labels


def ensure_dataset(
    dataset: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> Path:
    """Make sure ``dataset`` is in the data folder (downloading it if possible).

    Returns the data folder; raises DataNotFoundError naming the folder otherwise.
    Cheap when the data is there: it only looks for the files. Data sets that are
    generated (``"depth"``) need nothing.
    """
    from torchvision.datasets import MNIST
    from torchvision.datasets import Caltech101 as TVCaltech101

    root = resolve_data_dir(data_dir)
    if dataset == "mnist":
        expected = root / "MNIST" / "raw"
        present = _mnist_files_present
        fetch = lambda: MNIST(str(root), train=True, download=True)  # noqa: E731
        name = "MNIST"
    elif dataset == "caltech101":
        expected = root / "caltech101" / "101_ObjectCategories"
        present = Path.is_dir
        fetch = lambda: TVCaltech101(str(root), download=True)  # noqa: E731
        name = "Caltech-101"
    else:
        return root
    if present(expected):
        return root
    error = _try_download(fetch, root) if download else None
    if not present(expected):
        message = _how_to_provide(name, root, expected)
        if error is not None:
            message += f" (download failed: {type(error).__name__}: {error})"
        raise DataNotFoundError(message) from error
    return root


def caltech101_example(
    data_dir: str | os.PathLike[str] | None = None, index: int = 0, size: int = 64
) -> Tensor:
    """One Caltech-101 test image (``index`` into the test split), uint8 (3, size, size),
    decoded straight from its JPEG (no cache needed)."""
    root = resolve_data_dir(data_dir)
    files, _ = caltech101_files(root)
    _, _, test = caltech101_split(files)
    rel = files[int(test[index])]
    return torch.from_numpy(_decode(root / "caltech101" / "101_ObjectCategories" / rel, size))
