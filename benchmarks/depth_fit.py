"""What limits the depth networks: error against width and training length, one seed.

    python benchmarks/depth_fit.py --candidate dense_mask-c32-e30 [--threads 1] [--device cuda]
    python benchmarks/depth_fit.py --list

Trains one depth model at 5 % density, seed 0, through the study's own training run
(validation split, plateau rule, best-epoch selection, test once at every density) with
another width or epoch limit than the study's (30 epochs, 16 channels), on one CPU thread
or a GPU, and writes one JSON file
per candidate to ``results/benchmarks/depth_fit/``: minutes, epochs run, and the
missing-pixel MAE on training maps (eval mode), validation and test, beside raw
nearest-neighbour interpolation on the same test masks. If a wider or longer-trained
network beats interpolation where the study's does not, the study's networks are limited
by capacity or budget, not by what they compute.
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

from sparseconv.registry.study import DEFAULTS, default_lr
from sparseconv.train.depth import train_depth
from sparseconv.train.engine import pick_device, tune_cpu_allocator
from sparseconv.train.params import validate_params

# name -> (model, channels, epoch limit); the study's networks have 16 channels
CANDIDATES: dict[str, tuple[str, int, int]] = {
    f"{model}-c{channels}-e{epochs}": (model, channels, epochs)
    for model in ("sparse", "sparse_partial", "dense", "dense_mask", "nn_convnet")
    for channels, epochs in ((16, 60), (32, 30), (16, 150))
}


def measure(name: str, sparsity: float = 0.95, seed: int = 0, device: str = "cpu") -> dict:
    """One candidate's run: its fields of interest, from the study's training run."""
    model, channels, epochs = CANDIDATES[name]
    d = DEFAULTS["depth"]
    params = validate_params("depth", sparsity=sparsity, model=model, epochs=epochs,
                             lr=default_lr("depth", model), batch_size=d["batch_size"],
                             seed=seed, check_data=False)  # fmt: skip
    torch.manual_seed(seed)
    dev = pick_device(device)
    started = time.perf_counter()
    fields, net = train_depth(params, dev, False, None, channels=channels)
    key = f"{sparsity:g}"
    return {
        "candidate": name,
        "model": model,
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "architecture": fields["architecture"],
        "parameters": sum(p.numel() for p in net.parameters()),
        "epoch_limit": epochs,
        "epochs_run": fields["epochs_run"],
        "best_epoch": fields["best_epoch"],
        "lr": params["lr"],
        "minutes": (time.perf_counter() - started) / 60,
        "train_eval_mae_missing": fields["train_eval_mae_missing"],
        "val_mae_missing": fields["val_mae_missing"],
        "test_mae_missing": fields["test_mae_missing"],
        "nn_mae_missing": fields["nn_mae_missing_by_sparsity"][key],
        "history": fields["history"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", choices=sorted(CANDIDATES))
    parser.add_argument("--list", action="store_true", help="list the candidates and stop")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "depth_fit"))
    args = parser.parse_args()
    if args.list or args.candidate is None:
        for name, (model, channels, epochs) in CANDIDATES.items():
            print(f"{name}: {model}, {channels} channels, at most {epochs} epochs")
        return 0
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    row = measure(args.candidate, device=args.device)
    print(f"{row['candidate']}: {row['minutes']:.1f} min, {row['epochs_run']} epochs, "
          f"missing-pixel MAE: training maps {row['train_eval_mae_missing']:.3f} m, "
          f"validation {row['val_mae_missing']:.3f} m, test {row['test_mae_missing']:.3f} m "
          f"(nearest neighbour {row['nn_mae_missing']:.3f} m)")  # fmt: skip
    write_result(Path(args.out) / f"{args.candidate}.json", "depth capacity and budget",
                 [row], sparsity=0.95, seed=0)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
