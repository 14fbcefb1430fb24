"""Issue 3, number 3: the seed tutorial's cnn4 recipe on the JPEG CIFAR-10, with and without
the default augmentation (crop-flip), through the real CLI.

    python benchmarks/tutorial_recipe.py [--epochs 10] [--augments none crop-flip]

Recipe: cnn4, Adamax lr 5e-3 decayed x0.9 per epoch, batch 32, 10 epochs. The tutorial's plain
PyTorch loop reached 77.1% without augmentation in 7-8 minutes on these 2 cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import CIFAR_JPEG, machine, run_cli, today


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--augments", nargs="+", default=["none", "crop-flip"])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="tutorial-runs-"))
    rows = []
    for augment in args.augments:
        cmd = [
            "train",
            "--data",
            args.data,
            "--model",
            "cnn4",
            "--optimizer",
            "adamax",
            "--lr",
            "5e-3",
            "--schedule",
            "exponential",
            "--gamma",
            "0.9",
            "--batch-size",
            "32",
            "--epochs",
            str(args.epochs),
            "--augment",
            augment,
            "--runs-dir",
            str(runs),
            "--name",
            augment,
            "--verbose",
            "2",
        ]
        seconds, out = run_cli(cmd)
        print(out, flush=True)
        metrics = json.loads((runs / augment / "metrics.json").read_text())
        rows.append((augment, metrics["accuracy"], seconds))
    print(f"\n{today()} - {machine()} - cnn4 tutorial recipe, {args.epochs} epochs, JPEG CIFAR-10")
    print("| augmentation | test accuracy | wall time (whole command) |")
    print("|---|---|---|")
    for augment, acc, seconds in rows:
        print(f"| {augment} | {acc:.4f} | {seconds / 60:.1f} min |")


if __name__ == "__main__":
    main()
