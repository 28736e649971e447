"""Would the MNIST networks gain from longer training where the verdict is decided?

    python benchmarks/mnist_epochs.py --model sparse [--sparsity 0.9] [--epochs 45]

Claim 1 on MNIST rests on the sparsest levels, where every model is about as accurate on
training images as on test images and the validation curve still rises in the last
epochs of the grid's 15. This trains one model through the study's own training run
(validation split, cosine decay over all epochs, best-epoch selection, the model's chosen
learning rate, seed 0) for more epochs at one sparsity, on one CPU thread, and writes
``results/benchmarks/mnist_epochs/<model>-sp<sparsity>-e<epochs>.json``. The book sets it
beside the grid's seed-0 record of the same cell.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import write_result  # noqa: E402

from sparseconv.classify import train_classification  # noqa: E402
from sparseconv.engine import pick_device, tune_cpu_allocator  # noqa: E402
from sparseconv.params import validate_params  # noqa: E402
from sparseconv.study import DEFAULTS, TUNED_MODELS, default_lr  # noqa: E402


def measure(model: str, sparsity: float, epochs: int, seed: int = 0) -> dict:
    """One longer run: minutes, kept epoch, accuracies (fractions) and the history."""
    d = DEFAULTS["mnist"]
    params = validate_params("mnist", sparsity=sparsity, model=model, epochs=epochs,
                             lr=default_lr("mnist", model), batch_size=d["batch_size"],
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
        "history": fields["history"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=TUNED_MODELS)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=45)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "mnist_epochs"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    row = measure(args.model, args.sparsity, args.epochs)
    print(f"{args.model} at {100 * args.sparsity:g} %, {args.epochs} epochs: "
          f"{row['minutes']:.1f} min, validation {100 * row['val_accuracy']:.2f} %, "
          f"train (eval) {100 * row['train_eval_accuracy']:.2f} %, "
          f"test {100 * row['test_accuracy']:.2f} %")  # fmt: skip
    name = f"{args.model}-sp{args.sparsity:g}-e{args.epochs}.json"
    write_result(Path(args.out) / name, "MNIST longer training", [row],
                 sparsity=args.sparsity, seed=0)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
