"""Would a classification network gain from longer training where a verdict is decided?

    python benchmarks/epochs.py --model sparse                      # MNIST, 90 %, 45 epochs
    python benchmarks/epochs.py --dataset caltech101 --model sparse  # 10 %, 30 epochs

The grid trains for a fixed number of epochs under a cosine decay, so its validation
curves flatten by construction at the end; whether the networks would still gain from
more epochs is measured here. This trains one model through the study's own training run
(validation split, cosine decay over all epochs, best-epoch selection, the model's chosen
learning rate, seed 0 unless ``--seed``) for more epochs at one sparsity, on one CPU
thread, and writes
``results/benchmarks/<dataset>_epochs/<model>-sp<sparsity>-e<epochs>[-seed<n>].json``.
The book sets it beside the grid's record of the same cell and seed. Defaults: MNIST at
90 % (claim 1 rests on the sparsest levels) for 45 epochs; Caltech-101 at 10 % (the
ConvNet's largest lead) for 30 epochs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import write_result

from sparseconv.registry.models import TUNED_MODELS
from sparseconv.registry.study import DEFAULTS, default_lr
from sparseconv.train.classify import train_classification
from sparseconv.train.engine import pick_device, tune_cpu_allocator
from sparseconv.train.params import validate_params

# data set -> (sparsity, epochs) of the longer runs
LONGER = {"mnist": (0.9, 45), "caltech101": (0.1, 30)}


def measure(dataset: str, model: str, sparsity: float, epochs: int, seed: int = 0) -> dict:
    """One longer run: minutes, kept epoch, accuracies (fractions) and the history."""
    d = DEFAULTS[dataset]
    params = validate_params(dataset, sparsity=sparsity, model=model, epochs=epochs,
                             lr=default_lr(dataset, model), batch_size=d["batch_size"],
                             seed=seed)  # fmt: skip
    torch.manual_seed(seed)
    started = time.perf_counter()
    fields, _ = train_classification(params, pick_device("cpu"), False, None)
    return {
        "model": model,
        "sparsity": sparsity,
        "epochs": epochs,
        "lr": params["lr"],
        "seed": seed,
        "minutes": (time.perf_counter() - started) / 60,
        "best_epoch": fields["best_epoch"],
        "val_accuracy": fields["val_accuracy"],
        "train_eval_accuracy": fields["train_eval_accuracy"],
        "test_accuracy": fields["test_accuracy"],
        "test_mean_class_accuracy": fields.get("test_mean_class_accuracy"),
        "history": fields["history"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=sorted(LONGER))
    parser.add_argument("--model", required=True, choices=TUNED_MODELS)
    parser.add_argument("--sparsity", type=float, help="default: the data set's in LONGER")
    parser.add_argument("--epochs", type=int, help="default: the data set's in LONGER")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="default: results/benchmarks/<dataset>_epochs")
    args = parser.parse_args()
    sparsity = LONGER[args.dataset][0] if args.sparsity is None else args.sparsity
    epochs = LONGER[args.dataset][1] if args.epochs is None else args.epochs
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"{args.dataset}_epochs")
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    row = measure(args.dataset, args.model, sparsity, epochs, args.seed)
    print(f"{args.dataset} {args.model} at {100 * sparsity:g} %, {epochs} epochs: "
          f"{row['minutes']:.1f} min, validation {100 * row['val_accuracy']:.2f} %, "
          f"train (eval) {100 * row['train_eval_accuracy']:.2f} %, "
          f"test {100 * row['test_accuracy']:.2f} %")  # fmt: skip
    name = f"{args.model}-sp{sparsity:g}-e{epochs}"
    name += f"-seed{args.seed}.json" if args.seed else ".json"
    write_result(out / name, "longer training", [row], dataset=args.dataset,
                 sparsity=sparsity, seed=args.seed)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
