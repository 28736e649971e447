"""The model variants of the study, one row each (no torch).

A row says how a network treats the missing pixels (its convolution, the mask as an
input channel, a fill before the network), how it is trained (step sizes matched to the
paper layer's parametrisation; whose learning rate it takes), which tasks accept it, its
label and its plot style. Networks (:mod:`sparseconv.nn.networks`), training, claims
and figures read these rows; adding a variant is one row here (plus, for a new kind of
convolution or fill, its builder in :mod:`sparseconv.nn.networks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparseconv.registry.datasets import DATASETS, TASKS

__all__ = [
    "ModelVariant",
    "VARIANTS",
    "CONVOLUTIONS",
    "FILLS",
    "register_variant",
    "variant",
    "models_of",
    "tuned_models",
    "MODELS",
    "DEPTH_MODELS",
    "TUNED_MODELS",
    "DEPTH_TUNED_MODELS",
    "MODEL_LABELS",
    "NEAREST_LABEL",
]

# "sparse": SparseConv2d and SparseMaxPool2d, the mask travels with the features;
# "dense": nn.Conv2d and nn.MaxPool2d on the zero-filled image
# "nconv": normalized convolution with propagated confidence (Eldesokey et al., 2018)
CONVOLUTIONS = ("sparse", "dense", "nconv")
# a parameter-free fill of the missing pixels before the network ("nearest": nearest
# neighbour interpolation, the paper's interpolation baseline)
FILLS = (None, "nearest")


@dataclass(frozen=True)
class ModelVariant:
    """One way to treat the missing pixels, and how it is trained and shown.

    ``normalization``: SparseConv2d's (``"paper"`` or ``"partial"``), sparse only.
    ``matched_steps``: the paper layer's weights get step sizes matched to its
    parametrisation (:func:`sparseconv.nn.optim.param_groups`); False: one rate for all.
    ``rate_from``: the variant whose tuned learning rate it takes (None: its own, chosen
    on validation). ``color``/``marker``/``linestyle``: matplotlib style.
    """

    name: str
    label: str
    convolution: str
    tasks: tuple[str, ...]
    color: str
    marker: str
    linestyle: str = "-"
    normalization: str = "paper"
    mask_channel: bool = False
    fill: str | None = None
    matched_steps: bool = True
    rate_from: str | None = None

    def __post_init__(self) -> None:
        if self.convolution not in CONVOLUTIONS:
            raise ValueError(f"convolution must be one of {CONVOLUTIONS}, got {self.convolution!r}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {self.fill!r}")
        if not set(self.tasks) <= set(TASKS):
            raise ValueError(f"tasks must be among {TASKS}, got {self.tasks!r}")

    @property
    def sparse(self) -> bool:
        """Whether the network propagates the mask (sparse convolutions)."""
        return self.convolution == "sparse"

    @property
    def style(self) -> dict[str, str]:
        """Keyword arguments for matplotlib's ``plot``: label, color, marker, linestyle."""
        return {"label": self.label, "color": self.color, "marker": self.marker,
                "linestyle": self.linestyle}  # fmt: skip


VARIANTS: dict[str, ModelVariant] = {}


def register_variant(row: ModelVariant) -> ModelVariant:
    """Add ``row`` to :data:`VARIANTS` (ValueError if the name is taken)."""
    if row.name in VARIANTS:
        raise ValueError(f"model variant {row.name!r} is already registered")
    VARIANTS[row.name] = row
    return row


_BOTH = ("classification", "depth")
_ALL = ("classification", "depth", "lidar")
for _row in (
    # the paper's layer, trained with step sizes matched to its parametrisation
    ModelVariant("sparse", "sparse conv", "sparse", _ALL, "#1f77b4", "o"),
    # the same network under one learning rate for all weights (the ConvNet's), as a user
    # who swaps the layer into a ConvNet's recipe would train it
    ModelVariant("sparse_naive", "sparse conv (one lr)", "sparse", _BOTH, "#9467bd", "v",
                 linestyle=":", matched_steps=False, rate_from="dense"),
    # the ablation: partial convolution's normalisation (weights k^2 smaller)
    ModelVariant("sparse_partial", "sparse conv (partial norm.)", "sparse", _ALL, "#17becf",
                 "D", linestyle="--", normalization="partial"),
    ModelVariant("dense", "ConvNet", "dense", _ALL, "#d62728", "s"),
    ModelVariant("dense_mask", "ConvNet + mask", "dense", _ALL, "#ff7f0e", "^",
                 mask_channel=True),
    # the paper's interpolation baseline: nearest-neighbour fill, then the ConvNet
    ModelVariant("nn_convnet", "NN fill + ConvNet", "dense", ("depth", "lidar"), "#2ca02c", "P",
                 fill="nearest"),
    # the layer's successor for depth completion: its own network (nn.nconv.NConvNet),
    # non-negative kernels, one learning rate (real data; synthetic from depth protocol 3)
    ModelVariant("nconv", "normalized conv", "nconv", ("depth", "lidar"), "#8c564b", "X",
                 linestyle="-.", matched_steps=False),
):  # fmt: skip
    register_variant(_row)

# the label of raw nearest-neighbour interpolation, the training-free reference
NEAREST_LABEL = "nearest neighbour (no training)"


def variant(name: str) -> ModelVariant:
    """The row of model ``name`` (ValueError naming the known ones otherwise)."""
    if name not in VARIANTS:
        raise ValueError(f"model must be one of {tuple(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


def models_of(dataset: str) -> tuple[str, ...]:
    """The model names ``dataset`` accepts, in the registry's order."""
    task = DATASETS[dataset].task
    return tuple(name for name, row in VARIANTS.items() if task in row.tasks)


def tuned_models(dataset: str) -> tuple[str, ...]:
    """The models of ``dataset`` whose learning rate is chosen on validation."""
    return tuple(name for name in models_of(dataset) if VARIANTS[name].rate_from is None)


MODELS = models_of("mnist")
DEPTH_MODELS = models_of("depth")
TUNED_MODELS = tuned_models("mnist")
DEPTH_TUNED_MODELS = tuned_models("depth")
MODEL_LABELS = {name: row.label for name, row in VARIANTS.items()}
