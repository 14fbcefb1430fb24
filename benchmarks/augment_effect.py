"""What augmentation adds, as in the tutorials: one recipe trained with and without
augmentation on the JPEG CIFAR-10, through the real CLI, test accuracy and wall time.

    python benchmarks/augment_effect.py --recipe cnn4     # none vs crop-flip
    python benchmarks/augment_effect.py --recipe lenet5   # none vs keras-basic

cnn4: the seed tutorial's recipe, Adamax lr 5e-3 decayed x0.9 per epoch, batch 32, 10 epochs.
lenet5: the Keras LeNet-5-BN tutorial, Adam (Keras default lr 1e-3), 80 epochs, batch 128
  (our choice), against the tutorial's rotation 10 + shifts 0.1 + flip (keras-basic).
The tutorials' own figures, to compare with: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import CIFAR_JPEG, machine, record, run_cli, today

RECIPES = {
    "cnn4": {
        "args": [
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
        ],
        "epochs": 10,
        "augments": ["none", "crop-flip"],
    },
    "lenet5": {
        "args": ["--model", "lenet5", "--optimizer", "adam", "--lr", "1e-3", "--batch-size", "128"],
        "epochs": 80,
        "augments": ["none", "keras-basic"],
    },
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", choices=RECIPES, default="cnn4")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--augments", nargs="+", help="override the recipe's augmentations")
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    args = ap.parse_args()
    recipe = RECIPES[args.recipe]
    epochs = args.epochs or recipe["epochs"]
    runs = Path(tempfile.mkdtemp(prefix=f"{args.recipe}-runs-"))
    rows = []
    for augment in args.augments or recipe["augments"]:
        cmd = [
            "train",
            "--data",
            args.data,
            *recipe["args"],
            "--epochs",
            str(epochs),
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
    print(
        f"\n{today()} - {machine()} - {args.recipe} recipe, {epochs} epochs, JPEG CIFAR-10, runs in {runs}"
    )
    print("| augmentation | test accuracy | wall time (whole command) |")
    print("|---|---|---|")
    for augment, acc, seconds in rows:
        print(f"| {augment} | {acc:.4f} | {seconds / 60:.1f} min |")
    figures = {"recipe": args.recipe, "epochs": epochs, "data": args.data}
    figures["rows"] = [{"augment": a, "accuracy": acc, "wall_s": s} for a, acc, s in rows]
    print(f"record: {record(f'augment_effect-{args.recipe}', figures)}")


if __name__ == "__main__":
    main()
