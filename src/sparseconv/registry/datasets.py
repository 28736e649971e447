"""The data sets of the study, one row each (no torch).

A row says what a network needs to know (channels, classes, image side, which
architecture builds it), which task it is, the metric its verdicts use, and its levels:
the training sparsities of its grid and the sparsities every run is tested at. Adding a
data set is one row here plus its loader (:mod:`sparseconv.data`), its architecture
(:data:`sparseconv.nn.networks.ARCHITECTURES`) and its notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DataSet",
    "DATASETS",
    "DATASET_NAMES",
    "TASKS",
    "PATTERNS",
    "TEST_SPARSITIES",
    "TRAIN_SPARSITIES",
    "DEPTH_TEST_SPARSITIES",
    "DEPTH_DENSITIES",
    "KITTI_TRAIN_SPARSITIES",
    "KITTI_TEST_SPARSITIES",
    "VERDICT_METRIC",
    "register_dataset",
    "datasets_of",
]

# "lidar": depth completion on real LiDAR returns (KITTI), scored on held-out returns
TASKS = ("classification", "depth", "lidar")
# depth masks: uniform sampling, or LiDAR-like scan lines
PATTERNS = ("uniform", "lines")

# every classification model is tested at these sparsities (fraction of pixels removed)
TEST_SPARSITIES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
# and trained at these (the grids of MNIST and Caltech-101)
TRAIN_SPARSITIES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEPTH_TEST_SPARSITIES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
# depth's two training levels as sparsities: 5 % and 50 % of the pixels kept
DEPTH_DENSITIES = (0.95, 0.5)
# KITTI: the share of each scan's returns removed; trained keeping 10 % and 50 % of them,
# tested keeping 5 % to 90 %
KITTI_TRAIN_SPARSITIES = (0.9, 0.5)
KITTI_TEST_SPARSITIES = (0.95, 0.9, 0.75, 0.5, 0.25, 0.1)


@dataclass(frozen=True)
class DataSet:
    """One data set: ``channels`` x ``size`` x ``size`` inputs (pixels), ``classes``
    outputs (1 for depth), built by ``architecture``; ``train_levels`` and
    ``test_levels`` are sparsities (fraction of pixels removed)."""

    name: str
    title: str
    task: str
    channels: int
    classes: int
    size: int
    architecture: str
    verdict_metric: str
    train_levels: tuple[float, ...]
    test_levels: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """One input image: (channels, size, size)."""
        return (self.channels, self.size, self.size)


DATASETS: dict[str, DataSet] = {}


def register_dataset(row: DataSet) -> DataSet:
    """Add ``row`` to :data:`DATASETS` (ValueError if the name is taken)."""
    if row.name in DATASETS:
        raise ValueError(f"data set {row.name!r} is already registered")
    DATASETS[row.name] = row
    return row


# Caltech-101 is unbalanced (a few classes hold a large share of the images), so its
# verdicts use mean per-class accuracy, the literature's metric
for _row in (
    DataSet("mnist", "MNIST", "classification", 1, 10, 28, "mnist", "accuracy",
            TRAIN_SPARSITIES, TEST_SPARSITIES),
    DataSet("caltech101", "Caltech-101", "classification", 3, 101, 64, "caltech101",
            "mean_class_accuracy", TRAIN_SPARSITIES, TEST_SPARSITIES),
    # synthetic depth maps, 48 x 48; verdicts on the error at the missing pixels
    DataSet("depth", "depth", "depth", 1, 1, 48, "depthnet", "mae_missing",
            DEPTH_DENSITIES, DEPTH_TEST_SPARSITIES),
    # real LiDAR scans of one KITTI drive; size: the side of a training crop's height
    # (crops are study.LIDAR_CROP); verdicts on the error at the held-out returns
    DataSet("kitti", "KITTI LiDAR", "lidar", 1, 1, 128, "depthnet", "mae",
            KITTI_TRAIN_SPARSITIES, KITTI_TEST_SPARSITIES),
):  # fmt: skip
    register_dataset(_row)

DATASET_NAMES = {name: row.title for name, row in DATASETS.items()}
# the metric of each classification data set's verdicts (depth's claim has its own family)
VERDICT_METRIC = {n: r.verdict_metric for n, r in DATASETS.items() if r.task == "classification"}


def datasets_of(task: str) -> tuple[str, ...]:
    """The names of the registered data sets of ``task``."""
    return tuple(name for name, row in DATASETS.items() if row.task == task)
